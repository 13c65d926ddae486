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

A file that SQLite cannot use (damaged pages, a header that is not SQLite's, a folder
in its place, a folder that is not writable) raises :class:`DatabaseFileError`, a
one-line :class:`~sparklio_desktop.core.errors.SparklioError` that names the file and
says what to do, wherever the query ran: every command and panel gets the same message
instead of a driver traceback. The translation happens in the engine's
``handle_error`` hook, so no store has to remember to catch anything. Constraint
violations and programming errors are left alone: they are the stores' business.
The error, its classification and the connection settings live in ``sqlite_file.py``
(no SQLAlchemy there, for the read-only reader) and are re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Connection, ExceptionContext

from sparklio_desktop.core.ledger.sqlite_file import (
    BUSY_TIMEOUT_MS,
    DOCTOR_HINT,
    DatabaseFileError,
    FileProblem,
    classify_sqlite_error,
    companions,
    configure_connection,
    file_error,
    set_aside,
)
from sparklio_desktop.core.ledger.url_syntax import postgres_url

__all__ = [
    "BUSY_TIMEOUT_MS", "DOCTOR_HINT", "DatabaseFileError", "FileProblem", "classify_sqlite_error", "companions",
    "configure_connection", "create_postgres_engine", "create_sqlite_engine", "file_error", "postgres_url", "set_aside",
    "writer",
]  # fmt: skip

_BEGIN_OPTION = "sparklio_sqlite_begin"


def create_sqlite_engine(path: Path, label: str = "database") -> Engine:
    """An engine over the SQLite file at ``path`` (parent folders are created).

    ``label`` names the file in errors ("ledger", "response cache").
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseFileError(
            path, label, "unopenable", f"cannot create the folder {path.parent}: {exc.strerror or exc}"
        ) from None
    engine = create_engine(
        URL.create("sqlite", database=str(path)),  # a URL object: no escaping of odd paths
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure_connection(dbapi_connection)

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        translated = file_error(path, label, context.original_exception)
        if translated is not None:
            raise translated from None

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def create_postgres_engine(url: str, label: str = "ledger") -> Engine:
    """A pooled engine over a team's PostgreSQL database at ``url`` (core/ledger/location.py).

    Connections are checked before use (a server restart costs one retry, not an
    error) and time out after 5 s; a server that cannot be reached, a refused login or
    a missing database raise a one-line :class:`DatabaseServerError` with the URL
    redacted, from the ``handle_error`` hook, wherever the query ran.
    """
    from sparklio_desktop.core.ledger.server_errors import require_driver, server_error

    require_driver(url, label)  # a missing driver is one line, before SQLAlchemy looks for it
    from sparklio_desktop.core.ledger.pg_direct import SESSION_OPTIONS

    engine = create_engine(
        postgres_url(url),
        pool_size=2,  # a team's server serves every install: few connections each
        max_overflow=4,
        pool_pre_ping=True,
        # synchronous_commit off: the file's durability trade, on the server (pg_direct.py)
        connect_args={"connect_timeout": 5, "application_name": "sparklio", "options": SESSION_OPTIONS},
    )

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        translated = server_error(url, label, context.original_exception)
        if translated is not None:
            raise translated from None

    return engine


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
