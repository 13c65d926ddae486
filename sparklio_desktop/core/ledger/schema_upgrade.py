"""Bring the ledger's schema to this build's head: Alembic, one history for SQLite and PostgreSQL.

:func:`upgrade_ledger` runs each time a store opens the ledger (file_store.py):

* **Fast path.** ``alembic_version`` (and, on SQLite, ``_migrations``) is read with plain
  SQL (schema_version.py); at the head it returns at once, without importing Alembic,
  whose import (with its dialect modules) takes about as long as SQLAlchemy's and
  would be paid by ``sparklio route`` and the window's launch.
* **Newer.** A ledger naming a revision or legacy step this build lacks was written by a
  newer Sparklio and is refused in one line, before anything is written.
* **Upgrade.** Otherwise the SQLite file is first copied beside itself (upgrade_backup.py,
  on a connection outside any transaction: a copy taken inside the write lock hung once),
  then ``alembic upgrade head`` runs on the store's own connection inside one transaction:
  ``BEGIN IMMEDIATE`` on SQLite (the writer engine), so two processes opening an old file
  cannot both upgrade it; on PostgreSQL DDL is transactional, and
  ``pg_advisory_xact_lock`` makes two installs starting together take turns (the second
  finds the head and does nothing). A failure rolls everything back; the copy is then kept
  and the one-line error names it. It is deleted once the upgrade has committed.

The baseline revision (``0001``) runs the frozen legacy chain (migrations.py, m001..m008)
on SQLite, so a file written by any earlier Sparklio upgrades in place, its steps recorded
in ``_migrations`` as before; on PostgreSQL it creates the same schema at once. Alembic is
driven without ``env.py`` or ``alembic.ini``: the configuration is built here and the
script folder is core/ledger/alembic/, found beside this module (in the wheel and in the
PyInstaller bundle alike).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.schema_version import (
    HEAD_REVISION,
    SCHEMA_VERSION,
    NewerSchema,
    SchemaState,
    read_state,
)
from sparklio_desktop.core.ledger.sqlite_file import LABEL, DatabaseFileError, classify_sqlite_error
from sparklio_desktop.core.ledger.upgrade_backup import (
    BackupFailed,
    backup_name,
    copy_before_upgrade,
    discard,
    kept_note,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext, MigrationInfo
    from alembic.script import ScriptDirectory

__all__ = [
    "SCRIPT_FOLDER", "LedgerSchemaError", "dry_run_upgrade", "expected_backup", "run_alembic_upgrade",
    "script_directory", "upgrade_ledger",
]  # fmt: skip

SCRIPT_FOLDER = Path(__file__).with_name("alembic")
# pg_advisory_xact_lock's key for "the ledger's schema is being upgraded" (any fixed
# 64-bit number; the reservations use their own keys). ASCII "sparkSCH".
ADVISORY_LOCK_KEY = 0x737061726B534348


class LedgerSchemaError(SparklioError):
    """The team database (PostgreSQL) cannot be brought to this build's schema: written by
    a newer Sparklio, or an upgrade that failed (and was rolled back)."""


def upgrade_ledger(engine: Engine, *, label: str = LABEL) -> list[str]:
    """Upgrade the ledger behind ``engine`` to the head revision; return the revisions run
    (empty when it was current). ``engine`` is the writer (``BEGIN IMMEDIATE``) on SQLite."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        state = _read(conn, engine, label)
        if state.current:
            return []
        backup = _backup(conn, engine, label) if dialect == "sqlite" and state.has_tables else None
    try:
        with engine.begin() as conn:
            if dialect == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})")
            # Another process may have upgraded it meanwhile (it held the lock first).
            ran = [] if _read(conn, engine, label).current else run_alembic_upgrade(conn)
    except DatabaseFileError as exc:
        if backup is None:
            raise
        raise DatabaseFileError(exc.path, exc.label, exc.problem, f"{exc.detail}; {kept_note(backup)}") from None
    except SparklioError:
        raise
    except (SQLAlchemyError, sqlite3.Error) as exc:  # a revision's statement failed: one line, no traceback
        raise _failed(exc, engine, label, backup) from None
    discard(backup)
    return ran


def dry_run_upgrade(engine: Engine, *, label: str = LABEL) -> SparklioError | None:
    """Run the upgrade in a transaction that is rolled back: the error :func:`upgrade_ledger`
    would raise, or None. ``sparklio doctor`` asks this, so that a ledger the app cannot
    upgrade is never reported healthy; nothing is written and no copy is taken."""
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            run_alembic_upgrade(conn)
        except SparklioError as exc:
            return exc
        except (SQLAlchemyError, sqlite3.Error) as exc:
            return _failed(exc, engine, label, None)
        finally:
            transaction.rollback()
    return None


def run_alembic_upgrade(conn: Connection, destination: str = "head") -> list[str]:
    """``alembic upgrade <destination>`` inside the transaction ``conn`` holds (Alembic sees
    it and neither begins nor commits one); the revisions run, oldest first. Imports Alembic."""
    from alembic.runtime.environment import EnvironmentContext

    config, script = script_directory()
    ran: list[str] = []

    def upgrade(revision: Any, _context: Any) -> Any:
        return script._upgrade_revs(destination, revision)  # what `alembic upgrade` itself runs

    def applied(
        ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
    ) -> None:
        ran.extend(step.up_revision_ids)

    with EnvironmentContext(config, script, fn=upgrade, destination_rev=destination) as environment:
        environment.configure(connection=conn, on_version_apply=applied)
        with environment.begin_transaction():
            environment.run_migrations()
    return ran


def script_directory() -> tuple[Config, ScriptDirectory]:
    """Alembic's configuration, built in code, and its view of core/ledger/alembic/."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_FOLDER))
    config.set_main_option("path_separator", "os")  # the folder's path is one entry, never split
    return config, ScriptDirectory.from_config(config)


def _read(conn: Connection, engine: Engine, label: str) -> SchemaState:
    """The ledger's state (schema_version.py), on SQLite through the driver's own connection
    (no transaction is begun, so the copy can be taken on it next)."""
    try:
        if engine.dialect.name == "sqlite":
            raw = cast("sqlite3.Connection", conn.connection.dbapi_connection)
            return read_state(lambda sql: raw.execute(sql).fetchall(), "sqlite")
        return read_state(lambda sql: conn.exec_driver_sql(sql).fetchall(), engine.dialect.name)
    except NewerSchema as exc:
        raise _newer(exc, engine, label) from None
    except sqlite3.DatabaseError:
        # Not readable as a ledger (damaged, not SQLite's): the upgrade's first statement
        # fails the same way, through the engine, which says what is wrong in one line.
        return SchemaState(has_tables=False, current=False)


def _backup(conn: Connection, engine: Engine, label: str) -> Path | None:
    path = _path(engine)
    if path is None or not path.is_file():
        return None
    raw = cast("sqlite3.Connection", conn.connection.dbapi_connection)
    try:
        return copy_before_upgrade(raw, path, SCHEMA_VERSION)
    except BackupFailed as exc:
        raise DatabaseFileError(path, label, "io", str(exc)) from None


def _path(engine: Engine) -> Path | None:
    database = engine.url.database
    return Path(database) if engine.dialect.name == "sqlite" and database not in (None, "", ":memory:") else None


def _where(engine: Engine) -> str:
    """The team database's URL as it may be shown: its password masked (location.py)."""
    from sparklio_desktop.core.ledger.location import redacted_url

    return redacted_url(engine.url.render_as_string(hide_password=False))


def _newer(exc: NewerSchema, engine: Engine, label: str) -> SparklioError:
    if engine.dialect.name == "sqlite":
        return DatabaseFileError(Path(engine.url.database or ""), label, "unopenable", exc.detail)
    return LedgerSchemaError(f"cannot use the team database {_where(engine)}: {exc.detail}")


def _failed(exc: Exception, engine: Engine, label: str, backup: Path | None) -> SparklioError:
    """A failed upgrade as one line: on SQLite a damaged file (its tables are not the ones
    Sparklio made), naming the copy kept; on PostgreSQL the team database's error."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    detail = text.splitlines()[0] if text else type(cause).__name__
    if engine.dialect.name != "sqlite":
        return LedgerSchemaError(
            f"cannot upgrade the team database {_where(engine)} to schema {HEAD_REVISION}: {detail};"
            " the upgrade was rolled back and the database is unchanged"
        )
    path = Path(engine.url.database or "")
    found = classify_sqlite_error(cause)
    problem, why = found if found is not None else ("damaged", f"its tables are not the ones Sparklio made: {detail}")
    note = f"; {kept_note(backup)}" if backup is not None else ""
    return DatabaseFileError(path, label, problem, f"upgrade to schema {HEAD_REVISION} failed: {why}{note}")


def expected_backup(path: Path) -> Path:
    """Where the copy of the ledger at ``path`` goes before it is upgraded to this build's schema."""
    return backup_name(path, SCHEMA_VERSION)
