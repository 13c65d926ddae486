"""What can be wrong with a SQLite file, said in one line, and how every connection is set; no SQLAlchemy.

A file that SQLite cannot use (damaged pages, a header that is not SQLite's, a folder
in its place, a folder that is not writable) is a :class:`DatabaseFileError`: a
one-line :class:`~sparklio_desktop.core.errors.SparklioError` that names the file and
says what to do. The engine (``engine.py``) and the direct connection (``direct.py``)
translate driver errors into it; the ledger's stores (``file_store.py``) check the
folder and the file before opening; the read-only reader (``reader.py``) asks the same
questions before it reads without SQLAlchemy, so every path sees a file the same way.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Literal

from sparklio_desktop.core.errors import SparklioError

LABEL = "ledger"
BUSY_TIMEOUT_MS = 5000
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
        return (
            f"cannot write the {label} {path} ({detail}): make {path.parent} writable "
            "or point SPARKLIO_HOME at a writable folder"
        )
    if problem == "full":
        return f"the disk holding the {label} {path} is full; free some space and try again"
    if problem == "busy":
        return f"the {label} {path} stayed locked by another process for {BUSY_TIMEOUT_MS // 1000} s; try again"
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
    the engines (engine.py), the ledger's direct connection (direct.py) and the reader (reader.py)."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


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


def check_folder_writable(folder: Path, path: Path, label: str = LABEL) -> None:
    """Raise :class:`DatabaseFileError` unless a file can be created in ``folder``.

    SQLite in WAL mode creates ``-wal`` and ``-shm`` files beside the database, so a
    folder that refuses new files breaks the first write; trying is the only test that
    also holds for root (``os.access`` answers from the mode bits).
    """
    if not folder.exists():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseFileError(
                path, label, "unopenable", f"cannot create the folder {folder}: {exc.strerror or exc}"
            ) from None
    if not folder.is_dir():
        raise DatabaseFileError(path, label, "unopenable", f"{folder} is not a folder")
    try:
        handle, probe = tempfile.mkstemp(prefix=".sparklio-write-test-", dir=folder)
    except OSError as exc:
        raise DatabaseFileError(
            path, label, "readonly", f"the folder {folder} is not writable: {exc.strerror or exc}"
        ) from None
    os.close(handle)
    with suppress(OSError):
        os.unlink(probe)


def check_not_empty(target: Path, label: str = LABEL) -> None:
    """An existing zero-byte ledger (and no WAL holding its pages) is a damaged one."""
    try:
        empty = target.is_file() and target.stat().st_size == 0
        wal = Path(f"{target}-wal")
        if empty and not (wal.is_file() and wal.stat().st_size > 0):
            raise DatabaseFileError(target, label, "damaged", "it is empty: 0 bytes")
    except OSError:
        return  # SQLite will say what is wrong with it
