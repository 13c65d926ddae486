"""Ordered, named migrations for the files Sparklio keeps with plain ``sqlite3``.

The ledger's :class:`~sparklio_desktop.core.ledger.migrations.MigrationSet` speaks
SQLAlchemy. The conversations and batches files use the driver directly (FTS5 virtual
tables and their triggers are simpler without an ORM, and their reads stay in
microseconds), with the same discipline and one opener, :func:`open_migrated`: each
migration is a function registered in order, its name goes into ``_migrations`` once it
has run, and opening the file runs the pending ones inside one ``BEGIN IMMEDIATE``
transaction, so two processes opening a new file cannot both apply them and a crash
half-way leaves the file as it was. One runner for both files: the rule is written once.

Rules for whoever adds the next one: append a new function, never edit or reorder one
that has shipped, write literal SQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from sparklio_desktop.core.ledger.migrations import newer_detail
from sparklio_desktop.core.ledger.sqlite_file import (
    BUSY_TIMEOUT_MS,
    DatabaseFileError,
    FileProblem,
    check_folder_writable,
    configure_connection,
)
from sparklio_desktop.core.ledger.upgrade_backup import BackupFailed, backup_if_needed, discard, kept_note

__all__ = ["Migration", "PlainMigrations", "PlainStore", "open_migrated"]

Migration = Callable[[sqlite3.Connection], None]


class NewerFileError(Exception):
    """The file lists migrations this code does not know: a newer Sparklio wrote it."""

    def __init__(self, newer: list[str]) -> None:
        self.newer = newer
        super().__init__(", ".join(newer))


class PlainMigrations:
    """The migrations of one plain-sqlite3 file, in the order they must run."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Migration]] = []

    def register(self, fn: Migration) -> Migration:
        if any(fn.__name__ == name for name, _ in self._steps):
            raise ValueError(f"migration {fn.__name__!r} is registered twice")
        self._steps.append((fn.__name__, fn))
        return fn

    def __iter__(self) -> Iterator[tuple[str, Migration]]:
        return iter(self._steps)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._steps]

    def apply_pending(self, conn: sqlite3.Connection, now_text: str) -> list[str]:
        """Run the migrations ``_migrations`` does not list, inside the caller's transaction."""
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)")
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        newer = sorted(done - set(self.names))
        if newer:  # a downgrade: refused before anything is written
            raise NewerFileError(newer)
        ran: list[str] = []
        for name, fn in self._steps:
            if name in done:
                continue
            fn(conn)
            conn.execute("INSERT INTO _migrations (name, applied_utc) VALUES (?, ?)", (name, now_text))
            ran.append(name)
        return ran


def open_migrated(
    path: Path,
    label: str,
    migrations: PlainMigrations,
    now_text: str,
    *,
    classify: Callable[[BaseException], DatabaseFileError | None],
    make: Callable[[FileProblem, str], DatabaseFileError],
) -> sqlite3.Connection:
    """Open ``path`` (a plain-sqlite3 file of this module's kind) and run its pending
    migrations in one ``BEGIN IMMEDIATE`` transaction.

    ``classify`` turns a driver error into the file's located error (or None: not a file
    problem); ``make`` builds that error for a problem found here (a folder in the file's
    place, tables another program made). Every failure closes the connection first.
    """
    try:
        check_folder_writable(path.parent, path, label)
    except DatabaseFileError as exc:
        raise make(exc.problem, exc.detail) from None
    if path.is_dir():
        raise make("unopenable", "a folder is in its place")
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise (classify(exc) or exc) from None
    backup: Path | None = None
    try:
        configure_connection(conn)
        try:
            backup = backup_if_needed(conn, path, migrations.names)  # before the write lock: see upgrade_backup.py
        except BackupFailed as exc:
            raise make("io", str(exc)) from None
        conn.execute("BEGIN IMMEDIATE")
        try:
            migrations.apply_pending(conn, now_text)
        except NewerFileError as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise make("unopenable", newer_detail(exc.newer)) from None
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if classify(exc) is not None:
                raise
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise make("damaged", f"its tables are not the ones Sparklio made: {detail}") from None
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        conn.close()
        error = classify(exc)
        if error is None:
            raise exc from None
        raise _with_backup(error, backup, make) from None
    except DatabaseFileError as exc:
        conn.close()
        raise _with_backup(exc, backup, make) from None
    except BaseException:
        conn.close()
        raise
    discard(backup)
    return conn


def _with_backup(
    error: DatabaseFileError, backup: Path | None, make: Callable[[FileProblem, str], DatabaseFileError]
) -> DatabaseFileError:
    """``error``, naming the copy taken before the upgrade when there is one."""
    return error if backup is None else make(error.problem, f"{error.detail}; {kept_note(backup)}")


class PlainStore:
    """The skeleton of a plain-``sqlite3`` store over one file: one connection behind a lock,
    closing, the context-manager protocol, and :meth:`_tx` (one transaction, a write taking
    the lock up front, file errors turned into one line by :meth:`_file_error`).

    A subclass sets ``path``, ``_lock`` and ``_conn`` (from :func:`open_migrated`) and says
    which SQLite errors are its file's problems (``_file_error``)."""

    path: Path
    _lock: threading.RLock
    _conn: sqlite3.Connection

    def _file_error(self, exc: BaseException) -> Exception | None:
        raise NotImplementedError

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        """One transaction (a write takes the lock up front); file errors become one line."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                translated = self._file_error(exc)
                if translated is None:
                    raise
                raise translated from None
