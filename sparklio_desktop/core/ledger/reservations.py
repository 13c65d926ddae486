"""The budget's bookkeeping tables: reservations, sent alerts, and reclaiming what
ended processes left behind.

The policy (how much, what happens at the cap, what to tell the user) lives in
:mod:`sparklio_desktop.core.budget`; this module is only the SQL, run inside the
``BEGIN IMMEDIATE`` transaction the store opens, which is what makes a check and the
insert that follows it one atomic step across threads and processes.

A reservation lives exactly as long as its request: it names its owner (PID and
process start, :mod:`sparklio_desktop.core.ledger.owners`), the request releases it
when it ends, and it is reclaimed only when that owner is gone, however old it is.
Reclaiming also closes the owner's ``in_flight`` attempts as ``interrupted``, billed
their input estimate (``start_cost_usd``, usage_source ``estimate``): the provider
was sent the prompt, and nothing is known of the output.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, delete, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from sparklio_desktop.core.ledger.money import plain_decimal
from sparklio_desktop.core.ledger.owners import ProcessOwner, is_gone, this_process
from sparklio_desktop.core.ledger.records import IN_FLIGHT, INTERRUPTED
from sparklio_desktop.core.ledger.reports import month_spend
from sparklio_desktop.core.ledger.schema import alerts, budget_reservations, llm_usage

_r = budget_reservations.c
_u = llm_usage.c
_OPEN_ATTEMPT = _u.outcome == literal_column(f"'{IN_FLIGHT}'")  # a literal, so the partial index is used
# Built once: they run in every reservation's transaction, on the first-token path.
_OPEN_ATTEMPT_OWNERS = select(_u.owner_pid, _u.owner_start).where(_OPEN_ATTEMPT).distinct()
_RESERVATION_OWNERS = select(_r.owner_pid, _r.owner_start).distinct()


@dataclass(frozen=True)
class ReserveOutcome:
    """What the check saw, and the new reservation's id (None when it was refused)."""

    reservation_id: int | None
    spent_usd: Decimal
    reserved_usd: Decimal


@dataclass(frozen=True)
class Reclaimed:
    """What :func:`reclaim` found left by ended processes and closed."""

    attempts: int = 0
    reservations: int = 0

    def __bool__(self) -> bool:
        return bool(self.attempts or self.reservations)


def reserved_usd(conn: Connection, month: str) -> Decimal:
    """Outstanding reservations of the month (each held until its request ends)."""
    query = select(func.coalesce(func.sum(_r.amount_usd), literal(0, type_=_r.amount_usd.type)))
    total: Decimal = conn.execute(query.where(_r.month == month)).scalar_one()
    return total


def _orphans(conn: Connection) -> tuple[list[Any], list[Any]]:
    """(in-flight attempts, reservations) whose owner is gone.

    Only the distinct owners are read and checked (a handful, however many rows they
    hold), and rows are fetched only for owners that are gone: a reservation made
    while a hundred attempts of this process are in flight stays sub-millisecond.
    """
    me = this_process()
    owners = set(conn.execute(_OPEN_ATTEMPT_OWNERS).all()) | set(conn.execute(_RESERVATION_OWNERS).all())
    gone = [(pid, start) for pid, start in owners if (pid, start) != (me.pid, me.start) and is_gone(pid, start)]
    if not gone:
        return [], []

    def owned(table: Any) -> Any:
        return or_(*(and_(table.c.owner_pid.is_not_distinct_from(pid), table.c.owner_start.is_not_distinct_from(start))
                     for pid, start in gone))

    attempts = conn.execute(
        select(_u.id, _u.owner_pid, _u.start_cost_usd, _u.worst_case_usd).where(_OPEN_ATTEMPT, owned(llm_usage))
    ).all()
    held = conn.execute(select(_r.id).where(owned(budget_reservations))).all()
    return list(attempts), list(held)


def find_orphans(conn: Connection) -> Reclaimed:
    """Count what :func:`reclaim` would close, without writing (a cheap check on open)."""
    attempts, held = _orphans(conn)
    return Reclaimed(len(attempts), len(held))


def reclaim(conn: Connection) -> Reclaimed:
    """Close the in-flight attempts and delete the reservations of owners that are gone.

    An orphaned attempt becomes ``interrupted``, billed ``start_cost_usd`` (its input
    estimate priced when it started) with usage_source ``estimate``; its message says
    so and names the worst case that was reserved. Safe to run twice or concurrently:
    each change applies only to a row still open.
    """
    attempts, held = _orphans(conn)
    for row in attempts:
        billed = row.start_cost_usd or Decimal(0)
        worst = f"; up to ${plain_decimal(row.worst_case_usd)} was reserved" if row.worst_case_usd else ""
        conn.execute(
            update(llm_usage)
            .where(_u.id == row.id, _u.outcome == IN_FLIGHT)
            .values(outcome=INTERRUPTED, usage_source="estimate", cost_usd=billed,
                    error_class="Interrupted",
                    error_message=(f"process {row.owner_pid} ended before this attempt finished; billed "
                                   f"its input estimate (${plain_decimal(billed)}), output unknown{worst}"))
        )
    if held:
        conn.execute(delete(budget_reservations).where(_r.id.in_([row.id for row in held])))
    return Reclaimed(len(attempts), len(held))


def try_reserve(
    conn: Connection,
    *,
    request_id: str,
    month: str,
    amount_usd: Decimal,
    limit_usd: Decimal,
    now: datetime,
    owner: ProcessOwner,
) -> ReserveOutcome:
    """Insert a reservation if spent + reserved + amount stays within ``limit_usd``.

    What ended processes left (reservations, in-flight attempts) is reclaimed on the
    way; a reservation of a live process is never touched, however old.
    """
    reclaim(conn)
    spent = month_spend(conn, month)
    reserved = reserved_usd(conn, month)
    if spent + reserved + amount_usd > limit_usd:
        return ReserveOutcome(None, spent, reserved)
    result = conn.execute(
        insert(budget_reservations).values(
            request_id=request_id, month=month, amount_usd=amount_usd, created_utc=now,
            owner_pid=owner.pid, owner_start=owner.start,
        )
    )
    return ReserveOutcome(result.lastrowid, spent, reserved)


def release(conn: Connection, reservation_id: int) -> None:
    """Delete a reservation; releasing one already gone does nothing."""
    conn.execute(delete(budget_reservations).where(_r.id == reservation_id))


def record_alert(conn: Connection, month: str, kind: str, now: datetime) -> bool:
    """Record that the ``kind`` alert of ``month`` went out; False if it already had."""
    statement = (
        sqlite_insert(alerts)
        .values(month=month, kind=kind, ts_utc=now)
        .on_conflict_do_nothing(index_elements=["month", "kind"])
    )
    return conn.execute(statement).rowcount == 1
