"""One plain ``sqlite3`` connection for the ledger writes that sit on the first-token path.

Why: a paid request must be admitted by the budget before its prompt is sent (the
reservation's check and insert in one ``BEGIN IMMEDIATE`` transaction, with the
attempt's ``in_flight`` row), and an attempt's row must exist before the call so a
kill never loses a call the provider bills (docs/dispatch.md). Through SQLAlchemy that
transaction cost 0.85-1.8 ms, almost all of it statement compilation, parameter
processing and result wrapping; the same statements on the driver's connection take
tens of microseconds. The SQL stays plain and short (core/ledger/reservations.py and
the attempt statements in core/ledger/store.py), so there is little to lose.

The connection is configured like the engine's (core/ledger/engine.py
``configure_connection``: WAL, ``synchronous=NORMAL``, the busy timeout) and takes
the same file lock, so it serialises with every other writer, in this process or
another. One lock guards it: the event loop's thread and the GUI's serial database
executor may both use it. Driver errors that are about the file become the same
one-line :class:`DatabaseFileError` the engine raises; constraint errors are left to
the caller, as the engine leaves them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from sparklio_desktop.core.ledger.engine import BUSY_TIMEOUT_MS, configure_connection, file_error

__all__ = ["DirectConnection"]


class DirectConnection:
    """A lazily opened, lock-guarded driver connection to one SQLite file."""

    def __init__(self, path: Path, label: str) -> None:
        self._path = Path(path)
        self._label = label
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return file_error(self._path, self._label, exc) or exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(
                    self._path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
            try:
                configure_connection(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise self._translate(exc) from None
            self._conn = conn
        return self._conn

    @contextmanager
    def transaction(
        self, mode: Literal["IMMEDIATE", "WRITE", "DEFERRED", "AUTOCOMMIT"] = "IMMEDIATE"
    ) -> Iterator[sqlite3.Connection]:
        """One transaction: ``IMMEDIATE`` takes the write lock up front (a check and the
        write that depends on it are one step); ``WRITE`` (a write that checks nothing:
        the team database's driver connection, pg_direct.py, takes no budget lock for it)
        and ``AUTOCOMMIT`` (one statement, which a server runs alone in one round trip)
        are ``IMMEDIATE`` on a file. Committed on success, rolled back on any exception."""
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE" if mode in ("WRITE", "AUTOCOMMIT") else f"BEGIN {mode}")
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    translated = self._translate(exc)
                    if translated is not exc:
                        raise translated from None
                raise

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                conn.close()
