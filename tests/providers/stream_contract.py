"""Checks every streaming client must pass, and the small harness the provider test
modules share to run a client on a fresh loop."""

from __future__ import annotations

import asyncio
import threading
import time
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


async def close_by_consumer(client: ProviderClient, request: ChatRequest,
                            disconnected: threading.Event) -> tuple[float, bool]:
    """The consumer stops after the first delta: seconds ``aclose`` took, and whether the
    server saw the connection go (checked before the client's pool closes)."""
    stream = client.stream_chat(request)
    assert isinstance(await stream.__anext__(), TextDelta)
    started = time.perf_counter()
    await stream.aclose()  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - started
    return elapsed, await asyncio.to_thread(disconnected.wait, 2.0)


async def close_by_cancel(client: ProviderClient, request: ChatRequest,
                          disconnected: threading.Event) -> tuple[float, bool]:
    """The consuming task is cancelled mid-stream: seconds until it is done, and whether
    the server saw the connection go."""
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream_chat(request):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 2.0)
    started = time.perf_counter()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    elapsed = time.perf_counter() - started
    return elapsed, await asyncio.to_thread(disconnected.wait, 2.0)


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
