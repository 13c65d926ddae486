"""How long does stopping a stream take, per provider client? Target: <= 100 ms.

The unit tests (tests/providers/test_contract.py) check that a consumer that stops, a task
that is cancelled and a loop that breaks close the connection; this measures how fast,
which the tests no longer assert (a wall-clock bound in a unit test fails on a loaded
machine). For each wire format's loopback fake (and Anthropic's three connection pools),
the fake streams 200 words at 50 ms each; the client takes the first word, then the
consumer closes the stream (``aclose``) or the consuming task is cancelled. Measured: from
the close or cancel to its return.

    python benchmarks/bench_stream_close.py [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")

from sparklio_desktop.core.providers.base import ChatRequest, ProviderClient, TextDelta
from tests.providers.test_contract import WIRES, Wire, chat, drive

TARGET_MS = 100.0


async def by_aclose(client: ProviderClient, request: ChatRequest) -> float:
    stream = client.stream_chat(request)
    assert isinstance(await stream.__anext__(), TextDelta)
    started = time.perf_counter()
    await stream.aclose()  # type: ignore[attr-defined]
    return time.perf_counter() - started


async def by_cancel(client: ProviderClient, request: ChatRequest) -> float:
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in client.stream_chat(request):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10.0)
    started = time.perf_counter()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    return time.perf_counter() - started


def measure(wire: Wire, pool: str, how, runs: int) -> list[float]:
    times = []
    with wire.fake() as server:
        server.reply_text = " ".join(f"w{i}" for i in range(200))  # type: ignore[attr-defined]
        setattr(server, wire.interval_knob, 0.05)
        drive(wire, lambda client: how(client, chat(wire, server)), pool)  # warm-up: SDK import, client
        for _ in range(runs):
            times.append(drive(wire, lambda client: how(client, chat(wire, server)), pool) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(f"{'wire':<16} {'stop':<8} {'median ms':>10} {'max ms':>8} {'target ms':>10}  verdict")
    failed = False
    for wire in WIRES:
        for pool in wire.pools:
            name = wire.name if pool == "httpx" else f"{wire.name}-{pool}"
            for label, how in (("aclose", by_aclose), ("cancel", by_cancel)):
                times = measure(wire, pool, how, args.runs)
                median = statistics.median(times)
                ok = median <= TARGET_MS
                failed |= not ok
                print(
                    f"{name:<16} {label:<8} {median:>10.1f} {max(times):>8.1f} {TARGET_MS:>10.0f}  "
                    f"{'ok' if ok else 'MISSED'}"
                )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
