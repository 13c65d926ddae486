"""A 1,000-row batch against the loopback OpenAI server at concurrency 8 (issue 13).

Reports:
- throughput (rows per second, end to end: route, reserve, stream, record, write result);
- the write cost per row, split into the ledger's writes (attempt start and finish, the
  budget reservation, the decision) and the batches file's (running, request id, result);
- the event loop's longest stall: a heartbeat task sleeps 5 ms at a time and measures
  how late it wakes; the app stays responsive if the longest lateness is <= 50 ms. One
  request runs first, apart: the first request of a session imports the provider's SDK
  and builds its client on the loop (the dispatcher's cold start, reported on its own line).

Everything runs in this process, as the app would run it: the services from
``open_services``, the batch store, the runner. The data folder is a temporary one.
Run: python benchmarks/bench_batch.py [rows] [concurrency]
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-batch-")
os.environ["OLLAMA_HOST"] = "http://127.0.0.1:9"
os.environ["SPARKLIO_BACKGROUND_REFRESH"] = "0"

from keyring.backends import null  # noqa: E402

from sparklio_desktop.core.batches import (  # noqa: E402
    BatchRunner,
    BatchStore,
    ResultsFile,
    Template,
    check_out_path,
    read_rows,
)
from sparklio_desktop.core.batches.runner import request_for  # noqa: E402
from sparklio_desktop.core.services import open_services  # noqa: E402
from sparklio_desktop.core.settings.secrets import KeyStore  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402

TARGET_STALL_S = 0.050
TICK_S = 0.005


def timed(owner: Any, names: tuple[str, ...], spent: list[float]) -> None:
    """Wrap ``owner``'s methods so their wall time adds to ``spent`` (a benchmark probe)."""
    for name in names:
        method: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(method)
        def wrapper(*args: Any, _method: Callable[..., Any] = method, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _method(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - start)

        setattr(owner, name, wrapper)


async def heartbeat(lateness: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(TICK_S)
        lateness.append(loop.time() - start - TICK_S)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    home = Path(os.environ["SPARKLIO_HOME"])
    source = home / "rows.csv"
    source.write_text("name,topic\n" + "".join(f"n{i},topic {i}\n" for i in range(rows)), encoding="utf-8")
    with OpenAIServer() as server:
        server.usage = (20, 10)
        os.environ["OPENAI_API_KEY"] = "sk-bench-0123456789abcdef0123"
        os.environ["OPENAI_BASE_URL"] = server.api_url
        template = Template.parse("One caption about {topic} for {name}")
        prompts = template.prompts(read_rows(source))
        services = open_services(keys=KeyStore(backend=null.Keyring()))
        ledger_spent: list[float] = []
        store_spent: list[float] = []
        timed(services.ledger, ("start_attempt", "finish_attempt", "record_decision", "try_reserve",
                                "release_reservation", "record_attempt"), ledger_spent)  # fmt: skip
        store = BatchStore.open_default()
        timed(store, ("mark_running", "set_request", "finish"), store_spent)
        options = {"no_explore": True, "no_cache": True}
        out = check_out_path(home / "results.jsonl")
        batch_id = store.create(
            task="copywriting_standard", template=template.text, options=options, source_path=str(source),
            out_path=str(out), concurrency=concurrency, prompts=prompts,
        )  # fmt: skip
        results = ResultsFile.open(out)
        runner = BatchRunner(store, services.dispatcher, store.get(batch_id), results)
        lateness: list[float] = []
        cold: list[float] = []

        async def warm_up() -> None:
            """One request before the batch: the first imports the provider SDK and builds
            its client on the loop (the dispatcher's cold start, the same for any first
            request, not the batch's); its lateness is reported apart."""
            stop = asyncio.Event()
            beat = asyncio.create_task(heartbeat(cold, stop))
            await services.dispatcher.run(request_for(store.get(batch_id), "warm up"))
            stop.set()
            await beat

        async def go() -> float:
            await warm_up()
            stop = asyncio.Event()
            beat = asyncio.create_task(heartbeat(lateness, stop))
            start = time.perf_counter()
            try:
                await runner.run()
            finally:
                elapsed = time.perf_counter() - start
                stop.set()
                await beat
                await services.dispatcher.aclose()
            return elapsed

        elapsed = asyncio.run(go())
        results.close()
        counts = store.counts(batch_id)
        chats = sum(1 for r in server.requests if r.path.endswith("/chat/completions"))
        store.close()
        services.close()
    written = sum(1 for _ in out.open(encoding="utf-8"))
    print(f"rows {rows}, concurrency {concurrency}: done {counts.done}, failed {counts.failed}, "
          f"results lines {written}, requests to the fake {chats}")  # fmt: skip
    print(f"elapsed {elapsed:.2f} s; throughput {rows / elapsed:.1f} rows/s")
    per_row = sum(ledger_spent) / (rows + 1) * 1e3
    print(f"ledger writes: {len(ledger_spent) / (rows + 1):.1f} per row, {per_row:.2f} ms per row "
          f"(median write {statistics.median(ledger_spent) * 1e3:.2f} ms)")  # fmt: skip
    print(f"batches file writes: {len(store_spent) / rows:.1f} per row, {sum(store_spent) / rows * 1e3:.2f} ms per row "
          f"(median write {statistics.median(store_spent) * 1e3:.2f} ms)")  # fmt: skip
    worst = max(lateness)
    p99 = sorted(lateness)[int(len(lateness) * 0.99)]
    over = sum(1 for x in lateness if x > TARGET_STALL_S)
    print(f"beats later than the target: {over} of {len(lateness)}")
    verdict = "ok" if worst <= TARGET_STALL_S else "OVER TARGET"
    print(f"event loop: longest stall {worst * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(lateness)} beats "
          f"(target <= {TARGET_STALL_S * 1e3:.0f} ms: {verdict})")  # fmt: skip
    print(f"cold start (the warm-up request: SDK import, client): longest stall {max(cold) * 1e3:.0f} ms")
    ok = counts.done == rows and written == rows and chats == rows + 1
    print("all rows done, each written once" if ok else "PROBLEM: rows missing or sent twice")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
