"""The budget's bookkeeping tables: in-flight reservations and sent alerts.

The policy (how much, what happens at the cap, what to tell the user) lives in
:mod:`sparklio_desktop.core.budget`; this module is only the SQL, run inside the
``BEGIN IMMEDIATE`` transaction the store opens, which is what makes a check and the
insert that follows it one atomic step across threads and processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, func, insert, literal, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from sparklio_desktop.core.ledger.reports import month_spend
from sparklio_desktop.core.ledger.schema import alerts, budget_reservations

_r = budget_reservations.c


@dataclass(frozen=True)
class ReserveOutcome:
    """What the check saw, and the new reservation's id (None when it was refused)."""

    reservation_id: int | None
    spent_usd: Decimal
    reserved_usd: Decimal


def reserved_usd(conn: Connection, month: str, stale_before: datetime) -> Decimal:
    """Outstanding reservations of the month, ignoring those made before ``stale_before``."""
    query = select(func.coalesce(func.sum(_r.amount_usd), literal(0, type_=_r.amount_usd.type)))
    total: Decimal = conn.execute(query.where(_r.month == month, _r.created_utc >= stale_before)).scalar_one()
    return total


def try_reserve(
    conn: Connection,
    *,
    request_id: str,
    month: str,
    amount_usd: Decimal,
    limit_usd: Decimal,
    now: datetime,
    stale_before: datetime,
) -> ReserveOutcome:
    """Insert a reservation if spent + reserved + amount stays within ``limit_usd``.

    Stale reservations (left by a crashed process) are deleted on the way.
    """
    conn.execute(delete(budget_reservations).where(_r.created_utc < stale_before))
    spent = month_spend(conn, month)
    reserved = reserved_usd(conn, month, stale_before)
    if spent + reserved + amount_usd > limit_usd:
        return ReserveOutcome(None, spent, reserved)
    result = conn.execute(
        insert(budget_reservations).values(
            request_id=request_id, month=month, amount_usd=amount_usd, created_utc=now
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
