"""The run an attempt belongs to (``llm_usage.run_id``, migration m006_run_id).

A ledger written before the migration opens and keeps its rows (with no run); every
attempt of a request sent with ``RunRequest.run_id`` carries it (started in flight and
finished, retried, answered from the cache, refused by the budget); ``history`` filters
by it, through the store and the plain-sqlite3 reader alike; the CSV export has it.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core import ledger
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.reader import LedgerReader
from sparklio_desktop.core.routing.router import RouteRequest
from tests.core.test_dispatch import SONNET, Harness, fast_policy, harness, servers  # noqa: F401 - fixtures
from tests.core.test_ledger import T0, attempt
from tests.fakes.loopback import Fault

RUN = "0123456789ab"


def _insert_old_row(path: Path) -> None:
    """A ledger at the version before m006, holding one finished and one in-flight attempt."""
    from sqlalchemy import create_engine

    old = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names[: LEDGER_MIGRATIONS.names.index("m006_run_id")]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        for request_id, outcome in (("r0", "ok"), ("r9", "in_flight")):
            conn.exec_driver_sql(
                "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
                " input_tokens, output_tokens, usage_source, cost_usd, owner_pid, owner_start) VALUES"
                f" ('{request_id}', 1, '2026-01-02T00:00:00.000000Z', 'ada', 'chat', 'm', 'p', '{outcome}',"
                " 10, 20, 'provider', 7, 1, 'gone')"
            )
    engine.dispose()


def test_m006_upgrades_an_m005_file_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    _insert_old_row(path)
    with LedgerStore.open(path) as store:  # runs m006
        (before,) = store.attempts("r0")
        assert before.run_id is None and before.cost_usd == Decimal("0.000000000007")
        store.record_attempt(attempt("r1", run_id=RUN))
        store.start_attempt(attempt("r2", outcome="in_flight", run_id=RUN, cost_usd=Decimal(0)))
        store.finish_attempt(attempt("r2", run_id=RUN))
        assert [r.run_id for r in store.attempts("r1") + store.attempts("r2")] == [RUN, RUN]
        assert [line.request_id for line in store.history(run_id=RUN)] == ["r2", "r1"]
        assert {line.request_id for line in store.history()} == {"r0", "r1", "r2", "r9"}
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT SUM(attempts) FROM usage_daily").fetchone()[0] >= 3  # the rollup kept counting
        assert db.execute("SELECT outcome FROM llm_usage WHERE request_id = 'r9'").fetchone()[0] in (
            "in_flight",
            "interrupted",  # its owner is gone: the store may reclaim it on open
        )
        # The rebuilt guard keeps the ledger append-only, run_id included.
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE llm_usage SET run_id = 'other' WHERE request_id = 'r1'")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM llm_usage")
        plan = " ".join(
            row[-1] for row in db.execute("EXPLAIN QUERY PLAN SELECT id FROM llm_usage WHERE run_id = ?", (RUN,))
        )
        assert "ix_llm_usage_run" in plan
    finally:
        db.close()


def test_finishing_an_attempt_keeps_the_run_it_started_with(tmp_path: Path) -> None:
    with LedgerStore.open(tmp_path / "ledger.sqlite3") as store:
        store.start_attempt(attempt("r1", outcome="in_flight", run_id=RUN, cost_usd=Decimal(0)))
        store.finish_attempt(attempt("r1", run_id="someone-else"))  # the finish never moves a row to another run
        assert [r.run_id for r in store.attempts("r1")] == [RUN]


@pytest.mark.parametrize("bad", ["", "has space", "tab\there", "é", "x" * 65, "new\nline"])
def test_a_run_id_is_short_printable_ascii(bad: str) -> None:
    with pytest.raises(ValueError, match="run_id"):
        attempt(run_id=bad)
    with pytest.raises(SparklioError, match="run id"):
        from sparklio_desktop.core.dispatch import RunRequest

        RunRequest(route=RouteRequest(task="chat", prompt="hi"), run_id=bad)


def test_history_by_run_reads_alike_through_the_reader_and_the_store(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    with LedgerStore.open(path) as store:
        store.record_attempt(attempt("a1", run_id=RUN))
        store.record_attempt(attempt("a2", ts_utc=T0.replace(minute=1), run_id=RUN))
        store.record_attempt(attempt("b1", ts_utc=T0.replace(minute=2), run_id="batch-7"))
        store.record_attempt(attempt("c1", ts_utc=T0.replace(minute=3)))
        from_store = store.history(run_id=RUN)
        assert [(r.request_id, r.run_id) for r in from_store] == [("a2", RUN), ("a1", RUN)]
        assert [r.run_id for r in store.history()] == [None, "batch-7", RUN, RUN]
        assert store.history(run_id="nothing") == []
        exported = tmp_path / "month.csv"
        assert store.export_month_csv(T0.strftime("%Y-%m"), exported) == 4
    with exported.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["run_id"] for r in rows] == [RUN, RUN, "batch-7", ""]
    reader = LedgerReader.open(path)
    assert reader is not None
    with reader:
        assert reader.history(run_id=RUN) == from_store


def test_every_attempt_of_a_run_s_request_carries_the_run_id(harness, servers) -> None:  # noqa: F811
    anthropic, openai = servers
    anthropic.script(Fault(status=503), Fault(status=503), Fault(status=503), Fault(status=503))  # then GPT-4
    retried = harness.run(run_id=RUN)
    assert retried.ok and len(retried.attempts) >= 2
    rows = harness.ledger.attempts(retried.request_id)
    assert len(rows) == len(retried.attempts) and {r.run_id for r in rows} == {RUN}
    first = harness.run(prompt="Once more", run_id="batch-1")
    cached = harness.run(prompt="Once more", run_id="batch-2")
    assert cached.cache_hit
    (hit,) = harness.ledger.attempts(cached.request_id)
    assert (hit.outcome, hit.run_id) == ("cache_hit", "batch-2")  # the run that asked, not the one cached
    assert {r.run_id for r in harness.ledger.attempts(first.request_id)} == {"batch-1"}
    alone = harness.run(prompt="On its own", use_cache=False)
    assert {r.run_id for r in harness.ledger.attempts(alone.request_id)} == {None}


def test_a_budget_refusal_is_recorded_with_its_run(tmp_path, fast_policy, servers) -> None:  # noqa: F811
    h = Harness(tmp_path, fast_policy, budget_usd=Decimal("0.001"), at_cap="stop")
    try:
        refused = h.run(run_id=RUN)
        assert refused.model is None and "Not enough budget left" in (refused.error or "")
        rows = h.ledger.attempts(refused.request_id)
        assert rows and all(r.outcome == "error" and r.run_id == RUN for r in rows)
    finally:
        h.close()


def test_history_run_option(sparklio_home: Path) -> None:
    from sparklio_desktop.core.settings.paths import ledger_path

    ledger_path().parent.mkdir(parents=True, exist_ok=True)
    with LedgerStore.open(ledger_path()) as store:
        store.record_attempt(attempt("a1", run_id=RUN))
        store.record_attempt(attempt("c1", ts_utc=T0.replace(minute=3)))

    def history(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sparklio_desktop", "history", *args], capture_output=True, text=True, timeout=60
        )

    everything = json.loads(history("--json").stdout)
    assert [(r["request_id"], r["run_id"]) for r in everything] == [("c1", None), ("a1", RUN)]
    one_run = json.loads(history("--run", RUN, "--json").stdout)
    assert [(r["request_id"], r["run_id"]) for r in one_run] == [("a1", RUN)]
    bad = history("--run", "two words")
    assert bad.returncode == 2 and "run id" in bad.stderr
