"""The read-only reader answers as the store does, and leaves to the store every file it would change.

``sparklio spend``, ``history`` and ``route`` read the ledger through ``sqlite3``
(core/ledger/reader.py) to spare a whole process the import of SQLAlchemy. These tests
hold it to the store's answers, exact to the Decimal's spelling, over a real ledger,
and check that it declines (so the store opens as before) whenever the store would
create, migrate or reclaim, and that file problems read the store's own line.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger.engine import DatabaseFileError, create_sqlite_engine, writer
from sparklio_desktop.core.ledger.migrations import (
    MigrationSet,
    m001_initial,
    m002_usage_daily,
    m003_outcomes_stalled_interrupted,
)
from sparklio_desktop.core.ledger.reader import LedgerReader, open_for_reading
from sparklio_desktop.core.provider_table import LOCAL_PROVIDERS
from tests.core.ledger_damage import damage, write_ledger

T0 = datetime(2026, 3, 30, 22, 0, tzinfo=UTC)  # the data runs over a month's end
GONE_PID = 2**22 + 1  # above Linux's largest PID: no process ever has it
MODELS = [
    ("openai/gpt-4o", "openai"),
    ("odd_name%/x", "openai"),
    ("ollama/llama3", "ollama"),
    ("anthropic/claude", "anthropic"),
]
PROMPTS = ["100% sure", "a_b/c", "plain words", "Under_Score", "x" * 300]


def fill(store: LedgerStore) -> None:
    """Requests of two users over two months: fallbacks, cache hits, ratings, an in-flight
    attempt of this (live) process, decisions with LIKE's special characters, a reservation."""
    for i in range(60):
        request_id = f"r{i:03d}"
        ts = T0 + timedelta(hours=7 * i, microseconds=i)
        attempts = 1 + i % 3
        for n in range(1, attempts + 1):
            model, provider = MODELS[(i + n) % len(MODELS)]
            last = n == attempts
            values: dict[str, Any] = {
                "request_id": request_id,
                "attempt": n,
                "ts_utc": ts,
                "user": ("ada", "bob")[i % 2],
                "task_type": ("chat", "code")[i % 2 if i % 5 else 0],
                "model_id": model,
                "provider": provider,
            }
            if last and i % 11 == 4:
                store.start_attempt(
                    AttemptRecord(
                        **values, outcome="in_flight", usage_source="estimate", start_cost_usd=Decimal("0.001")
                    )
                )
                continue
            outcome = ("ok", "cache_hit")[i % 7 == 0] if last else "error"
            store.record_attempt(
                AttemptRecord(
                    **values,
                    outcome=outcome,
                    cost_usd=Decimal(i * 7 + n) / 10**9,
                    saved_usd=Decimal("0.0003") if outcome == "cache_hit" else Decimal(0),
                    rating=(None, 3, 5)[i % 3] if outcome == "ok" else None,
                )
            )
        if i % 4:
            store.record_decision(
                request_id, prompt=PROMPTS[i % len(PROMPTS)], task_type="chat", trace={"i": i}, ts_utc=ts
            )
    store.try_reserve(
        request_id="held",
        month="2026-04",
        amount_usd=Decimal("0.25"),
        limit_usd=Decimal(100),
        now=T0 + timedelta(days=3),
    )


@pytest.fixture
def ledger_path(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite3"
    with LedgerStore.open(path) as store:
        fill(store)
    return path


def answers(ledger: Any) -> dict[tuple[Any, ...], Any]:
    """Every read the quick commands make, over a grid of arguments."""
    found: dict[tuple[Any, ...], Any] = {}
    for month in ("2026-03", "2026-04", "2026-05"):
        found["snapshot", month] = ledger.budget_snapshot(month)
        for user in (None, "ada", "nobody"):
            found["month", month, user] = ledger.month_spend(month, user)
            found["daily", month, user] = ledger.daily_spend(month, user)
            for local in (LOCAL_PROVIDERS, (), ("openai",)):
                found["summary", month, user, tuple(sorted(local))] = ledger.spend_summary(
                    month, user, local_providers=local
                )
    for limit in (1, 7, 500):
        for search in (None, "", "100%", "a_b", "_", "%", "/", "UNDER", "odd_name%"):
            for task in (None, "code"):
                for model in (None, "ollama/llama3"):
                    for since, until in ((None, None), (T0 + timedelta(days=2), None), (None, T0 + timedelta(days=5))):
                        found["history", limit, search, task, model, since, until] = ledger.history(
                            limit, search, task, model, since, until
                        )
    return found


def test_the_reader_answers_exactly_as_the_store(ledger_path: Path) -> None:
    with LedgerStore.open(ledger_path) as store:
        expected = answers(store)
    reader = LedgerReader.open(ledger_path)
    assert reader is not None
    with reader:
        got = answers(reader)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        # repr too: Decimal("0.10") == Decimal("0.1"), but JSON and tables print them apart
        assert (got[key], repr(got[key])) == (value, repr(value)), key
    # the grid is not vacuous: searches match, a month has spend, a reservation is held
    assert expected["history", 500, "_", None, None, None, None]
    assert (
        expected["history", 500, "100%", None, None, None, None]
        != expected["history", 500, None, None, None, None, None]
    )
    assert any(r.outcome == "in_flight" for r in expected["history", 500, None, None, None, None, None])
    assert expected["month", "2026-04", None] > 0 and expected["snapshot", "2026-04"][1] == Decimal("0.25")


def test_a_missing_ledger_is_left_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    assert LedgerReader.open(path) is None
    assert not path.exists()  # the reader creates nothing
    with open_for_reading(path) as ledger:
        assert isinstance(ledger, LedgerStore)  # which creates it, as the commands always did
    assert path.exists()


def test_a_ledger_with_a_migration_to_run_is_left_to_the_store(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    older = MigrationSet("ledger")
    for step in (m001_initial, m002_usage_daily, m003_outcomes_stalled_interrupted):
        older.register(step)
    engine = create_sqlite_engine(path)
    older.apply(writer(engine))
    engine.dispose()
    assert LedgerReader.open(path) is None
    with open_for_reading(path) as ledger:
        assert isinstance(ledger, LedgerStore)
        assert ledger.history() == []
    reader = LedgerReader.open(path)  # migrated now
    assert reader is not None
    reader.close()


def test_what_an_ended_process_left_open_is_left_to_the_store(ledger_path: Path) -> None:
    with LedgerStore.open(ledger_path) as store:
        store.start_attempt(
            AttemptRecord(
                request_id="orphan",
                attempt=1,
                ts_utc=T0,
                task_type="chat",
                model_id="openai/gpt-4o",
                provider="openai",
                outcome="in_flight",
                usage_source="estimate",
                start_cost_usd=Decimal("0.002"),
                owner_pid=GONE_PID,
                owner_start="gone",
            )
        )
    assert LedgerReader.open(ledger_path) is None
    with open_for_reading(ledger_path) as ledger:
        assert isinstance(ledger, LedgerStore)
        (orphan,) = [r for r in ledger.history(limit=500) if r.request_id == "orphan"]
    assert orphan.outcome == "interrupted" and orphan.cost_usd == Decimal("0.002")
    reader = LedgerReader.open(ledger_path)  # nothing is left open any more
    assert reader is not None
    reader.close()


def test_an_empty_file_reads_the_stores_own_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    path.write_bytes(b"")
    with pytest.raises(DatabaseFileError) as from_store:
        LedgerStore.open(path)
    with pytest.raises(DatabaseFileError) as from_reader:
        LedgerReader.open(path)
    assert str(from_reader.value) == str(from_store.value) and from_reader.value.damaged


@pytest.mark.parametrize("kind", ["garbage_header", "not_sqlite", "truncated", "directory"])
def test_a_file_sqlite_cannot_open_is_left_to_the_store(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    write_ledger(path, 50)
    damage(kind, path)
    assert LedgerReader.open(path) is None  # so the store gives the one line it always gave
    with pytest.raises(DatabaseFileError):
        open_for_reading(path)


def test_damage_a_query_finds_reads_as_the_store_says(tmp_path: Path) -> None:
    pristine = tmp_path / "pristine.sqlite3"
    write_ledger(pristine, 400)
    errors = []
    for opener in (LedgerStore.open, LedgerReader.open):
        path = tmp_path / f"{opener.__qualname__}.sqlite3"
        shutil.copyfile(pristine, path)
        ledger = opener(path)
        assert ledger is not None  # the damage lies past what opening reads
        damage("garbage_pages", path)
        with ledger, pytest.raises(DatabaseFileError) as found:
            ledger.history(limit=1000)
        errors.append(str(found.value).replace(path.name, "ledger.sqlite3"))
    assert errors[0] == errors[1] and "damaged" in errors[0]


def test_the_quick_commands_import_no_sqlalchemy(ledger_path: Path, sparklio_home: Path) -> None:
    shutil.copyfile(ledger_path, sparklio_home / "ledger.sqlite3")
    code = (
        "import sys\n"
        "from sparklio_desktop.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "heavy = sorted({'sqlalchemy', 'numpy'} & set(sys.modules))\n"
        "print('heavy:', heavy, file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    for args in (["spend"], ["spend", "--json"], ["history"], ["history", "--json"], ["route", "--task", "chat"]):
        result = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
        )
        assert result.returncode in (0, 3), result.stderr  # 3: route found no model (no keys here)
        assert "heavy: []" in result.stderr, (args, result.stderr)


def test_route_reads_the_ratings_once_there_is_a_vote(ledger_path: Path, sparklio_home: Path) -> None:
    from sparklio_desktop.core.services import route_planner
    from sparklio_desktop.core.workspace import Workspace

    path = sparklio_home / "ledger.sqlite3"
    shutil.copyfile(ledger_path, path)
    assert route_planner(Workspace()).ratings is None  # no vote: nothing to blend, nothing read
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO comparisons (ts_utc, user, task_type, prompt_sha256, models_json, order_shown_json)"
            " VALUES ('2026-04-01T00:00:00.000000Z', 'ada', 'chat', '0', '[\"a\", \"b\"]', '[\"a\", \"b\"]')"
        )
        db.execute("INSERT INTO votes (comparison_id, ts_utc, vote) VALUES (1, '2026-04-01T00:00:00.000000Z', 'a')")
    reader = LedgerReader.open(path)
    assert reader is not None
    with reader:
        assert reader.has_votes()
    assert route_planner(Workspace()).ratings is not None
