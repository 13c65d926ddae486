"""``sparklio ledger export|import`` on real SQLite ledgers through the real CLI.

A creator's ledger (two months, two members, a fallback, a cache hit, an error with a key in
its message, a decision, a compare vote, one attempt still in flight) goes out to a file and
into another install's ledger: every row comes back with its request id, each month's and
member's spend is the same to the picodollar, and a second import adds nothing. A damaged or
forged file is one ``file:line:`` error with exit 2 and nothing written.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger import migrations as m
from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
from sparklio_desktop.core.ledger.migrations import MigrationSet
from sparklio_desktop.core.ledger.schema_version import HEAD_REVISION
from sparklio_desktop.core.ratings.votes_store import VoteStore
from tests.test_cli_dispatch import sparklio

KEY = "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0" * 2
OCT = datetime(2026, 10, 30, 23, 59, 59, 999999, tzinfo=UTC)
NOV = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def attempt(request_id: str, n: int, when: datetime, cost: str, **extra: object) -> AttemptRecord:
    fields: dict = {"task_type": "chat", "model_id": "openai/gpt-4o-mini", "provider": "openai", "outcome": "ok"}
    fields |= extra
    return AttemptRecord(request_id=request_id, attempt=n, ts_utc=when, cost_usd=Decimal(cost), **fields)


def make_source(home: Path) -> Path:
    """A personal ledger with every kind of row the export moves (and one it does not)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / "ledger.sqlite3"
    with LedgerStore.open(path, member="ana") as store:
        store.record_attempt(
            attempt("req-oct-1", 1, OCT, "0.000075", input_tokens=1000, price_input_per_mtok=Decimal("0.075"))
        )
        # A fallback: attempt 1 failed on one model (its key echoed back), attempt 2 answered on another.
        store.record_attempt(attempt("req-nov-1", 1, NOV, "0", outcome="error", error_message=f"401 bad key {KEY}"))
        store.record_attempt(
            attempt("req-nov-1", 2, NOV, "1.234567890123", model_id="anthropic/claude", provider="anthropic")
        )
        store.record_attempt(attempt("req-nov-2", 1, NOV, "0", outcome="cache_hit", saved_usd=Decimal("0.5")))
        store.record_attempt(attempt("req-nov-3", 1, NOV, "0.2", member="bo", host="studio-2", rating=4))
        # Still running in this (live) process: never exported.
        store.start_attempt(attempt("req-live", 1, NOV, "0", outcome="in_flight", worst_case_usd=Decimal("3")))
        store.record_decision("req-nov-1", prompt="Write a caption", task_type="chat", trace={"x": 1}, ts_utc=NOV)
    with VoteStore.open(path) as votes:
        cid = votes.record_comparison(
            task_type="chat", prompt="p", models=["a/x", "b/y"], order_shown=["b/y", "a/x"], blind=True, ts=NOV
        )
        votes.record_vote(cid, "a", stars={"a/x": 5}, ts=NOV)
    return path


def rows(path: Path, table: str, order: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        names = [r[1] for r in db.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
        return db.execute(f"SELECT {', '.join(names)} FROM {table} ORDER BY {order}").fetchall()


def moved_rows(path: Path) -> dict[str, list[tuple]]:
    """What an import must reproduce: the finished attempts, decisions, comparisons, votes
    (by their comparison's natural key) and both rollups."""
    with sqlite3.connect(path) as db:
        joined = db.execute(
            "SELECT c.ts_utc, c.prompt_sha256, v.ts_utc, v.vote, v.ranking_json, v.stars_json"
            " FROM votes v JOIN comparisons c ON c.id = v.comparison_id ORDER BY 1, 2"
        ).fetchall()
    return {
        "llm_usage": [r for r in rows(path, "llm_usage", "request_id, attempt") if "in_flight" not in r],
        "decisions": rows(path, "decisions", "request_id"),
        "comparisons": rows(path, "comparisons", "ts_utc"),
        "votes": joined,
        "usage_daily": rows(path, "usage_daily", "1, 2, 3, 4, 5, 6, 7"),
        "usage_monthly": rows(path, "usage_monthly", "1, 2, 3, 4, 5, 6"),
    }


def count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


@pytest.fixture
def homes(tmp_path: Path) -> tuple[Path, Path]:
    source, team = tmp_path / "personal", tmp_path / "team"
    make_source(source)
    team.mkdir()
    return source, team


def export(home: Path, out: Path, *extra: str) -> dict:
    done = sparklio("ledger", "export", "--out", str(out), "--json", *extra, env_extra={"SPARKLIO_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def import_(home: Path, *args: str) -> dict:
    done = sparklio("ledger", "import", *args, "--json", env_extra={"SPARKLIO_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def spend(home: Path, month: str) -> dict:
    done = sparklio("spend", "--month", month, "--json", env_extra={"SPARKLIO_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_round_trip_keeps_every_row_request_id_and_the_exact_spend(homes, tmp_path: Path) -> None:
    source, team = homes
    out = tmp_path / "ana.jsonl"
    exported = export(source, out)
    assert exported["rows"] == {"llm_usage": 5, "decisions": 1, "comparisons": 1, "votes": 1}
    assert exported["in_flight_left"] == 1 and "in_flight" in exported["note"] and "alerts" in exported["note"]
    header = json.loads(out.read_text().splitlines()[0])
    assert header["format"] == "sparklio.ledger/1" and header["schema"] == HEAD_REVISION
    body = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    fallback = next(r for r in body if r["request_id"] == "req-nov-1" and r["attempt"] == 2)
    assert fallback["cost_usd"] == "1.234567890123" and fallback["ts_utc"] == "2026-11-02T08:00:00.000000Z"
    assert KEY not in out.read_text()

    done = import_(team, str(out))
    assert done["imported"] == exported["rows"] and sum(done["skipped"].values()) == 0
    assert done["spend_added_usd"] == {"2026-10": "0.000075", "2026-11": "1.434567890123"}
    target = team / "ledger.sqlite3"
    assert moved_rows(target) == moved_rows(source / "ledger.sqlite3")
    for month in ("2026-10", "2026-11"):
        mine, theirs = spend(source, month), spend(team, month)
        for key in ("spent_usd", "by_member", "by_model", "requests", "cache_hits", "saved_usd", "fallback_rate"):
            assert mine[key] == theirs[key], key
    assert Decimal(spend(team, "2026-11")["by_member"]["ana"]["spent_usd"]) == Decimal("1.234567890123")
    shown = sparklio("show", "req-nov-1", "--json", env_extra={"SPARKLIO_HOME": str(team)})
    assert shown.returncode == 0 and len(json.loads(shown.stdout)["attempts"]) == 2


def test_import_is_idempotent_from_a_file_and_from_the_sqlite_file(homes, tmp_path: Path) -> None:
    source, team = homes
    out = tmp_path / "ana.jsonl"
    export(source, out)
    first = import_(team, str(out))
    before = moved_rows(team / "ledger.sqlite3")
    again = import_(team, str(out))
    assert again["imported"] == dict.fromkeys(first["imported"], 0)
    assert again["skipped"] == first["imported"] and again["spend_added_usd"] == {}
    direct = import_(team, "--from-sqlite", str(source / "ledger.sqlite3"))
    assert direct["imported"] == dict.fromkeys(first["imported"], 0) and direct["skipped"] == first["imported"]
    assert moved_rows(team / "ledger.sqlite3") == before


def test_from_sqlite_reads_an_old_ledger_without_changing_it_and_fills_the_member(tmp_path: Path) -> None:
    # A ledger from before team members (m001..m007): no member column, no usage_monthly.
    old = tmp_path / "old" / "ledger.sqlite3"
    steps = MigrationSet("ledger")
    for name in m.LEDGER_MIGRATIONS.names[:7]:
        steps.register(getattr(m, name))
    engine = create_sqlite_engine(old, "ledger")
    steps.apply(writer(engine))
    with writer(engine).begin() as conn:
        old_rows = [("2026-09-01T10:00:00.000000Z", 7), ("2026-10-01T10:00:00.000000Z", 10**12)]
        for n, (when, picos) in enumerate(old_rows):
            conn.exec_driver_sql(
                "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
                " usage_source, cost_usd) VALUES (?, 1, ?, 'olduser', 'chat', 'm/x', 'openai', 'ok', 'provider', ?)",
                (f"old-{n}", when, picos),
            )
    engine.dispose()
    untouched = old.read_bytes()
    team = tmp_path / "team"
    team.mkdir()
    done = import_(team, "--from-sqlite", str(old), "--member", "Ana K")
    assert done["schema"] == "m007_history_tokens" and done["imported"]["llm_usage"] == 2
    assert done["member_filled"] == 2 and done["spend_added_usd"] == {"2026-09": "0.000000000007", "2026-10": "1"}
    assert old.read_bytes() == untouched  # read-only: not migrated, not written
    assert spend(team, "2026-09")["by_member"]["Ana K"]["spent_usd"] == "0.000000000007"
    # Without --member, a row that names none belongs to its user (what m008 does in place).
    other = tmp_path / "other"
    other.mkdir()
    import_(other, "--from-sqlite", str(old), "--since", "2026-10")
    assert spend(other, "2026-10")["by_member"] == {
        "olduser": {"spent_usd": "1", "requests": 1, "attempts": 1, "limit_usd": None}
    }
    assert spend(other, "2026-09")["spent_usd"] == "0"


def test_dry_run_counts_and_writes_nothing(homes, tmp_path: Path) -> None:
    source, team = homes
    out = tmp_path / "ana.jsonl"
    export(source, out)
    done = import_(team, str(out), "--dry-run")
    assert done["dry_run"] is True and done["imported"]["llm_usage"] == 5
    assert done["spend_added_usd"]["2026-11"] == "1.434567890123"
    target = team / "ledger.sqlite3"
    assert all(count(target, t) == 0 for t in ("llm_usage", "decisions", "comparisons", "votes", "usage_monthly"))


def test_export_never_replaces_a_file_without_force_and_names_it_by_date(homes, tmp_path: Path, monkeypatch) -> None:
    source, _ = homes
    monkeypatch.chdir(tmp_path)
    env = {"SPARKLIO_HOME": str(source)}
    done = sparklio("ledger", "export", env_extra=env)
    assert done.returncode == 0, done.stderr
    (written,) = tmp_path.glob("sparklio-ledger-*.jsonl")
    assert written.name == f"sparklio-ledger-{datetime.now(UTC):%Y-%m-%d}.jsonl"
    assert "1 attempt(s) still in flight were left out" in done.stdout
    written.write_text("mine\n")
    refused = sparklio("ledger", "export", env_extra=env)
    assert refused.returncode == 2 and "--force" in refused.stderr and written.read_text() == "mine\n"
    assert sparklio("ledger", "export", "--force", env_extra=env).returncode == 0
    assert json.loads(written.read_text().splitlines()[0])["rows"]["llm_usage"] == 5
    since = export(source, tmp_path / "nov.jsonl", "--since", "2026-11")
    assert since["rows"]["llm_usage"] == 4 and since["since"] == "2026-11"


def _file(tmp_path: Path, header: dict | None = None, lines: list[str] | None = None) -> Path:
    head = {"format": "sparklio.ledger/1", "schema": m.LEDGER_MIGRATIONS.names[-1], "exported_utc": "2026-12-01"}
    head |= header or {}
    good = {
        "table": "llm_usage", "request_id": "r1", "attempt": 1, "ts_utc": "2026-11-01T00:00:00.000000Z",
        "user": "ana", "task_type": "chat", "model_id": "m/x", "provider": "openai", "outcome": "ok",
        "usage_source": "provider", "cost_usd": "0.5",
    }  # fmt: skip
    body = [json.dumps(good), *(lines or [])]
    counted = sum(1 for line in body if line.startswith('{"table": "llm_usage"'))
    head.setdefault("rows", {"llm_usage": counted})
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join([json.dumps(head), *body]) + "\n")
    return path


def _row(**changes: object) -> str:
    row = {
        "table": "llm_usage", "request_id": "r2", "attempt": 1, "ts_utc": "2026-11-01T00:00:00.000000Z",
        "user": "ana", "task_type": "chat", "model_id": "m/x", "provider": "openai", "outcome": "ok",
        "usage_source": "provider", "cost_usd": "0.25",
    }  # fmt: skip
    row |= changes
    return json.dumps({k: v for k, v in row.items() if v is not ...})


BAD_FILES = {
    "bad JSON": ({}, ['{"table": "llm_usage", "request_id": '], ":3: not JSON"),
    "unknown table": ({}, [json.dumps({"table": "secrets", "x": 1})], ":3: unknown table 'secrets'"),
    "wrong format": ({"format": "acme.ledger/1"}, [], ":1: not a Sparklio ledger export"),
    "newer format": ({"format": "sparklio.ledger/2"}, [], ":1: written by a newer Sparklio (format sparklio.ledger/2)"),
    "newer schema": ({"schema": "m042_future"}, [], ":1: written by a newer Sparklio (schema 'm042_future')"),
    "negative money": ({}, [_row(cost_usd="-0.01")], ":3: llm_usage.cost_usd is negative"),
    "money as a float": ({}, [_row(cost_usd=0.1)], ":3: llm_usage.cost_usd is money as decimal text"),
    "money finer than a picodollar": ({}, [_row(cost_usd="1e-13")], "is not an exact amount of USD"),
    "missing field": ({}, [_row(model_id=...)], ":3: llm_usage row is missing model_id"),
    "unknown column": ({}, [_row(extra=1)], ":3: llm_usage has no column 'extra'"),
    "naive time": ({}, [_row(ts_utc="2026-11-01T00:00:00")], ":3: llm_usage.ts_utc '2026-11-01T00:00:00' has no time"),
    "in flight": ({}, [_row(outcome="in_flight")], ":3: llm_usage.outcome is in_flight"),
    "attempt 0": ({}, [_row(attempt=0)], ":3: llm_usage.attempt is numbered from 1"),
    "twice": ({}, [_row(request_id="r1")], ":3: llm_usage r1/1 is there twice"),
    "cut short": ({"rows": {"llm_usage": 3}}, [_row()], "the header counts 3 llm_usage rows, the file has 2"),
    "orphan vote": (
        {},
        [json.dumps({"table": "votes", "comparison_id": 9, "ts_utc": "2026-11-01T00:00:00Z", "vote": "a"})],
        ":3: the vote's comparison 9 is not in the file",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_is_one_located_line_exit_2_and_nothing_written(case: str, tmp_path: Path) -> None:
    header, lines, expected = BAD_FILES[case]
    path = _file(tmp_path, header, lines)
    done = sparklio("ledger", "import", str(path))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"sparklio: error: {path}") and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    ledger = Path(os.environ["SPARKLIO_HOME"]) / "ledger.sqlite3"
    assert not ledger.exists() or count(ledger, "llm_usage") == 0


def test_a_secret_in_a_file_stays_redacted_in_the_error_and_the_ledger(tmp_path: Path) -> None:
    path = _file(tmp_path, lines=[json.dumps({"table": f"api_key={KEY}"})])
    done = sparklio("ledger", "import", str(path))
    assert done.returncode == 2 and KEY not in done.stderr and "[REDACTED]" in done.stderr
    path = _file(tmp_path, lines=[_row(outcome=KEY)])
    done = sparklio("ledger", "import", str(path))
    assert done.returncode == 2 and KEY not in done.stderr and "[REDACTED]" in done.stderr, done.stderr
    path = _file(tmp_path, lines=[_row(outcome="error", error_message=f"echo {KEY}")])
    assert sparklio("ledger", "import", str(path)).returncode == 0
    ledger = Path(os.environ["SPARKLIO_HOME"]) / "ledger.sqlite3"
    with sqlite3.connect(ledger) as db:
        (stored,) = db.execute("SELECT error_message FROM llm_usage WHERE request_id = 'r2'").fetchone()
    assert stored == "echo [REDACTED]"


def test_usage_errors_are_exit_2(tmp_path: Path) -> None:
    for args, expected in [
        ((), "give an export FILE or --from-sqlite PATH"),
        ((str(tmp_path / "missing.jsonl"),), "missing.jsonl: no such file"),
        (("--from-sqlite", str(tmp_path / "none.sqlite3")), "no such ledger file"),
        (("x.jsonl", "--since", "2026-01"), "--since goes with --from-sqlite"),
        (("--from-sqlite", "x", "--member", " ana"), "cannot start or end with spaces"),
    ]:
        done = sparklio("ledger", "import", *args)
        assert done.returncode == 2 and expected in done.stderr, (args, done.stderr)
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    done = sparklio("ledger", "import", "--from-sqlite", str(tmp_path / "junk.sqlite3"))
    assert done.returncode == 2 and "cannot be read as a ledger" in done.stderr and "Traceback" not in done.stderr


def test_into_a_team_database_on_postgresql_and_back(homes, tmp_path: Path, request) -> None:
    """The same commands with ``SPARKLIO_DATABASE_URL`` set: the file goes into PostgreSQL,
    a second import adds nothing, and an export from there rebuilds the same SQLite ledger."""
    try:
        url = request.getfixturevalue("pg_database_url")  # tests/postgres_server.py
    except pytest.FixtureLookupError:
        pytest.skip("needs the PostgreSQL test server fixture (tests/postgres_server.py)")
    source, team = homes
    out = tmp_path / "ana.jsonl"
    exported = export(source, out)
    on_pg = {"SPARKLIO_HOME": str(team), "SPARKLIO_DATABASE_URL": url}
    done = sparklio("ledger", "import", str(out), "--json", env_extra=on_pg)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["imported"] == exported["rows"]
    again = sparklio("ledger", "import", "--from-sqlite", str(source / "ledger.sqlite3"), "--json", env_extra=on_pg)
    assert again.returncode == 0 and sum(json.loads(again.stdout)["imported"].values()) == 0, again.stderr
    for month in ("2026-10", "2026-11"):
        theirs = json.loads(sparklio("spend", "--month", month, "--json", env_extra=on_pg).stdout)
        mine = spend(source, month)
        assert (theirs["spent_usd"], theirs["by_member"]) == (mine["spent_usd"], mine["by_member"])
    back = tmp_path / "back.jsonl"
    done = sparklio("ledger", "export", "--out", str(back), "--json", env_extra=on_pg)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == exported["rows"]
    home = tmp_path / "home-again"
    home.mkdir()
    import_(home, str(back))
    assert moved_rows(home / "ledger.sqlite3") == moved_rows(source / "ledger.sqlite3")


def test_a_ledger_file_at_a_newer_alembic_revision_is_refused(tmp_path: Path) -> None:
    """A file another (newer) Sparklio upgraded past this build's head revision: its rows may
    carry columns this build would silently drop, so --from-sqlite refuses it."""
    newer = tmp_path / "newer.sqlite3"
    LedgerStore.open(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    done = sparklio("ledger", "import", "--from-sqlite", str(newer))
    assert done.returncode == 2
    assert "newer Sparklio" in done.stderr and "0099" in done.stderr and "Traceback" not in done.stderr


# -- streaming: the rows go in by chunks, in one transaction ---------------------------------


@pytest.fixture
def tiny_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of two rows, so a small file is read and written in many of them."""
    from sparklio_desktop.core.ledger import transfer

    monkeypatch.setattr(transfer, "_BATCH", 2)


def _import_here(ledger: Path, source: object) -> object:
    from sparklio_desktop.core.ledger.transfer import import_into

    with LedgerStore.open(ledger) as store:
        return import_into(store, source)  # type: ignore[arg-type]


def test_a_streamed_import_in_many_chunks_moves_every_row_and_the_exact_spend(
    homes, tmp_path: Path, tiny_chunks: None
) -> None:
    from sparklio_desktop.core.ledger.transfer import read_export, read_sqlite_ledger

    source, _ = homes
    with LedgerStore.open(source / "ledger.sqlite3", member="ana") as store:  # more requests, more chunks
        for i in range(7):
            store.record_attempt(attempt(f"more-{i}", 1, NOV, "0.1", outcome="error"))
            store.record_attempt(attempt(f"more-{i}", 2, NOV, "0.01", model_id="b/y", provider="anthropic"))
    out = tmp_path / "ana.jsonl"
    export(source, out)
    for target, reader in ((tmp_path / "a.sqlite3", read_export), (tmp_path / "b.sqlite3", read_sqlite_ledger)):
        done = _import_here(target, reader(out if reader is read_export else source / "ledger.sqlite3"))
        assert done.imported == {"llm_usage": 19, "decisions": 1, "comparisons": 1, "votes": 1}  # type: ignore[attr-defined]
        assert moved_rows(target) == moved_rows(source / "ledger.sqlite3")  # the rollups' fallbacks included
        again = _import_here(target, reader(out if reader is read_export else source / "ledger.sqlite3"))
        assert sum(again.imported.values()) == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([_row(request_id=f"r{n}") for n in range(2, 9)] + ['{"table": "llm_usage"'], ":10: not JSON"),
        (
            [_row(request_id=f"r{n}") for n in range(2, 9)] + [_row(request_id="r3")],
            ":10: llm_usage r3/1 is there twice (also ",
        ),
        (
            [_row(request_id="r9", attempt=2), *(_row(request_id=f"r{n}") for n in range(2, 6)), _row(request_id="r9")],
            ":8: llm_usage r9/1 comes after attempt 2 of its request",
        ),
    ],
)
def test_a_bad_row_after_chunks_were_written_rolls_all_of_it_back(
    lines: list[str], expected: str, tmp_path: Path, tiny_chunks: None
) -> None:
    from sparklio_desktop.core.ledger.transfer import TransferError, read_export

    path = _file(tmp_path, {"rows": {"llm_usage": len(lines) + 1}}, lines)
    ledger = tmp_path / "ledger.sqlite3"
    with pytest.raises(TransferError, match="cut short|twice|not JSON|comes after") as caught:
        _import_here(ledger, read_export(path))
    assert str(caught.value).startswith(str(path)) and expected in str(caught.value)
    assert count(ledger, "llm_usage") == 0 and count(ledger, "usage_monthly") == 0


def test_a_file_cut_short_is_refused_after_its_rows_were_streamed(tmp_path: Path, tiny_chunks: None) -> None:
    from sparklio_desktop.core.ledger.transfer import TransferError, read_export

    path = _file(tmp_path, {"rows": {"llm_usage": 9}}, [_row(request_id=f"r{n}") for n in range(2, 7)])
    ledger = tmp_path / "ledger.sqlite3"
    with pytest.raises(TransferError, match="the header counts 9 llm_usage rows, the file has 6"):
        _import_here(ledger, read_export(path))
    assert count(ledger, "llm_usage") == 0


def test_a_requests_attempts_out_of_order_within_a_chunk_still_count_one_fallback(tmp_path: Path) -> None:
    lines = [_row(attempt=2, model_id="b/y", outcome="ok"), _row(attempt=1, outcome="error")]
    path = _file(tmp_path, {"rows": {"llm_usage": 3}}, lines)
    assert sparklio("ledger", "import", str(path)).returncode == 0
    ledger = Path(os.environ["SPARKLIO_HOME"]) / "ledger.sqlite3"
    with sqlite3.connect(ledger) as db:
        assert db.execute("SELECT sum(fallbacks), sum(requests) FROM usage_monthly").fetchone() == (1, 2)
