"""Moving a ledger between installs: ``sparklio ledger export`` and ``sparklio ledger import``.

A creator who joins a team brings their history: attempts, routing decisions, comparisons
and votes go from a personal SQLite ledger into the team's database (or back), with their
request ids, so ``sparklio show REQUEST_ID`` and every month's spend read the same there.

Everything is SQLAlchemy Core over ``schema.py``'s tables on the store's connection (no
driver-specific SQL), so the same code reads and writes SQLite and PostgreSQL. The portable
form of a row and its checks are in ``transfer_rows.py``.

The rules:

* **Idempotent.** Attempts are keyed by (request_id, attempt), decisions by request_id,
  comparisons by what they are (time, user, task, prompt hash, models, order shown) and
  votes by (comparison, time, verdict); comparison ids are the file's own and are mapped to
  the target's. A row already there is skipped and counted, so importing twice adds nothing.
* **All or nothing, streamed.** The source is read once, in chunks (``_BATCH`` rows), inside
  the import's one transaction: each chunk is checked, then inserted; a bad row anywhere is
  refused with ``file:line: what is wrong`` (:class:`TransferError`) and the transaction is
  rolled back, so nothing is written. What is held is the keys seen (each key once in the
  source), not the rows: memory stays flat however long the file is. The header's counts
  (a file cut short) and every vote's comparison are checked at the end, before the commit.
* **Exact spend.** The rollups (``usage_daily``, ``usage_monthly``) are kept by the
  ledger's triggers as the attempts go in, in batches (executemany). Before committing, the
  import checks that each (month, member)'s spend grew by exactly the imported attempts'
  cost (Decimal): a target whose triggers disagree is refused, not half-trusted. The
  trigger counts a fallback from a request's earlier attempts, so they go in first: sorted
  within a chunk, and an attempt listed after a later one of its request in an earlier
  chunk (never in an export, which lists them as they were recorded) is refused.
* **Members.** A row from before team members (schema before m008, or a file without the
  column) gets the ``--member`` given, else its own ``user`` (what m008 does in place).
* **Not moved**: budget reservations and alerts (they belong to the install and month
  that made them) and ``in_flight`` attempts (their cost is not known yet; an export says
  how many it left out).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, Final

from sqlalchemy import URL, Connection, Table, bindparam, create_engine, func, inspect, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS
from sparklio_desktop.core.ledger.money import utc_iso, utcnow
from sparklio_desktop.core.ledger.records import ERROR_MESSAGE_LIMIT, IN_FLIGHT
from sparklio_desktop.core.ledger.schema import comparisons, decisions, llm_usage, usage_monthly, votes
from sparklio_desktop.core.ledger.schema_version import HEAD_REVISION, REVISIONS, NewerSchema, read_state
from sparklio_desktop.core.ledger.transfer_rows import MOVED_TABLES, NOT_MOVED, RowProblem, parse_row, row_encoder
from sparklio_desktop.core.redact import redact

__all__ = [
    "FORMAT", "NOT_MOVED", "ExportSummary", "ImportSummary", "LedgerSource", "TransferError", "default_export_name",
    "export_ledger", "import_into", "read_export", "read_sqlite_ledger", "schema_version",
]  # fmt: skip

FORMAT: Final = "sparklio.ledger/1"
_FORMAT_FAMILY: Final = "sparklio.ledger/"
_BATCH = 5000  # rows per executemany
_CHUNK = 500  # keys per IN (...) look-up
_u, _d, _c, _v, _m = llm_usage.c, decisions.c, comparisons.c, votes.c, usage_monthly.c


def schema_version() -> str:
    """The schema this code writes: the ledger's Alembic head revision (core/ledger/schema_version.py)."""
    return HEAD_REVISION


def _known_schemas() -> set[str]:
    """What an export may name: a revision of this build, or a legacy step (files exported
    before the ledger moved to Alembic name their last migration)."""
    return {*REVISIONS, *LEDGER_MIGRATIONS.names}


def default_export_name(now: datetime | None = None) -> str:
    return f"sparklio-ledger-{(now or utcnow()):%Y-%m-%d}.jsonl"


class TransferError(SparklioError):
    """A file or ledger that cannot be moved, as one line that says where (``file:line:``).

    Key-shaped text is redacted: a message quotes values from a file nobody checked.
    """

    def __init__(self, where: object, message: str) -> None:
        super().__init__(redact(f"{where}: {message}"))


# -- reading a ledger (an export, or another SQLite ledger) -------------------------------


# Where a row came from: a line of an export file, or the n-th row of a table of a SQLite ledger.
Locate = Callable[[str, int], str]


class LedgerSource:
    """A source whose header (or schema) is checked, and whose rows are read once, as the
    import goes (:meth:`rows`): never all held in memory.

    ``read`` yields ``(number, row object)``; ``locate(table, number)`` names where that
    row is (``file:line``), for messages. ``expected``: the header's row counts, checked
    when the rows are all read (a file cut short); ``in_flight_left``: attempts still
    running in a SQLite source, known once it is read.
    """

    def __init__(
        self,
        source: str,
        schema: str,
        read: Callable[[LedgerSource], Iterator[tuple[int, Any]]],
        locate: Locate,
        expected: dict[str, int] | None = None,
    ) -> None:
        self.source = source
        self.schema = schema
        self.locate = locate
        self.expected = expected
        self.in_flight_left = 0
        self._read = read

    def rows(self) -> Iterator[tuple[int, Any]]:
        return self._read(self)


class _RowChecks:
    """What is checked of each row as it streams by: its values (transfer_rows.parse_row),
    each key once in the source, and (at the end) every vote's comparison in it.

    What it keeps is the keys seen, with their row number (tens of bytes a row, where the
    rows themselves took kilobytes), and the comparisons and votes (a few, from the compare
    view) until the end.
    """

    def __init__(self, source: LedgerSource) -> None:
        self.source = source
        self.counts = dict.fromkeys(MOVED_TABLES, 0)
        self._attempts: dict[tuple[str, int], int] = {}
        self._decisions: dict[str, int] = {}
        self._comparison_ids: dict[int, str] = {}

    def parse(self, number: int, obj: Any) -> tuple[str, str, dict[str, Any]]:
        """(where, table, values) of one row, or TransferError saying where and what."""
        try:
            table, values = parse_row(obj)
        except RowProblem as exc:
            raise TransferError(
                self.source.locate(obj.get("table", "") if type(obj) is dict else "", number), str(exc)
            ) from None
        where = self.source.locate(table, number)
        if table == "llm_usage":
            key = (values["request_id"], values["attempt"])
            self._once(where, table, key, self._attempts.setdefault(key, number), number)
            if values["error_message"]:
                values["error_message"] = redact(values["error_message"])[:ERROR_MESSAGE_LIMIT]
        elif table == "decisions":
            self._once(
                where, table, (values["request_id"],), self._decisions.setdefault(values["request_id"], number), number
            )
            values["prompt_preview"] = redact(values["prompt_preview"])
        elif table == "comparisons":
            if values["id"] in self._comparison_ids:
                also = self._comparison_ids[values["id"]]
                raise TransferError(where, f"comparison id {values['id']} is there twice (also {also})")
            self._comparison_ids[values["id"]] = where
        self.counts[table] += 1
        return where, table, values

    def _once(self, where: str, table: str, key: tuple[Any, ...], first: int, number: int) -> None:
        if first != number:
            twice = "/".join(map(str, key))
            raise TransferError(where, f"{table} {twice} is there twice (also {self.source.locate(table, first)})")

    def check_votes(self, votes: list[tuple[str, dict[str, Any]]]) -> None:
        for where, values in votes:
            if values["comparison_id"] not in self._comparison_ids:
                raise TransferError(where, f"the vote's comparison {values['comparison_id']} is not in the file")

    def check_counts(self) -> None:
        """The header's counts against the rows read (a file cut short, or with rows added)."""
        for name, count in (self.source.expected or {}).items():
            if self.counts[name] != count:
                raise TransferError(
                    self.source.source,
                    f"the header counts {count} {name} rows, the file has {self.counts[name]} (cut short?)",
                )


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_line(path: Path, number: int, raw: bytes) -> Any:
    where = f"{path}:{number}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise TransferError(where, "not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise TransferError(where, f"not JSON ({exc.msg} at column {exc.colno})") from None
    except ValueError as exc:
        raise TransferError(where, f"not JSON ({exc})") from None


def _check_header(path: Path, header: Any) -> tuple[str, dict[str, int]]:
    """(schema, row counts) of a header line, or TransferError."""
    where = f"{path}:1"
    if not isinstance(header, dict) or "format" not in header:
        raise TransferError(where, f"not a Sparklio ledger export (the first line is not a {FORMAT} header)")
    form = header["format"]
    if form != FORMAT:
        if isinstance(form, str) and form.startswith(_FORMAT_FAMILY):
            raise TransferError(where, f"written by a newer Sparklio (format {form}); update Sparklio to import it")
        raise TransferError(where, f"not a Sparklio ledger export (format {form!r}, expected {FORMAT})")
    schema = header.get("schema")
    if not isinstance(schema, str):
        raise TransferError(where, "the header has no schema name")
    if schema not in _known_schemas():
        raise TransferError(where, f"written by a newer Sparklio (schema {schema!r}); update Sparklio to import it")
    counts = header.get("rows")
    if not isinstance(counts, dict) or not all(
        name in MOVED_TABLES and isinstance(n, int) and not isinstance(n, bool) and n >= 0 for name, n in counts.items()
    ):
        raise TransferError(where, f"the header's rows must count the rows of {', '.join(MOVED_TABLES)}")
    if not isinstance(header.get("exported_utc"), str):
        raise TransferError(where, "the header has no exported_utc")
    return schema, {name: counts.get(name, 0) for name in MOVED_TABLES}


def read_export(path: Path) -> LedgerSource:
    """An export file, its header checked now; its rows are read, and checked, as the import
    reads them (:func:`import_into`): TransferError (``file:line: ...``) if any of it is bad."""
    with path.open("rb") as handle:
        first = handle.readline()
    if not first.strip():
        raise TransferError(f"{path}:1", f"empty; expected a {FORMAT} header")
    schema, expected = _check_header(path, _json_line(path, 1, first))

    def read(_: LedgerSource) -> Iterator[tuple[int, Any]]:
        with path.open("rb") as handle:
            handle.readline()
            for number, raw in enumerate(handle, start=2):
                if raw.strip():
                    yield number, _json_line(path, number, raw)

    return LedgerSource(str(path), schema, read, lambda _table, number: f"{path}:{number}", expected)


def _portable_rows(conn: Connection, since: str | None) -> Iterator[dict[str, Any]]:
    """Every moved row of the ledger on ``conn`` in portable form (oldest first), reading only
    the columns its schema has (an older ledger lacks some)."""
    inspector = inspect(conn)
    present = {name: {c["name"] for c in inspector.get_columns(name)} for name in MOVED_TABLES}
    start = datetime.fromisoformat(f"{since}-01T00:00:00+00:00") if since else None
    streamed = conn.execution_options(yield_per=2000)
    readers = {
        table.name: row_encoder(table, present[table.name]) for table in (llm_usage, decisions, comparisons, votes)
    }
    queries = {
        "llm_usage": select(*readers["llm_usage"][0]).where(_u.outcome != IN_FLIGHT).order_by(_u.id),
        "decisions": select(*readers["decisions"][0]).order_by(_d.ts_utc, _d.request_id),
        "comparisons": select(*readers["comparisons"][0]).order_by(_c.id),
        "votes": select(*readers["votes"][0]).join(comparisons, _v.comparison_id == _c.id).order_by(_v.id),
    }
    if start is not None:
        since_column = {"llm_usage": _u.ts_utc, "decisions": _d.ts_utc, "comparisons": _c.ts_utc, "votes": _c.ts_utc}
        queries = {name: query.where(since_column[name] >= start) for name, query in queries.items()}
    for name, query in queries.items():
        encode = readers[name][1]
        for row in streamed.execute(query):
            yield encode(row)


def _in_flight(conn: Connection, since: str | None) -> int:
    query = select(func.count()).select_from(llm_usage).where(_u.outcome == IN_FLIGHT)
    if since:
        query = query.where(_u.ts_utc >= datetime.fromisoformat(f"{since}-01T00:00:00+00:00"))
    return int(conn.execute(query).scalar_one())


def _sqlite_engine(path: Path) -> Any:
    url = URL.create("sqlite", database=f"{path.resolve().as_uri()}?mode=ro", query={"uri": "true"})
    return create_engine(url)


def read_sqlite_ledger(path: Path, since: str | None = None) -> LedgerSource:
    """Another ledger file, read directly (no export step) and read-only: the file is neither
    migrated nor changed, whatever Sparklio version wrote it (a newer one is refused now).
    Its rows are read in one snapshot as the import reads them."""
    if not path.is_file():
        raise TransferError(path, "no such ledger file")
    engine = _sqlite_engine(path)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            if not {"_migrations", *MOVED_TABLES} <= tables:
                raise TransferError(path, "not a Sparklio ledger (its tables are not the ledger's)")
            try:  # a newer Sparklio's file (legacy steps or revisions this build lacks): refused
                read_state(conn.exec_driver_sql)
            except NewerSchema as exc:
                raise TransferError(path, exc.detail) from None
            done = {row[0] for row in conn.exec_driver_sql("SELECT name FROM _migrations")}
            if "alembic_version" in tables:
                done |= {row[0] for row in conn.exec_driver_sql("SELECT version_num FROM alembic_version")}
            schema = [name for name in (*LEDGER_MIGRATIONS.names, *REVISIONS) if name in done][-1:] or ["(none)"]
    except DBAPIError as exc:
        raise TransferError(path, f"cannot be read as a ledger: {_first_line(exc)}") from None
    finally:
        engine.dispose()

    def read(source: LedgerSource) -> Iterator[tuple[int, Any]]:
        engine = _sqlite_engine(path)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN")  # one snapshot, whoever writes the file meanwhile
                numbers: dict[str, int] = defaultdict(int)
                for obj in _portable_rows(conn, since):
                    numbers[obj["table"]] += 1
                    yield numbers[obj["table"]], obj
                source.in_flight_left = _in_flight(conn, since)
        except DBAPIError as exc:
            raise TransferError(path, f"cannot be read as a ledger: {_first_line(exc)}") from None
        finally:
            engine.dispose()

    return LedgerSource(str(path), schema[0], read, lambda table, number: f"{path}: {table} row {number}")


# -- export ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    schema: str
    rows: dict[str, int]
    in_flight_left: int
    since: str | None


def export_ledger(store: LedgerFileStore, target: Path, *, since: str | None = None) -> ExportSummary:
    """Write the store's ledger to ``target`` (replacing it: the caller decides whether it may).

    One read transaction; the rows go to a temporary file first, so the header can count
    them, and the finished file is renamed into place (an interrupted export leaves none).
    """
    counts = dict.fromkeys(MOVED_TABLES, 0)
    with store._read() as conn, tempfile.TemporaryFile("w+b") as body:
        for row in _portable_rows(conn, since):
            body.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n")
            counts[row["table"]] += 1
        in_flight = _in_flight(conn, since)
        header = {
            "format": FORMAT,
            "schema": schema_version(),
            "exported_utc": utc_iso(datetime.now(UTC)),
            "since": since,
            "rows": counts,
            "in_flight_left": in_flight,
            "note": NOT_MOVED,
        }
        body.seek(0)
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n")
                shutil.copyfileobj(body, out)
            os.replace(temp, target)
        except BaseException:
            with suppress(OSError):
                os.unlink(temp)
            raise
    return ExportSummary(target, schema_version(), counts, in_flight, since)


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportSummary:
    source: str
    schema: str
    imported: dict[str, int]
    skipped: dict[str, int]
    member_filled: int  # attempts without a member that got --member or their user
    spend_added_usd: dict[str, Decimal]  # per UTC month, exactly the imported attempts' cost
    dry_run: bool


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for at in range(0, len(items), size):
        yield items[at : at + size]


def _among(column: Any, keys: list[Any]) -> Any:
    """``column IN (keys)`` with the keys written into the statement (SQLAlchemy escapes them).

    As bound parameters, PostgreSQL (through psycopg, which prepares a statement run five
    times) planned the look-up once for any 500 keys and then took ~0.3 s per chunk on a
    ledger it had not analysed yet; written in, each chunk is planned for its own keys.
    """
    return column.in_(bindparam(f"{column.name}_keys", keys, expanding=True, literal_execute=True, type_=column.type))


def _existing_attempts(conn: Connection, request_ids: Iterable[str]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for chunk in _chunks(sorted(set(request_ids))):
        query = select(_u.request_id, _u.attempt).where(_among(_u.request_id, chunk))
        found.update((r, a) for r, a in conn.execute(query))
    return found


def _existing_decisions(conn: Connection, request_ids: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(set(request_ids))):
        found.update(r for (r,) in conn.execute(select(_d.request_id).where(_among(_d.request_id, chunk))))
    return found


def _comparison_key(values: Any) -> tuple[Any, ...]:
    return (
        utc_iso(values["ts_utc"]), values["user"], values["task_type"], values["prompt_sha256"],
        values["models_json"], values["order_shown_json"],
    )  # fmt: skip


def _existing_comparisons(conn: Connection, hashes: Iterable[str]) -> dict[tuple[Any, ...], int]:
    found: dict[tuple[Any, ...], int] = {}
    for chunk in _chunks(sorted(set(hashes))):
        for row in conn.execute(select(comparisons).where(_among(_c.prompt_sha256, chunk)).order_by(_c.id)):
            found.setdefault(_comparison_key(row._mapping), row.id)
    return found


def _existing_votes(conn: Connection, comparison_ids: Iterable[int]) -> set[tuple[int, str, str]]:
    found: set[tuple[int, str, str]] = set()
    for chunk in _chunks(sorted(set(comparison_ids))):
        query = select(_v.comparison_id, _v.ts_utc, _v.vote).where(_among(_v.comparison_id, chunk))
        found.update((c, utc_iso(ts), vote) for c, ts, vote in conn.execute(query))
    return found


def _monthly_spend(conn: Connection) -> dict[tuple[str, str], Decimal]:
    """Every (month, member)'s spend in the target: the rollup's rows (months x members x
    models x outcomes, a few thousand however many attempts), read before the first chunk
    is written, when the months the source holds are not known yet."""
    query = select(_m.month, _m.member, func.sum(_m.cost_usd)).group_by(_m.month, _m.member)
    return {(month, member): total for month, member, total in conn.execute(query)}


_PLACEHOLDER: Final = {
    "qmark": "?", "format": "%s", "pyformat": "%({})s", "named": ":{}", "numeric": ":{position}",
}  # fmt: skip


def _insert_many(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) with the driver's executemany, in batches.

    Each value goes through its column type's own bind processor, as ``conn.execute(insert,
    rows)`` would do; the statement is a plain INSERT in the dialect's quoting and parameter
    style. What is skipped is SQLAlchemy's per-row parameter handling (it cost more than the
    database's own work, triggers included, on 100,000 rows) and what its compiler adds for
    one row: psycopg's bind casts (Money's INTEGER impl cast picodollars to a 32-bit
    ``::INTEGER`` on PostgreSQL, which the BIGINT column never needed) and RETURNING.
    """
    if not rows:
        return
    dialect = conn.dialect
    names = list(rows[0])
    style = _PLACEHOLDER[dialect.paramstyle]
    quote = dialect.identifier_preparer.quote
    marks = ", ".join(style.format(name, position=n) for n, name in enumerate(names, start=1))
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) VALUES ({marks})"
    processors = [(i, table.c[name].type.bind_processor(dialect)) for i, name in enumerate(names)]
    active = [(i, step) for i, step in processors if step is not None]  # most columns have none
    take = itemgetter(*names)
    named = dialect.paramstyle in ("pyformat", "named")

    def stored(row: dict[str, Any]) -> list[Any]:
        values = list(take(row)) if len(names) > 1 else [take(row)]
        for i, step in active:
            if values[i] is not None:
                values[i] = step(values[i])
        return values

    for batch in _chunks(rows, _BATCH):
        converted = [stored(row) for row in batch]
        if named:
            conn.exec_driver_sql(sql, [dict(zip(names, values, strict=True)) for values in converted])
        else:
            conn.exec_driver_sql(sql, [tuple(values) for values in converted])


def _plan_attempts(
    conn: Connection, rows: list[dict[str, Any]], member: str | None
) -> tuple[list[dict[str, Any]], int]:
    """The attempts of one chunk to insert, in an order the rollup trigger counts right (each
    request's attempts ascending, requests in source order), and how many got a member
    filled in."""
    existing = _existing_attempts(conn, (values["request_id"] for values in rows))
    first_seen: dict[str, int] = {}
    new: list[dict[str, Any]] = []
    filled = 0
    for values in rows:
        first_seen.setdefault(values["request_id"], len(first_seen))
        if (values["request_id"], values["attempt"]) in existing:
            continue
        if values["member"] is None:
            values = {**values, "member": member or values["user"]}
            filled += 1
        new.append(values)
    new.sort(key=lambda v: (first_seen[v["request_id"]], v["attempt"]))
    return new, filled


def import_into(
    store: LedgerFileStore, source: LedgerSource, *, member: str | None = None, dry_run: bool = False
) -> ImportSummary:
    """Import ``source`` into the store's database in one transaction (a read one for a dry run).

    The rows stream: each chunk is checked, then inserted, in that transaction; a bad row
    anywhere rolls all of it back. Skips what is already there; checks, before committing,
    that the rollups grew by exactly the imported attempts' cost per month and member.
    """
    opener = store._read if dry_run else store._write
    with opener() as conn, closing(_Import(conn, source, member, dry_run)) as run:
        return run.run()


class _Import:
    """One import's state: what it counted and expects, and the chunk being gathered."""

    def __init__(self, conn: Connection, source: LedgerSource, member: str | None, dry_run: bool) -> None:
        self.conn, self.source, self.member, self.dry_run = conn, source, member, dry_run
        self.checks = _RowChecks(source)
        self.imported = dict.fromkeys(MOVED_TABLES, 0)
        self.filled = 0
        self.expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.attempts: list[dict[str, Any]] = []
        self.decisions: list[dict[str, Any]] = []
        self.comparisons: list[tuple[str, dict[str, Any]]] = []
        self.votes: list[tuple[str, dict[str, Any]]] = []
        # Per request, the highest attempt already written (an earlier chunk), so an attempt
        # that comes after a later one of its request across chunks is caught: the rollup
        # trigger counts a fallback from the attempts before it, which must be there.
        self.written_top: dict[str, int] = {}
        self._rows = source.rows()

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            close()  # a SQLite source's snapshot and engine, when the import stops early

    def run(self) -> ImportSummary:
        before = {} if self.dry_run else _monthly_spend(self.conn)
        for number, obj in self._rows:
            where, table, values = self.checks.parse(number, obj)
            if table == "llm_usage":
                top = self.written_top.get(values["request_id"], 0)
                if values["attempt"] < top:
                    raise TransferError(
                        where,
                        f"llm_usage {values['request_id']}/{values['attempt']} comes after attempt {top} of its"
                        " request, far apart; a request's attempts are listed in order",
                    )
                self.attempts.append(values)
                if len(self.attempts) >= _BATCH:
                    self._flush_attempts()
            elif table == "decisions":
                self.decisions.append(values)
                if len(self.decisions) >= _BATCH:
                    self._flush_decisions()
            elif table == "comparisons":
                self.comparisons.append((where, values))
            else:
                self.votes.append((where, values))
        self._flush_attempts()
        self._flush_decisions()
        self.checks.check_votes(self.votes)
        self.checks.check_counts()
        self._import_comparisons()
        if not self.dry_run:
            self._check_spend(before)
        spend: dict[str, Decimal] = defaultdict(Decimal)
        for (month, _), cost in self.expected.items():
            spend[month] += cost
        counts = self.checks.counts
        skipped = {name: counts[name] - self.imported[name] for name in MOVED_TABLES}
        return ImportSummary(
            self.source.source, self.source.schema, self.imported, skipped, self.filled, dict(sorted(spend.items())),
            self.dry_run,
        )  # fmt: skip

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if self.dry_run:
            return
        try:
            _insert_many(self.conn, table, rows)
        except (IntegrityError, DataError) as exc:
            raise TransferError(self.source.source, f"the ledger refused a row: {_first_line(exc)}") from None

    def _flush_attempts(self) -> None:
        new, filled = _plan_attempts(self.conn, self.attempts, self.member)
        self.attempts = []
        self.filled += filled
        self.imported["llm_usage"] += len(new)
        for values in new:
            self.expected[(utc_iso(values["ts_utc"])[:7], values["member"])] += values["cost_usd"]
            request = values["request_id"]
            self.written_top[request] = max(self.written_top.get(request, 0), values["attempt"])
        self._insert(llm_usage, new)

    def _flush_decisions(self) -> None:
        known = _existing_decisions(self.conn, (v["request_id"] for v in self.decisions))
        new = [v for v in self.decisions if v["request_id"] not in known]
        self.decisions = []
        self.imported["decisions"] += len(new)
        self._insert(decisions, new)

    def _import_comparisons(self) -> None:
        """The comparisons and their votes (a few: they were held until the end): a comparison
        already there keeps its id, the file's votes are mapped to the ids the target gives."""
        file_comparisons = [v for _, v in self.comparisons]
        there = _existing_comparisons(self.conn, (v["prompt_sha256"] for v in file_comparisons))
        id_map = {v["id"]: there[_comparison_key(v)] for v in file_comparisons if _comparison_key(v) in there}
        new_comparisons = [v for v in file_comparisons if v["id"] not in id_map]
        voted = _existing_votes(self.conn, id_map.values())
        new_votes = [
            v for _, v in self.votes if (id_map.get(v["comparison_id"]), utc_iso(v["ts_utc"]), v["vote"]) not in voted
        ]
        self.imported |= {"comparisons": len(new_comparisons), "votes": len(new_votes)}
        if self.dry_run:
            return
        try:
            for values in new_comparisons:
                fields = {k: v for k, v in values.items() if k != "id"}
                inserted = self.conn.execute(comparisons.insert(), fields).inserted_primary_key
                assert inserted is not None  # an INSERT that succeeded has a key
                id_map[values["id"]] = int(inserted[0])
        except (IntegrityError, DataError) as exc:
            raise TransferError(self.source.source, f"the ledger refused a row: {_first_line(exc)}") from None
        self._insert(votes, [{**v, "comparison_id": id_map[v["comparison_id"]]} for v in new_votes])

    def _check_spend(self, before: dict[tuple[str, str], Decimal]) -> None:
        after = _monthly_spend(self.conn)
        for key, cost in self.expected.items():
            grown = after.get(key, Decimal(0)) - before.get(key, Decimal(0))
            if grown != cost:
                month, who = key
                raise TransferError(
                    self.source.source,
                    f"the target's monthly rollup for {who} in {month} grew by {grown}, not {cost}"
                    " (did another install write meanwhile?); nothing imported, run it again",
                )
