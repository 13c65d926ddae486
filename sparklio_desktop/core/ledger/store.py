"""``LedgerStore``: the one door to the usage ledger (a SQLite file).

Every call is synchronous and short, and each write is one short transaction: the
GUI runs them on its serial database executor (as Anki does), the CLI calls them
directly, and a process killed mid-write loses at most the row being written.
Several processes may hold the same file open; WAL and ``BEGIN IMMEDIATE`` keep them
out of each other's way (see :mod:`sparklio_desktop.core.ledger.engine`).

An attempt is written when it starts (:meth:`LedgerStore.start_attempt`, outcome
``in_flight``, naming its process) and finished in place when it ends
(:meth:`LedgerStore.finish_attempt`), so a process killed mid-stream still leaves a
row for a call the provider bills; opening the store closes the attempts (and
releases the reservations) of processes that are gone. An in-flight row does not
count as spend: its cost is unknown, and the budget reservation made with it holds
its worst case until it is finished.

Prompts are stored only as the redacted preview the inspector shows
(``PREVIEW_CHARS``) and a SHA-256: nothing else written here, the routing trace
included, keeps more of a prompt than that.
"""

from __future__ import annotations

import hashlib
import json
import operator
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, select, update

from sparklio_desktop.core.ledger import reports, reservations
from sparklio_desktop.core.ledger.column_types import IntBoolean, Money, UtcDateTime
from sparklio_desktop.core.ledger.direct import DirectConnection
from sparklio_desktop.core.ledger.file_store import LABEL, LedgerFileStore
from sparklio_desktop.core.ledger.members import current_user, resolve_member, this_host
from sparklio_desktop.core.ledger.money import plain_decimal, to_picodollars, utc_iso, utcnow
from sparklio_desktop.core.ledger.owners import ProcessOwner, this_process
from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection, PgDirectSession
from sparklio_desktop.core.ledger.records import (
    ANSWER_OUTCOMES,
    ERROR_MESSAGE_LIMIT,
    IN_FLIGHT,
    AttemptRecord,
    Decision,
    HistorySaving,
    LedgerError,
    RequestSummary,
    SpendSummary,
    check_rating,
)
from sparklio_desktop.core.ledger.schema import decisions, llm_usage
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError
from sparklio_desktop.core.provider_table import LOCAL_PROVIDERS
from sparklio_desktop.core.redact import has_key_shape, redact
from sparklio_desktop.core.settings import paths

PREVIEW_CHARS = 200
# On a team database, how often a paid request also looks for what ended processes left
# (reservations, in-flight attempts); a refusal always looks again first.
ORPHAN_CHECK_EVERY_S = 2.0
# A decision recorded again (to add the final model) keeps when and by whom it was made.
_DECISION_KEEPS = frozenset({"request_id", "ts_utc", "user"})
_u = llm_usage.c
_RECORD_FIELDS = AttemptRecord.field_names()
# What finishing an attempt may change: not who, what or when it started (the
# append-only trigger refuses those), nor what was stored at its start.
_START_ONLY = frozenset(
    {
        "request_id",
        "attempt",
        "ts_utc",
        "user",
        "task_type",
        "model_id",
        "provider",
        "owner_pid",
        "owner_start",
        "start_cost_usd",
        "worst_case_usd",
        "rating",
        "run_id",
        "member",
        "host",
    }
)
_FINISH_FIELDS = tuple(name for name in _RECORD_FIELDS if name not in _START_ONLY)
# The attempt statements run on the driver's connection (core/ledger/direct.py): the start
# row is written on the first-token path, where SQLAlchemy's statement handling cost far
# more than the SQL. Values are converted as the columns' SQLAlchemy types store them.
# Column names are quoted: ``user`` is a reserved word in PostgreSQL (the team ledger).
_QUOTED_FIELDS = ", ".join(f'"{name}"' for name in _RECORD_FIELDS)
_INSERT_ATTEMPT = f"INSERT INTO llm_usage ({_QUOTED_FIELDS}) VALUES ({', '.join('?' for _ in _RECORD_FIELDS)})"
_FINISH = (
    f"UPDATE llm_usage SET {', '.join(f'{name} = ?' for name in _FINISH_FIELDS)}"
    f" WHERE request_id = ? AND attempt = ? AND outcome = '{IN_FLIGHT}'"
)
_ATTEMPT_ID = "SELECT id FROM llm_usage WHERE request_id = ? AND attempt = ?"


def _stored_form(column_type: Any) -> Callable[[Any], Any] | None:
    """How a value of ``column_type`` is written (what SQLAlchemy's bind processing does);
    None for a value written as it is. Only non-None values are converted."""
    if isinstance(column_type, Money):
        return to_picodollars
    if isinstance(column_type, UtcDateTime):
        return utc_iso
    if isinstance(column_type, IntBoolean):
        return lambda value: int(bool(value))
    return None


# A record's fields in one call, then only the columns that need it converted: this runs
# for every attempt, on a paid request's first-token path.
_RECORD_GETTER = operator.attrgetter(*_RECORD_FIELDS)
_CONVERSIONS = tuple(
    (index, convert)
    for index, name in enumerate(_RECORD_FIELDS)
    if (convert := _stored_form(_u[name].type)) is not None
)


# A decision is written on every request, a cache hit's included, so like the attempt
# statements it is plain SQL on the driver's connection: the SQLAlchemy upsert cost ~2 ms
# of a 3 ms cache hit in statement building alone. Recording it again keeps when and by
# whom it was first made (_DECISION_KEEPS).
def _quoted(name: str) -> str:
    return f'"{name}"'  # "user" is a reserved word in PostgreSQL


_DECISION_FIELDS = (
    "request_id", "ts_utc", "user", "task_type", "prompt_preview", "prompt_sha256", "trace_json",
    "final_model_id", "exploration", "history_tokens_sent", "history_tokens_saved",
)  # fmt: skip
_UPDATED_DECISION_FIELDS = [name for name in _DECISION_FIELDS if name not in _DECISION_KEEPS]
_UPSERT_DECISION = (
    f"INSERT INTO decisions ({', '.join(map(_quoted, _DECISION_FIELDS))})"
    f" VALUES ({', '.join('?' for _ in _DECISION_FIELDS)}) ON CONFLICT (request_id) DO UPDATE SET "
    + ", ".join(f"{_quoted(name)} = excluded.{_quoted(name)}" for name in _UPDATED_DECISION_FIELDS)
)


def _attempt_values(record: AttemptRecord, member: str, host: str) -> dict[str, Any]:
    """The row's values; a record that names no member or host is the writing store's."""
    row = list(_RECORD_GETTER(record))
    for index, convert in _CONVERSIONS:
        if row[index] is not None:
            row[index] = convert(row[index])
    values = dict(zip(_RECORD_FIELDS, row, strict=True))
    if record.member is None:
        values["member"] = member
    if record.host is None:
        values["host"] = host
    if record.error_message:
        values["error_message"] = redact(record.error_message)[:ERROR_MESSAGE_LIMIT]
    return values


def _started_values(record: AttemptRecord, member: str, host: str) -> dict[str, Any]:
    """An ``in_flight`` record's row, owned by this process unless it names an owner."""
    if record.outcome != IN_FLIGHT:
        raise ValueError(f"a started attempt has outcome {IN_FLIGHT!r}, not {record.outcome!r}")
    values = _attempt_values(record, member, host)
    if record.owner_pid is None:
        owner = this_process()
        values["owner_pid"], values["owner_start"] = owner.pid, owner.start
    return values


def _insert_attempt(conn: sqlite3.Connection | PgDirectSession, values: dict[str, Any], record: AttemptRecord) -> int:
    try:
        cursor = conn.execute(_INSERT_ATTEMPT, [values[name] for name in _RECORD_FIELDS])
    except sqlite3.IntegrityError as err:
        if "UNIQUE" in str(err):
            raise LedgerError(f"attempt {record.attempt} of request {record.request_id} is already recorded") from None
        raise
    assert cursor.lastrowid is not None  # an INSERT that succeeded has a row id
    return cursor.lastrowid


def _bounded(value: Any, prompt: str, preview: str) -> Any:
    """``value`` (parsed JSON) with no string keeping more of ``prompt`` than its preview.

    The whole prompt, and any run of it that starts with more than the preview's
    length of its beginning (a truncated copy), becomes the preview; key-shaped text
    is redacted as in the preview.
    """
    if isinstance(value, str):
        if len(prompt) > PREVIEW_CHARS:
            head = prompt[: PREVIEW_CHARS + 1]
            at = value.find(head)
            while at >= 0:
                end = at + len(head)
                while end < len(value) and end - at < len(prompt) and value[end] == prompt[end - at]:
                    end += 1
                value = value[:at] + preview + value[end:]
                at = value.find(head, at + len(preview))
        return redact(value)
    if isinstance(value, dict):
        return {key: _bounded(item, prompt, preview) for key, item in value.items()}
    if isinstance(value, list):
        return [_bounded(item, prompt, preview) for item in value]
    return value


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

    def __init__(self, engine: Engine, target: Path | str, member: str | None = None) -> None:
        super().__init__(engine, target)
        # Attempt rows and budget bookkeeping: plain SQL on the driver's connection (the
        # file's sqlite3, or psycopg on a team database: core/ledger/pg_direct.py).
        self._direct: DirectConnection | PgDirectConnection = (
            DirectConnection(self.path, LABEL) if self.path is not None else PgDirectConnection(str(target), LABEL)
        )
        # Who this store writes as (core/ledger/members.py): every attempt row and
        # reservation it writes names them, unless a record names its own.
        self.member: str = member if member is not None else resolve_member()
        self.host: str = this_host()
        self._orphans_checked = float("-inf")  # when a team database was last searched for orphans

    def close(self) -> None:
        self._direct.close()
        super().close()

    # -- attempts and decisions ---------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, *, member: str | None = None) -> Self:
        """Open (and migrate) the ledger, then close what ended processes left open.

        Their ``in_flight`` attempts become ``interrupted`` and their reservations are
        released (see :func:`reservations.reclaim`); attempts and reservations of live
        processes are left alone. ``member``: who the rows written through this store
        belong to (the services pass the resolved ``team.member``); None:
        ``$SPARKLIO_MEMBER`` or the OS user.
        """
        member = resolve_member(member)  # a malformed $SPARKLIO_MEMBER is refused before opening
        store = super().open(path)
        store.member = member
        try:
            store.reclaim_orphans()
        except BaseException:
            store.close()
            raise
        return store

    def record_attempt(self, record: AttemptRecord) -> int:
        """Append one finished attempt; returns its row id. Attempts are recorded in order."""
        values = _attempt_values(record, self.member, self.host)
        with self._direct.transaction("AUTOCOMMIT") as conn:  # one INSERT: one round trip on a server
            return _insert_attempt(conn, values, record)

    def start_attempt(self, record: AttemptRecord) -> int:
        """Write an attempt as it starts (outcome ``in_flight``); returns its row id.

        ``record`` carries the input estimate (``input_tokens``, ``start_cost_usd``)
        and, for a paid model, the reserved ``worst_case_usd``. The row belongs to
        this process (unless the record names an owner) until :meth:`finish_attempt`.
        """
        values = _started_values(record, self.member, self.host)
        with self._direct.transaction("AUTOCOMMIT") as conn:  # one INSERT
            return _insert_attempt(conn, values, record)

    def finish_attempt(self, record: AttemptRecord) -> int:
        """Finish the attempt (``record.request_id``, ``record.attempt``); returns its row id.

        The ``in_flight`` row written by :meth:`start_attempt` is updated in place (one
        UPDATE; time, model and owner stay as started). An attempt that was already
        finished (say, as ``interrupted`` by a signal handler) is left as it is; one that
        was never started (a cache hit, a budget refusal) is inserted.
        """
        if record.outcome == IN_FLIGHT:
            raise ValueError("finish an attempt with its final outcome, not in_flight")
        values = _attempt_values(record, self.member, self.host)
        params = [values[name] for name in _FINISH_FIELDS] + [record.request_id, record.attempt]
        with self._direct.transaction("WRITE") as conn:
            conn.execute(_FINISH, params)
            existing = conn.execute(_ATTEMPT_ID, (record.request_id, record.attempt)).fetchone()
            if existing is not None:  # finished just now, or before (say, as interrupted)
                return int(existing[0])
            return _insert_attempt(conn, values, record)

    def _reclaim_now(self) -> reservations.Reclaimed:
        self._orphans_checked = time.monotonic()
        return self.reclaim_orphans()

    def reclaim_orphans(self) -> reservations.Reclaimed:
        """Close the attempts and release the reservations of processes that are gone.

        Reads first and writes only when something was left, so opening a ledger for
        a report does not take the write lock.
        """
        if isinstance(self._direct, PgDirectConnection):  # needs no snapshot of its own: two autocommit reads
            with self._direct.transaction("AUTOCOMMIT") as session:
                found = reservations.find_orphans(session)
        else:
            with self._direct.transaction("DEFERRED") as conn:
                found = reservations.find_orphans(conn)
        if not found:
            return reservations.Reclaimed()
        with self._direct.transaction() as conn:
            return reservations.reclaim(conn)

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
        history_tokens_sent: int = 0,
        history_tokens_saved: int = 0,
    ) -> None:
        """Keep the routing decision; recording it again updates it (time and user stay).

        ``trace`` is the router's full trace: JSON text, or a value JSON can hold
        (dicts, lists, dataclasses, pydantic models, Decimals as exact text). Only a
        redacted 200-character preview and the SHA-256 of the prompt are stored: a
        trace that carries the prompt (a ``RouteRequest`` does) keeps only the preview
        of it, and key-shaped text in the trace is redacted.
        """
        if isinstance(trace, str):
            parsed = json.loads(trace)  # refuse text that is not JSON now, not at explain time
            trace_json = trace
        else:
            parsed = None
            trace_json = json.dumps(trace, sort_keys=True, default=_json_default)
        preview = redact(prompt)[:PREVIEW_CHARS]
        # The walk is needed only when the text holds the prompt's beginning or a key; the
        # usual trace holds neither, and is stored as dumped (off the event loop's budget).
        head = json.dumps(prompt[: PREVIEW_CHARS + 1])[1:-1]
        if (len(prompt) > PREVIEW_CHARS and head in trace_json) or has_key_shape(trace_json):
            parsed = json.loads(trace_json) if parsed is None else parsed
            trace_json = json.dumps(_bounded(parsed, prompt, preview), sort_keys=True)
        values = (
            request_id,
            utc_iso(ts_utc or utcnow()),
            user or current_user(),
            task_type,
            preview,
            hashlib.sha256(prompt.encode("utf-8")).hexdigest(),
            trace_json,
            final_model_id,
            int(bool(exploration)),
            max(0, int(history_tokens_sent)),
            max(0, int(history_tokens_saved)),
        )
        with self._direct.transaction("WRITE") as conn:
            conn.execute(_UPSERT_DECISION, values)

    def set_decision_model(self, request_id: str, model_id: str | None) -> None:
        """The model that answered a request whose decision was written before its answer
        came (a provider batch job's item)."""
        with self._write() as conn:
            conn.execute(update(decisions).where(decisions.c.request_id == request_id).values(final_model_id=model_id))

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
            row = conn.execute(select(decisions).where(decisions.c.request_id == request_id)).one_or_none()
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
        run_id: str | None = None,
        member: str | None = None,
    ) -> list[RequestSummary]:
        """The latest requests first, one line each.

        ``search`` matches the prompt preview or the model (case-insensitive);
        ``model`` is the final model; ``since``/``until`` bound the first attempt's
        time as ``[since, until)``; ``run_id``: only the requests of that recipe run or
        batch; ``member``: only that team member's requests.
        """
        with self._read() as conn:
            return reports.history(conn, limit, search, task, model, since, until, run_id, member)

    # -- spend ---------------------------------------------------------------------

    def speed_rows(self) -> list[tuple[Any, ...]]:
        """Each model's recent successful calls, which measure its speed (core/speed.py)."""
        with self._read() as db:
            return reports.speed_rows(db)

    def month_spend(self, month: str, user: str | None = None, member: str | None = None) -> Decimal:
        """Total spent in the UTC month ``'YYYY-MM'`` (all users and members unless one is named)."""
        with self._read() as conn:
            return reports.month_spend(conn, month, user, member)

    def spend_summary(
        self,
        month: str,
        user: str | None = None,
        local_providers: Iterable[str] = LOCAL_PROVIDERS,
        member: str | None = None,
    ) -> SpendSummary:
        """The month's figures, of the whole team or of one ``member``."""
        with self._read() as conn:
            summary = reports.spend_summary(conn, month, local_providers, user, member)
        return replace(summary, history=self.history_saving(month, user))

    def history_saving(self, month: str, user: str | None = None) -> HistorySaving:
        """The month's conversation history saving, in a read of its own (core/ledger/reports.py)."""
        try:
            with self._read() as conn:
                return reports.history_saving(conn, month, user)
        except DatabaseFileError as exc:  # the engine's handle_error hook raised it
            if exc.problem != "damaged":
                raise
            return reports.damaged_history(exc)

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
        start: AttemptRecord | Sequence[AttemptRecord] | None = None,
        owner: ProcessOwner | None = None,
        member_limit_usd: Decimal | None = None,
    ) -> reservations.ReserveOutcome:
        """Atomically: reserve ``amount_usd`` if the month stays within ``limit_usd``
        (and, with ``member_limit_usd``, this store's member within their own limit).

        The reservation belongs to this process, or to ``owner`` (a provider batch job,
        core/ledger/owners.py). With ``start`` (``in_flight`` attempts: one, or a batch
        job's many), their rows are written in the same transaction when the reservation
        is made, so starting a paid attempt costs no extra write and a kill can never
        leave money held without its attempts, or attempts without their money.
        """
        starts = [] if start is None else [start] if isinstance(start, AttemptRecord) else list(start)
        started = [(_started_values(record, self.member, self.host), record) for record in starts]
        if isinstance(self._direct, PgDirectConnection):  # a team database: see _try_reserve_on_server
            return self._try_reserve_on_server(
                started,
                request_id=request_id,
                month=month,
                amount_usd=amount_usd,
                limit_usd=limit_usd,
                now=now,
                owner=owner or this_process(),
                member_limit_usd=member_limit_usd,
            )
        with self._direct.transaction() as conn:
            outcome = reservations.try_reserve(
                conn,
                request_id=request_id,
                month=month,
                amount_usd=amount_usd,
                limit_usd=limit_usd,
                now=now,
                owner=owner or this_process(),
                member=self.member,
                member_limit_usd=member_limit_usd,
            )
            if outcome.reservation_id is not None:
                for values, record in started:
                    _insert_attempt(conn, values, record)
            return outcome

    def _try_reserve_on_server(
        self,
        started: list[tuple[dict[str, Any], AttemptRecord]],
        *,
        request_id: str,
        month: str,
        amount_usd: Decimal,
        limit_usd: Decimal,
        now: datetime,
        owner: ProcessOwner,
        member_limit_usd: Decimal | None,
    ) -> reservations.ReserveOutcome:
        """:meth:`try_reserve` on a team database: reclaim what this host's ended processes
        left (every few seconds), then ONE statement in autocommit that reserves
        (``ledger_reserve``, under the team's budget lock), the ``in_flight`` attempts
        inserted first in that statement and kept only if it did (core/ledger/reservations.py). One round trip and one
        transaction: a kill leaves the reservation with its attempts or neither, as on a
        file, and the team's lock is held for that statement alone, never across the network.
        """
        assert isinstance(self._direct, PgDirectConnection)
        # What ended processes left is looked for at most every few seconds (a round trip and
        # a query on every paid request otherwise), and always again before a refusal stands:
        # an orphan's hold can delay a reclaim, never refuse a request that fits.
        checked = time.monotonic() - self._orphans_checked >= ORPHAN_CHECK_EVERY_S
        if checked:
            self._reclaim_now()
        while True:
            with self._direct.transaction("AUTOCOMMIT") as conn:
                try:
                    outcome = reservations.reserve_on_server(
                        conn,
                        request_id=request_id,
                        month=month,
                        amount_usd=amount_usd,
                        limit_usd=limit_usd,
                        now=now,
                        owner=owner,
                        member=self.member,
                        member_limit_usd=member_limit_usd,
                        starts=[values for values, _ in started],
                    )
                except sqlite3.IntegrityError as err:  # pg_direct.UniqueViolation: nothing was written
                    if "UNIQUE" not in str(err):
                        raise
                    named = started[0][1] if len(started) == 1 else None
                    what = (
                        f"attempt {named.attempt} of request {named.request_id}"
                        if named
                        else f"an attempt of {request_id}"
                    )
                    raise LedgerError(f"{what} is already recorded") from None
            if outcome.reservation_id is not None or checked:
                break
            checked = True
            if not self._reclaim_now():
                break
        return outcome

    def release_reservation(self, reservation_id: int) -> None:
        with self._direct.transaction("AUTOCOMMIT") as conn:  # one DELETE: one round trip on a server
            reservations.release(conn, reservation_id)

    def release_reservations_for(self, request_id: str) -> int:
        """Release what is held for ``request_id`` (a provider batch job's label)."""
        with self._direct.transaction("AUTOCOMMIT") as conn:  # one DELETE
            return reservations.release_for(conn, request_id)

    def budget_snapshot(self, month: str) -> tuple[Decimal, Decimal]:
        """(spent, outstanding reservations) of the month, read together."""
        with self._direct.transaction("DEFERRED") as conn:
            return reservations.month_spend_usd(conn, month), reservations.reserved_usd(conn, month)

    def member_snapshot(self, month: str, member: str | None = None) -> tuple[Decimal, Decimal]:
        """(spent, outstanding reservations) of one member (default this store's) in the month."""
        with self._direct.transaction("DEFERRED") as conn:
            return reservations.member_snapshot(conn, month, member or self.member)

    def record_alert(self, month: str, kind: str, now: datetime | None = None) -> bool:
        """Record the month's ``kind`` alert; True only the first time."""
        with self._direct.transaction("AUTOCOMMIT") as conn:  # one INSERT
            return reservations.record_alert(conn, month, kind, now or utcnow())
