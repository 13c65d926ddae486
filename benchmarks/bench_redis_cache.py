"""A cache hit from a team's Redis (issue 16: <= 3 ms end to end), on loopback.

Starts a throwaway ``redis-server`` on a free loopback port (or uses ``--url``), then:
- ``RedisResponseCache.aget`` of a hit through redis.asyncio (the cache's own cost: one
  GET, the entry decoded), median and p95;
- a whole request answered from the Redis cache through the dispatcher (route, key, the
  GET, the ``cache_hit`` row and the decision written to the ledger), median and p95,
  against a loopback OpenAI-format server that is asked once;
- the same request answered from the SQLite cache, for comparison.
Samples of the two dispatchers alternate, so drift of the machine hits both alike.

Run: python benchmarks/bench_redis_cache.py [--runs N] [--url redis://…]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")

from keyring.backends import null  # noqa: E402

from sparklio_desktop.core.budget import BudgetGuard  # noqa: E402
from sparklio_desktop.core.cache import CachedResponse, ResponseCache  # noqa: E402
from sparklio_desktop.core.cache_url import masked_url  # noqa: E402
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest  # noqa: E402
from sparklio_desktop.core.dispatch.collaborators import AnswerCache  # noqa: E402
from sparklio_desktop.core.ledger import LedgerStore  # noqa: E402
from sparklio_desktop.core.redis_cache import RedisResponseCache  # noqa: E402
from sparklio_desktop.core.routing.decision import Rule  # noqa: E402
from sparklio_desktop.core.routing.live_state import LiveState  # noqa: E402
from sparklio_desktop.core.routing.router import RouteRequest  # noqa: E402
from sparklio_desktop.core.settings.secrets import KeyStore  # noqa: E402
from sparklio_desktop.core.workspace import Workspace  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402

KEY = "sk-bench-0123456789abcdef"
TASK = "code_generation"
ANSWER = "def reverse(s):\n    return s[::-1]\n" * 20  # about 700 bytes


def stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"median {statistics.median(ms):.3f} ms, p95 {p95:.3f} ms (n={len(ms)})"


def start_redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (apt-get install redis-server), or pass --url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = Path(tempfile.mkdtemp(prefix="sparklio-bench-redis-"))
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return process, f"redis://127.0.0.1:{port}/0", folder
        except OSError:
            time.sleep(0.05)
    process.terminate()
    sys.exit("redis-server did not start")


async def bench_get(cache: RedisResponseCache, runs: int) -> list[float]:
    entry = CachedResponse(
        model_id="openai/gpt-4o-mini", output=ANSWER, input_tokens=120, output_tokens=300, cost_usd=Decimal("0.0002")
    )
    await cache.aput("bench-key", entry, 3600)
    for _ in range(50):
        await cache.aget("bench-key")
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        found = await cache.aget("bench-key")
        samples.append(time.perf_counter() - start)
        assert found is not None
    return samples


def dispatcher(workspace: Workspace, ledger: LedgerStore, cache: AnswerCache) -> Dispatcher:
    unavailable = {m.id: (Rule.NO_API_KEY, "bench") for m in workspace.catalog.values() if m.provider != "openai"}
    return Dispatcher(
        workspace,
        ledger=ledger,
        keys=KeyStore(backend=null.Keyring()),
        cache=cache,
        budget=BudgetGuard(ledger, Decimal("1000"), "local_only"),
        live=lambda: LiveState(unavailable=unavailable),
    )


async def timed_hit(run: Dispatcher, request: RunRequest) -> float:
    start = time.perf_counter()
    result = await run.run(request)
    elapsed = time.perf_counter() - start
    assert result.cache_hit, result.error
    return elapsed


async def main(runs: int, url: str) -> None:
    redis_cache = RedisResponseCache(url)
    get_samples = await bench_get(redis_cache, runs)
    assert redis_cache.health().available, redis_cache.health().problem
    print(f"Redis cache GET of a hit (RedisResponseCache.aget, loopback): {stats(get_samples)}  (target <= 3 ms)")

    with OpenAIServer() as server:
        os.environ["OPENAI_API_KEY"] = KEY
        os.environ["OPENAI_BASE_URL"] = server.api_url
        server.reply_text = ANSWER
        workspace = Workspace()
        home = Path(os.environ["SPARKLIO_HOME"])
        ledgers = [LedgerStore.open(home / "ledger-redis.sqlite3"), LedgerStore.open(home / "ledger-sqlite.sqlite3")]
        sqlite_cache = ResponseCache(home / "cache.sqlite3")
        on_redis = dispatcher(workspace, ledgers[0], redis_cache)
        on_sqlite = dispatcher(workspace, ledgers[1], sqlite_cache)
        request = RunRequest(route=RouteRequest(task=TASK, prompt="a cached prompt", explore=False))
        await on_redis.run(request)  # paid once, stored in Redis
        await on_sqlite.run(request)  # and once in the SQLite file
        for _ in range(20):
            await timed_hit(on_redis, request)
            await timed_hit(on_sqlite, request)
        redis_s, sqlite_s = [], []
        for _ in range(runs):
            redis_s.append(await timed_hit(on_redis, request))
            sqlite_s.append(await timed_hit(on_sqlite, request))
        print(f"request answered from Redis, end to end (dispatcher + ledger): {stats(redis_s)}")
        print(f"request answered from SQLite, end to end (for comparison):    {stats(sqlite_s)}")
        added = statistics.median(redis_s) - statistics.median(sqlite_s)
        print(f"what Redis adds over the SQLite cache per request (medians): {added * 1000:+.3f} ms")
        print(f"provider calls: {len(server.requests)} (2 expected: one per cache); Redis at {masked_url(url)}")
        await on_redis.aclose()
        await on_sqlite.aclose()
        sqlite_cache.close()
        for ledger in ledgers:
            ledger.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--url", help="an existing Redis (default: start a throwaway redis-server)")
    args = parser.parse_args()
    started = None if args.url else start_redis()
    try:
        asyncio.run(main(args.runs, args.url or started[1]))  # type: ignore[index]
    finally:
        if started is not None:
            started[0].terminate()
            started[0].wait(10)
            shutil.rmtree(started[2], ignore_errors=True)
