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
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Connection, ExceptionContext

from sparklio_desktop.core.errors import SparklioError

BUSY_TIMEOUT_MS = 5000
_BEGIN_OPTION = "sparklio_sqlite_begin"
DOCTOR_HINT = "run `sparklio doctor` to check it, `sparklio doctor --repair` to set it aside and salvage it"

# SQLite's primary result codes (the low byte of an extended code) that say the file
# itself is the problem, not the statement.
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 10, 11, 13, 14, 26

FileProblem = Literal["damaged", "unopenable", "readonly", "io", "full", "busy"]


class DatabaseFileError(SparklioError):
    """A SQLite file cannot be used as it is. ``problem`` says why, for callers that
    recover (the response cache sets a damaged file aside; the ledger never does that
    on its own: ``sparklio doctor --repair`` does, when asked)."""

    def __init__(self, path: Path, label: str, problem: FileProblem, detail: str) -> None:
        self.path = Path(path)
        self.label = label
        self.problem = problem
        self.detail = detail
        super().__init__(_describe(self.path, label, problem, detail))

    @property
    def damaged(self) -> bool:
        return self.problem == "damaged"


def _describe(path: Path, label: str, problem: FileProblem, detail: str) -> str:
    if problem == "damaged":
        return f"the {label} {path} is damaged ({detail}); {DOCTOR_HINT}"
    if problem == "unopenable":
        return f"cannot open the {label} {path} ({detail}); run `sparklio doctor` to see why"
    if problem == "readonly":
        return (f"cannot write the {label} {path} ({detail}): make {path.parent} writable "
                "or point SPARKLIO_HOME at a writable folder")
    if problem == "full":
        return f"the disk holding the {label} {path} is full; free some space and try again"
    if problem == "busy":
        return (f"the {label} {path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_MS // 1000} s; try again")
    return f"cannot read or write the {label} {path} ({detail}); run `sparklio doctor` to check it"


def classify_sqlite_error(exc: BaseException) -> tuple[FileProblem, str] | None:
    """What a driver error says about the file, or None when it is about the statement."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.ProgrammingError | sqlite3.InterfaceError):
        return None
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    detail = str(exc)
    if code is None:
        return ("damaged", detail) if "malformed" in detail or "not a database" in detail else None
    primary = code & 0xFF
    if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return "damaged", detail
    if primary == _SQLITE_CANTOPEN:
        return "unopenable", detail
    if primary in (_SQLITE_READONLY, _SQLITE_PERM):
        return "readonly", detail
    if primary == _SQLITE_FULL:
        return "full", detail
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return "busy", detail
    if primary == _SQLITE_IOERR:
        return "io", detail
    return None


def file_error(path: Path, label: str, exc: BaseException) -> DatabaseFileError | None:
    """``exc`` as a :class:`DatabaseFileError` about ``path``, or None when it is not one."""
    found = classify_sqlite_error(exc)
    if found is None:
        return None
    problem, detail = found
    if problem == "unopenable" and path.is_dir():
        detail = "a folder is in its place"
    elif problem == "unopenable" and not path.parent.is_dir():
        detail = f"{path.parent} is not a folder"
    return DatabaseFileError(path, label, problem, detail)


def configure_connection(dbapi_connection: sqlite3.Connection) -> None:
    """What every connection to a Sparklio file gets: no implicit transactions (we emit
    BEGIN ourselves), WAL, ``synchronous=NORMAL``, foreign keys, the busy timeout. Used by
    the engines here and by the ledger's direct connection (core/ledger/direct.py)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def create_sqlite_engine(path: Path, label: str = "database") -> Engine:
    """An engine over the SQLite file at ``path`` (parent folders are created).

    ``label`` names the file in errors ("ledger", "response cache").
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseFileError(path, label, "unopenable",
                                f"cannot create the folder {path.parent}: {exc.strerror or exc}") from None
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


def writer(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions start with ``BEGIN IMMEDIATE``."""
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def companions(path: Path) -> tuple[Path, Path]:
    """The WAL and shared-memory files SQLite keeps beside ``path``."""
    return Path(f"{path}-wal"), Path(f"{path}-shm")


def set_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename a damaged database (and its WAL and shared-memory files, which belong to
    it) to ``<name>.damaged-YYYYmmddTHHMMSS``; returns the new path.

    Nothing is deleted: what SQLite could not read may still matter to the user. A
    name already taken gets ``-2``, ``-3``... The WAL moves along with the file under the
    same new name, so the set-aside copy still opens with its last transactions.
    """
    path = Path(path)
    stamp = (now or datetime.now()).strftime("%Y%m%dT%H%M%S")
    base = path.with_name(f"{path.name}.damaged-{stamp}")
    target, n = base, 1
    while target.exists() or any(c.exists() for c in companions(target)):
        n += 1
        target = base.with_name(f"{base.name}-{n}")
    os.rename(path, target)
    for old, new in zip(companions(path), companions(target), strict=True):
        if old.exists():
            os.rename(old, new)
    return target
