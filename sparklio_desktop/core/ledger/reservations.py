"""The budget's bookkeeping tables: reservations, sent alerts, and reclaiming what
ended processes left behind.

The policy (how much, what happens at the cap, what to tell the user) lives in
:mod:`sparklio_desktop.core.budget`; this module is only the SQL, run inside the
``BEGIN IMMEDIATE`` transaction the store opens, which is what makes a check and the
insert that follows it one atomic step across threads and processes. It is plain SQL
on the driver's connection (core/ledger/direct.py): a reservation sits on the
first-token path of every paid request, where SQLAlchemy's statement handling cost
twenty times the SQL itself.

A reservation lives exactly as long as its request: it names its owner (PID and
process start, :mod:`sparklio_desktop.core.ledger.owners`), the request releases it
when it ends, and it is reclaimed only when that owner is gone, however old it is.
Reclaiming also closes the owner's ``in_flight`` attempts as ``interrupted``, billed
their input estimate (``start_cost_usd``, usage_source ``estimate``): the provider
was sent the prompt, and nothing is known of the output.

On a team's PostgreSQL (issue 16) the same SQL runs on the driver-level session of
core/ledger/pg_direct.py, except the check and the insert: they are one call of the
server function ``ledger_reserve`` (Alembic revision 0005), which takes an advisory lock
every install of the team queues on, so reservations are atomic across machines
(:func:`reserve_on_server`); the request's in-flight attempts are inserted in that same
statement, before the function takes the lock, so a reservation and its attempts are
written together or not at all, as in the file's one transaction, and the lock covers
only the sums and the reservation. Owners there are judged only on their own host
(``host`` on the attempt and the reservation): a PID says nothing about a process on
another machine, whose own install reclaims it. A machine that never comes back is
released by a person, never by a guess: ``sparklio ledger release-host`` runs
:func:`reclaim` with ``gone_host``, every owner of that host counted as gone.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from sparklio_desktop.core.ledger.money import from_picodollars, plain_decimal, to_picodollars, utc_iso
from sparklio_desktop.core.ledger.owners import PROVIDER_JOB_PREFIX, ProcessOwner, is_gone, this_process
from sparklio_desktop.core.ledger.records import IN_FLIGHT, INTERRUPTED

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.pg_direct import PgDirectSession

# The file's sqlite3 connection, or a team database's psycopg session (core/ledger/pg_direct.py).
DirectSession: TypeAlias = "sqlite3.Connection | PgDirectSession"

# The open-attempt filter is a literal, so the partial index ix_llm_usage_in_flight is used.
_OPEN_ATTEMPT_OWNERS = f"SELECT DISTINCT owner_pid, owner_start FROM llm_usage WHERE outcome = '{IN_FLIGHT}'"
_RESERVATION_OWNERS = "SELECT DISTINCT owner_pid, owner_start FROM budget_reservations"
_OWNED_ATTEMPTS = (
    f"SELECT id, owner_pid, start_cost_usd, worst_case_usd FROM llm_usage"
    f" WHERE outcome = '{IN_FLIGHT}' AND owner_pid IS ? AND owner_start IS ?"
)
_OWNED_RESERVATIONS = "SELECT id, amount_usd FROM budget_reservations WHERE owner_pid IS ? AND owner_start IS ?"
_CLOSE_ATTEMPT = (
    f"UPDATE llm_usage SET outcome = '{INTERRUPTED}', usage_source = 'estimate', cost_usd = ?,"
    f" error_class = 'Interrupted', error_message = ? WHERE id = ? AND outcome = '{IN_FLIGHT}'"
)
# The same sum as core.ledger.reports.month_spend (the usage_monthly rollup, UTC months).
_MONTH_SPEND = "SELECT coalesce(sum(cost_usd), 0) FROM usage_monthly WHERE month = ?"
_RESERVED = "SELECT coalesce(sum(amount_usd), 0) FROM budget_reservations WHERE month = ?"
# One member's part of both (m008): their rollup rows and their outstanding holds.
_MEMBER_SPEND = "SELECT coalesce(sum(cost_usd), 0) FROM usage_monthly WHERE month = ? AND member = ?"
_MEMBER_RESERVED = "SELECT coalesce(sum(amount_usd), 0) FROM budget_reservations WHERE month = ? AND member = ?"
_RESERVE = (
    "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid, owner_start, member)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# A team database (core/ledger/postgres_schema.py): owners are judged only on their own
# host (a PID means nothing on another machine), so rows name it and the reads filter by it.
_HOST = " AND host = ?"
_OWNERS_ON = f"{_OPEN_ATTEMPT_OWNERS}{_HOST} UNION {_RESERVATION_OWNERS} WHERE host = ?"
# On a team database the check and the insert are one call of the server function
# ledger_reserve (revision 0005, core/ledger/alembic/versions/v0005_reserve_lock_last.py):
# the team's advisory lock, the sums, the insert if it fits, and a raise (SQLSTATE
# REFUSED_SQLSTATE, the sums as its detail) if it does not. Run in autocommit, the lock is
# held for that statement only. The parameters are cast, so the statement means one thing
# whatever types the driver sends (a small int as int2, a str as unknown) and inside a CTE.
_RESERVE_ARGS = "?::text, ?::text, ?::bigint, ?::bigint, ?::bigint, ?::text, ?::bigint, ?::text, ?::text, ?::text"
_RESERVED_COLUMNS = "spent, reserved, own_spent, own_reserved, made, started"
_RESERVE_ON = f"SELECT {_RESERVED_COLUMNS} FROM ledger_reserve({_RESERVE_ARGS}, 0)"


@lru_cache(maxsize=8)
def _reserve_with_attempts(columns: tuple[str, ...]) -> str:
    """The request's ``in_flight`` attempts and its reservation as ONE statement (so one
    transaction, in autocommit). The attempts come as one JSON array, made rows of
    ``llm_usage`` by the server (``json_populate_recordset``: each value read as its
    column's type), and are inserted FIRST: ``ledger_reserve`` takes their count as an
    argument, so its body, and the team's lock in it, runs only once they are written. The
    lock then covers the sums and the reservation alone. A refusal raises, which undoes the
    attempts with the rest; a kill, a lost connection or a refused row (an attempt already
    recorded) leaves both or neither, as SQLite's one transaction does."""
    names = ", ".join(f'"{name}"' for name in columns)  # "user" is a reserved word
    picked = ", ".join(f'a."{name}"' for name in columns)
    return (
        f"WITH started AS (INSERT INTO llm_usage ({names}) SELECT {picked}"
        " FROM json_populate_recordset(NULL::llm_usage, ?::json) AS a RETURNING 1)"
        f" SELECT {_RESERVED_COLUMNS} FROM ledger_reserve({_RESERVE_ARGS}, (SELECT count(*) FROM started))"
    )


_NO_LIMIT = 2**62  # picodollars: a member without a limit of their own (far above any budget)
_RELEASE = "DELETE FROM budget_reservations WHERE id = ?"
_RELEASE_FOR = "DELETE FROM budget_reservations WHERE request_id = ?"
_ALERT = "INSERT INTO alerts (month, kind, ts_utc) VALUES (?, ?, ?) ON CONFLICT (month, kind) DO NOTHING"


@dataclass(frozen=True)
class ReserveOutcome:
    """What the check saw, and the new reservation's id (None when it was refused).

    ``refused_by`` says which limit refused it: the team's monthly budget (``"budget"``)
    or the member's own monthly limit (``"member"``); the member's figures are read only
    when a member limit applies.
    """

    reservation_id: int | None
    spent_usd: Decimal
    reserved_usd: Decimal
    refused_by: Literal["budget", "member"] | None = None
    member_spent_usd: Decimal | None = None
    member_reserved_usd: Decimal | None = None


@dataclass(frozen=True)
class Reclaimed:
    """What :func:`reclaim` found left by ended processes and closed."""

    attempts: int = 0
    reservations: int = 0
    reserved_usd: Decimal = Decimal(0)  # what those reservations held, exactly

    def __bool__(self) -> bool:
        return bool(self.attempts or self.reservations)


def _owner_host(conn: DirectSession) -> str | None:
    """The host whose owners this connection may judge: None on a file (all are this
    machine's), this machine's name on a team database."""
    return None if isinstance(conn, sqlite3.Connection) else conn.owner_host


def _picos(conn: DirectSession, sql: str, *params: object) -> int:
    row = conn.execute(sql, params).fetchone()
    assert row is not None  # a sum always gives one row
    return int(row[0])


def month_spend_usd(conn: DirectSession, month: str) -> Decimal:
    """Everything spent in the UTC month (finished attempts, through the rollup)."""
    return from_picodollars(_picos(conn, _MONTH_SPEND, month))


def reserved_usd(conn: DirectSession, month: str) -> Decimal:
    """Outstanding reservations of the month (each held until its request ends)."""
    return from_picodollars(_picos(conn, _RESERVED, month))


_Orphans: TypeAlias = "tuple[list[tuple[int, int | None, int | None, int | None]], list[tuple[int, int]]]"


def _orphans(conn: DirectSession, gone_host: str | None = None) -> _Orphans:
    """(in-flight attempts, (reservation id, amount in picodollars)) whose owner is gone.

    Only the distinct owners are read and checked (a handful, however many rows they
    hold), and rows are fetched only for owners that are gone: a reservation made
    while a hundred attempts of this process are in flight stays sub-millisecond.

    ``gone_host`` (a team database only): a person said that machine is gone for good
    (``sparklio ledger release-host``), so every owner recorded on it counts as gone
    without asking this machine's OS about its PIDs; a provider's batch job still does
    not (its rows are settled when its results are collected).
    """
    me = this_process()
    host = _owner_host(conn) if gone_host is None else gone_host
    if host is None:  # a file: every owner is on this machine
        owners = set(conn.execute(_OPEN_ATTEMPT_OWNERS).fetchall()) | set(conn.execute(_RESERVATION_OWNERS).fetchall())
    else:
        owners = set(conn.execute(_OWNERS_ON, (host, host)).fetchall())  # one round trip to the server
    if gone_host is not None:
        gone = [(pid, start) for pid, start in owners if not (start or "").startswith(PROVIDER_JOB_PREFIX)]
    else:
        gone = [(pid, start) for pid, start in owners if (pid, start) != (me.pid, me.start) and is_gone(pid, start)]
    attempts: list[tuple[int, int | None, int | None, int | None]] = []
    held: list[tuple[int, int]] = []
    on_host: tuple[str, ...] = () if host is None else (host,)
    for pid, start in gone:
        attempts.extend(
            conn.execute(_OWNED_ATTEMPTS + ("" if host is None else _HOST), (pid, start, *on_host)).fetchall()
        )
        held.extend(
            (row[0], int(row[1]))
            for row in conn.execute(_OWNED_RESERVATIONS + ("" if host is None else _HOST), (pid, start, *on_host))
        )
    return attempts, held


def _found(attempts: Sequence[object], held: Sequence[tuple[int, int]]) -> Reclaimed:
    return Reclaimed(len(attempts), len(held), from_picodollars(sum(amount for _id, amount in held)))


def hosts_holding(conn: DirectSession) -> set[str]:
    """The machines with an attempt in flight or a reservation in a team database: what
    ``sparklio ledger release-host`` may release, to match the name a person typed."""
    rows = conn.execute(
        f"SELECT host FROM llm_usage WHERE outcome = '{IN_FLIGHT}' AND host IS NOT NULL"
        " UNION SELECT host FROM budget_reservations WHERE host IS NOT NULL"
    ).fetchall()
    return {str(row[0]) for row in rows}


def find_orphans(conn: DirectSession, *, gone_host: str | None = None) -> Reclaimed:
    """Count what :func:`reclaim` would close, without writing (a cheap check on open)."""
    return _found(*_orphans(conn, gone_host))


def reclaim(conn: DirectSession, *, gone_host: str | None = None) -> Reclaimed:
    """Close the in-flight attempts and delete the reservations of owners that are gone.

    An orphaned attempt becomes ``interrupted``, billed ``start_cost_usd`` (its input
    estimate priced when it started) with usage_source ``estimate``; its message says
    so and names the worst case that was reserved. Safe to run twice or concurrently:
    each change applies only to a row still open.

    ``gone_host``: every owner on that machine counts as gone (:func:`_orphans`); only
    a person's explicit ``sparklio ledger release-host`` passes it.
    """
    attempts, held = _orphans(conn, gone_host)
    where = "" if gone_host is None else f" on {gone_host}"
    for row_id, owner_pid, start_cost, worst_case in attempts:
        billed = from_picodollars(start_cost or 0)
        worst = f"; up to ${plain_decimal(from_picodollars(worst_case))} was reserved" if worst_case else ""
        message = (
            f"process {owner_pid}{where} ended before this attempt finished; billed "
            f"its input estimate (${plain_decimal(billed)}), output unknown{worst}"
        )
        conn.execute(_CLOSE_ATTEMPT, (start_cost or 0, message, row_id))
    conn.executemany(_RELEASE, [(row_id,) for row_id, _amount in held])
    return _found(attempts, held)


def try_reserve(
    conn: DirectSession,
    *,
    request_id: str,
    month: str,
    amount_usd: Decimal,
    limit_usd: Decimal,
    now: datetime,
    owner: ProcessOwner,
    member: str | None = None,
    member_limit_usd: Decimal | None = None,
) -> ReserveOutcome:
    """Insert a reservation if spent + reserved + amount stays within ``limit_usd`` and,
    with ``member_limit_usd``, the member's own spent + reserved + amount within that.

    Both checks and the insert are one step of the caller's ``BEGIN IMMEDIATE``
    transaction, so concurrent requests (threads, processes) overshoot neither limit.
    What ended processes left (reservations, in-flight attempts) is reclaimed on the
    way; a reservation of a live process is never touched, however old. The sums are
    compared as integer picodollars, exactly. The reservation records ``member``.
    """
    reclaim(conn)
    if not isinstance(conn, sqlite3.Connection):  # a team database (the store calls reserve_on_server itself)
        return reserve_on_server(
            conn,
            request_id=request_id,
            month=month,
            amount_usd=amount_usd,
            limit_usd=limit_usd,
            now=now,
            owner=owner,
            member=member,
            member_limit_usd=member_limit_usd,
        )
    spent = _picos(conn, _MONTH_SPEND, month)
    reserved = _picos(conn, _RESERVED, month)
    amount = to_picodollars(amount_usd)
    outcome_spent, outcome_reserved = from_picodollars(spent), from_picodollars(reserved)
    if spent + reserved + amount > to_picodollars(limit_usd):
        return ReserveOutcome(None, outcome_spent, outcome_reserved, "budget")
    mine_spent = mine_reserved = None
    if member_limit_usd is not None:
        if member is None:
            raise ValueError("a member limit needs the member it applies to")
        own_spent = _picos(conn, _MEMBER_SPEND, month, member)
        own_reserved = _picos(conn, _MEMBER_RESERVED, month, member)
        mine_spent, mine_reserved = from_picodollars(own_spent), from_picodollars(own_reserved)
        if own_spent + own_reserved + amount > to_picodollars(member_limit_usd):
            return ReserveOutcome(None, outcome_spent, outcome_reserved, "member", mine_spent, mine_reserved)
    cursor = conn.execute(_RESERVE, (request_id, month, amount, utc_iso(now), owner.pid, owner.start, member))
    return ReserveOutcome(cursor.lastrowid, outcome_spent, outcome_reserved, None, mine_spent, mine_reserved)


def reserve_on_server(
    conn: PgDirectSession,
    *,
    request_id: str,
    month: str,
    amount_usd: Decimal,
    limit_usd: Decimal,
    now: datetime,
    owner: ProcessOwner,
    member: str | None = None,
    member_limit_usd: Decimal | None = None,
    starts: Sequence[Mapping[str, Any]] = (),
) -> ReserveOutcome:
    """:func:`try_reserve`'s check and insert on a team database, reclaiming nothing: one
    call of ``ledger_reserve`` (the store calls it in autocommit, after :func:`reclaim`, so
    the team's lock is held for that one statement alone).

    ``starts``: the ``in_flight`` attempts' rows (column name to stored value, the same
    columns in each), inserted in the same statement, before the lock, and kept only when
    the reservation is made (:func:`_reserve_with_attempts`). A unique violation (an
    attempt already recorded) refuses the whole statement: no reservation is left behind.

    The sums the check saw come back in the result row, or, with a refusal, in the
    raised error's detail (the raise is what undoes the attempts).
    """
    from sparklio_desktop.core.ledger.pg_direct import ServerRefusal

    if member_limit_usd is not None and member is None:
        raise ValueError("a member limit needs the member it applies to")
    amount = to_picodollars(amount_usd)
    limit = to_picodollars(limit_usd)
    own_limit = _NO_LIMIT if member_limit_usd is None else to_picodollars(member_limit_usd)
    params: tuple[Any, ...] = (
        request_id, month, amount, limit, own_limit, utc_iso(now), owner.pid, owner.start, member, conn.owner_host,
    )  # fmt: skip
    if starts:
        sql = _reserve_with_attempts(tuple(starts[0]))
        # A key left out is read as NULL, as a null is: the smaller text is quicker both ends.
        rows = [{name: value for name, value in row.items() if value is not None} for row in starts]
        params = (json.dumps(rows, separators=(",", ":")), *params)
    else:
        sql = _RESERVE_ON
    made: int | None
    try:
        row = conn.execute(sql, params).fetchone()
    except ServerRefusal as refusal:
        spent, reserved, own_spent, own_reserved = (int(part) for part in refusal.detail.split())
        made = None
    else:
        assert row is not None and row[5] == len(starts)  # made, with every attempt that went with it
        spent, reserved, own_spent, own_reserved, made = (int(value) for value in row[:5])
    outcome_spent, outcome_reserved = from_picodollars(spent), from_picodollars(reserved)
    mine_spent = mine_reserved = None
    if member_limit_usd is not None:
        mine_spent, mine_reserved = from_picodollars(own_spent), from_picodollars(own_reserved)
    if made is not None:
        return ReserveOutcome(made, outcome_spent, outcome_reserved, None, mine_spent, mine_reserved)
    if spent + reserved + amount > limit:
        return ReserveOutcome(None, outcome_spent, outcome_reserved, "budget")
    return ReserveOutcome(None, outcome_spent, outcome_reserved, "member", mine_spent, mine_reserved)


def member_snapshot(conn: DirectSession, month: str, member: str) -> tuple[Decimal, Decimal]:
    """(spent, outstanding reservations) of one member in the month."""
    own_spent = _picos(conn, _MEMBER_SPEND, month, member)
    return from_picodollars(own_spent), from_picodollars(_picos(conn, _MEMBER_RESERVED, month, member))


def release(conn: DirectSession, reservation_id: int) -> None:
    """Delete a reservation; releasing one already gone does nothing."""
    conn.execute(_RELEASE, (reservation_id,))


def release_for(conn: DirectSession, request_id: str) -> int:
    """Delete the reservations held for ``request_id`` (a provider batch job's label);
    returns how many there were."""
    return conn.execute(_RELEASE_FOR, (request_id,)).rowcount


def record_alert(conn: DirectSession, month: str, kind: str, now: datetime) -> bool:
    """Record that the ``kind`` alert of ``month`` went out; False if it already had."""
    return conn.execute(_ALERT, (month, kind, utc_iso(now))).rowcount == 1
