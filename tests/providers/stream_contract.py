"""Checks every streaming client must pass, shared by the provider test modules."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from sparklio_desktop.core.providers.base import ChatRequest, ProviderClient, TextDelta


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
