"""Dispatcher overhead against a loopback OpenAI-format server.

- time to first token added by the dispatcher over a bare SDK call (median; target <= 2 ms)
- a cache hit end to end (median; target <= 3 ms)
- 100 concurrent streamed requests: all complete, no ledger row lost
Run: python benchmarks/bench_dispatch.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")

from keyring.backends import null  # noqa: E402

from sparklio_desktop.core.budget import BudgetGuard  # noqa: E402
from sparklio_desktop.core.cache import ResponseCache  # noqa: E402
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest, TextChunk  # noqa: E402
from sparklio_desktop.core.ledger import LedgerStore  # noqa: E402
from sparklio_desktop.core.providers.base import ChatRequest, Endpoint, Message, TextDelta  # noqa: E402
from sparklio_desktop.core.providers.openai_client import OpenAIClient  # noqa: E402
from sparklio_desktop.core.routing.decision import Rule  # noqa: E402
from sparklio_desktop.core.routing.router import LiveState, RouteRequest  # noqa: E402
from sparklio_desktop.core.settings.secrets import KeyStore  # noqa: E402
from sparklio_desktop.core.workspace import Workspace  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402


async def bare_ttft(client: OpenAIClient, endpoint: Endpoint) -> float:
    start = time.perf_counter()
    request = ChatRequest(endpoint, (Message("user", "hi"),), None, None, 30)
    first = None
    async for event in client.stream_chat(request):
        if first is None and isinstance(event, TextDelta):
            first = time.perf_counter() - start
    return first


async def dispatched_ttft(dispatcher: Dispatcher, prompt: str) -> float:
    start = time.perf_counter()
    first = None
    request = RunRequest(route=RouteRequest(task="code_generation", prompt=prompt, explore=False), use_cache=False)
    async for event in dispatcher.stream(request):
        if first is None and isinstance(event, TextChunk):
            first = time.perf_counter() - start
    return first


async def main() -> None:
    with OpenAIServer() as server:
        os.environ["OPENAI_API_KEY"] = "sk-bench-0123456789abcdef"
        os.environ["OPENAI_BASE_URL"] = server.api_url
        server.reply_text = "def reverse(s): return s[::-1]"
        workspace = Workspace()
        home = Path(os.environ["SPARKLIO_HOME"])
        ledger = LedgerStore.open(home / "ledger.sqlite3")
        cache = ResponseCache(home / "cache.sqlite3")
        from decimal import Decimal

        budget = BudgetGuard(ledger, Decimal("1000"), "local_only")
        unavailable = {m.id: (Rule.NO_API_KEY, "bench") for m in workspace.catalog.values() if m.provider != "openai"}
        dispatcher = Dispatcher(workspace, ledger=ledger, keys=KeyStore(backend=null.Keyring()), cache=cache,
                                budget=budget, live=lambda: LiveState(unavailable=unavailable))
        bare = OpenAIClient()
        endpoint = Endpoint("openai", "gpt-4", server.api_url, os.environ["OPENAI_API_KEY"])
        for _ in range(20):
            await bare_ttft(bare, endpoint)
            await dispatched_ttft(dispatcher, "warm")
        bare_s, disp_s = [], []
        for i in range(100):
            bare_s.append(await bare_ttft(bare, endpoint))
            disp_s.append(await dispatched_ttft(dispatcher, f"prompt {i}"))
        overhead = (statistics.median(disp_s) - statistics.median(bare_s)) * 1e3
        print(f"TTFT bare SDK {statistics.median(bare_s) * 1e3:.2f} ms, dispatcher {statistics.median(disp_s) * 1e3:.2f} ms: "
              f"added {overhead:.2f} ms (target <= 2 ms)")

        request = RunRequest(route=RouteRequest(task="code_generation", prompt="cached prompt", explore=False))
        await dispatcher.run(request)
        hits = []
        for _ in range(200):
            start = time.perf_counter()
            result = await dispatcher.run(request)
            hits.append(time.perf_counter() - start)
            assert result.cache_hit
        print(f"cache hit end to end: median {statistics.median(hits) * 1e3:.2f} ms (target <= 3 ms)")

        before = len(ledger.history(limit=100000))
        start = time.perf_counter()
        results = await asyncio.gather(*[
            dispatcher.run(RunRequest(route=RouteRequest(task="code_generation", prompt=f"concurrent {i}",
                                                         explore=False), use_cache=False)) for i in range(100)])
        elapsed = time.perf_counter() - start
        ok = sum(1 for r in results if r.ok)
        rows = sum(len(ledger.attempts(r.request_id)) for r in results)
        after = len(ledger.history(limit=100000))
        print(f"100 concurrent streamed requests: {ok} answered in {elapsed:.2f} s; "
              f"{rows} ledger rows for {sum(len(r.attempts) for r in results)} attempts; "
              f"{after - before} new requests in the ledger")
        await dispatcher.aclose()
        await bare.aclose()
        cache.close()
        ledger.close()


if __name__ == "__main__":
    asyncio.run(main())
