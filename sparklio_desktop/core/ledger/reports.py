"""Monthly spend queries, the history list and the CSV export, as functions over one connection.

Totals come from ``usage_monthly`` and ``usage_daily``, the rollups that triggers keep in
step with ``llm_usage`` (see migrations ``m002_usage_daily`` and ``m007_member_host``): a
month is at most members x models x tasks x outcomes rows (times days, for the daily
one), so every query here is a few milliseconds however many attempts the month holds. Every sum is SQLite's exact
integer ``SUM`` over picodollars, turned into Decimal by
:func:`~sparklio_desktop.core.ledger.money.from_picodollars`. Months are UTC (see
:mod:`sparklio_desktop.core.ledger.months`).

The queries are SQL text, run on either kind of connection: a SQLAlchemy
``Connection`` (:class:`~sparklio_desktop.core.ledger.store.LedgerStore`, inside its
transaction) or a plain ``sqlite3.Connection``
(:class:`~sparklio_desktop.core.ledger.reader.LedgerReader`, which spares ``sparklio
spend`` and ``history`` the import of SQLAlchemy). One text per question, so both give
the same answer.
"""

from __future__ import annotations

import csv
import os
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.ledger.money import from_picodollars, parse_utc, picodollars_text, utc_iso
from sparklio_desktop.core.ledger.months import day_bounds_text, month_bounds, month_days
from sparklio_desktop.core.ledger.records import (
    HistorySaving,
    LocalCloudSplit,
    MemberSpend,
    RequestSummary,
    SpendSummary,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    SqlConnection = Connection | sqlite3.Connection

_ZERO = Decimal(0)


def rows(conn: SqlConnection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on either kind of connection; all rows as tuples.

    On a team's PostgreSQL (a SQLAlchemy connection of that dialect) the text is translated
    once (core/ledger/pg_direct.py ``to_postgres``) and NUMERIC sums come back as ``int``."""
    if isinstance(conn, sqlite3.Connection):
        return conn.execute(sql, tuple(params)).fetchall()
    if conn.dialect.name == "postgresql":
        from sparklio_desktop.core.ledger.pg_direct import plain_row, to_postgres

        return [plain_row(row) for row in conn.exec_driver_sql(to_postgres(sql), tuple(params))]
    return [tuple(row) for row in conn.exec_driver_sql(sql, tuple(params))]


def _in_month(month: str, user: str | None, member: str | None = None) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a month's ``usage_daily`` rows (of one user or team member, when named)."""
    first, after = day_bounds_text(month)
    where, params = "day >= ? AND day < ?", [first, after]
    if user is not None:
        where, params = where + ' AND "user" = ?', [*params, user]
    if member is not None:
        where, params = where + " AND member = ?", [*params, member]
    return where, params


def _month_rollup(month: str, user: str | None, member: str | None) -> tuple[str, str, list[Any]]:
    """(table, ``WHERE``, params) of a month's rollup rows: ``usage_monthly`` (m007), a few
    thousand rows a month; ``usage_daily`` when a user is named (the monthly rollup is by
    member, not user)."""
    if user is not None:
        return "usage_daily", *_in_month(month, user, member)
    if member is not None:
        return "usage_monthly", "month = ? AND member = ?", [month, member]
    return "usage_monthly", "month = ?", [month]


def month_spend(conn: SqlConnection, month: str, user: str | None = None, member: str | None = None) -> Decimal:
    """Everything spent in the UTC month (all outcomes: failed calls cost money too)."""
    table, where, params = _month_rollup(month, user, member)
    [(picos,)] = rows(conn, f"SELECT COALESCE(SUM(cost_usd), 0) FROM {table} WHERE {where}", params)
    return from_picodollars(picos)


def daily_spend(
    conn: SqlConnection, month: str, user: str | None = None, member: str | None = None
) -> list[tuple[date, Decimal]]:
    """Spend per UTC day, every day of the month listed (zero where nothing was spent)."""
    where, params = _in_month(month, user, member)
    query = f"SELECT day, COALESCE(SUM(cost_usd), 0) FROM usage_daily WHERE {where} GROUP BY day"
    spent = {day: from_picodollars(picos) for day, picos in rows(conn, query, params)}
    return [(day, spent.get(day.isoformat(), _ZERO)) for day in month_days(month)]


def _ranked(totals: dict[str, int]) -> dict[str, Decimal]:
    """Biggest first, ties by name (SQLite's text order: UTF-8 bytes, the same as code points)."""
    return {name: from_picodollars(picos) for name, picos in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))}


def spend_summary(
    conn: SqlConnection,
    month: str,
    local_providers: Iterable[str],
    user: str | None = None,
    member: str | None = None,
) -> SpendSummary:
    """The spend panel's numbers (of one team member, when named); call inside one
    transaction for a consistent snapshot.

    The month's ``usage_monthly`` rows (member x model x provider x task x outcome: a few
    thousand however many attempts there were) are read once, and every breakdown is
    added up from them as integer picodollars; a query per breakdown over ``usage_daily``
    sorted 31 times as many rows once each, which a team's members multiply (issue 16:
    ``spend`` over a million team rows within 300 ms). The daily chart reads ``usage_daily``.
    """
    table, where, params = _month_rollup(month, user, member)
    groups = rows(
        conn,
        "SELECT member, model_id, provider, task_type, outcome, SUM(cost_usd), SUM(saved_usd),"
        f" SUM(requests), SUM(attempts), SUM(fallbacks) FROM {table} WHERE {where}"
        " GROUP BY member, model_id, provider, task_type, outcome",
        params,
    )
    local = frozenset(local_providers)
    spent = saved = requests = attempts = fallbacks = cache_hits = 0
    split = {True: [0, 0], False: [0, 0]}  # is local -> [picodollars, answers]
    models: dict[str, int] = {}
    tasks: dict[str, int] = {}
    providers: dict[str, int] = {}
    members: dict[str, list[int]] = {}  # -> [picodollars, requests, attempts]
    for who, model, provider, task, outcome, cost, g_saved, g_requests, g_attempts, g_fallbacks in groups:
        spent += cost
        saved += g_saved
        requests += g_requests
        attempts += g_attempts
        fallbacks += g_fallbacks
        if outcome == "cache_hit":
            cache_hits += g_attempts
        side = split[provider in local]
        side[0] += cost
        if outcome == "ok":
            side[1] += g_attempts
        models[model] = models.get(model, 0) + cost
        tasks[task] = tasks.get(task, 0) + cost
        providers[provider] = providers.get(provider, 0) + cost
        mine = members.setdefault(who, [0, 0, 0])
        mine[0] += cost
        mine[1] += g_requests
        mine[2] += g_attempts
    (cloud_picos, cloud_answers), (local_picos, local_answers) = split[False], split[True]
    return SpendSummary(
        month=month,
        spent_usd=from_picodollars(spent),
        by_model=_ranked(models),
        by_task=_ranked(tasks),
        by_provider=_ranked(providers),
        local_vs_cloud=LocalCloudSplit(
            local_answers, cloud_answers, from_picodollars(local_picos), from_picodollars(cloud_picos)
        ),
        cache_hits=cache_hits,
        saved_usd=from_picodollars(saved),
        requests=requests,
        attempts=attempts,
        fallback_rate=fallbacks / requests if requests else 0.0,
        daily=daily_spend(conn, month, user, member),
        by_member={
            name: MemberSpend(from_picodollars(picos), n_requests, n_attempts)
            for name, (picos, n_requests, n_attempts) in sorted(members.items(), key=lambda kv: (-kv[1][0], kv[0]))
        },
    )


def damaged_history(error: BaseException) -> HistorySaving:
    """The figures of a month whose request rows cannot be read: none, and why."""
    return HistorySaving(error=f"{error}")


# The ledger run id of the calls that write a conversation's running summary
# (core/history_summary.py): ``summary-<conversation id>``.
SUMMARY_RUN_PREFIX = "summary-"
_MILLION = Decimal(1_000_000)


def history_saving(conn: SqlConnection, month: str, user: str | None = None) -> HistorySaving:
    """What trimming conversations' history saved in the UTC month, and what writing their
    summaries cost (docs/conversations.md). The saving in money is each answered request's
    saved tokens at the input rate its answering attempt was billed at (exact: summed per
    rate, in Decimal). It reads the request rows, not the daily rollup, so the reader and
    the store run it in a read of its own: a damaged row there leaves the month's spend
    readable (:func:`damaged_history`)."""
    start, end = (utc_iso(bound) for bound in month_bounds(month))
    who, params = ("", [start, end]) if user is None else (' AND d."user" = ?', [start, end, user])
    saved_tokens = 0
    saved_usd = _ZERO
    for rate, tokens in rows(
        conn,
        "SELECT u.price_input_per_mtok, SUM(d.history_tokens_saved) FROM decisions AS d"
        " JOIN llm_usage AS u ON u.request_id = d.request_id AND u.outcome = 'ok'"
        f" WHERE d.ts_utc >= ? AND d.ts_utc < ? AND d.history_tokens_saved > 0{who}"
        " GROUP BY u.price_input_per_mtok",
        params,
    ):
        saved_tokens += int(tokens)
        if rate is not None:
            saved_usd += from_picodollars(rate) * int(tokens) / _MILLION
    [(sent,)] = rows(
        conn,
        f"SELECT COALESCE(SUM(d.history_tokens_sent), 0) FROM decisions AS d WHERE d.ts_utc >= ? AND d.ts_utc < ?{who}",
        params,
    )
    by = "" if user is None else ' AND "user" = ?'
    [(calls, cost)] = rows(
        conn,
        "SELECT COUNT(DISTINCT request_id), COALESCE(SUM(cost_usd), 0) FROM llm_usage"
        f" WHERE run_id >= ? AND run_id < ? AND ts_utc >= ? AND ts_utc < ?{by}",
        [SUMMARY_RUN_PREFIX, SUMMARY_RUN_PREFIX[:-1] + chr(ord(SUMMARY_RUN_PREFIX[-1]) + 1), *params],
    )
    return HistorySaving(
        tokens_sent=int(sent),
        tokens_saved=saved_tokens,
        saved_usd=saved_usd,
        summary_calls=int(calls),
        summary_cost_usd=from_picodollars(cost),
    )


# One line per request: its first attempt (when and what), its last attempt (which model
# answered, how it ended, its rating), its attempts' sums, and the decision's preview.
_HISTORY = """SELECT first.request_id, first.ts_utc, first.task_type, last.model_id, last.outcome,
    (SELECT sum(every.cost_usd) FROM llm_usage AS every WHERE every.request_id = first.request_id),
    (SELECT sum(every.saved_usd) FROM llm_usage AS every WHERE every.request_id = first.request_id),
    (SELECT count(*) FROM llm_usage AS every WHERE every.request_id = first.request_id),
    last.rating, decisions.prompt_preview, first.run_id, first.member, first.host
FROM llm_usage AS first
JOIN llm_usage AS last ON last.id = (SELECT every.id FROM llm_usage AS every
    WHERE every.request_id = first.request_id ORDER BY every.attempt DESC LIMIT 1)
LEFT OUTER JOIN decisions ON decisions.request_id = first.request_id
WHERE first.attempt = 1{where}
ORDER BY first.ts_utc DESC, first.id DESC
LIMIT ?"""


def _like_escaped(text: str) -> str:
    """``text`` for ``LIKE '%' || ? || '%' ESCAPE '/'``: its own ``%``, ``_`` and ``/`` match themselves."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def history(
    conn: SqlConnection,
    limit: int = 50,
    search: str | None = None,
    task: str | None = None,
    model: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    run_id: str | None = None,
    member: str | None = None,
) -> list[RequestSummary]:
    """The latest requests first, one line each (see ``LedgerStore.history``)."""
    where: list[str] = []
    params: list[Any] = []
    if member is not None:
        where.append("first.member = ?")
        params.append(member)
    if run_id is not None:
        where.append("first.run_id = ?")  # ix_llm_usage_run (m006)
        params.append(run_id)
    if task is not None:
        where.append("first.task_type = ?")
        params.append(task)
    if model is not None:
        where.append("last.model_id = ?")
        params.append(model)
    if since is not None:
        where.append("first.ts_utc >= ?")
        params.append(utc_iso(since))
    if until is not None:
        where.append("first.ts_utc < ?")
        params.append(utc_iso(until))
    if search:
        where.append(
            "(decisions.prompt_preview LIKE '%' || ? || '%' ESCAPE '/'"
            " OR last.model_id LIKE '%' || ? || '%' ESCAPE '/')"
        )
        params += [_like_escaped(search)] * 2
    query = _HISTORY.format(where="".join(f" AND {w}" for w in where))
    return [
        RequestSummary(
            request_id,
            parse_utc(ts),
            task_type,
            model_id,
            outcome,
            from_picodollars(cost),
            from_picodollars(saved),
            attempts,
            rating,
            preview,
            run,
            who,
            host,
        )
        for (
            request_id,
            ts,
            task_type,
            model_id,
            outcome,
            cost,
            saved,
            attempts,
            rating,
            preview,
            run,
            who,
            host,
        ) in rows(conn, query, [*params, limit])
    ]


def export_month_csv(conn: Connection, month: str, path: Path) -> int:
    """Write every attempt of the UTC month to ``path``; return the number of rows.

    Money is written as exact decimal text (never a float), times as stored (ISO
    UTC), booleans as 0/1, missing values as empty cells. The rows are read raw and
    only the money columns converted, so a month of a million rows exports in
    seconds. The file appears whole or not at all: it is written beside ``path``
    and renamed.
    """
    # The table's columns and their types: SQLAlchemy is loaded already (a LedgerStore runs this).
    from sparklio_desktop.core.ledger.column_types import Money
    from sparklio_desktop.core.ledger.schema import llm_usage

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
            if conn.dialect.name == "postgresql":  # a team database
                from sparklio_desktop.core.ledger.pg_direct import to_postgres

                query = to_postgres(query)
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


SPEED_WINDOW = 200  # the most recent successful calls per model that measure its speed
_SPEED_SQL = f"""
SELECT model_id, latency_s, ttft_s, output_tokens, images FROM (
  SELECT model_id, latency_s, ttft_s, output_tokens, images,
         ROW_NUMBER() OVER (PARTITION BY model_id ORDER BY id DESC) AS recent
  FROM llm_usage
  WHERE outcome = 'ok' AND latency_s IS NOT NULL AND latency_s > 0
) AS calls WHERE recent <= {SPEED_WINDOW}
"""


def speed_rows(conn: SqlConnection) -> list[tuple[Any, ...]]:
    """``(model_id, latency_s, ttft_s, output_tokens, images)`` of each model's recent
    successful calls, which measure its speed (core/speed.py)."""
    return rows(conn, _SPEED_SQL)
