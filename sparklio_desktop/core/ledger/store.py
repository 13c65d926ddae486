"""``LedgerStore``: the one door to the usage ledger (a SQLite file).

Every call is synchronous and short, and each write is one short transaction: the
GUI runs them on its serial database executor (as Anki does), the CLI calls them
directly, and a process killed mid-write loses at most the row being written.
Several processes may hold the same file open; WAL and ``BEGIN IMMEDIATE`` keep them
out of each other's way (see :mod:`sparklio_desktop.core.ledger.engine`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from sparklio_desktop.core import paths
from sparklio_desktop.core.ledger import reports, reservations
from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.money import plain_decimal, utcnow
from sparklio_desktop.core.ledger.records import (
    ANSWER_OUTCOMES,
    ERROR_MESSAGE_LIMIT,
    AttemptRecord,
    Decision,
    LedgerError,
    RequestSummary,
    SpendSummary,
    check_rating,
    current_user,
)
from sparklio_desktop.core.ledger.schema import decisions, llm_usage
from sparklio_desktop.core.providers.registry import LOCAL_PROVIDERS
from sparklio_desktop.core.redact import redact

PREVIEW_CHARS = 200
# A decision recorded again (to add the final model) keeps when and by whom it was made.
_DECISION_KEEPS = frozenset({"request_id", "ts_utc", "user"})
_u = llm_usage.c
_RECORD_FIELDS = AttemptRecord.field_names()


def default_ledger_path() -> Path:
    return paths.ledger_path()


def _json_default(value: Any) -> Any:
    """How trace values JSON does not know are written (exactly, where it matters)."""
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if hasattr(value, "model_dump"):  # pydantic models
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"cannot store {type(value).__name__} in a routing trace")


class LedgerStore(LedgerFileStore):
    """Records attempts and decisions; answers history and spend questions.

    Open with :meth:`open` (runs pending migrations) and close with :meth:`close`,
    or use it as a context manager.
    """

    # -- attempts and decisions ---------------------------------------------------

    def record_attempt(self, record: AttemptRecord) -> int:
        """Append one attempt; returns its row id. Attempts are recorded in order."""
        values = {name: getattr(record, name) for name in _RECORD_FIELDS}
        if record.error_message:
            values["error_message"] = redact(record.error_message)[:ERROR_MESSAGE_LIMIT]
        try:
            with self._write() as conn:
                result = conn.execute(llm_usage.insert(), values)
        except IntegrityError as err:
            if "UNIQUE" in str(err.orig):
                raise LedgerError(
                    f"attempt {record.attempt} of request {record.request_id} is already recorded"
                ) from None
            raise
        return result.lastrowid

    def record_decision(
        self,
        request_id: str,
        *,
        prompt: str,
        task_type: str,
        trace: Any,
        final_model_id: str | None = None,
        exploration: bool = False,
        user: str | None = None,
        ts_utc: datetime | None = None,
    ) -> None:
        """Keep the routing decision; recording it again updates it (time and user stay).

        ``trace`` is the router's full trace: JSON text, or a value JSON can hold
        (dicts, lists, dataclasses, pydantic models, Decimals as exact text). Only a
        redacted 200-character preview and the SHA-256 of the prompt are stored.
        """
        if isinstance(trace, str):
            json.loads(trace)  # refuse text that is not JSON now, not at explain time
            trace_json = trace
        else:
            trace_json = json.dumps(trace, sort_keys=True, default=_json_default)
        values = {
            "request_id": request_id,
            "ts_utc": ts_utc or utcnow(),
            "user": user or current_user(),
            "task_type": task_type,
            "prompt_preview": redact(prompt)[:PREVIEW_CHARS],
            "prompt_sha256": hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            "trace_json": trace_json,
            "final_model_id": final_model_id,
            "exploration": exploration,
        }
        statement = sqlite_insert(decisions).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["request_id"],
            set_={k: statement.excluded[k] for k in values if k not in _DECISION_KEEPS},
        )
        with self._write() as conn:
            conn.execute(statement)

    def set_rating(self, request_id: str, rating: int | None) -> None:
        """Rate (1-5, or None to clear) the attempt that gave the request's answer."""
        check_rating(rating)
        answer = (
            select(_u.id)
            .where(_u.request_id == request_id, _u.outcome.in_(ANSWER_OUTCOMES))
            .order_by(_u.attempt.desc())
            .limit(1)
            .scalar_subquery()
        )
        with self._write() as conn:
            result = conn.execute(update(llm_usage).where(_u.id == answer).values(rating=rating))
        if result.rowcount == 0:
            raise LedgerError(f"request {request_id} has no answer to rate")

    def attempts(self, request_id: str) -> list[AttemptRecord]:
        """The request's attempts, in order."""
        columns = [_u[name] for name in _RECORD_FIELDS]
        query = select(*columns).where(_u.request_id == request_id).order_by(_u.attempt)
        with self._read() as conn:
            return [AttemptRecord.from_row(row) for row in conn.execute(query)]

    def decision(self, request_id: str) -> Decision | None:
        with self._read() as conn:
            row = conn.execute(
                select(decisions).where(decisions.c.request_id == request_id)
            ).one_or_none()
        if row is None:
            return None
        data = dict(row._mapping)
        data["trace"] = json.loads(data.pop("trace_json"))
        return Decision(**data)

    def history(
        self,
        limit: int = 50,
        search: str | None = None,
        task: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RequestSummary]:
        """The latest requests first, one line each.

        ``search`` matches the prompt preview or the model (case-insensitive);
        ``model`` is the final model; ``since``/``until`` bound the first attempt's
        time as ``[since, until)``.
        """
        first = llm_usage.alias("first")
        last = llm_usage.alias("last")
        every = llm_usage.alias("every")
        last_id = (
            select(every.c.id)
            .where(every.c.request_id == first.c.request_id)
            .order_by(every.c.attempt.desc())
            .limit(1)
            .scalar_subquery()
        )

        def per_request(aggregate: Any) -> Any:
            return select(aggregate).where(every.c.request_id == first.c.request_id).scalar_subquery()

        query = (
            select(
                first.c.request_id,
                first.c.ts_utc,
                first.c.task_type,
                last.c.model_id,
                last.c.outcome,
                per_request(func.sum(every.c.cost_usd)),
                per_request(func.sum(every.c.saved_usd)),
                per_request(func.count()),
                last.c.rating,
                decisions.c.prompt_preview,
            )
            .select_from(first)
            .join(last, last.c.id == last_id)
            .outerjoin(decisions, decisions.c.request_id == first.c.request_id)
            .where(first.c.attempt == 1)
            .order_by(first.c.ts_utc.desc(), first.c.id.desc())
            .limit(limit)
        )
        if task is not None:
            query = query.where(first.c.task_type == task)
        if model is not None:
            query = query.where(last.c.model_id == model)
        if since is not None:
            query = query.where(first.c.ts_utc >= since)
        if until is not None:
            query = query.where(first.c.ts_utc < until)
        if search:
            query = query.where(
                decisions.c.prompt_preview.contains(search, autoescape=True)
                | last.c.model_id.contains(search, autoescape=True)
            )
        with self._read() as conn:
            return [RequestSummary(*tuple(row)) for row in conn.execute(query)]

    # -- spend ---------------------------------------------------------------------

    def month_spend(self, month: str, user: str | None = None) -> Decimal:
        """Total spent in the UTC month ``'YYYY-MM'`` (all users unless one is named)."""
        with self._read() as conn:
            return reports.month_spend(conn, month, user)

    def spend_summary(
        self,
        month: str,
        user: str | None = None,
        local_providers: Iterable[str] = LOCAL_PROVIDERS,
    ) -> SpendSummary:
        with self._read() as conn:
            return reports.spend_summary(conn, month, local_providers, user)

    def daily_spend(self, month: str, user: str | None = None) -> list[tuple[date, Decimal]]:
        with self._read() as conn:
            return reports.daily_spend(conn, month, user)

    def export_month_csv(self, month: str, path: Path | str) -> int:
        """Every attempt of the UTC month as CSV; returns the number of rows written."""
        with self._read() as conn:
            return reports.export_month_csv(conn, month, Path(path))

    # -- budget bookkeeping (policy lives in core.budget) --------------------------

    def try_reserve(
        self,
        *,
        request_id: str,
        month: str,
        amount_usd: Decimal,
        limit_usd: Decimal,
        now: datetime,
        stale_before: datetime,
    ) -> reservations.ReserveOutcome:
        """Atomically: reserve ``amount_usd`` if the month stays within ``limit_usd``."""
        with self._write() as conn:
            return reservations.try_reserve(
                conn,
                request_id=request_id,
                month=month,
                amount_usd=amount_usd,
                limit_usd=limit_usd,
                now=now,
                stale_before=stale_before,
            )

    def release_reservation(self, reservation_id: int) -> None:
        with self._write() as conn:
            reservations.release(conn, reservation_id)

    def budget_snapshot(self, month: str, stale_before: datetime) -> tuple[Decimal, Decimal]:
        """(spent, outstanding reservations) of the month, read together."""
        with self._read() as conn:
            return (
                reports.month_spend(conn, month),
                reservations.reserved_usd(conn, month, stale_before),
            )

    def record_alert(self, month: str, kind: str, now: datetime | None = None) -> bool:
        """Record the month's ``kind`` alert; True only the first time."""
        with self._write() as conn:
            return reservations.record_alert(conn, month, kind, now or utcnow())
