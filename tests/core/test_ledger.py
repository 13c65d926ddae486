"""The ledger store over real SQLite files: schema, records, history, spend."""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import sparklio_desktop.core.ledger as ledger
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger import AttemptRecord, LedgerError, LedgerStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS
from sparklio_desktop.core.ledger.schema import metadata

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    with LedgerStore.open(tmp_path / "ledger.sqlite3") as opened:
        yield opened


def attempt(request_id: str = "r1", n: int = 1, **overrides: Any) -> AttemptRecord:
    values: dict[str, Any] = {
        "request_id": request_id,
        "attempt": n,
        "ts_utc": T0,
        "user": "ada",
        "task_type": "chat",
        "model_id": "gpt-4o-mini",
        "provider": "openai",
        "outcome": "ok",
        "input_tokens": 1000,
        "output_tokens": 500,
        "price_input_per_mtok": Decimal("0.15"),
        "price_output_per_mtok": Decimal("0.60"),
        "cost_usd": Decimal("0.00045"),
    }
    values.update(overrides)
    return AttemptRecord(**values)


def test_public_api_is_sorted_and_complete() -> None:
    assert ledger.__all__ == sorted(ledger.__all__)
    for name in ledger.__all__:
        assert hasattr(ledger, name), name


def test_open_uses_the_data_dir_by_default(sparklio_home: Path) -> None:
    with LedgerStore.open() as opened:
        assert opened.path == sparklio_home / "ledger.sqlite3"
        assert opened.path.exists()


def test_migrations_run_once_in_order_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerStore.open(path).close()
    LedgerStore.open(path).close()  # second open finds nothing to do
    with sqlite3.connect(path) as db:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    db.close()
    assert names == LEDGER_MIGRATIONS.names
    assert names[:2] == ["m001_initial", "m002_usage_daily"]


def test_schema_objects_match_the_migrated_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerStore.open(path).close()
    db = sqlite3.connect(path)
    try:
        for table in metadata.sorted_tables:
            columns = [row[1] for row in db.execute(f"PRAGMA table_info({table.name})")]
            assert columns == [c.name for c in table.columns], table.name
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        db.close()
    assert {"ix_llm_usage_ts", "ix_llm_usage_request", "ix_llm_usage_model", "ix_llm_usage_task"} <= indexes


def test_connections_use_wal_foreign_keys_and_a_busy_timeout(store: LedgerStore) -> None:
    with store._read() as conn:  # the pragmas of the store's own connections
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {"journal_mode": "wal", "synchronous": 1, "foreign_keys": 1, "busy_timeout": 5000}


def test_an_attempt_round_trips_exactly(store: LedgerStore) -> None:
    record = attempt(
        complexity="high",
        budget_tier="standard",
        speed="fast",
        quality_target="high",
        price_per_image=Decimal("0.04"),
        latency_s=1.25,
        ttft_s=0.2,
        tokens_per_s=400.0,
        waited_s=0.5,
        exploration=True,
        gpu_seconds=None,
        usage_source="estimate",
        member="ada",
        host="studio-1",
    )
    row_id = store.record_attempt(record)
    assert row_id == 1
    assert store.attempts("r1") == [record]
    assert store.attempts("r1")[0].cost_usd == Decimal("0.000450000000")


def test_error_messages_are_redacted_again_and_bounded(store: LedgerStore) -> None:
    store.record_attempt(
        attempt(
            outcome="error",
            error_class="AuthError",
            error_message="401 for key sk-proj-abcdefghijklmnop1234 " + "x" * 5000,
        )
    )
    message = store.attempts("r1")[0].error_message
    assert message is not None
    assert "sk-proj" not in message and "[REDACTED]" in message
    assert len(message) == 2000


def test_recording_an_attempt_twice_is_refused(store: LedgerStore) -> None:
    store.record_attempt(attempt())
    with pytest.raises(LedgerError, match="already recorded"):
        store.record_attempt(attempt())
    assert isinstance(LedgerError("x"), SparklioError)


@pytest.mark.parametrize(
    "overrides",
    [
        {"attempt": 0},
        {"outcome": "maybe"},
        {"usage_source": "guess"},
        {"ts_utc": datetime(2025, 1, 1)},
        {"cost_usd": Decimal("-1")},
        {"cost_usd": 0.1},
        {"rating": 6},
        {"input_tokens": -1},
        {"cost_usd": Decimal("0.0000000000001")},
    ],
)
def test_invalid_attempts_are_refused_before_the_database(overrides: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        attempt(**overrides)


def test_the_ledger_is_append_only_except_rating(store: LedgerStore, tmp_path: Path) -> None:
    store.record_attempt(attempt())
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("UPDATE llm_usage SET cost_usd = 0")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute("DELETE FROM llm_usage")
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            db.execute("UPDATE llm_usage SET rating = 9")
    finally:
        db.close()


def test_decisions_keep_a_preview_a_digest_and_the_whole_trace(store: LedgerStore) -> None:
    prompt = "Summarise this. My key is sk-ant-abcdefghijkl0123. " + "y" * 400
    trace = {"candidates": [{"model": "a", "score": Decimal("0.125")}], "when": T0}
    store.record_decision("r1", prompt=prompt, task_type="summarize", trace=trace, user="ada", ts_utc=T0)
    got = store.decision("r1")
    assert got is not None
    assert len(got.prompt_preview) == 200 and "sk-ant" not in got.prompt_preview
    assert len(got.prompt_sha256) == 64
    assert got.trace == {"candidates": [{"model": "a", "score": "0.125"}], "when": T0.isoformat()}
    assert got.final_model_id is None

    store.record_decision(
        "r1", prompt=prompt, task_type="summarize", trace='{"v": 2}', final_model_id="a", exploration=True
    )
    again = store.decision("r1")
    assert again is not None and again.trace == {"v": 2} and again.final_model_id == "a"
    assert again.exploration is True
    assert (again.ts_utc, again.user) == (T0, "ada")  # when and by whom it was decided stay
    assert store.decision("nope") is None
    with pytest.raises(ValueError):
        store.record_decision("r2", prompt="p", task_type="chat", trace="{not json")


def test_rating_goes_to_the_answering_attempt(store: LedgerStore) -> None:
    store.record_attempt(attempt(n=1, outcome="error"))
    store.record_attempt(attempt(n=2, model_id="claude", provider="anthropic"))
    store.set_rating("r1", 5)
    assert [a.rating for a in store.attempts("r1")] == [None, 5]
    store.set_rating("r1", None)
    assert [a.rating for a in store.attempts("r1")] == [None, None]
    store.record_attempt(attempt("hit", outcome="cache_hit", cost_usd=Decimal(0), saved_usd=Decimal("0.00045")))
    store.set_rating("hit", 3)
    assert store.attempts("hit")[0].rating == 3
    for bad in (0, 6, 2.5, True):
        with pytest.raises(ValueError):
            store.set_rating("r1", bad)  # type: ignore[arg-type]


def test_a_request_without_an_answer_cannot_be_rated(store: LedgerStore) -> None:
    store.record_attempt(attempt(outcome="cancelled"))
    with pytest.raises(LedgerError, match="no answer"):
        store.set_rating("r1", 4)
    with pytest.raises(LedgerError):
        store.set_rating("unknown", 4)


def _fill_history(store: LedgerStore) -> None:
    for i in range(5):
        rid = f"q{i}"
        store.record_attempt(
            attempt(
                rid,
                1,
                ts_utc=T0 + timedelta(hours=i),
                task_type="code" if i % 2 else "chat",
                outcome="error" if i == 3 else "ok",
            )
        )
        store.record_decision(
            rid, prompt=f"prompt number {i} about {'cats' if i < 2 else 'dogs'}", task_type="chat", trace={}, ts_utc=T0
        )
    store.record_attempt(
        attempt(
            "q3",
            2,
            ts_utc=T0 + timedelta(hours=3, seconds=5),
            model_id="claude",
            provider="anthropic",
            cost_usd=Decimal("0.01"),
        )
    )
    store.set_rating("q3", 2)


def test_history_lists_requests_newest_first_with_totals(store: LedgerStore) -> None:
    _fill_history(store)
    rows = store.history()
    assert [r.request_id for r in rows] == ["q4", "q3", "q2", "q1", "q0"]
    q3 = rows[1]
    assert (q3.model_id, q3.outcome, q3.attempts, q3.rating) == ("claude", "ok", 2, 2)
    assert q3.cost_usd == Decimal("0.01045")
    assert q3.task_type == "code" and q3.ts_utc == T0 + timedelta(hours=3)
    assert q3.prompt_preview == "prompt number 3 about dogs"
    assert store.history(limit=2)[1].request_id == "q3"


def test_history_filters(store: LedgerStore) -> None:
    _fill_history(store)
    store.record_attempt(attempt("no-decision", ts_utc=T0 - timedelta(days=1)))

    def ids(**kw: Any) -> list[str]:
        return [r.request_id for r in store.history(**kw)]

    assert ids(task="code") == ["q3", "q1"]
    assert ids(model="claude") == ["q3"]
    assert ids(search="CATS") == ["q1", "q0"]
    assert ids(search="claude") == ["q3"]
    assert ids(search="100%") == []
    assert ids(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3)) == ["q2", "q1"]
    assert ids(until=T0) == ["no-decision"]
    assert store.history(until=T0)[0].prompt_preview is None


def _month_fixture(store: LedgerStore) -> None:
    march = datetime(2025, 3, 1, tzinfo=UTC)
    rows = [
        # request a: gpt fails, claude answers (a fallback)
        attempt("a", 1, ts_utc=march, outcome="error", cost_usd=Decimal("0.000001")),
        attempt(
            "a", 2, ts_utc=march, model_id="claude", provider="anthropic", cost_usd=Decimal("0.003"), task_type="chat"
        ),
        # request b: retried on the same model: not a fallback
        attempt("b", 1, ts_utc=march + timedelta(days=1), outcome="error", cost_usd=Decimal(0)),
        attempt("b", 2, ts_utc=march + timedelta(days=1), task_type="chat"),
        # request c: local, free, code
        attempt(
            "c",
            1,
            ts_utc=march + timedelta(days=1, hours=5),
            model_id="llama3",
            provider="ollama",
            cost_usd=Decimal(0),
            task_type="code",
            gpu_seconds=2.5,
        ),
        # request d: a cache hit saving what it cost before
        attempt(
            "d",
            1,
            ts_utc=march + timedelta(days=30, hours=23, minutes=59),
            outcome="cache_hit",
            cost_usd=Decimal(0),
            saved_usd=Decimal("0.00045"),
        ),
        # request e: three attempts, two other models: counted once
        attempt("e", 1, ts_utc=march + timedelta(days=2), outcome="error", cost_usd=Decimal(0)),
        attempt(
            "e",
            2,
            ts_utc=march + timedelta(days=2),
            outcome="error",
            model_id="claude",
            provider="anthropic",
            cost_usd=Decimal("0.000000000001"),
        ),
        attempt(
            "e",
            3,
            ts_utc=march + timedelta(days=2),
            model_id="gemini",
            provider="google",
            cost_usd=Decimal("0.002"),
            user="bob",
        ),
        # outside March, either side (UTC boundaries)
        attempt("f", 1, ts_utc=march - timedelta(microseconds=1), cost_usd=Decimal(5)),
        attempt("g", 1, ts_utc=datetime(2025, 4, 1, tzinfo=UTC), cost_usd=Decimal(7)),
    ]
    for row in rows:
        store.record_attempt(row)


def test_month_spend_is_exact_and_bounded_by_utc_months(store: LedgerStore) -> None:
    _month_fixture(store)
    assert store.month_spend("2025-03") == Decimal("0.005451000001")
    assert store.month_spend("2025-03", user="bob") == Decimal("0.002")
    assert store.month_spend("2025-02") == Decimal(5)
    assert store.month_spend("2025-04") == Decimal(7)
    assert store.month_spend("2030-01") == Decimal(0)


def test_spend_summary(store: LedgerStore) -> None:
    _month_fixture(store)
    s = store.spend_summary("2025-03")
    assert s.month == "2025-03"
    assert s.spent_usd == Decimal("0.005451000001")
    assert s.by_model == {
        "claude": Decimal("0.003000000001"),
        "gemini": Decimal("0.002"),
        "gpt-4o-mini": Decimal("0.00045") + Decimal("0.000001"),
        "llama3": Decimal(0),
    }
    assert list(s.by_model) == ["claude", "gemini", "gpt-4o-mini", "llama3"]  # largest first
    assert s.by_task == {"chat": Decimal("0.005451000001"), "code": Decimal(0)}
    assert s.by_provider == {
        "anthropic": Decimal("0.003000000001"),
        "google": Decimal("0.002"),
        "openai": Decimal("0.000451"),
        "ollama": Decimal(0),
    }
    assert s.local_vs_cloud == ledger.LocalCloudSplit(
        local_answers=1, cloud_answers=3, local_usd=Decimal(0), cloud_usd=Decimal("0.005451000001")
    )
    assert (s.requests, s.attempts, s.cache_hits) == (5, 9, 1)
    assert s.saved_usd == Decimal("0.00045")
    assert s.fallback_rate == pytest.approx(2 / 5)
    assert len(s.daily) == 31 and s.daily[0] == (date(2025, 3, 1), Decimal("0.003001"))
    assert s.daily[1] == (date(2025, 3, 2), Decimal("0.00045"))
    assert s.daily[30] == (date(2025, 3, 31), Decimal(0))
    assert sum(amount for _, amount in s.daily) == s.spent_usd
    assert store.daily_spend("2025-03") == s.daily
    assert store.spend_summary("2025-03", user="bob").spent_usd == Decimal("0.002")


def test_an_empty_month_summarises_to_zeros(store: LedgerStore) -> None:
    s = store.spend_summary("2025-01")
    assert (s.spent_usd, s.requests, s.fallback_rate, s.by_model) == (Decimal(0), 0, 0.0, {})
    assert all(amount == 0 for _, amount in s.daily)


def test_the_rollup_agrees_with_the_rows(store: LedgerStore, tmp_path: Path) -> None:
    _month_fixture(store)
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    try:
        direct = db.execute(
            "SELECT substr(ts_utc,1,10), model_id, outcome, COUNT(*), SUM(cost_usd), SUM(saved_usd)"
            " FROM llm_usage GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
        rolled = db.execute(
            "SELECT day, model_id, outcome, SUM(attempts), SUM(cost_usd), SUM(saved_usd)"
            " FROM usage_daily GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).fetchall()
    finally:
        db.close()
    assert rolled == direct


def test_export_month_csv_writes_exact_money(store: LedgerStore, tmp_path: Path) -> None:
    _month_fixture(store)
    out = tmp_path / "march.csv"
    assert store.export_month_csv("2025-03", out) == 9
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["request_id"] for r in rows][:2] == ["a", "a"]
    assert rows[0]["ts_utc"] == "2025-03-01T00:00:00.000000Z"
    assert sum(Decimal(r["cost_usd"]) for r in rows) == Decimal("0.005451000001")
    assert rows[0]["price_input_per_mtok"] == "0.15"
    assert not list(tmp_path.glob("*.partial"))


def test_m003_upgrades_an_m002_file_keeping_rows_rollup_and_guards(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    from sparklio_desktop.core.ledger.migrations import MigrationSet

    path = tmp_path / "ledger.sqlite3"
    old = MigrationSet("ledger")
    for fn in (ledger.migrations.m001_initial, ledger.migrations.m002_usage_daily):
        old.register(fn)
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
            " usage_source, cost_usd) VALUES ('r0', 1, '2026-01-02T00:00:00Z', 'ada', 'chat', 'm', 'p', 'ok',"
            " 'provider', 7)"
        )
    engine.dispose()
    store = LedgerStore.open(path)  # runs m003
    try:
        store.record_attempt(attempt("r1", outcome="stalled"))
        assert [r.outcome for r in store.attempts("r0")] == ["ok"]
        assert [r.outcome for r in store.attempts("r1")] == ["stalled"]
    finally:
        store.close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("SELECT SUM(attempts) FROM usage_daily").fetchone()[0] == 2  # the copy was not counted
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM llm_usage")
        with pytest.raises(sqlite3.IntegrityError):
            db.execute(
                "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider,"
                " outcome, usage_source) VALUES ('r2', 1, 't', 'u', 'chat', 'm', 'p', 'bogus', 'provider')"
            )
        indexes = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    finally:
        db.close()
    assert {"ix_llm_usage_ts", "ix_llm_usage_request", "ix_llm_usage_model", "ix_llm_usage_task"} <= indexes
