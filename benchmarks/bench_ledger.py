"""Ledger, cache and spend-panel timings. A plain script: ``python benchmarks/bench_ledger.py``.

Targets: a ledger write per attempt <= 1 ms (median); a cache hit well under 1 ms;
``spend_summary`` of a month of 1,000,000 attempts <= 300 ms (the spend panel).
The first-token path: a paid attempt's budget reservation with its ``in_flight`` row
in the same transaction costs what the reservation alone costs (within noise); the
same row as a separate write would add a whole transaction (shown for comparison).
Samples of the three are interleaved so drift of the machine hits them alike.
The million rows are loaded with one ``executemany`` in one transaction, through
the real schema (so the rollup trigger runs for every row, as in real use).
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.cache import CachedResponse, ResponseCache, cache_key
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore

MONTH = "2025-03"
MODELS = [  # (model_id, provider, picodollars per attempt, roughly)
    ("gpt-4o", "openai", 6_000_000_000),
    ("gpt-4o-mini", "openai", 400_000_000),
    ("o3-mini", "openai", 3_000_000_000),
    ("claude-sonnet", "anthropic", 9_000_000_000),
    ("claude-haiku", "anthropic", 1_000_000_000),
    ("gemini-flash", "google", 300_000_000),
    ("gemini-pro", "google", 5_000_000_000),
    ("llama3.1:8b", "ollama", 0),
    ("qwen2.5:14b", "ollama", 0),
    ("mistral:7b", "ollama", 0),
    ("sdxl-turbo", "diffusers", 0),
    ("dall-e-3", "openai", 40_000_000_000),
]
MEMBERS = ["ada", "bob", "cy", "dee", "eve", "fay"]
TASKS = ["chat", "summarize", "code", "translate", "extract", "rewrite", "image", "embed"]


def _timed(fn: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def _report(name: str, samples: list[float], target_ms: float | None = None) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    target = f"  (target <= {target_ms:g} ms)" if target_ms is not None else ""
    print(f"{name:<44} median {statistics.median(ms):8.3f} ms   p95 {p95:8.3f} ms   n={len(ms)}{target}")


def bench_writes(store: LedgerStore, n: int) -> None:
    start = datetime(2025, 2, 1, tzinfo=UTC)
    records = [
        AttemptRecord(
            request_id=uuid.uuid4().hex,
            attempt=1,
            ts_utc=start + timedelta(seconds=i),
            user="ada",
            task_type="chat",
            model_id="gpt-4o-mini",
            provider="openai",
            outcome="ok",
            input_tokens=1200,
            output_tokens=400,
            price_input_per_mtok=Decimal("0.15"),
            price_output_per_mtok=Decimal("0.60"),
            cost_usd=Decimal("0.00042"),
            latency_s=1.2,
            ttft_s=0.3,
            tokens_per_s=444.0,
        )
        for i in range(n)
    ]
    it = iter(records)
    _report("ledger write per attempt (record_attempt)", _timed(lambda: store.record_attempt(next(it)), n), 1)


def bench_first_token_path(store: LedgerStore, n: int, in_flight: int = 0) -> None:
    """What starting a paid attempt costs before the call: reservation alone (before
    attempts were written at start), reservation + in_flight row in one transaction
    (now), and reservation then a separate start write (what was avoided)."""
    from sparklio_desktop.core.budget import BudgetGuard

    guard = BudgetGuard(store, Decimal("1000000"), "stop")
    now = datetime.now(UTC)

    def row(tag: str) -> AttemptRecord:
        return AttemptRecord(
            request_id=f"{tag}-{uuid.uuid4().hex}",
            attempt=1,
            ts_utc=now,
            task_type="chat",
            model_id="gpt-4o",
            provider="openai",
            outcome="in_flight",
            input_tokens=1200,
            usage_source="estimate",
            price_input_per_mtok=Decimal("2.5"),
            start_cost_usd=Decimal("0.003"),
            worst_case_usd=Decimal("0.0132"),
        )

    held = [guard.reserve(f"busy{i}", Decimal("0.0132"), start=row("busy")) for i in range(in_flight)]

    def finish(record: AttemptRecord) -> None:  # as the dispatcher does once the answer is in
        store.finish_attempt(
            AttemptRecord(
                request_id=record.request_id,
                attempt=1,
                task_type="chat",
                model_id="gpt-4o",
                provider="openai",
                outcome="ok",
                cost_usd=Decimal(0),
            )
        )

    alone: list[float] = []
    together: list[float] = []
    separate: list[float] = []
    for _ in range(n):
        start = time.perf_counter()
        reservation = guard.reserve("a", Decimal("0.0132"))
        alone.append(time.perf_counter() - start)
        guard.settle(reservation)

        record = row("b")
        start = time.perf_counter()
        reservation = guard.reserve("b", Decimal("0.0132"), start=record)
        together.append(time.perf_counter() - start)
        finish(record)
        guard.settle(reservation)

        record = row("c")
        start = time.perf_counter()
        reservation = guard.reserve("c", Decimal("0.0132"))
        store.start_attempt(record)
        separate.append(time.perf_counter() - start)
        finish(record)
        guard.settle(reservation)
    # The same reservation with a member limit (team.member_limits): two more sums, same transaction.
    limited = BudgetGuard(store, Decimal("1000000"), "stop", member_limit_usd=Decimal("100000"))
    with_limit: list[float] = []
    for _ in range(n):
        record = row("m")
        start = time.perf_counter()
        reservation = limited.reserve("m", Decimal("0.0132"), start=record)
        with_limit.append(time.perf_counter() - start)
        finish(record)
        limited.settle(reservation)
    busy = f", {in_flight} others in flight" if in_flight else ""
    _report(f"reserve + in_flight row with a member limit{busy}", with_limit)
    _report(f"reserve alone{busy}", alone)
    _report(f"reserve + in_flight row, one transaction{busy}", together)
    _report(f"reserve, then a separate start write{busy}", separate)
    added = (statistics.median(together) - statistics.median(alone)) * 1000
    print(f"  in_flight row in the reservation's transaction adds {added:+.3f} ms (median) to the first-token path")
    for reservation in held:
        guard.settle(reservation)


def bench_finish(store: LedgerStore, n: int) -> None:
    now = datetime.now(UTC)
    ids = [uuid.uuid4().hex for _ in range(n)]
    for request_id in ids:
        store.start_attempt(
            AttemptRecord(
                request_id=request_id,
                attempt=1,
                ts_utc=now,
                task_type="chat",
                model_id="gpt-4o",
                provider="openai",
                outcome="in_flight",
                usage_source="estimate",
                input_tokens=1200,
            )
        )
    it = iter(ids)
    _report(
        "finish an attempt (finish_attempt, UPDATE)",
        _timed(
            lambda: store.finish_attempt(
                AttemptRecord(
                    request_id=next(it),
                    attempt=1,
                    task_type="chat",
                    model_id="gpt-4o",
                    provider="openai",
                    outcome="ok",
                    input_tokens=1200,
                    output_tokens=400,
                    cost_usd=Decimal("0.007"),
                )
            ),
            n,
        ),
        1,
    )


def bench_cache(path: Path, n: int) -> None:
    with ResponseCache(path) as cache:
        key = cache_key("gpt-4o-mini", [{"role": "user", "content": "hello " * 200}], {"temperature": 0.2})
        cache.put(
            key,
            CachedResponse(
                model_id="gpt-4o-mini",
                output="answer " * 300,
                input_tokens=200,
                output_tokens=300,
                cost_usd=Decimal("0.00021"),
            ),
            ttl_s=3600,
        )
        _report("cache get (hit)", _timed(lambda: cache.get(key), n), 1)
        _report("cache get (miss)", _timed(lambda: cache.get("0" * 64), n))
        _report(
            "cache_key (1 message, 1.2 kB)",
            _timed(lambda: cache_key("gpt-4o-mini", [{"role": "user", "content": "hello " * 200}], {"t": 0.2}), n),
        )


def load_month(path: Path, rows: int) -> None:
    """Insert ``rows`` attempts spread over MONTH: 5% retried on another model, 8% cache hits."""
    rng = random.Random(7)
    days = 31
    batch: list[tuple[object, ...]] = []
    sql = (
        "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider,"
        " outcome, input_tokens, output_tokens, images, usage_source, cost_usd, saved_usd, waited_s,"
        " exploration, latency_s, member, host) VALUES (?,?,?,?,?,?,?,?,?,?,0,'provider',?,?,0,0,?,?,?)"
    )
    while len(batch) < rows:
        i = len(batch)
        ts = (
            f"{MONTH}-{1 + i * days // rows:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z"
        )
        rid, task = uuid.uuid4().hex, rng.choice(TASKS)
        member = rng.choice(MEMBERS)  # a studio's members, each on their own workstation as themselves
        user, who = member, (member, f"{member}-ws")
        model, provider, cost = rng.choice(MODELS)
        roll = rng.random()
        if roll < 0.08:
            batch.append((rid, 1, ts, user, task, model, provider, "cache_hit", 0, 0, 0, cost, 0.0, *who))
        elif roll < 0.13 and len(batch) < rows - 1:
            other, other_provider, other_cost = rng.choice(MODELS)
            batch.append((rid, 1, ts, user, task, model, provider, "error", 500, 0, 0, 0, 0.5, *who))
            batch.append((rid, 2, ts, user, task, other, other_provider, "ok", 500, 300, other_cost, 0, 1.5, *who))
        else:
            batch.append((rid, 1, ts, user, task, model, provider, "ok", 500, 300, cost, 0, 1.1, *who))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        db.executemany(sql, batch)
        db.execute("COMMIT")
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="attempts in the big month")
    parser.add_argument("--writes", type=int, default=2000)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the files (default: temp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        ledger_path = folder / "bench-ledger.sqlite3"
        ledger_path.unlink(missing_ok=True)
        print(f"SQLite {sqlite3.sqlite_version}, files in {folder}")
        with LedgerStore.open(ledger_path) as store:
            bench_writes(store, args.writes)
            bench_finish(store, args.writes)
            bench_first_token_path(store, args.writes)
            bench_first_token_path(store, args.writes // 4, in_flight=100)
        bench_cache(folder / "bench-cache.sqlite3", args.writes)

        start = time.perf_counter()
        load_month(ledger_path, args.rows)
        print(f"loaded {args.rows:,} attempts of {MONTH} in {time.perf_counter() - start:.1f} s")
        with LedgerStore.open(ledger_path) as store:
            summary = store.spend_summary(MONTH)  # warm the page cache once, as a panel refresh would
            summary_samples = _timed(lambda: store.spend_summary(MONTH), 20)
            _report(f"spend_summary({MONTH}) over {args.rows:,} rows", summary_samples, 300)
            _report("month_spend (the budget check)", _timed(lambda: store.month_spend(MONTH), 50))
            _report(
                "spend_summary(member='ada') (the panel's Me)",
                _timed(lambda: store.spend_summary(MONTH, member="ada"), 20),
                300,
            )
            assert sum(m.spent_usd for m in summary.by_member.values()) == summary.spent_usd
            _report("history(limit=50)", _timed(lambda: store.history(limit=50), 20))
            _report("history(limit=50, task='code')", _timed(lambda: store.history(task="code"), 20))
            _report("history(limit=50, model='gpt-4o')", _timed(lambda: store.history(model="gpt-4o"), 20))
            start = time.perf_counter()
            exported = store.export_month_csv(MONTH, folder / "bench-export.csv")
            print(f"export_month_csv: {exported:,} rows in {time.perf_counter() - start:.1f} s")
        print(
            f"  spent {summary.spent_usd} USD over {summary.requests:,} requests, "
            f"{summary.cache_hits:,} cache hits, fallback rate {summary.fallback_rate:.3f}"
        )


if __name__ == "__main__":
    main()
