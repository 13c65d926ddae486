"""Monthly spend queries and the CSV export, as functions over one connection.

Totals come from ``usage_daily``, the rollup that a trigger keeps in step with
``llm_usage`` (see migration ``m002_usage_daily``): a month is at most
days x users x models x tasks x outcomes rows, so every query here is a few
milliseconds however many attempts the month holds. Every sum is SQLite's exact
integer ``SUM`` over picodollars, turned into Decimal by the :class:`Money` type.
Months are UTC (see :mod:`sparklio_desktop.core.ledger.months`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.engine import Connection

from sparklio_desktop.core.ledger.money import Money, picodollars_text, utc_iso
from sparklio_desktop.core.ledger.months import day_bounds_text, month_bounds, month_days
from sparklio_desktop.core.ledger.records import LocalCloudSplit, SpendSummary
from sparklio_desktop.core.ledger.schema import llm_usage, usage_daily

_d = usage_daily.c
_ZERO = Decimal(0)


def _money_sum(column: Any) -> ColumnElement[Decimal]:
    return func.coalesce(func.sum(column), literal(0, type_=column.type))


def _int_sum(expression: Any) -> ColumnElement[int]:
    return func.coalesce(func.sum(expression), 0)


def _in_month(month: str, user: str | None) -> list[ColumnElement[bool]]:
    first, after = day_bounds_text(month)
    where = [_d.day >= first, _d.day < after]
    if user is not None:
        where.append(_d.user == user)
    return where


def month_spend(conn: Connection, month: str, user: str | None = None) -> Decimal:
    """Everything spent in the UTC month (all outcomes: failed calls cost money too)."""
    query = select(_money_sum(_d.cost_usd)).where(*_in_month(month, user))
    return conn.execute(query).scalar_one()


def _by(conn: Connection, key: Any, where: list[ColumnElement[bool]]) -> dict[str, Decimal]:
    total = _money_sum(_d.cost_usd)
    query = select(key, total).where(*where).group_by(key).order_by(total.desc(), key)
    return dict(conn.execute(query).all())


def daily_spend(conn: Connection, month: str, user: str | None = None) -> list[tuple[date, Decimal]]:
    """Spend per UTC day, every day of the month listed (zero where nothing was spent)."""
    query = (
        select(_d.day, _money_sum(_d.cost_usd))
        .where(*_in_month(month, user))
        .group_by(_d.day)
    )
    spent: dict[str, Decimal] = dict(conn.execute(query).all())
    return [(day, spent.get(day.isoformat(), _ZERO)) for day in month_days(month)]


def spend_summary(
    conn: Connection, month: str, local_providers: Iterable[str], user: str | None = None
) -> SpendSummary:
    """The spend panel's numbers; call inside one transaction for a consistent snapshot."""
    where = _in_month(month, user)
    totals = conn.execute(
        select(
            _money_sum(_d.cost_usd),
            _money_sum(_d.saved_usd),
            _int_sum(_d.requests),
            _int_sum(_d.attempts),
            _int_sum(_d.fallbacks),
            _int_sum(case((_d.outcome == "cache_hit", _d.attempts), else_=0)),
        ).where(*where)
    ).one()
    spent, saved, requests, attempts, fallbacks, cache_hits = totals

    is_local = _d.provider.in_(sorted(set(local_providers)))
    split_query = (
        select(
            is_local,
            _money_sum(_d.cost_usd),
            _int_sum(case((_d.outcome == "ok", _d.attempts), else_=0)),
        )
        .where(*where)
        .group_by(is_local)
    )
    split = {bool(local): (usd, answers) for local, usd, answers in conn.execute(split_query)}
    local_usd, local_answers = split.get(True, (_ZERO, 0))
    cloud_usd, cloud_answers = split.get(False, (_ZERO, 0))

    return SpendSummary(
        month=month,
        spent_usd=spent,
        by_model=_by(conn, _d.model_id, where),
        by_task=_by(conn, _d.task_type, where),
        by_provider=_by(conn, _d.provider, where),
        local_vs_cloud=LocalCloudSplit(local_answers, cloud_answers, local_usd, cloud_usd),
        cache_hits=cache_hits,
        saved_usd=saved,
        requests=requests,
        attempts=attempts,
        fallback_rate=fallbacks / requests if requests else 0.0,
        daily=daily_spend(conn, month, user),
    )


def export_month_csv(conn: Connection, month: str, path: Path) -> int:
    """Write every attempt of the UTC month to ``path``; return the number of rows.

    Money is written as exact decimal text (never a float), times as stored (ISO
    UTC), booleans as 0/1, missing values as empty cells. The rows are read raw and
    only the money columns converted, so a month of a million rows exports in
    seconds. The file appears whole or not at all: it is written beside ``path``
    and renamed.
    """
    start, end = month_bounds(month)
    names = [column.name for column in llm_usage.columns]
    money = [i for i, column in enumerate(llm_usage.columns) if isinstance(column.type, Money)]
    quoted = ", ".join(f'"{name}"' for name in names)
    query = f"SELECT {quoted} FROM llm_usage WHERE ts_utc >= ? AND ts_utc < ? ORDER BY ts_utc, id"
    path = Path(path)
    partial = path.with_name(path.name + ".partial")
    count = 0
    try:
        with partial.open("w", newline="", encoding="utf-8") as handle:
            out = csv.writer(handle)
            out.writerow(names)
            cursor = conn.exec_driver_sql(query, (utc_iso(start), utc_iso(end)))
            for raw in cursor:
                row = list(raw)
                for i in money:
                    if row[i] is not None:
                        row[i] = picodollars_text(row[i])
                out.writerow(row)
                count += 1
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return count
