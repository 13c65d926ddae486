"""Attempts written when they start and finished in place; what ended processes leave is
closed on the next open; existing ledgers upgrade; prompts never stored beyond the preview.

Real SQLite files throughout; the dispatcher tests use the loopback Anthropic server.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard
from sparklio_desktop.core.dispatch import RunRequest, TextChunk
from sparklio_desktop.core.ledger import AttemptRecord, LedgerError, LedgerStore
from sparklio_desktop.core.ledger.migrations import (
    LEDGER_MIGRATIONS,
    MigrationSet,
    m001_initial,
    m002_usage_daily,
)
from sparklio_desktop.core.ledger.owners import start_token
from sparklio_desktop.core.ledger.store import PREVIEW_CHARS
from sparklio_desktop.core.routing.router import RouteRequest
from tests.core.test_dispatch import Harness, fast_policy, servers  # noqa: F401 - fixtures

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    with LedgerStore.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def started(request_id: str = "r1", n: int = 1, **overrides: Any) -> AttemptRecord:
    values: dict[str, Any] = dict(
        request_id=request_id,
        attempt=n,
        ts_utc=T0,
        task_type="chat",
        model_id="gpt-4o",
        provider="openai",
        outcome="in_flight",
        input_tokens=1000,
        usage_source="estimate",
        price_input_per_mtok=Decimal("2.5"),
        start_cost_usd=Decimal("0.0025"),
        worst_case_usd=Decimal("0.0128"),
    )
    values.update(overrides)
    return AttemptRecord(**values)


def finished(request_id: str = "r1", n: int = 1, **overrides: Any) -> AttemptRecord:
    values: dict[str, Any] = dict(
        request_id=request_id,
        attempt=n,
        task_type="chat",
        model_id="gpt-4o",
        provider="openai",
        outcome="ok",
        input_tokens=980,
        output_tokens=200,
        cost_usd=Decimal("0.00445"),
    )
    values.update(overrides)
    return AttemptRecord(**values)


def dead_owner() -> tuple[int, str]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(proc.pid) or ""
    proc.wait(timeout=30)
    return proc.pid, token


def rollup_matches(path: Path) -> bool:
    db = sqlite3.connect(path)
    try:
        rolled = db.execute("SELECT SUM(attempts), SUM(cost_usd) FROM usage_daily").fetchone()
        direct = db.execute("SELECT COUNT(*), SUM(cost_usd) FROM llm_usage WHERE outcome <> 'in_flight'").fetchone()
        return rolled == direct
    finally:
        db.close()


def test_an_attempt_is_started_then_finished_in_the_same_row(store: LedgerStore) -> None:
    row = store.start_attempt(started())
    (open_row,) = store.attempts("r1")
    assert (open_row.outcome, open_row.cost_usd, open_row.owner_pid) == ("in_flight", Decimal(0), open_row.owner_pid)
    assert open_row.owner_pid is not None and open_row.owner_start is not None
    assert store.month_spend("2025-03") == Decimal(0)  # unknown yet: the reservation holds its worst case
    (line,) = store.history()
    assert (line.outcome, line.cost_usd, line.attempts) == ("in_flight", Decimal(0), 1)

    assert store.finish_attempt(finished()) == row
    (done,) = store.attempts("r1")
    assert (done.outcome, done.cost_usd, done.input_tokens, done.ts_utc) == ("ok", Decimal("0.00445"), 980, T0)
    assert done.start_cost_usd == Decimal("0.0025") and done.worst_case_usd == Decimal("0.0128")
    assert store.month_spend("2025-03") == Decimal("0.00445")
    assert store.spend_summary("2025-03").requests == 1
    assert rollup_matches(store.path)

    # Finishing again (the signal handler was first) changes nothing and counts nothing twice.
    assert store.finish_attempt(finished(outcome="cancelled", cost_usd=Decimal("0.01"))) == row
    assert store.attempts("r1")[0].outcome == "ok" and store.month_spend("2025-03") == Decimal("0.00445")
    # An attempt that never started (a cache hit, a budget refusal) is inserted.
    store.finish_attempt(finished("r2", outcome="cache_hit", cost_usd=Decimal(0), ts_utc=T0))
    assert [a.outcome for a in store.attempts("r2")] == ["cache_hit"]
    assert rollup_matches(store.path)


def test_only_an_in_flight_row_may_change_and_only_once(store: LedgerStore) -> None:
    store.start_attempt(started())
    with pytest.raises(ValueError):
        store.start_attempt(finished("x"))
    with pytest.raises(ValueError):
        store.finish_attempt(started("x"))
    with pytest.raises(LedgerError, match="already recorded"):
        store.start_attempt(started())
    db = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE llm_usage SET outcome = 'ok', model_id = 'other'")  # who/what stays
        db.execute("UPDATE llm_usage SET outcome = 'ok', cost_usd = 5")
        db.commit()
        for change in ("outcome = 'error'", "cost_usd = 0", "outcome = 'in_flight'"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(f"UPDATE llm_usage SET {change}")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM llm_usage")
    finally:
        db.close()
    assert rollup_matches(store.path)


def test_a_paid_attempts_row_is_written_with_its_reservation(store: LedgerStore) -> None:
    guard = BudgetGuard(store, Decimal("0.02"), "stop", clock=lambda: T0)
    held = guard.reserve("r1", Decimal("0.0128"), start=started())
    assert held.id is not None and [a.outcome for a in store.attempts("r1")] == ["in_flight"]
    with pytest.raises(BudgetExceeded):
        guard.reserve("r2", Decimal("0.0128"), start=started("r2"))
    assert store.attempts("r2") == []  # refused: no reservation and no row
    guard.reserve("free", Decimal(0), start=started("free", start_cost_usd=Decimal(0), worst_case_usd=None))
    assert [a.outcome for a in store.attempts("free")] == ["in_flight"]


def test_opening_closes_what_ended_processes_left(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    pid, token = dead_owner()
    with LedgerStore.open(path) as store:
        store.start_attempt(started("gone", owner_pid=pid, owner_start=token))
        store.start_attempt(started("mine"))  # this process is alive: left alone
        store.try_reserve(
            request_id="mine", month="2025-03", amount_usd=Decimal("0.0128"), limit_usd=Decimal(1), now=T0
        )
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE budget_reservations SET owner_pid = ?, owner_start = ?", (pid, token))
    db.close()

    with LedgerStore.open(path) as store:
        (gone,) = store.attempts("gone")
        assert (gone.outcome, gone.usage_source, gone.cost_usd) == ("interrupted", "estimate", Decimal("0.0025"))
        assert gone.error_class == "Interrupted" and "input estimate" in (gone.error_message or "")
        assert "$0.0128" in (gone.error_message or "")  # the worst case that was reserved
        assert store.attempts("mine")[0].outcome == "in_flight"
        assert store.budget_snapshot("2025-03") == (Decimal("0.0025"), Decimal(0))
        assert not store.reclaim_orphans()
    assert rollup_matches(path)


def test_an_existing_ledger_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    old = MigrationSet("ledger")  # the ledger as the previous release left it
    old.register(m001_initial)
    old.register(m002_usage_daily)
    from sparklio_desktop.core.ledger import create_sqlite_engine, writer

    engine = create_sqlite_engine(path)
    old.apply(writer(engine))
    engine.dispose()
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
            " usage_source, cost_usd) VALUES ('old', 1, '2025-03-10T12:00:00.000000+00:00', 'ada', 'chat',"
            " 'gpt-4o', 'openai', 'ok', 'provider', 1000000)"
        )
        db.execute(
            "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc)"
            " VALUES ('old', '2025-03', 5, '2025-03-10T12:00:00.000000+00:00')"
        )
    db.close()

    with LedgerStore.open(path) as store:
        (row,) = store.attempts("old")
        assert (row.outcome, row.cost_usd, row.owner_pid) == ("ok", Decimal("0.000001"), None)
        assert store.month_spend("2025-03") == Decimal("0.000001")
        assert store.budget_snapshot("2025-03")[1] == Decimal(0)  # an owner-less reservation: reclaimed
        store.start_attempt(started("new"))
        store.finish_attempt(finished("new"))
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
        assert names == LEDGER_MIGRATIONS.names and "m004_attempt_lifecycle" in names
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE llm_usage SET cost_usd = 0 WHERE request_id = 'old'")
    finally:
        db.close()
    assert rollup_matches(path)


def test_a_request_longer_than_ten_minutes_is_not_admitted_twice(tmp_path, fast_policy, servers) -> None:  # noqa: F811
    anthropic, _ = servers
    anthropic.reply_text = " ".join(f"w{i}" for i in range(30))
    anthropic.chunk_interval_s = 0.02
    h = Harness(tmp_path, fast_policy, budget_usd=Decimal("0.02"), at_cap="stop")  # one worst case fits, not two
    now = [T0]
    h.dispatcher.budget = BudgetGuard(h.ledger, Decimal("0.02"), "stop", clock=lambda: now[0])

    def request(prompt: str) -> RunRequest:
        return RunRequest(
            route=RouteRequest(task="copywriting_standard", prompt=prompt, explore=False), use_cache=False
        )

    async def go():
        try:
            first = h.dispatcher.stream(request("a long batch caption job"))
            async for event in first:
                if isinstance(event, TextChunk):
                    break
            now[0] = T0 + timedelta(minutes=11)  # the first request is still streaming
            second = await h.dispatcher.run(request("another caption"))
            rest = [event async for event in first]
            return second, rest
        finally:
            await h.dispatcher.aclose()

    try:
        second, rest = asyncio.run(go())
        assert not second.ok and "Not enough budget left" in (second.error or "")  # the first holds the rest
        assert rest[-1].result.ok
        # Rows carry the real time (only the budget's clock was moved): sum the real month.
        from sparklio_desktop.core.ledger import current_month

        spent = h.ledger.month_spend(current_month())
        assert spent == rest[-1].result.cost_usd + second.cost_usd and Decimal(0) < spent <= Decimal("0.02")
        assert h.dispatcher.budget.status("2025-03").reserved_usd == Decimal(0)
    finally:
        h.close()


def test_no_column_keeps_more_of_a_prompt_than_its_preview(store: LedgerStore, tmp_path: Path) -> None:
    key = "sk-proj-FAKEKEY0123456789abcdefXYZ"
    tail = "unique-tail-" + "q7" * 50
    prompt = f"Write captions. key={key} " + " ".join(f"word{i}" for i in range(100)) + tail
    trace = {
        "request": RouteRequest(task="chat", prompt=prompt),
        "notes": [prompt[:600], f"saw {key}"],
        "explanation": "short",
    }
    store.record_decision("r1", prompt=prompt, task_type="chat", trace=trace)
    decision = store.decision("r1")
    assert decision is not None
    assert len(decision.prompt_preview) == PREVIEW_CHARS and key not in decision.prompt_preview
    assert decision.trace["request"]["prompt"] == decision.prompt_preview
    assert decision.trace["notes"][0] == decision.prompt_preview and key not in decision.trace["notes"][1]
    assert decision.trace["explanation"] == "short"
    store.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite3"))
    assert tail.encode() not in stored and tail[:40].encode() not in stored
    assert prompt[PREVIEW_CHARS : PREVIEW_CHARS + 60].encode() not in stored
    assert key.encode() not in stored


def test_a_dispatched_prompt_is_stored_only_as_its_preview(tmp_path, fast_policy, servers) -> None:  # noqa: F811
    key = "sk-ant-FAKEKEY0123456789abcdefXYZ"
    tail = "unique-dispatch-tail-" + "z9" * 40
    prompt = f"Captions please; my key is {key}. " + " ".join(f"latte{i}" for i in range(60)) + tail
    h = Harness(tmp_path, fast_policy)
    try:
        result = h.run(prompt=prompt, use_cache=False)
        assert result.ok
    finally:
        h.close()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.sqlite3"))
    assert tail.encode() not in stored and key.encode() not in stored
    assert prompt[PREVIEW_CHARS : PREVIEW_CHARS + 40].encode() not in stored
    assert b"Captions please" in stored  # the preview is there
