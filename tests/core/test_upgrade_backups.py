"""Upgrades keep user data: before a file's pending migrations run, a copy is written beside
it (``<name>.before-v<N>.bak``); it is deleted once they commit, and kept, named in the
one-line error, when they fail (the file itself is rolled back, unchanged). Files with
nothing to migrate get no copy. Real SQLite files at each older schema version."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection

from sparklio_desktop.core import ledger
from sparklio_desktop.core.batches import schema as batch_schema
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.plain_migrations import PlainMigrations, open_migrated
from sparklio_desktop.core.ledger.schema_upgrade import expected_backup
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError, file_error
from sparklio_desktop.core.ledger.upgrade_backup import backup_before_upgrade, backup_name

N = len(LEDGER_MIGRATIONS.names)
_ROW = (
    "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
    " usage_source, cost_usd) VALUES ('r0', 1, '2026-01-02T00:00:00.000000Z', 'ada', 'chat', 'm', 'p', 'ok',"
    " 'provider', 7)"
)


def _ledger_at(path: Path, version: int) -> Path:
    """A ledger file that has had the first ``version`` migrations, with one attempt row."""
    old = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names[:version]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(_ROW)
    engine.dispose()
    return path


def _dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())


def _baks(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".bak" in p.name or p.name.endswith(".partial"))


@pytest.mark.parametrize("version", range(1, N))
def test_an_older_ledger_migrates_keeping_its_rows_and_leaves_no_copy(tmp_path: Path, version: int) -> None:
    path = _ledger_at(tmp_path / "ledger.sqlite3", version)
    with LedgerStore.open(path) as store:
        (row,) = store.attempts("r0")
        assert (row.model_id, row.outcome) == ("m", "ok")
    with closing(sqlite3.connect(path)) as db:
        assert [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")] == LEDGER_MIGRATIONS.names
    assert _baks(tmp_path) == []


def test_the_copy_holds_the_file_as_it_was_before_the_upgrade(tmp_path: Path) -> None:
    path = _ledger_at(tmp_path / "ledger.sqlite3", 3)
    before = _dump(path)
    copy = backup_before_upgrade(path, LEDGER_MIGRATIONS.names)
    assert copy == backup_name(path, N) == tmp_path / f"ledger.sqlite3.before-v{N}.bak"
    assert _dump(copy) == before
    with closing(sqlite3.connect(copy)) as db:  # one self-contained file, openable on its own
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert _baks(tmp_path) == [copy.name]


def test_no_copy_for_a_new_file_or_one_at_the_current_version(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerFileStore.open(path).close()  # new
    assert backup_before_upgrade(path, LEDGER_MIGRATIONS.names) is None
    LedgerFileStore.open(path).close()  # current
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    assert backup_before_upgrade(empty, LEDGER_MIGRATIONS.names) is None
    assert backup_before_upgrade(tmp_path / "absent.sqlite3", LEDGER_MIGRATIONS.names) is None
    assert _baks(tmp_path) == []


def test_no_copy_for_a_file_from_a_newer_sparklio(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerFileStore.open(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01T00:00:00Z')")
    with pytest.raises(DatabaseFileError, match="newer Sparklio"):
        LedgerFileStore.open(path)
    assert _baks(tmp_path) == []


def m999_fails(conn: Connection) -> None:
    """A migration that changes the file, then fails: the change must be rolled back."""
    conn.exec_driver_sql("ALTER TABLE llm_usage ADD COLUMN half_done TEXT")
    conn.exec_driver_sql("INSERT INTO no_such_table VALUES (1)")


def test_a_failing_ledger_migration_leaves_the_file_unchanged_and_keeps_the_named_copy(tmp_path: Path) -> None:
    path = _ledger_at(tmp_path / "ledger.sqlite3", N)
    before = _dump(path)
    newer = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names:
        newer.register(getattr(ledger.migrations, name))
    newer.register(m999_fails)
    engine = create_sqlite_engine(path, "ledger")
    try:
        with pytest.raises(DatabaseFileError) as caught:
            newer.apply(writer(engine))
    finally:
        engine.dispose()
    copy = backup_name(path, N + 1)
    message = str(caught.value)
    assert "\n" not in message
    assert str(copy) in message and "unchanged" in message and "no_such_table" in message
    assert _dump(path) == before  # rolled back: no half_done column, no new _migrations row
    assert _dump(copy) == before
    # The next start of the same (failing) version tries again from the same file.
    engine = create_sqlite_engine(path, "ledger")
    try:
        with pytest.raises(DatabaseFileError):
            newer.apply(writer(engine))
    finally:
        engine.dispose()
    assert _dump(path) == before and _baks(tmp_path) == [copy.name]


def test_a_copy_that_cannot_be_written_stops_the_upgrade_in_one_line(tmp_path: Path) -> None:
    path = _ledger_at(tmp_path / "ledger.sqlite3", 2)
    before = _dump(path)
    expected_backup(path).mkdir()  # a folder where the copy must go (the ledger's schema version)
    with pytest.raises(DatabaseFileError) as caught:
        LedgerFileStore.open(path)
    message = str(caught.value)
    assert "\n" not in message and "copy" in message and str(path) in message
    assert _dump(path) == before  # nothing migrated
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def _batches_at_m001(path: Path) -> Path:
    old = PlainMigrations()
    old.register(batch_schema.m001_batches)
    conn = open_migrated(
        path,
        "batches file",
        old,
        "2026-01-01T00:00:00Z",
        classify=lambda exc: file_error(path, "batches file", exc),
        make=lambda problem, detail: DatabaseFileError(path, "batches file", problem, detail),
    )
    conn.close()
    return path


def test_an_older_plain_store_migrates_and_leaves_no_copy(tmp_path: Path) -> None:
    from sparklio_desktop.core.batches.store import BatchStore

    path = _batches_at_m001(tmp_path / "batches.sqlite3")
    BatchStore(path).close()
    with closing(sqlite3.connect(path)) as db:
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == batch_schema.MIGRATIONS.names and len(names) >= 2
    assert _baks(tmp_path) == []


def test_a_failing_plain_migration_leaves_the_file_unchanged_and_keeps_the_named_copy(tmp_path: Path) -> None:
    path = _batches_at_m001(tmp_path / "batches.sqlite3")
    before = _dump(path)
    newer = PlainMigrations()
    for _name, step in batch_schema.MIGRATIONS:
        newer.register(step)

    def m999_fails(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    newer.register(m999_fails)
    with pytest.raises(DatabaseFileError) as caught:
        open_migrated(
            path,
            "batches file",
            newer,
            "2026-01-01T00:00:00Z",
            classify=lambda exc: file_error(path, "batches file", exc),
            make=lambda problem, detail: DatabaseFileError(path, "batches file", problem, detail),
        )
    copy = backup_name(path, len(newer.names))
    message = str(caught.value)
    assert "\n" not in message and str(copy) in message and "unchanged" in message
    assert _dump(path) == before  # m002 and the half-made table rolled back with the failure
    assert _dump(copy) == before
