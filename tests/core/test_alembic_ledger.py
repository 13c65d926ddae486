"""The ledger's schema moves with Alembic (core/ledger/schema_upgrade.py): a file written by
every earlier Sparklio (each legacy step m001..m008, and Alembic's baseline 0001) upgrades
in place to the head with no row lost and ends exactly as a new file starts; a file from a
newer Sparklio is refused in one line and left as it was; a current ledger opens without
importing Alembic; a failed upgrade leaves the file unchanged and keeps the named copy.
Real SQLite files, real Alembic, real subprocesses."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from sparklio_desktop.core import ledger
from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.reader import LedgerReader
from sparklio_desktop.core.ledger.schema_upgrade import (
    SCRIPT_FOLDER,
    expected_backup,
    run_alembic_upgrade,
    script_directory,
    upgrade_ledger,
)
from sparklio_desktop.core.ledger.schema_version import BASELINE_REVISION, HEAD_REVISION, REVISIONS, SCHEMA_VERSION
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError
from sparklio_desktop.core.ledger.store import LedgerStore

LEGACY = LEDGER_MIGRATIONS.names
ROOT = Path(__file__).resolve().parents[2]

# Rows in every table m001 made, written with m001's columns (valid at every later step too).
_ROWS = [
    *(
        "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
        f" usage_source, input_tokens, output_tokens, cost_usd) VALUES ('r{i}', {a},"
        f" '2026-0{1 + i % 3}-0{1 + i}T0{a}:00:00.000000Z', 'ada', 'chat', 'm{a}', 'p',"
        f" '{'ok' if a == 2 or i % 2 else 'error'}', 'provider', {10 * i}, {i}, {1000 * i + a})"
        for i in range(4)
        for a in (1, 2)
    ),
    "INSERT INTO decisions (request_id, ts_utc, user, task_type, prompt_preview, prompt_sha256, trace_json)"
    " VALUES ('r0', '2026-01-01T00:00:00.000000Z', 'ada', 'chat', 'hello', 'abc', '{}')",
    "INSERT INTO comparisons (id, ts_utc, user, task_type, prompt_sha256, models_json, order_shown_json)"
    " VALUES (1, '2026-01-01T00:00:00.000000Z', 'ada', 'chat', 'abc', '[\"a\",\"b\"]', '[\"b\",\"a\"]')",
    "INSERT INTO votes (comparison_id, ts_utc, vote) VALUES (1, '2026-01-01T00:00:00.000000Z', 'a')",
    "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc)"
    " VALUES ('r9', '2026-01', 5, '2026-01-01T00:00:00.000000Z')",
    "INSERT INTO alerts (month, kind, ts_utc) VALUES ('2026-01', 'threshold', '2026-01-01T00:00:00.000000Z')",
]
_M001_USAGE = (
    "SELECT request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome, input_tokens,"
    " output_tokens, cost_usd FROM llm_usage ORDER BY request_id, attempt"
)
_COUNTED = ("llm_usage", "decisions", "comparisons", "votes", "budget_reservations", "alerts")


def _legacy_ledger(path: Path, steps: int) -> Path:
    """A ledger as the Sparklio that shipped ``steps`` legacy migrations left it, with rows."""
    old = MigrationSet("ledger")
    for name in LEGACY[:steps]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    try:
        old.apply(engine)
        with engine.begin() as conn:
            for row in _ROWS:
                conn.exec_driver_sql(row)
    finally:
        engine.dispose()
    return path


def _baseline_ledger(path: Path) -> Path:
    """A ledger at Alembic's baseline (the first Sparklio with Alembic), with rows."""
    engine = create_sqlite_engine(path, "ledger")
    try:
        with writer(engine).begin() as conn:
            assert run_alembic_upgrade(conn, BASELINE_REVISION) == [BASELINE_REVISION]
            for row in _ROWS:
                conn.exec_driver_sql(row)
    finally:
        engine.dispose()
    return path


def _contents(path: Path) -> dict[str, object]:
    with closing(sqlite3.connect(path)) as db:
        found: dict[str, object] = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in _COUNTED}
        found["usage"] = db.execute(_M001_USAGE).fetchall()
        return found


def _schema(path: Path) -> list[tuple[str, str, str, str]]:
    """sqlite_master, normalized: every object with its SQL, whitespace folded."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
        return [(t, n, tbl, re.sub(r"\s+", " ", sql).strip()) for t, n, tbl, sql in rows]


def _state(path: Path) -> tuple[list[str], list[str]]:
    with closing(sqlite3.connect(path)) as db:
        revisions = [r[0] for r in db.execute("SELECT version_num FROM alembic_version")]
        legacy = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    return revisions, legacy


def _dump(path: Path) -> list[str]:
    with closing(sqlite3.connect(path)) as db:
        return list(db.iterdump())


def _baks(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".bak" in p.name or p.name.endswith(".partial"))


@pytest.fixture(scope="module")
def fresh_schema(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, str, str]]:
    path = tmp_path_factory.mktemp("fresh") / "ledger.sqlite3"
    LedgerFileStore.open(path).close()
    assert _state(path) == ([HEAD_REVISION], LEGACY)
    return _schema(path)


def test_the_revisions_this_build_knows_are_the_script_folders() -> None:
    _config, script = script_directory()
    chain = [rev.revision for rev in script.walk_revisions(base="base", head="heads")][::-1]
    assert tuple(chain) == REVISIONS and script.get_current_head() == HEAD_REVISION
    assert SCHEMA_VERSION == len(LEGACY) + len(REVISIONS) - 1
    assert (SCRIPT_FOLDER / "versions").is_dir() and not (SCRIPT_FOLDER / "env.py").exists()


@pytest.mark.parametrize("steps", range(1, len(LEGACY) + 1), ids=lambda n: LEGACY[n - 1])
def test_a_ledger_from_every_legacy_step_upgrades_with_no_row_lost(
    tmp_path: Path, steps: int, fresh_schema: list[tuple[str, str, str, str]]
) -> None:
    path = _legacy_ledger(tmp_path / "ledger.sqlite3", steps)
    before = _contents(path)
    assert before["llm_usage"] == 8 and before["votes"] == 1
    LedgerFileStore.open(path).close()  # the upgrade alone (the store also reclaims ownerless holds)
    assert _contents(path) == before
    assert _state(path) == ([HEAD_REVISION], LEGACY)  # the legacy steps recorded as before
    assert _schema(path) == fresh_schema  # exactly what a new ledger has
    with closing(sqlite3.connect(path)) as db:  # the rollups agree with the rows they count
        assert db.execute("SELECT SUM(cost_usd) FROM usage_daily").fetchone() == (12012,)
        assert db.execute("SELECT SUM(cost_usd) FROM usage_monthly").fetchone() == (12012,)
    assert _baks(tmp_path) == []  # the copy is deleted once the upgrade committed
    with LedgerStore.open(path) as store:
        (row,) = [a for a in store.attempts("r1") if a.attempt == 2]
        assert (row.model_id, row.outcome) == ("m2", "ok")


def test_a_ledger_at_the_baseline_upgrades_to_the_head(
    tmp_path: Path, fresh_schema: list[tuple[str, str, str, str]]
) -> None:
    path = _baseline_ledger(tmp_path / "ledger.sqlite3")
    assert _state(path) == ([BASELINE_REVISION], LEGACY)
    before = _contents(path)
    assert LedgerReader.open(path) is None  # pending: only the store opens it (and upgrades it)
    LedgerFileStore.open(path).close()
    assert _contents(path) == before and _state(path) == ([HEAD_REVISION], LEGACY)
    assert _schema(path) == fresh_schema
    LedgerStore.open(path).close()  # reclaims the ownerless hold, as for any older ledger
    reader = LedgerReader.open(path)
    assert reader is not None  # current now: the quick commands read it without SQLAlchemy
    reader.close()


def test_opening_a_current_ledger_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerFileStore.open(path).close()
    engine = create_sqlite_engine(path, "ledger")
    try:
        assert upgrade_ledger(writer(engine)) == []
    finally:
        engine.dispose()
    path2 = _legacy_ledger(tmp_path / "old.sqlite3", 4)
    engine = create_sqlite_engine(path2, "ledger")
    try:
        assert upgrade_ledger(writer(engine)) == list(REVISIONS)
        assert upgrade_ledger(writer(engine)) == []
    finally:
        engine.dispose()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_ledger_from_a_newer_sparklio_is_refused_in_one_line_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    LedgerFileStore.open(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    before = _digest(path)
    for opener in (LedgerFileStore.open, LedgerReader.open):
        with pytest.raises(DatabaseFileError) as caught:
            opener(path)
        message = str(caught.value)
        assert "newer Sparklio" in message and "0099" in message and str(path) in message
        assert "\n" not in message
    assert _digest(path) == before and _baks(tmp_path) == []


def test_a_failed_upgrade_leaves_the_file_unchanged_and_keeps_the_named_copy(tmp_path: Path) -> None:
    path = _baseline_ledger(tmp_path / "ledger.sqlite3")
    with closing(sqlite3.connect(path)) as db, db:  # a table of that name that Sparklio did not make
        db.execute("CREATE TABLE shared_settings (k TEXT)")
    before = _dump(path)
    with pytest.raises(DatabaseFileError) as caught:
        LedgerFileStore.open(path)
    copy = expected_backup(path)
    assert copy.name == f"ledger.sqlite3.before-v{SCHEMA_VERSION}.bak"
    message = str(caught.value)
    assert "\n" not in message and str(copy) in message and "unchanged" in message and "shared_settings" in message
    assert _dump(path) == before  # rolled back: still at the baseline, no row changed
    assert _dump(copy) == before
    assert _baks(tmp_path) == [copy.name]


def test_two_processes_opening_an_old_ledger_at_once_upgrade_it_once(tmp_path: Path) -> None:
    path = _legacy_ledger(tmp_path / "ledger.sqlite3", 3)
    before = _contents(path)
    code = (
        "import sys; from sparklio_desktop.core.ledger.file_store import LedgerFileStore; "
        "LedgerFileStore.open(sys.argv[1]).close()"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path)], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert _contents(path) == before and _state(path) == ([HEAD_REVISION], LEGACY)
    assert _baks(tmp_path) == []


_IMPORTED = (
    "import sys; {run}; "
    "print('ALEMBIC', sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'), file=sys.stderr)"
)


@pytest.mark.parametrize(
    "run",
    [
        "from sparklio_desktop.core.ledger.store import LedgerStore; LedgerStore.open().close()",
        "from sparklio_desktop.cli import main; "
        "main(['route', '--task', 'copywriting_standard', '--input-tokens', '500', '--json'])",
    ],
    ids=["store", "route"],
)
def test_a_current_ledger_opens_without_importing_alembic(sparklio_home: Path, run: str) -> None:
    LedgerStore.open().close()  # the ledger exists and is at the head
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED.format(run=run)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "ALEMBIC []" in done.stderr, done.stderr[-2000:]


def test_an_old_ledger_does_import_alembic(sparklio_home: Path) -> None:
    """The check above can fail: an upgrade loads Alembic."""
    from sparklio_desktop.core.settings import paths

    _legacy_ledger(paths.ledger_path(), 5)
    run = "from sparklio_desktop.core.ledger.store import LedgerStore; LedgerStore.open().close()"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTED.format(run=run)], capture_output=True, text=True, env=env, timeout=120
    )
    assert "'alembic.runtime.migration'" in done.stderr, done.stderr[-2000:]


def test_doctor_reads_the_ledgers_revision_and_tries_its_upgrade(tmp_path: Path) -> None:
    from sparklio_desktop.core.doctor import check_database

    def check(path: Path) -> tuple[bool, str]:
        found = check_database("ledger", path, LEDGER_MIGRATIONS, "advice")
        return found.ok, found.detail

    current = tmp_path / "current.sqlite3"
    LedgerFileStore.open(current).close()
    assert check(current) == (True, f"integrity ok, {len(LEGACY)} migration(s) applied, schema {HEAD_REVISION}")
    old = _legacy_ledger(tmp_path / "old.sqlite3", 5)
    ok, detail = check(old)
    assert ok and f"{len(LEGACY) - 5 + len(REVISIONS)} migration(s) will run" in detail
    blocked = _baseline_ledger(tmp_path / "blocked.sqlite3")
    with closing(sqlite3.connect(blocked)) as db, db:
        db.execute("CREATE TABLE shared_settings (k TEXT)")
    before = _dump(blocked)
    ok, detail = check(blocked)
    assert not ok and "shared_settings" in detail and detail.startswith("damaged")
    assert _dump(blocked) == before and _baks(tmp_path) == []  # tried, rolled back, no copy
    with closing(sqlite3.connect(current)) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    assert check(current) == (False, "written by a newer Sparklio (migrations 0099)")


def test_salvage_into_a_new_ledger_keeps_its_revision_and_the_rows(tmp_path: Path) -> None:
    """``doctor --repair`` copies an old ledger's rows into a new one: never its schema records."""
    from sparklio_desktop.core.doctor import salvage

    old = _baseline_ledger(tmp_path / "old.sqlite3")  # at 0001: its alembic_version must not come along
    new = tmp_path / "new.sqlite3"
    LedgerFileStore.open(new).close()
    salvage(old, new)
    assert _state(new) == ([HEAD_REVISION], LEGACY)
    assert _contents(new)["llm_usage"] == 8
    assert upgrade_ledger_of(new) == []


def upgrade_ledger_of(path: Path) -> list[str]:
    engine = create_sqlite_engine(path, "ledger")
    try:
        return upgrade_ledger(writer(engine))
    finally:
        engine.dispose()
