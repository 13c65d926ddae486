"""Dispatcher overhead against a loopback OpenAI-format server, beside LiteLLM's.

In one run, against one loopback server:
- time to first token (TTFT) of the bare OpenAI SDK, sending exactly the request the
  dispatcher sends (its messages, system prompt included, and its output cap);
- Sparklio's dispatcher TTFT (route, budget reservation with the attempt's start row,
  the call) and what it adds over the bare SDK (median; target <= 1.5 ms, issue 10);
- LiteLLM's ``acompletion`` TTFT and what it adds over the bare SDK, measured the same
  way in a subprocess run by the interpreter named by ``SPARKLIO_BENCH_LITELLM_PYTHON``
  (a virtual environment with LiteLLM installed: it pins packages of its own); without
  it, that line says why it was skipped;
- a cache hit end to end (median; target <= 3 ms);
- 100 concurrent streamed requests: all complete, no ledger row lost.

Bare and dispatched calls alternate, so drift on a busy machine hits both alike.
Run: python benchmarks/bench_dispatch.py [runs]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-")

from keyring.backends import null  # noqa: E402

from sparklio_desktop.core.budget import BudgetGuard  # noqa: E402
from sparklio_desktop.core.cache import ResponseCache  # noqa: E402
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest, TextChunk  # noqa: E402
from sparklio_desktop.core.ledger import LedgerStore  # noqa: E402
from sparklio_desktop.core.routing.decision import Rule  # noqa: E402
from sparklio_desktop.core.routing.live_state import LiveState  # noqa: E402
from sparklio_desktop.core.routing.router import RouteRequest  # noqa: E402
from sparklio_desktop.core.settings.secrets import KeyStore  # noqa: E402
from sparklio_desktop.core.workspace import Workspace  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402

if TYPE_CHECKING:
    import openai

KEY = "sk-bench-0123456789abcdef"
TASK = "code_generation"
LITELLM_PYTHON = "SPARKLIO_BENCH_LITELLM_PYTHON"


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


async def first_token(stream: Any) -> float | None:
    first = None
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter()
    return first


async def bare_ttft(sdk: openai.AsyncOpenAI, body: dict[str, Any]) -> float:
    start = time.perf_counter()
    first = await first_token(await sdk.chat.completions.create(**body))
    assert first is not None
    return first - start


async def dispatched_ttft(dispatcher: Dispatcher, prompt: str) -> float:
    start = time.perf_counter()
    first = None
    request = RunRequest(route=RouteRequest(task=TASK, prompt=prompt, explore=False), use_cache=False)
    async for event in dispatcher.stream(request):
        if first is None and isinstance(event, TextChunk):
            first = time.perf_counter() - start
    assert first is not None
    return first


def sdk_body(sent: dict[str, Any]) -> dict[str, Any]:
    """The dispatcher's request as SDK keyword arguments (what a bare caller would send)."""
    body = {key: sent[key] for key in ("model", "messages", "stream", "stream_options") if key in sent}
    for key in ("max_tokens", "max_completion_tokens", "temperature"):
        if key in sent:
            body[key] = sent[key]
    return body


def litellm_side(url: str, body: dict[str, Any], runs: int) -> str:
    """LiteLLM's overhead over the bare SDK, from benchmarks/litellm_ttft.py in its own venv."""
    python = os.environ.get(LITELLM_PYTHON)
    if not python:
        return f"LiteLLM: skipped (set {LITELLM_PYTHON} to a Python with litellm installed)"
    spec = {
        "url": url,
        "key": KEY,
        "model": body["model"],
        "messages": body["messages"],
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens"),
        "warm": 20,
        "runs": runs,
    }
    script = Path(__file__).with_name("litellm_ttft.py")
    try:
        done = subprocess.run(
            [python, str(script)],
            input=json.dumps(spec),
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "PYTHONPATH": ""},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"LiteLLM: skipped ({python} could not run it: {exc})"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"LiteLLM: skipped ({python} failed: {tail})"
    found = json.loads(lines[-1])
    bare, through = statistics.median(found["bare_s"]), statistics.median(found["litellm_s"])
    return (
        f"LiteLLM {found['litellm']} acompletion: TTFT bare SDK {ms(bare)}, LiteLLM {ms(through)}: "
        f"added {ms(through - bare)} (same server, its own process, openai {found['openai']})"
    )


async def main(runs: int) -> None:
    import openai

    with OpenAIServer() as server:
        os.environ["OPENAI_API_KEY"] = KEY
        os.environ["OPENAI_BASE_URL"] = server.api_url
        server.reply_text = "def reverse(s): return s[::-1]"
        workspace = Workspace()
        home = Path(os.environ["SPARKLIO_HOME"])
        ledger = LedgerStore.open(home / "ledger.sqlite3")
        cache = ResponseCache(home / "cache.sqlite3")
        budget = BudgetGuard(ledger, Decimal("1000"), "local_only")
        unavailable = {m.id: (Rule.NO_API_KEY, "bench") for m in workspace.catalog.values() if m.provider != "openai"}
        dispatcher = Dispatcher(
            workspace,
            ledger=ledger,
            keys=KeyStore(backend=null.Keyring()),
            cache=cache,
            budget=budget,
            live=lambda: LiveState(unavailable=unavailable),
        )
        await dispatched_ttft(dispatcher, "warm")
        body = sdk_body(server.requests[-1].body)  # what the dispatcher sent, sent bare
        sdk = openai.AsyncOpenAI(base_url=server.api_url, api_key=KEY, max_retries=0)
        for _ in range(20):
            await bare_ttft(sdk, body)
            await dispatched_ttft(dispatcher, "warm")
        bare_s, disp_s = [], []
        for i in range(runs):
            bare_s.append(await bare_ttft(sdk, body))
            disp_s.append(await dispatched_ttft(dispatcher, f"prompt {i}"))
        bare, disp = statistics.median(bare_s), statistics.median(disp_s)
        print(
            f"TTFT bare SDK {ms(bare)}, Sparklio dispatcher {ms(disp)}: added {ms(disp - bare)} "
            f"(target <= 1.5 ms; {runs} alternating runs)"
        )
        await sdk.close()
        sys.stdout.flush()
        print(await asyncio.to_thread(litellm_side, server.api_url, body, runs))

        request = RunRequest(route=RouteRequest(task=TASK, prompt="cached prompt", explore=False))
        await dispatcher.run(request)
        hits = []
        for _ in range(200):
            start = time.perf_counter()
            result = await dispatcher.run(request)
            hits.append(time.perf_counter() - start)
            assert result.cache_hit
        print(f"cache hit end to end: median {ms(statistics.median(hits))} (target <= 3 ms)")

        before = len(ledger.history(limit=100000))
        start = time.perf_counter()
        results = await asyncio.gather(
            *[
                dispatcher.run(
                    RunRequest(route=RouteRequest(task=TASK, prompt=f"concurrent {i}", explore=False), use_cache=False)
                )
                for i in range(100)
            ]
        )
        elapsed = time.perf_counter() - start
        ok = sum(1 for r in results if r.ok)
        rows = sum(len(ledger.attempts(r.request_id)) for r in results)
        after = len(ledger.history(limit=100000))
        print(
            f"100 concurrent streamed requests: {ok} answered in {elapsed:.2f} s; "
            f"{rows} ledger rows for {sum(len(r.attempts) for r in results)} attempts; "
            f"{after - before} new requests in the ledger"
        )
        await dispatcher.aclose()
        cache.close()
        ledger.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
