"""The ledger's driver-level connection on PostgreSQL: psycopg behind ``DirectConnection``'s interface.

The attempt rows and the budget's bookkeeping run as plain SQL on the driver's
connection (core/ledger/direct.py says why: they sit on the first-token path). On a
team's PostgreSQL the same statements run here, on one psycopg 3 connection, each
translated once (:func:`to_postgres`, cached per text):

* ``?`` placeholders become ``%s`` (and a literal ``%`` becomes ``%%``);
* ``IS ?`` (SQLite's null-safe equality) becomes ``IS NOT DISTINCT FROM %s``;
* ``LIKE`` becomes ``ILIKE`` (SQLite's LIKE ignores case; the history search relies on it);
* an ``INSERT`` into a table with an ``id`` gets ``RETURNING id``, which the result
  gives as ``lastrowid``.

Results come back as tuples with PostgreSQL's ``NUMERIC`` (its ``sum()`` of a BIGINT)
as ``int``: every number the ledger sums is an integer (picodollars, counts). A unique
violation is raised as :class:`UniqueViolation`, a ``sqlite3.IntegrityError`` whose text
starts with SQLite's ``UNIQUE constraint failed``, so the statements' callers handle one
kind of constraint error on both backends; a server that is down, a refused login or a
missing database is the one-line ``DatabaseServerError`` (core/ledger/server_errors.py).

Transactions: ``IMMEDIATE`` and ``WRITE`` are a plain ``BEGIN`` (READ COMMITTED);
``DEFERRED`` reads in one ``REPEATABLE READ`` snapshot; ``AUTOCOMMIT`` runs each
statement as its own transaction. A budget check is the server function
``ledger_reserve`` (Alembic revision 0005), called in ``AUTOCOMMIT`` in the
same statement as, and after, the insert of the request's in-flight attempts
(core/ledger/reservations.py): it takes the transaction-scoped advisory lock
:data:`BUDGET_LOCK`, sums and inserts, or refuses by raising (:class:`ServerRefusal`), and
the lock is released when that one statement commits. Every install's reservations
queue on it, which is what SQLite's write lock does on one machine, so concurrent
requests from several machines never overshoot the cap, and none waits on another's
network round trips. Other attempt writes take no lock: rows of different requests do
not depend on each other, and the rollups' ``ON CONFLICT DO UPDATE`` is safe under
concurrent writers.
A broken connection (a restarted server) is replaced at the next transaction; a
process's concurrent transactions each have a connection (up to :data:`MAX_CONNECTIONS`).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal

from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.postgres_schema import BUDGET_LOCK, REFUSED_SQLSTATE
from sparklio_desktop.core.ledger.server_errors import server_error

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "BUDGET_LOCK",
    "MAX_CONNECTIONS",
    "SESSION_OPTIONS",
    "PgDirectConnection",
    "PgDirectSession",
    "ServerRefusal",
    "UniqueViolation",
    "plain_row",
    "to_postgres",
]

# The file's trade (core/ledger/engine.py: WAL with synchronous=NORMAL), made on the server:
# a commit returns before its WAL record is flushed, so a crash of the server (never of a
# client) may lose the last fraction of a second of ledger writes; nothing is ever
# corrupted. Without it every budget check waits for a disk flush while it holds the
# team's lock, and 20 concurrent requests queue behind 20 flushes.
SESSION_OPTIONS = "-c synchronous_commit=off"
# Connections per store: its concurrent ledger transactions. A team's server serves every
# install (PostgreSQL's default max_connections is 100): a few each, opened only on demand.
MAX_CONNECTIONS = 4
_RETURNS_ID = ("INSERT INTO llm_usage ", "INSERT INTO budget_reservations ")
_IS_PARAM = re.compile(r"\bIS \?")
_LIKE = re.compile(r"\bLIKE\b")
_BEGIN = {
    "IMMEDIATE": "BEGIN",
    "WRITE": "BEGIN",
    "DEFERRED": "BEGIN ISOLATION LEVEL REPEATABLE READ",
    "AUTOCOMMIT": "",  # each statement is its own transaction
}


class UniqueViolation(sqlite3.IntegrityError):
    """A unique constraint refused a row (PostgreSQL's 23505), in SQLite's words."""


@lru_cache(maxsize=512)
def to_postgres(sql: str, with_params: bool = True) -> str:
    """The ledger's SQLite-flavoured statement ``sql`` as PostgreSQL (see the module docstring)."""
    if with_params:
        sql = sql.replace("%", "%%")
    sql = _IS_PARAM.sub("IS NOT DISTINCT FROM ?", sql)
    sql = sql.replace("?", "%s")
    sql = _LIKE.sub("ILIKE", sql)
    if sql.startswith(_RETURNS_ID) and "RETURNING" not in sql:
        sql += " RETURNING id"
    return sql


def plain_row(row: Sequence[Any]) -> tuple[Any, ...]:
    """A row with PostgreSQL's NUMERIC sums as ``int`` (the ledger sums only integers)."""
    return tuple(int(value) if isinstance(value, Decimal) else value for value in row)


class _Result:
    """What a statement gave: its rows (read at once), ``rowcount`` and ``lastrowid``."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._rows)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class ServerRefusal(Exception):
    """A server function's deliberate refusal (SQLSTATE :data:`REFUSED_SQLSTATE`, raised by
    ``ledger_reserve`` when the budget says no): an answer, not a fault. ``detail`` is what
    the function put in the error's detail (the sums it checked)."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class PgDirectSession:
    """One transaction's view of the connection, with ``sqlite3.Connection``'s small interface."""

    owner_host: str  # the host whose owners this install may judge (core/ledger/reservations.py)

    def __init__(self, conn: psycopg.Connection[Any], url: str, label: str) -> None:
        self._conn = conn
        self._url = url
        self._label = label
        self.owner_host = this_host()

    def _translate(self, exc: Exception) -> BaseException:
        import psycopg

        if isinstance(exc, psycopg.errors.UniqueViolation):
            return UniqueViolation(f"UNIQUE constraint failed: {exc.diag.constraint_name or ''}")
        if isinstance(exc, psycopg.Error) and exc.sqlstate == REFUSED_SQLSTATE:
            return ServerRefusal(exc.diag.message_primary or "", exc.diag.message_detail or "")
        return server_error(self._url, self._label, exc) or exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Result:
        import psycopg

        translated = to_postgres(sql, bool(params))
        try:
            cursor = self._conn.execute(translated, tuple(params) if params else None)
            result = cursor.pgresult  # not ``description``: it builds a Column per column on every call
            rows = [plain_row(row) for row in cursor.fetchall()] if result is not None and result.nfields else []
        except psycopg.Error as exc:
            raise self._translate(exc) from None
        lastrowid = int(rows[0][0]) if rows and translated.endswith(" RETURNING id") else None
        return _Result(rows, cursor.rowcount, lastrowid)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        import psycopg

        if not seq:
            return
        try:
            with self._conn.cursor() as cursor:
                cursor.executemany(to_postgres(sql), [tuple(params) for params in seq])
        except psycopg.Error as exc:
            raise self._translate(exc) from None


class PgDirectConnection:
    """Lazily opened psycopg connections to a team's ledger database, one per concurrent
    transaction (at most :data:`MAX_CONNECTIONS`; more wait for one to be free).

    A file has one writer at a time whatever we do; a server does not, and the budget's
    own lock (held inside one server call) already orders what must be ordered. So the
    requests a process sends at once do not queue behind each other's round trips on one
    connection: each transaction takes an idle connection, or opens one.
    """

    def __init__(self, url: str, label: str) -> None:
        self._url = url
        self._label = label
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._closed = False

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg
        from sqlalchemy.engine import make_url

        from sparklio_desktop.core.ledger.url_syntax import postgres_url

        parts = make_url(postgres_url(self._url))
        options: dict[str, Any] = {key: str(value) for key, value in parts.query.items()}  # sslmode=...
        options.update(
            host=parts.host or "",
            port=parts.port or 5432,
            user=parts.username or "",
            password=parts.password or "",
            dbname=parts.database or "",
            connect_timeout=5,
            application_name="sparklio",
        )
        options.setdefault("options", SESSION_OPTIONS)
        try:
            return psycopg.connect(autocommit=True, **options)  # BEGIN and COMMIT are ours, as on SQLite
        except psycopg.Error as exc:
            raise (server_error(self._url, self._label, exc) or exc) from None

    def _take(self) -> psycopg.Connection[Any]:
        """An idle, usable connection, or a new one (a broken one, say after a server
        restart, is dropped)."""
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                if not (conn.closed or conn.broken):
                    return conn
                with suppress(Exception):
                    conn.close()
        return self._connect()

    def _give_back(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            if not self._closed and not (conn.closed or conn.broken):
                self._idle.append(conn)
                return
        with suppress(Exception):
            conn.close()

    @contextmanager
    def transaction(
        self, mode: Literal["IMMEDIATE", "WRITE", "DEFERRED", "AUTOCOMMIT"] = "IMMEDIATE"
    ) -> Iterator[PgDirectSession]:
        """One transaction (see the module docstring for the modes); committed on success,
        rolled back on any exception."""
        import psycopg

        with self._slots:
            conn = self._take()
            try:
                session = PgDirectSession(conn, self._url, self._label)
                if mode == "AUTOCOMMIT":
                    yield session
                    return
                try:
                    conn.execute(_BEGIN[mode])
                except psycopg.Error as exc:
                    raise session._translate(exc) from None
                try:
                    yield session
                    conn.execute("COMMIT")
                except BaseException as exc:
                    with suppress(psycopg.Error):
                        conn.execute("ROLLBACK")
                    if isinstance(exc, psycopg.Error):
                        raise session._translate(exc) from None
                    raise
            finally:
                self._give_back(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            with suppress(Exception):
                conn.close()
