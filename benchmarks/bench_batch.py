"""A 1,000-row batch against the loopback OpenAI server at concurrency 8 (issue 13).

Reports:
- throughput (rows per second, end to end: route, reserve, stream, record, write result);
- the write cost per row, split into the ledger's writes (attempt start and finish, the
  budget reservation, the decision) and the batches file's (running, request id, result);
- the event loop's longest stall: a heartbeat task sleeps 5 ms at a time and measures
  how late it wakes; the app stays responsive if the longest lateness is <= 50 ms. One
  request runs first, apart: the first request of a session imports the provider's SDK
  and builds its client on the loop (the dispatcher's cold start, reported on its own line).

The batch runs in this process, as the app would run it: the services from
``open_services``, the batch store, the runner; the loopback server runs in a child
process (its threads would otherwise hold the GIL against the loop). The data folder is
a temporary one.
Run: python benchmarks/bench_batch.py [rows] [concurrency] [--provider-batch]

``--provider-batch``: speed class ``batch``, so the rows go in one job through the fake's
Batch API (upload, create, three polls, the output file) at the batch rates; it reports the
same figures, the time to submit and the rows sent as chats (none expected).
"""

from __future__ import annotations

import asyncio
import functools
import os
import statistics
import subprocess
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

# The fake runs in a process of its own: in this one, its handler threads would take the
# GIL from the event loop and their time would be counted as the loop's stalls.
FAKE = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.fakes.openai_server import OpenAIServer
with OpenAIServer() as server:
    server.usage = (20, 10)
    server.batch_polls_to_end = 2
    print(server.api_url, flush=True)
    sys.stdin.readline()
    print(sum(1 for r in server.requests if r.path.endswith('/chat/completions')), flush=True)
    print(sum(1 for r in server.requests if r.method == 'POST' and r.path == '/v1/batches'), flush=True)
"""

TARGET_STALL_S = 0.050
FREEZE = os.environ.get("SPARKLIO_BENCH_NO_FREEZE") != "1"
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


def gc_pauses() -> list[tuple[int, float]]:
    """(generation, seconds) of every garbage collection from now on: a long one is a stall
    that is nobody's callback."""
    import gc

    pauses: list[tuple[int, float]] = []
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses.append((info["generation"], time.perf_counter() - started[0]))

    gc.callbacks.append(on_gc)
    return pauses


def main() -> None:
    by_job = "--provider-batch" in sys.argv
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    rows = int(args[0]) if args else 1000
    concurrency = int(args[1]) if len(args) > 1 else 8
    home = Path(os.environ["SPARKLIO_HOME"])
    source = home / "rows.csv"
    source.write_text("name,topic\n" + "".join(f"n{i},topic {i}\n" for i in range(rows)), encoding="utf-8")
    fake = subprocess.Popen(
        [sys.executable, "-c", FAKE, str(ROOT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert fake.stdin is not None and fake.stdout is not None
    try:
        os.environ["OPENAI_API_KEY"] = "sk-bench-0123456789abcdef0123"
        os.environ["OPENAI_BASE_URL"] = fake.stdout.readline().strip()
        template = Template.parse("One caption about {topic} for {name}")
        prompts = template.prompts(read_rows(source))
        services = open_services(keys=KeyStore(backend=null.Keyring()))
        ledger_spent: list[float] = []
        store_spent: list[float] = []
        timed(services.ledger, ("start_attempt", "finish_attempt", "record_decision", "try_reserve",
                                "release_reservation", "record_attempt"), ledger_spent)  # fmt: skip
        store = BatchStore.open_default()
        timed(store, ("mark_running", "set_request", "finish"), store_spent)
        options: dict[str, Any] = {"no_explore": True, "no_cache": True}
        jobs = None
        if by_job:
            from sparklio_desktop.core.batches.jobs import JobStore
            from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches

            options["speed"] = "batch"
            jobs = ProviderBatches(services.dispatcher)
            timed(services.ledger, ("release_reservations_for", "set_decision_model", "attempts"), ledger_spent)
            timed(JobStore, ("create", "submitted", "seen", "settle"), store_spent)
        out = check_out_path(home / "results.jsonl")
        batch_id = store.create(
            task="copywriting_standard", template=template.text, options=options, source_path=str(source),
            out_path=str(out), concurrency=concurrency, prompts=prompts,
        )  # fmt: skip
        results = ResultsFile.open(out)
        runner = BatchRunner(store, services.dispatcher, store.get(batch_id), results, jobs=jobs,
                             first_poll_s=0.05, max_poll_s=0.2)  # fmt: skip
        submitted_at: list[float] = []
        if jobs is not None:
            submit = jobs.submit

            async def timed_submit(*args: Any, **kwargs: Any) -> str:
                job_id = await submit(*args, **kwargs)
                submitted_at.append(time.perf_counter())
                return job_id

            jobs.submit = timed_submit  # type: ignore[method-assign]
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
            if FREEZE:
                import gc

                gc.freeze()  # what `sparklio batch` does once its services are open (docs/batches.md)
            stop = asyncio.Event()
            beat = asyncio.create_task(heartbeat(lateness, stop))
            start = time.perf_counter()
            try:
                await runner.run()
            finally:
                elapsed = time.perf_counter() - start
                stop.set()
                await beat
                if jobs is not None:
                    await jobs.aclose()
                await services.dispatcher.aclose()
            if submitted_at:
                print(f"submitted the provider job {submitted_at[0] - start:.2f} s after the start")
            return elapsed

        pauses = gc_pauses()
        elapsed = asyncio.run(go())
        results.close()
        counts = store.counts(batch_id)
        fake.stdin.write("count\n")
        fake.stdin.flush()
        chats = int(fake.stdout.readline())
        provider_jobs = int(fake.stdout.readline())
        store.close()
        services.close()
    finally:
        fake.kill()
        fake.wait()
    written = sum(1 for _ in out.open(encoding="utf-8"))
    print(f"gc.freeze() after start-up: {'yes' if FREEZE else 'no (SPARKLIO_BENCH_NO_FREEZE=1)'}")
    print(f"rows {rows}, concurrency {concurrency}: done {counts.done}, failed {counts.failed}, "
          f"results lines {written}, chat requests to the fake {chats}, provider jobs {provider_jobs}")  # fmt: skip
    print(f"elapsed {elapsed:.2f} s; throughput {rows / elapsed:.1f} rows/s")
    for label, spent, count in (("ledger", ledger_spent, rows + 1), ("batches file", store_spent, rows)):
        print(
            f"{label} writes: {len(spent) / count:.1f} per row, {sum(spent) / count * 1e3:.2f} ms per row "
            f"(median {statistics.median(spent) * 1e3:.2f} ms, longest {max(spent) * 1e3:.1f} ms)"
        )
    worst = max(lateness)
    p99 = sorted(lateness)[int(len(lateness) * 0.99)]
    over = sum(1 for x in lateness if x > TARGET_STALL_S)
    print(f"beats later than the target: {over} of {len(lateness)}")
    verdict = "ok" if worst <= TARGET_STALL_S else "OVER TARGET"
    print(f"event loop: longest stall {worst * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(lateness)} beats "
          f"(target <= {TARGET_STALL_S * 1e3:.0f} ms: {verdict})")  # fmt: skip
    longest_gc = max(pauses, key=lambda p: p[1], default=(0, 0.0))
    print(f"garbage collections: {len(pauses)}, longest {longest_gc[1] * 1e3:.1f} ms (generation {longest_gc[0]})")
    print(f"cold start (the warm-up request: SDK import, client): longest stall {max(cold) * 1e3:.0f} ms")
    expected_chats = 1 if by_job else rows + 1  # the warm-up request is a chat either way
    ok = counts.done == rows and written == rows and chats == expected_chats and provider_jobs == (1 if by_job else 0)
    print("all rows done, each written once" if ok else "PROBLEM: rows missing or sent twice")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
