"""Ordered, named schema migrations, recorded in ``_migrations`` and run on open.

The shape is simonw/llm's ``migrations.py``: each migration is a function registered
in order; its name is written to ``_migrations`` once it has run, and opening a store
runs the ones not yet recorded. All pending migrations run in one ``BEGIN IMMEDIATE``
transaction, so two processes opening a new file at once cannot both apply them,
and a crash half-way leaves the file as it was.

The ledger's chain (``LEDGER_MIGRATIONS``, m001..m008) is frozen: the ledger's schema now
moves forward with Alembic (core/ledger/schema_upgrade.py, core/ledger/alembic/), whose
baseline revision runs these steps on SQLite, so a file at any step still upgrades in place.
Add the ledger's next change as an Alembic revision, never here. The response cache
(core/cache.py) keeps its own ``MigrationSet``.

Rules for whoever adds the next one (to a set that is not frozen):

* append a new function at the end; never edit or reorder one that has shipped;
* write literal SQL, not ``metadata.create_all()``: a migration must keep producing
  the schema it produced the day it shipped, whatever ``schema.py`` says later;
* then update the ``Table`` objects in ``schema.py``; a test checks that the two agree.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from sparklio_desktop.core.ledger.money import utc_iso, utcnow
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError, classify_sqlite_error
from sparklio_desktop.core.ledger.upgrade_backup import BackupFailed, backup_if_needed, discard, kept_note

if TYPE_CHECKING:  # the read-only reader (reader.py) checks the names without SQLAlchemy
    from sqlalchemy import Engine
    from sqlalchemy.engine import Connection

Migration = Callable[["Connection"], None]


class MigrationSet:
    """The migrations of one database file, in the order they must run."""

    def __init__(self, label: str) -> None:
        self.label = label  # how errors name the file: "ledger", "response cache"
        self._steps: list[tuple[str, Migration]] = []

    def register(self, fn: Migration) -> Migration:
        """Decorator: add ``fn`` as the next migration, named after the function."""
        name = fn.__name__
        if any(name == known for known, _ in self._steps):
            raise ValueError(f"migration {name!r} is registered twice")
        self._steps.append((name, fn))
        return fn

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._steps]

    def apply(self, engine: Engine) -> list[str]:
        """Run the pending migrations on ``engine`` (a writer); return their names.

        All of them run in one transaction, so a migration that fails changes nothing. A
        failure that is about the statement, not the file (a table of the same name with
        other columns, in a file some other program wrote), means the file's schema is not
        one Sparklio made: it is reported as a damaged file (a one-line
        :class:`DatabaseFileError` that points to ``sparklio doctor``), never a traceback.

        A file with migrations to run is first copied beside itself (upgrade_backup.py),
        before the write lock is taken; the copy is deleted once they have committed, and
        kept, named in the error, when they fail.
        """
        path = Path(engine.url.database) if engine.url.database not in (None, "", ":memory:") else None
        backup = None
        if path is not None and path.is_file():
            # On the pooled connection the migration then uses, outside any transaction.
            with engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                try:
                    backup = backup_if_needed(cast("sqlite3.Connection", raw), path, self.names)
                except BackupFailed as exc:
                    raise DatabaseFileError(path, self.label, "io", str(exc)) from None
        try:
            with engine.begin() as conn:
                ran = self._run_pending(conn, engine)
        except DatabaseFileError as exc:
            if backup is None:
                raise
            raise DatabaseFileError(exc.path, exc.label, exc.problem, f"{exc.detail}; {kept_note(backup)}") from None
        discard(backup)
        return ran

    def dry_run(self, engine: Engine) -> DatabaseFileError | None:
        """Run the pending migrations in a transaction that is rolled back: the error
        :meth:`apply` would raise, or None. ``sparklio doctor`` asks this, so that a file
        the app cannot open is never reported healthy."""
        with engine.connect() as conn:
            transaction = conn.begin()
            try:
                self._run_pending(conn, engine)
            except DatabaseFileError as exc:
                return exc
            finally:
                transaction.rollback()
        return None

    def run_pending(self, conn: Connection) -> list[str]:
        """Run the pending migrations inside the caller's transaction on ``conn``; return
        their names. The ledger's Alembic baseline (core/ledger/alembic/versions/) calls
        this, so a file at any legacy step upgrades in place, recorded in ``_migrations``
        as before; the caller owns the transaction, the backup and the write lock."""
        return self._run_pending(conn, conn.engine)

    def _run_pending(self, conn: Connection, engine: Engine) -> list[str]:
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS _migrations ( name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)"
        )
        done = {row[0] for row in conn.exec_driver_sql("SELECT name FROM _migrations")}
        newer = sorted(done - set(self.names))
        if newer:  # a downgrade: refuse before anything is written (the caller rolls back)
            raise DatabaseFileError(Path(engine.url.database or ""), self.label, "unopenable", newer_detail(newer))
        ran: list[str] = []
        for name, fn in self._steps:
            if name in done:
                continue
            try:
                fn(conn)
            except Exception as exc:
                cause = getattr(exc, "orig", None) or exc
                if classify_sqlite_error(cause) is not None:
                    raise  # about the file (busy, full, read-only): the engine's own message
                detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
                why = f"its tables are not the ones Sparklio made: {name} failed: {detail}"
                raise DatabaseFileError(Path(engine.url.database or ""), self.label, "damaged", why) from None
            conn.exec_driver_sql(
                "INSERT INTO _migrations (name, applied_utc) VALUES (?, ?)",
                (name, utc_iso(utcnow())),
            )
            ran.append(name)
        return ran


def newer_detail(newer: list[str]) -> str:
    """Why a file written by a newer Sparklio is refused (it lists migrations this code lacks)."""
    return f"written by a newer Sparklio (migration {', '.join(newer)}); update Sparklio to use it"


def execute_all(conn: Connection, *statements: str) -> None:
    """Run DDL statements one by one inside the migration's transaction.

    (``sqlite3``'s ``executescript`` would commit first, breaking the all-or-nothing
    promise, so statements are passed separately.)
    """
    for statement in statements:
        conn.exec_driver_sql(statement)


LEDGER_MIGRATIONS = MigrationSet("ledger")


@LEDGER_MIGRATIONS.register
def m001_initial(conn: Connection) -> None:
    """Attempts, routing decisions, comparisons and votes, reservations, alerts.

    Money columns hold INTEGER picodollars; times hold ISO-8601 UTC text.
    """
    execute_all(
        conn,
        """CREATE TABLE llm_usage (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            attempt INTEGER NOT NULL CHECK (attempt >= 1),
            ts_utc TEXT NOT NULL,
            user TEXT NOT NULL,
            task_type TEXT NOT NULL,
            complexity TEXT,
            budget_tier TEXT,
            speed TEXT,
            quality_target TEXT,
            model_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error', 'cancelled', 'cache_hit')),
            error_class TEXT,
            error_message TEXT,
            input_tokens INTEGER NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
            output_tokens INTEGER NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
            images INTEGER NOT NULL DEFAULT 0 CHECK (images >= 0),
            usage_source TEXT NOT NULL CHECK (usage_source IN ('provider', 'estimate')),
            price_input_per_mtok INTEGER,
            price_output_per_mtok INTEGER,
            price_per_image INTEGER,
            cost_usd INTEGER NOT NULL DEFAULT 0 CHECK (cost_usd >= 0),
            saved_usd INTEGER NOT NULL DEFAULT 0 CHECK (saved_usd >= 0),
            latency_s REAL,
            ttft_s REAL,
            tokens_per_s REAL,
            waited_s REAL NOT NULL DEFAULT 0,
            exploration INTEGER NOT NULL DEFAULT 0 CHECK (exploration IN (0, 1)),
            gpu_seconds REAL,
            rating INTEGER CHECK (rating BETWEEN 1 AND 5)
        )""",
        "CREATE UNIQUE INDEX ix_llm_usage_request ON llm_usage (request_id, attempt)",
        "CREATE INDEX ix_llm_usage_ts ON llm_usage (ts_utc)",
        # (x, ts_utc) rather than (x): "this task's latest requests" reads the index in
        # order instead of sorting every row of the task.
        "CREATE INDEX ix_llm_usage_model ON llm_usage (model_id, ts_utc)",
        "CREATE INDEX ix_llm_usage_task ON llm_usage (task_type, ts_utc)",
        """CREATE TABLE decisions (
            request_id TEXT PRIMARY KEY,
            ts_utc TEXT NOT NULL,
            user TEXT NOT NULL,
            task_type TEXT NOT NULL,
            prompt_preview TEXT NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            trace_json TEXT NOT NULL,
            final_model_id TEXT,
            exploration INTEGER NOT NULL DEFAULT 0 CHECK (exploration IN (0, 1))
        )""",
        "CREATE INDEX ix_decisions_ts ON decisions (ts_utc)",
        """CREATE TABLE comparisons (
            id INTEGER PRIMARY KEY,
            ts_utc TEXT NOT NULL,
            user TEXT NOT NULL,
            task_type TEXT NOT NULL,
            prompt_sha256 TEXT NOT NULL,
            models_json TEXT NOT NULL,
            order_shown_json TEXT NOT NULL,
            blind INTEGER NOT NULL DEFAULT 1 CHECK (blind IN (0, 1))
        )""",
        """CREATE TABLE votes (
            id INTEGER PRIMARY KEY,
            comparison_id INTEGER NOT NULL REFERENCES comparisons (id) ON DELETE CASCADE,
            ts_utc TEXT NOT NULL,
            vote TEXT NOT NULL CHECK (vote IN ('a', 'b', 'tie', 'both_bad', 'rank')),
            ranking_json TEXT,
            stars_json TEXT
        )""",
        "CREATE INDEX ix_votes_comparison ON votes (comparison_id)",
        """CREATE TABLE budget_reservations (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL,
            month TEXT NOT NULL,
            amount_usd INTEGER NOT NULL CHECK (amount_usd > 0),
            created_utc TEXT NOT NULL
        )""",
        "CREATE INDEX ix_budget_reservations_month ON budget_reservations (month, created_utc)",
        """CREATE TABLE alerts (
            month TEXT NOT NULL,
            kind TEXT NOT NULL,
            ts_utc TEXT NOT NULL,
            PRIMARY KEY (month, kind)
        )""",
    )


# Whether an attempt row is the one that marks its request as a fallback: it is a
# later attempt, on another model than attempt 1, and no earlier later attempt was.
# Counting only that row counts each request at most once.
_M002_FIRST_MODEL = "(SELECT f.model_id FROM llm_usage f WHERE f.request_id = {a}.request_id AND f.attempt = 1)"
_M002_FALLBACK = (
    "CASE WHEN {a}.attempt > 1 AND {a}.model_id <> " + _M002_FIRST_MODEL + " AND NOT EXISTS ("
    "SELECT 1 FROM llm_usage o WHERE o.request_id = {a}.request_id AND o.attempt > 1"
    " AND o.attempt < {a}.attempt AND o.model_id <> " + _M002_FIRST_MODEL + ") THEN 1 ELSE 0 END"
)


@LEDGER_MIGRATIONS.register
def m002_usage_daily(conn: Connection) -> None:
    """A per-day rollup of ``llm_usage``, kept by a trigger in the same transaction.

    The spend panel must draw a month of a million attempts in well under 300 ms;
    even a covering-index scan of a million rows takes about 0.4 s in SQLite, and the
    panel needs several groupings. Summing a rollup of (day x user x model x task x
    outcome) rows costs a few milliseconds whatever the history's length. The
    trigger makes every insert path (the store, a bulk load, a later import) keep it
    exact, and because the rollup cannot follow edits or deletes of the rows it
    summarises, those are refused: the ledger is append-only except for ``rating``.
    A later migration that must delete or rewrite rows drops the guard, does its
    work, and rebuilds the rollup with the ``INSERT ... SELECT`` below.
    """
    dims = "day, user, model_id, provider, task_type, outcome"
    upsert = (
        f" ON CONFLICT ({dims}) DO UPDATE SET attempts = attempts + excluded.attempts,"
        " requests = requests + excluded.requests, fallbacks = fallbacks + excluded.fallbacks,"
        " cost_usd = cost_usd + excluded.cost_usd, saved_usd = saved_usd + excluded.saved_usd"
    )
    execute_all(
        conn,
        f"""CREATE TABLE usage_daily (
            day TEXT NOT NULL,
            user TEXT NOT NULL,
            model_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            task_type TEXT NOT NULL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            fallbacks INTEGER NOT NULL DEFAULT 0,
            cost_usd INTEGER NOT NULL DEFAULT 0,
            saved_usd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({dims})
        ) WITHOUT ROWID""",
        f"""INSERT INTO usage_daily ({dims}, attempts, requests, fallbacks, cost_usd, saved_usd)
            SELECT substr(u.ts_utc, 1, 10), u.user, u.model_id, u.provider, u.task_type,
                   u.outcome, COUNT(*), SUM(u.attempt = 1), SUM({_M002_FALLBACK.format(a="u")}),
                   SUM(u.cost_usd), SUM(u.saved_usd)
            FROM llm_usage u GROUP BY 1, 2, 3, 4, 5, 6""",
        f"""CREATE TRIGGER llm_usage_rollup AFTER INSERT ON llm_usage BEGIN
            INSERT INTO usage_daily ({dims}, attempts, requests, fallbacks, cost_usd, saved_usd)
            VALUES (substr(NEW.ts_utc, 1, 10), NEW.user, NEW.model_id, NEW.provider,
                    NEW.task_type, NEW.outcome, 1, NEW.attempt = 1,
                    {_M002_FALLBACK.format(a="NEW")}, NEW.cost_usd, NEW.saved_usd)
            {upsert};
        END""",
        """CREATE TRIGGER llm_usage_append_only BEFORE UPDATE OF request_id, attempt, ts_utc,
            user, model_id, provider, task_type, outcome, cost_usd, saved_usd ON llm_usage
        BEGIN
            SELECT RAISE(ABORT, 'llm_usage is append-only: only rating may change');
        END""",
        """CREATE TRIGGER llm_usage_no_delete BEFORE DELETE ON llm_usage BEGIN
            SELECT RAISE(ABORT, 'llm_usage is append-only: rows are never deleted');
        END""",
    )


# The outcomes an attempt row may carry after m003: a stream that went silent
# is ``stalled``; ``in_flight`` and ``interrupted`` are reserved for attempts written when
# they start and finished by a signal or at the next start.
_M003_OLD_CHECK = "CHECK (outcome IN ('ok', 'error', 'cancelled', 'cache_hit'))"
_M003_NEW_CHECK = "CHECK (outcome IN ('ok', 'error', 'cancelled', 'cache_hit', 'stalled', 'in_flight', 'interrupted'))"


@LEDGER_MIGRATIONS.register
def m003_outcomes_stalled_interrupted(conn: Connection) -> None:
    """Widen ``llm_usage.outcome``: ``stalled``, ``in_flight``, ``interrupted``.

    SQLite cannot alter a CHECK constraint, so the table is rebuilt: the new table is
    m001's text with the wider CHECK, the rows are copied (the rollup trigger lives on
    the old table, so the copy does not count twice), the old table is dropped and the
    new one renamed, and m001's indexes and m002's triggers are created again from
    their own stored text.
    """
    row = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'llm_usage'").one()
    table_sql: str = row[0]
    if _M003_OLD_CHECK not in table_sql:
        raise RuntimeError("llm_usage is not the table m001 created; refusing to rebuild it")
    others = [
        r[0]
        for r in conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE tbl_name = 'llm_usage' AND type IN ('index', 'trigger')"
            " AND sql IS NOT NULL ORDER BY type, name"
        )
    ]
    new_sql = table_sql.replace(_M003_OLD_CHECK, _M003_NEW_CHECK).replace(
        "CREATE TABLE llm_usage", "CREATE TABLE llm_usage_m003", 1
    )
    execute_all(
        conn,
        new_sql,
        "INSERT INTO llm_usage_m003 SELECT * FROM llm_usage",
        "DROP TABLE llm_usage",
        "ALTER TABLE llm_usage_m003 RENAME TO llm_usage",
        *others,
    )


@LEDGER_MIGRATIONS.register
def m004_attempt_lifecycle(conn: Connection) -> None:
    """Attempts are written when they start and finished in place; owners are recorded.

    A process killed mid-stream used to leave no row for an attempt the provider
    bills. Now an attempt is inserted as ``in_flight`` when it starts, with the
    process that owns it (``owner_pid``, ``owner_start``: see core/ledger/owners.py),
    its input estimate priced (``start_cost_usd``, what it is billed if that process
    ends first) and the worst case reserved for it (``worst_case_usd``); one UPDATE
    finishes it (``ok``, ``error``, ``cancelled``, ``stalled``, or ``interrupted``).

    The rollup counts an attempt once, when it is finished: an in-flight row is not in
    ``usage_daily`` (its cost is unknown; its budget reservation holds the worst case
    meanwhile), and a second trigger adds it when it leaves ``in_flight``. The
    append-only guard allows exactly one more change: an ``in_flight`` row becoming
    finished, with who, what and when unchanged. Reservations record their owner too,
    and are reclaimed when the owner is gone, never by age. Columns are added (no
    rebuild: m003 already widened the outcome CHECK).
    """
    dims = "day, user, model_id, provider, task_type, outcome"
    upsert = (
        f" ON CONFLICT ({dims}) DO UPDATE SET attempts = attempts + excluded.attempts,"
        " requests = requests + excluded.requests, fallbacks = fallbacks + excluded.fallbacks,"
        " cost_usd = cost_usd + excluded.cost_usd, saved_usd = saved_usd + excluded.saved_usd"
    )
    rollup = (
        f"INSERT INTO usage_daily ({dims}, attempts, requests, fallbacks, cost_usd, saved_usd)"
        " VALUES (substr(NEW.ts_utc, 1, 10), NEW.user, NEW.model_id, NEW.provider,"
        " NEW.task_type, NEW.outcome, 1, NEW.attempt = 1,"
        f" {_M002_FALLBACK.format(a='NEW')}, NEW.cost_usd, NEW.saved_usd) {upsert};"
    )
    execute_all(
        conn,
        "ALTER TABLE llm_usage ADD COLUMN owner_pid INTEGER",
        "ALTER TABLE llm_usage ADD COLUMN owner_start TEXT",
        "ALTER TABLE llm_usage ADD COLUMN start_cost_usd INTEGER CHECK (start_cost_usd >= 0)",
        "ALTER TABLE llm_usage ADD COLUMN worst_case_usd INTEGER CHECK (worst_case_usd >= 0)",
        # Finding the attempts left open by ended processes reads only the open ones.
        "CREATE INDEX ix_llm_usage_in_flight ON llm_usage (owner_pid) WHERE outcome = 'in_flight'",
        "DROP TRIGGER llm_usage_rollup",
        f"""CREATE TRIGGER llm_usage_rollup AFTER INSERT ON llm_usage
            WHEN NEW.outcome <> 'in_flight' BEGIN {rollup} END""",
        f"""CREATE TRIGGER llm_usage_rollup_finish AFTER UPDATE OF outcome ON llm_usage
            WHEN OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight' BEGIN {rollup} END""",
        "DROP TRIGGER llm_usage_append_only",
        """CREATE TRIGGER llm_usage_append_only BEFORE UPDATE OF request_id, attempt, ts_utc,
            user, model_id, provider, task_type, outcome, cost_usd, saved_usd ON llm_usage
        WHEN NOT (OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight'
                  AND NEW.request_id IS OLD.request_id AND NEW.attempt IS OLD.attempt
                  AND NEW.ts_utc IS OLD.ts_utc AND NEW.user IS OLD.user
                  AND NEW.model_id IS OLD.model_id AND NEW.provider IS OLD.provider
                  AND NEW.task_type IS OLD.task_type)
        BEGIN
            SELECT RAISE(ABORT, 'llm_usage is append-only: only rating changes; in_flight is finished once');
        END""",
        "ALTER TABLE budget_reservations ADD COLUMN owner_pid INTEGER",
        "ALTER TABLE budget_reservations ADD COLUMN owner_start TEXT",
    )


@LEDGER_MIGRATIONS.register
def m005_billing_parts(conn: Connection) -> None:
    """Each attempt's billing parts and the rates actually used.

    Calls are priced by every billing rule (core/pricing.py): cached input read and
    written at their own rates, reasoning shown apart from the answer, a tier by prompt
    length, batch rates, images by size and quality. The row keeps the parts
    (``cache_read_tokens``, ``cache_write_tokens``, ``reasoning_tokens``: parts of
    ``input_tokens`` and ``output_tokens``, which stay the totals), ``image_quality``,
    ``batch``, the per-MTok rates applied to the cached and reasoning parts (the input and
    output rates were already kept; they are now the rates applied, tier and batch
    included), and ``price_tier_above_tokens``, the threshold of the tier applied (NULL:
    the base rates). Columns are added; rows written before read as zeros and NULLs.
    """
    execute_all(
        conn,
        *(
            f"ALTER TABLE llm_usage ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0 CHECK ({name} >= 0)"
            for name in ("cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
        ),
        "ALTER TABLE llm_usage ADD COLUMN image_quality TEXT",
        "ALTER TABLE llm_usage ADD COLUMN batch INTEGER NOT NULL DEFAULT 0 CHECK (batch IN (0, 1))",
        "ALTER TABLE llm_usage ADD COLUMN price_cache_read_per_mtok INTEGER",
        "ALTER TABLE llm_usage ADD COLUMN price_cache_write_per_mtok INTEGER",
        "ALTER TABLE llm_usage ADD COLUMN price_reasoning_per_mtok INTEGER",
        "ALTER TABLE llm_usage ADD COLUMN price_tier_above_tokens INTEGER",
    )


@LEDGER_MIGRATIONS.register
def m006_run_id(conn: Connection) -> None:
    """The run an attempt belongs to: a recipe run's id, a batch's id (``run_id``).

    A recipe's steps and a batch's rows are separate requests; ``run_id`` ties their
    attempts together so ``sparklio history --run ID`` lists one run and the CSV export
    can be grouped by it. NULL for a request that belongs to no run (every row written
    before). The index is partial: most rows have no run, and ``run_id = ?`` implies the
    index's condition, so SQLite uses it. The append-only guard is rebuilt from m004's
    text with ``run_id`` among what may not change (finishing an attempt keeps it).
    """
    execute_all(
        conn,
        "ALTER TABLE llm_usage ADD COLUMN run_id TEXT",
        "CREATE INDEX ix_llm_usage_run ON llm_usage (run_id, ts_utc) WHERE run_id IS NOT NULL",
        "DROP TRIGGER llm_usage_append_only",
        """CREATE TRIGGER llm_usage_append_only BEFORE UPDATE OF request_id, attempt, ts_utc,
            user, model_id, provider, task_type, outcome, cost_usd, saved_usd, run_id ON llm_usage
        WHEN NOT (OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight'
                  AND NEW.request_id IS OLD.request_id AND NEW.attempt IS OLD.attempt
                  AND NEW.ts_utc IS OLD.ts_utc AND NEW.user IS OLD.user
                  AND NEW.model_id IS OLD.model_id AND NEW.provider IS OLD.provider
                  AND NEW.task_type IS OLD.task_type AND NEW.run_id IS OLD.run_id)
        BEGIN
            SELECT RAISE(ABORT, 'llm_usage is append-only: only rating changes; in_flight is finished once');
        END""",
    )


@LEDGER_MIGRATIONS.register
def m007_history_tokens(conn: Connection) -> None:
    """A conversation's history on each request (docs/conversations.md): the tokens sent
    (the kept turns and the summary) and the tokens trimming saved (the full history minus
    what was sent). On ``decisions``, one row per request, so the attempts' append-only
    guard and the daily rollup stay as they are; the month's saving in money is the saved
    tokens at the answering attempt's input rate (core/ledger/reports.py). Rows written
    before, and requests without history, read as zeros.
    """
    execute_all(
        conn,
        *(
            f"ALTER TABLE decisions ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0 CHECK ({name} >= 0)"
            for name in ("history_tokens_sent", "history_tokens_saved")
        ),
    )


@LEDGER_MIGRATIONS.register
def m008_member_host(conn: Connection) -> None:
    """Who sent each attempt and from where: ``member`` and ``host`` (team budgets, issue 16).

    Every attempt names its team member (``$SPARKLIO_MEMBER``, the setting ``team.member``,
    or the OS user: core/ledger/members.py) and the host it ran on. Rows written before
    this migration belong to the OS user who wrote them: ``member`` is filled from their
    ``user`` column (which is what the default member is); their ``host`` stays NULL
    (unknown). The fill is an UPDATE of a column the append-only guard does not watch.

    ``usage_daily`` gains ``member`` in its key, so spend per member and a member's
    monthly limit are read from the rollup like every other total. SQLite cannot change a
    primary key, so the rollup is rebuilt from its own rows (``member`` = ``user``, exact
    for the old rows), with the rollup triggers dropped first (a trigger naming a dropped
    table would fail the rename) and created again with ``member``. The append-only guard
    is m006's with ``member`` and ``host`` among what may not change. Reservations record
    their member too, so a member's outstanding holds count against their limit.

    ``usage_monthly`` is the same rollup per UTC month (``'YYYY-MM'``), without the user
    and the day, kept by the same triggers. A team's members multiply the daily rollup's
    rows (a month of a six-member studio: ~54,000), and every breakdown of the spend panel
    sorted them again (about 60 ms each on the reference machine), as did the budget's
    month sum on each paid request's first-token path; a month's ``usage_monthly`` rows
    are ~1/31 of that. The daily chart still reads ``usage_daily`` (in key order, no sort).
    """
    dims = "day, user, member, model_id, provider, task_type, outcome"
    monthly_dims = "month, member, model_id, provider, task_type, outcome"
    sums = "attempts, requests, fallbacks, cost_usd, saved_usd"

    def upsert(key: str) -> str:
        return (
            f" ON CONFLICT ({key}) DO UPDATE SET attempts = attempts + excluded.attempts,"
            " requests = requests + excluded.requests, fallbacks = fallbacks + excluded.fallbacks,"
            " cost_usd = cost_usd + excluded.cost_usd, saved_usd = saved_usd + excluded.saved_usd"
        )

    counted = f"1, NEW.attempt = 1, {_M002_FALLBACK.format(a='NEW')}, NEW.cost_usd, NEW.saved_usd"
    rollup = (
        f"INSERT INTO usage_daily ({dims}, {sums})"
        " VALUES (substr(NEW.ts_utc, 1, 10), NEW.user, coalesce(NEW.member, NEW.user), NEW.model_id,"
        f" NEW.provider, NEW.task_type, NEW.outcome, {counted}) {upsert(dims)};"
        f" INSERT INTO usage_monthly ({monthly_dims}, {sums})"
        " VALUES (substr(NEW.ts_utc, 1, 7), coalesce(NEW.member, NEW.user), NEW.model_id,"
        f" NEW.provider, NEW.task_type, NEW.outcome, {counted}) {upsert(monthly_dims)};"
    )
    execute_all(
        conn,
        "ALTER TABLE llm_usage ADD COLUMN member TEXT",
        "ALTER TABLE llm_usage ADD COLUMN host TEXT",
        "UPDATE llm_usage SET member = user WHERE member IS NULL",
        "DROP TRIGGER llm_usage_rollup",
        "DROP TRIGGER llm_usage_rollup_finish",
        "DROP TRIGGER llm_usage_append_only",
        f"""CREATE TABLE usage_daily_m008 (
            day TEXT NOT NULL,
            user TEXT NOT NULL,
            member TEXT NOT NULL,
            model_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            task_type TEXT NOT NULL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            fallbacks INTEGER NOT NULL DEFAULT 0,
            cost_usd INTEGER NOT NULL DEFAULT 0,
            saved_usd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({dims})
        ) WITHOUT ROWID""",
        f"""INSERT INTO usage_daily_m008 ({dims}, attempts, requests, fallbacks, cost_usd, saved_usd)
            SELECT day, user, user, model_id, provider, task_type, outcome, attempts, requests,
                   fallbacks, cost_usd, saved_usd FROM usage_daily""",
        "DROP TABLE usage_daily",
        "ALTER TABLE usage_daily_m008 RENAME TO usage_daily",
        f"""CREATE TABLE usage_monthly (
            month TEXT NOT NULL,
            member TEXT NOT NULL,
            model_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            task_type TEXT NOT NULL,
            outcome TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            requests INTEGER NOT NULL DEFAULT 0,
            fallbacks INTEGER NOT NULL DEFAULT 0,
            cost_usd INTEGER NOT NULL DEFAULT 0,
            saved_usd INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY ({monthly_dims})
        ) WITHOUT ROWID""",
        f"""INSERT INTO usage_monthly ({monthly_dims}, {sums})
            SELECT substr(day, 1, 7), member, model_id, provider, task_type, outcome, SUM(attempts),
                   SUM(requests), SUM(fallbacks), SUM(cost_usd), SUM(saved_usd)
            FROM usage_daily GROUP BY 1, 2, 3, 4, 5, 6""",
        f"""CREATE TRIGGER llm_usage_rollup AFTER INSERT ON llm_usage
            WHEN NEW.outcome <> 'in_flight' BEGIN {rollup} END""",
        f"""CREATE TRIGGER llm_usage_rollup_finish AFTER UPDATE OF outcome ON llm_usage
            WHEN OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight' BEGIN {rollup} END""",
        """CREATE TRIGGER llm_usage_append_only BEFORE UPDATE OF request_id, attempt, ts_utc,
            user, model_id, provider, task_type, outcome, cost_usd, saved_usd, run_id, member, host
            ON llm_usage
        WHEN NOT (OLD.outcome = 'in_flight' AND NEW.outcome <> 'in_flight'
                  AND NEW.request_id IS OLD.request_id AND NEW.attempt IS OLD.attempt
                  AND NEW.ts_utc IS OLD.ts_utc AND NEW.user IS OLD.user
                  AND NEW.model_id IS OLD.model_id AND NEW.provider IS OLD.provider
                  AND NEW.task_type IS OLD.task_type AND NEW.run_id IS OLD.run_id
                  AND NEW.member IS OLD.member AND NEW.host IS OLD.host)
        BEGIN
            SELECT RAISE(ABORT, 'llm_usage is append-only: only rating changes; in_flight is finished once');
        END""",
        "ALTER TABLE budget_reservations ADD COLUMN member TEXT",
    )
