"""One way to open a SQLite file for Sparklio: WAL, real transactions, busy timeout.

Python's ``sqlite3`` module (before 3.16) starts transactions lazily and only for DML,
so a read-check-write sequence is not isolated and ``BEGIN IMMEDIATE`` cannot be
asked for. Following SQLAlchemy's documented recipe, the driver's own transaction
handling is switched off and every SQLAlchemy transaction emits its own ``BEGIN``;
an engine made with :func:`writer` emits ``BEGIN IMMEDIATE``, which takes the write
lock up front. That is what makes the budget check-and-reserve atomic across
processes, and it avoids the deadlock of two deferred readers both upgrading to
writers (SQLITE_BUSY_SNAPSHOT in WAL mode, which the busy timeout cannot wait out).

WAL lets the GUI read while a CLI process writes; ``synchronous=NORMAL`` in WAL mode
never corrupts the file on a crash and loses at most the last transactions on a
power cut, which is the trade a usage log wants for sub-millisecond writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Connection

BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "sparklio_sqlite_begin"


def create_sqlite_engine(path: Path) -> Engine:
    """An engine over the SQLite file at ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        URL.create("sqlite", database=str(path)),  # a URL object: no escaping of odd paths
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
