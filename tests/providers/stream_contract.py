"""The small harness the provider test modules share: run a client on a fresh loop, collect
a stream, expect a failure, and the three ways a consumer stops a stream early.

How long closing takes is measured by benchmarks/bench_stream_close.py, not asserted here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from sparklio_desktop.core.providers.base import (
    ChatRequest,
    ProviderClient,
    TextDelta,
    Usage,
)
from sparklio_desktop.core.providers.errors import ProviderError

T = TypeVar("T")


async def close_by_consumer(client: ProviderClient, request: ChatRequest) -> object:
    """The consumer takes the first delta, then closes the stream.

    Returns the stream: a caller that checks the connection closed keeps it referenced
    meanwhile, or the event loop's clean-up of an unreferenced generator could close it.
    """
    stream = client.stream_chat(request)
    assert isinstance(await stream.__anext__(), TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    return stream


async def close_by_cancel(client: ProviderClient, request: ChatRequest) -> object:
    """The consuming task is cancelled after the first delta (returns the stream)."""
    first = asyncio.Event()
    stream = client.stream_chat(request)

    async def consume() -> None:
        async for _ in stream:
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return stream


async def close_by_breaking_out(client: ProviderClient, request: ChatRequest) -> object:
    """The consumer breaks out of ``async for`` inside ``contextlib.aclosing`` (returns the stream)."""
    async with contextlib.aclosing(client.stream_chat(request)) as events:  # type: ignore[type-var]
        async for _ in events:
            break
    return events


def drive_client(make_client: Callable[[], ProviderClient], body: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``body`` with a fresh client on a fresh loop, always closing the client."""

    async def main() -> T:
        client = make_client()
        try:
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


async def collect(client: ProviderClient, request: ChatRequest) -> list[TextDelta | Usage]:
    """Every event of a stream, in order."""
    return [event async for event in client.stream_chat(request)]


def expect_failure(make_client: Callable[[], ProviderClient], body: Callable[[Any], Awaitable[Any]]) -> ProviderError:
    """The ``ProviderError`` that ``body`` raises (the test fails if it raises none)."""

    async def expect(client: Any) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await body(client)
        return info.value

    return drive_client(make_client, expect)
