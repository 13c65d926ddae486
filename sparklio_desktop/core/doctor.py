"""``sparklio doctor``: check every file Sparklio keeps, and repair the ones that can be.

Why a separate tool: the ledger is the record of what was spent, and the budget guard
counts on it, so no command ever replaces a damaged ledger on its own (they stop with
a one-line error that points here). The doctor looks at everything with read-only
checks (SQLite's ``integrity_check``, the ``_migrations`` table, the settings, policy
and catalog through their own loaders) and, only when asked (``repair``):

* sets a damaged ledger aside as ``ledger.sqlite3.damaged-YYYYmmddTHHMMSS`` (never
  deleted) and salvages what it can into a freshly migrated ledger, table by table and
  row by row, skipping over unreadable pages by rowid ranges (see :func:`salvage`);
* sets a damaged response cache aside and starts an empty one (a cache is disposable);
  a team's cache in Redis is not a file: the doctor says whether Redis answers;
* rebuilds a damaged search index of ``conversations.sqlite`` in place, or, when the
  file itself is damaged, sets it aside and salvages every readable conversation, turn
  and feedback row into a new one (core/conversations/salvage.py says how the turn
  tree is kept). :func:`repair_conversations` is what the window calls at start-up.

Tables are copied by the columns the old and new schemas share, so a salvage keeps
working after later migrations add columns. ``usage_daily`` is not copied: it is a
rollup the ledger's trigger rebuilds as the attempts are inserted again.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sparklio_desktop.core.cache import CACHE_MIGRATIONS, ResponseCache, default_cache_path
from sparklio_desktop.core.cache_url import CACHE_URL_ENV, configured_cache_url
from sparklio_desktop.core.conversations import FILENAME as CONVERSATIONS_FILENAME
from sparklio_desktop.core.conversations import ConversationsFileError, ConversationStore
from sparklio_desktop.core.conversations.salvage import SalvageCount, fts_problems, rebuild_fts, salvage_rows
from sparklio_desktop.core.conversations.schema import MIGRATIONS as CONVERSATION_MIGRATIONS
from sparklio_desktop.core.conversations.schema import apply_pending
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.engine import (
    DatabaseFileError,
    classify_sqlite_error,
    companions,
    create_sqlite_engine,
    set_aside,
    writer,
)
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.schema_upgrade import dry_run_upgrade
from sparklio_desktop.core.ledger.schema_version import NewerSchema, SchemaState, read_state
from sparklio_desktop.core.ledger.sqlite_file import BUSY_TIMEOUT_MS, file_error
from sparklio_desktop.core.settings import paths

SQLITE_MAGIC = b"SQLite format 3\x00"
DERIVED_TABLES = frozenset({"usage_daily", "usage_monthly"})  # rebuilt by triggers, never copied
_MAX_ROWID = 2**63 - 1
_INTEGRITY_LINES = 20
CONVERSATIONS_ADVICE = (
    "run `sparklio doctor --repair` to set it aside and salvage its conversations into a new one (close the app first)"
)
INDEX_ADVICE = "run `sparklio doctor --repair` to rebuild the search index in place (close the app first)"


@dataclass(frozen=True)
class Check:
    """One thing the doctor looked at: ``ok``, what it found and, if not ok, what to do."""

    name: str
    ok: bool
    detail: str
    path: str | None = None
    action: str = ""
    repairable: bool = False  # a damaged ledger or cache: ``repair`` can fix it

    def line(self) -> str:
        where = f" {self.path}:" if self.path else ""
        text = f"{'ok' if self.ok else 'PROBLEM':7}  {self.name:9}{where} {self.detail}"
        return text + (f"; {self.action}" if self.action else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TableSalvage:
    table: str
    salvaged: int  # rows now in the new ledger
    refused: int  # rows read but refused by the new schema (constraints, duplicates)
    damaged_ranges: int  # unreadable stretches that were skipped
    readable: bool = True  # False: the table could not be read at all


@dataclass
class Repair:
    name: str
    path: str
    set_aside_as: str | None  # None: repaired in place (a conversations search index)
    tables: list[TableSalvage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = f"repaired {self.name}: {self.path} set aside as {self.set_aside_as}"
        if self.name == "conversations":
            if self.set_aside_as is None:
                return [f"repaired conversations: {self.path}: " + "; ".join(self.notes)]
            rows = ", ".join(
                f"{t.table} {t.salvaged}"
                + ("" if t.readable else " (unreadable)")
                + (f" ({t.damaged_ranges} damaged stretches skipped)" if t.damaged_ranges else "")
                for t in self.tables
            )
            notes = "".join(f"; {note}" for note in self.notes)
            return [head + "; salvaged into a new file: " + rows + notes]
        if self.name != "ledger":
            return [head + "; started an empty one"]
        rows = ", ".join(
            f"{t.table} {t.salvaged}"
            + ("" if t.readable else " (unreadable)")
            + (f" ({t.damaged_ranges} damaged stretches skipped)" if t.damaged_ranges else "")
            for t in self.tables
        )
        return [head + "; salvaged into a new ledger: " + (rows or "nothing could be read")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": self.path,
            "set_aside_as": self.set_aside_as,
            "tables": [asdict(t) for t in self.tables],
            "notes": list(self.notes),
        }


# -- checks -------------------------------------------------------------------------


def _problem_for(exc: BaseException) -> str:
    found = classify_sqlite_error(exc)
    return f"damaged ({exc})" if found and found[0] == "damaged" else f"cannot be read ({exc})"


def _file_check(name: str, path: Path, advice: str, *, empty_ok: bool = False) -> Check | None:
    """What can be said of a database file before SQLite opens it; None: open it and look."""
    where = str(path)
    wal, _shm = companions(path)
    if not path.exists():
        return Check(name, True, "not created yet (it is made on first use)", where)
    if path.is_dir():
        return Check(name, False, "a folder is in its place", where, advice, repairable=True)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return Check(name, False, f"cannot be read ({exc.strerror or exc})", where, "check the file's permissions")
    if size == 0 and not (wal.is_file() and wal.stat().st_size > 0):
        if empty_ok:
            return Check(name, True, "empty (it is made again on first use)", where)
        return Check(name, False, "damaged (empty: 0 bytes)", where, advice, repairable=True)
    if size and head != SQLITE_MAGIC:
        return Check(name, False, "damaged (not a SQLite file: its header is wrong)", where, advice, repairable=True)
    return None


def _integrity_problem(conn: sqlite3.Connection) -> str | None:
    """``PRAGMA integrity_check``'s first finding (and how many more), or None when ok."""
    rows = [str(row[0]) for row in conn.execute(f"PRAGMA integrity_check({_INTEGRITY_LINES})")]
    if rows == ["ok"]:
        return None
    found = [
        line.strip() for row in rows for line in row.splitlines() if line.strip() and not line.startswith("***")
    ] or ["integrity check failed"]
    more = f"; {len(found) - 1}{'+' if len(found) >= _INTEGRITY_LINES else ''} more" if len(found) > 1 else ""
    return f"{found[0]}{more}"


def check_database(name: str, path: Path, migrations: MigrationSet, advice: str) -> Check:
    """Integrity and migrations of one SQLite file, without creating or changing it."""
    where = str(path)
    found = _file_check(name, path, advice)
    if found is not None:
        return found
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return Check(name, False, _problem_for(exc), where, advice, repairable=True)
    try:
        problem = _integrity_problem(conn)
        if problem is not None:
            return Check(name, False, f"damaged ({problem})", where, advice, repairable=True)
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = [row[0] for row in conn.execute("SELECT name FROM _migrations")] if "_migrations" in tables else []
        # The ledger moves on with Alembic (core/ledger/schema_upgrade.py): its revision too.
        schema = read_state(lambda sql: conn.execute(sql).fetchall()) if migrations is LEDGER_MIGRATIONS else None
    except NewerSchema as exc:
        detail = f"written by a newer Sparklio (migrations {', '.join(exc.unknown)})"
        return Check(name, False, detail, where, "update Sparklio before using this file")
    except sqlite3.Error as exc:
        return Check(name, False, _problem_for(exc), where, advice, repairable=True)
    finally:
        conn.close()
    if schema is not None:
        return _ledger_schema_check(name, path, advice, len(applied), schema)
    unknown = sorted(set(applied) - set(migrations.names))
    if unknown:
        return Check(
            name,
            False,
            f"written by a newer Sparklio (migrations {', '.join(unknown)})",
            where,
            "update Sparklio before using this file",
        )
    pending = len([m for m in migrations.names if m not in applied])
    if pending:  # would they run? (rolled back either way: the file stays as it is)
        engine = create_sqlite_engine(path, migrations.label)
        try:
            failure = migrations.dry_run(writer(engine))
        except DatabaseFileError as exc:
            return Check(name, False, str(exc), where, advice, repairable=exc.damaged)
        finally:
            engine.dispose()
        if failure is not None:
            return Check(name, False, f"damaged ({failure.detail})", where, advice, repairable=True)
    note = f"; {pending} migration(s) will run when it is next opened" if pending else ""
    return Check(name, True, f"integrity ok, {len(applied)} migration(s) applied{note}", where)


def _ledger_schema_check(name: str, path: Path, advice: str, applied: int, schema: SchemaState) -> Check:
    """The ledger's schema: current, or what its next start would upgrade (tried in a
    transaction that is rolled back, so a ledger that cannot be upgraded is not reported ok)."""
    where = str(path)
    pending = len(LEDGER_MIGRATIONS.names) - applied + schema.pending_revisions
    if not schema.current:
        engine = create_sqlite_engine(path, LEDGER_MIGRATIONS.label)
        try:
            failure = dry_run_upgrade(writer(engine))
        finally:
            engine.dispose()
        if isinstance(failure, DatabaseFileError):
            found = f"damaged ({failure.detail})" if failure.damaged else str(failure)
            return Check(name, False, found, where, advice, repairable=failure.damaged)
        if failure is not None:
            return Check(name, False, str(failure), where, advice)
    revision = f", schema {schema.revision}" if schema.revision else ""
    note = f"; {pending} migration(s) will run when it is next opened" if pending and not schema.current else ""
    return Check(name, True, f"integrity ok, {applied} migration(s) applied{revision}{note}", where)


ConversationsState = Literal["ok", "index", "file", "other"]


def _assess_conversations(path: Path) -> tuple[Check, ConversationsState]:
    """The conversations file's check, and what a repair would do: ``index`` rebuilds the
    search index in place, ``file`` sets the file aside and salvages it.

    The file and its tables are looked at through a read-only connection. FTS5's
    ``integrity-check`` is an INSERT (though it writes nothing), so the indexes are
    checked on a read-write connection inside a transaction that is rolled back.
    """
    name, where, advice = "conversations", str(path), CONVERSATIONS_ADVICE
    found = _file_check(name, path, advice, empty_ok=True)
    if found is not None:
        return found, ("file" if found.repairable else "ok" if found.ok else "other")

    def failed(exc: sqlite3.Error) -> tuple[Check, ConversationsState]:
        problem = (classify_sqlite_error(exc) or ("", ""))[0]
        damaged = problem == "damaged"
        action = advice if damaged else "close Sparklio and try again" if problem == "busy" else ""
        return Check(name, False, _problem_for(exc), where, action, damaged), ("file" if damaged else "other")

    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return failed(exc)
    try:
        problem = _integrity_problem(conn)
        if problem is not None:
            return Check(name, False, f"damaged ({problem})", where, advice, repairable=True), "file"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        applied = [row[0] for row in conn.execute("SELECT name FROM _migrations")] if "_migrations" in tables else []
        counts = (
            conn.execute("SELECT (SELECT COUNT(*) FROM conversations), (SELECT COUNT(*) FROM turns)").fetchone()
            if {"conversations", "turns"} <= tables
            else (0, 0)
        )
    except sqlite3.Error as exc:
        return failed(exc)
    finally:
        conn.close()
    names = [n for n, _ in CONVERSATION_MIGRATIONS]
    unknown = sorted(set(applied) - set(names))
    if unknown:
        detail = f"written by a newer Sparklio (migrations {', '.join(unknown)})"
        return Check(name, False, detail, where, "update Sparklio before using this file"), "other"
    pending = [n for n in names if n not in applied]
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as exc:
        return failed(exc)
    try:
        if pending:  # would they run? (rolled back either way: the file stays as it is)
            conn.execute("BEGIN IMMEDIATE")
            try:
                apply_pending(conn, "")
            except sqlite3.Error as exc:
                if classify_sqlite_error(exc) is not None:
                    raise
                detail = f"damaged (its tables are not the ones Sparklio made: {str(exc).strip()})"
                return Check(name, False, detail, where, advice, repairable=True), "file"
            finally:
                conn.execute("ROLLBACK")
            note = f"{len(pending)} migration(s) will run when it is next opened"
            return Check(name, True, f"integrity ok; {note}", where), "ok"
        index = fts_problems(conn)
    except sqlite3.Error as exc:
        return failed(exc)
    finally:
        conn.close()
    if index:
        return Check(name, False, f"search index damaged ({index[0]})", where, INDEX_ADVICE, repairable=True), "index"
    detail = f"integrity ok, search index ok, {counts[0]} conversation(s), {counts[1]} turn(s)"
    return Check(name, True, detail, where), "ok"


def conversations_path() -> Path:
    return paths.data_dir(create=False) / CONVERSATIONS_FILENAME


def check_team_conversations(url: str) -> Check:
    """Team mode: the member's conversations in the team database (core/conversations/postgres_store.py)."""
    from sparklio_desktop.core.conversations.postgres_store import team_conversations_state
    from sparklio_desktop.core.errors import SparklioError
    from sparklio_desktop.core.ledger.location import redacted_url

    try:
        return Check("conversations", True, f"PostgreSQL (team): {team_conversations_state(url)}", redacted_url(url))
    except SparklioError as exc:  # the server, the login, the driver, a malformed $SPARKLIO_MEMBER: one line
        return Check("conversations", False, f"PostgreSQL (team): {getattr(exc, 'reason', exc)}", redacted_url(url))


def check_conversations(path: Path | None = None) -> Check:
    """Integrity, migrations and FTS indexes of ``conversations.sqlite``, changing nothing."""
    return _assess_conversations(path or conversations_path())[0]


def check_data_folder(folder: Path) -> Check:
    where = str(folder)
    if not folder.exists():
        return Check("folder", True, "not created yet", where)
    if not folder.is_dir():
        return Check("folder", False, "not a folder", where, "move the file away or point SPARKLIO_HOME elsewhere")
    try:  # os.access says yes to root whatever the mode: try it
        handle, probe = tempfile.mkstemp(prefix=".sparklio-write-test-", dir=folder)
    except OSError as exc:
        return Check(
            "folder",
            False,
            f"not writable ({exc.strerror or exc})",
            where,
            "make it writable or point SPARKLIO_HOME at a writable folder",
        )
    os.close(handle)
    os.unlink(probe)
    return Check("folder", True, "writable", where)


def _check_loader(name: str, path: Path | None, load: Any, action: str) -> Check:
    where = str(path) if path is not None else None
    try:
        load()
    except Exception as exc:  # noqa: BLE001 - a diagnosis reports whatever went wrong
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Check(name, False, detail, where, action)
    return Check(name, True, "valid", where)


def check_cache(settings_file: Path) -> Check:
    """The response cache's backend and health: the SQLite file (integrity and migrations),
    or, when ``$SPARKLIO_CACHE_URL`` or ``cache.url`` names one, whether Redis answers. The
    URL is shown with its password masked."""
    from sparklio_desktop.core.settings.config import load_settings_lenient

    url = configured_cache_url(load_settings_lenient(settings_file)[0].cache.url)
    if url is None:
        found = check_database(
            "cache",
            default_cache_path(),
            CACHE_MIGRATIONS,
            "run `sparklio doctor --repair` to set it aside and start an empty one (a cache is disposable)",
        )
        return replace(found, detail=f"SQLite: {found.detail}")
    return check_redis_cache(url)


def check_redis_cache(url: str) -> Check:
    """PING the Redis at ``url`` (the cache's own short timeouts): ok when it answers."""
    import asyncio
    import time

    from sparklio_desktop.core.redis_cache import RedisResponseCache

    cache = RedisResponseCache(url, warn=lambda _line: None)

    async def ping() -> float:
        started = time.perf_counter()
        try:
            health = await cache.acheck()
        finally:
            await cache.aclose()
        return (time.perf_counter() - started) * 1000 if health.available else -1.0

    # On a thread of its own: the window may call the checks while its loop runs.
    with ThreadPoolExecutor(1) as thread:
        elapsed_ms = thread.submit(asyncio.run, ping()).result()
    health = cache.health()
    if health.available:
        return Check("cache", True, f"Redis (shared): answers (PING {elapsed_ms:.1f} ms)", health.where)
    return Check(
        "cache",
        False,
        f"Redis (shared): {health.problem}; requests go on without the cache",
        health.where,
        f"start Redis there, or correct {CACHE_URL_ENV} / `sparklio config set cache.url`",
    )


def check_team_ledger(url: str) -> Check:
    """Whether the team's ledger database at ``url`` answers (shown redacted): a one-line
    reason when the server cannot be reached, refuses the login or has no such database."""
    import time

    from sparklio_desktop.core.ledger.engine import create_postgres_engine
    from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV, redacted_url
    from sparklio_desktop.core.ledger.postgres_schema import has_baseline
    from sparklio_desktop.core.ledger.server_errors import DatabaseDriverError, DatabaseServerError

    shown = redacted_url(url)
    try:
        engine = create_postgres_engine(url)
    except DatabaseDriverError as exc:
        return Check(
            "ledger",
            False,
            f"PostgreSQL (team): {exc.reason}",
            shown,
            'install it (`pip install "psycopg[binary]"`; a bundle: the system\'s libpq, `apt install libpq5`)',
        )
    try:
        started = time.perf_counter()
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            elapsed_ms = (time.perf_counter() - started) * 1000
            created = has_baseline(conn)
    except DatabaseServerError as exc:
        return Check(
            "ledger",
            False,
            f"PostgreSQL (team): {exc.reason}",
            shown,
            f"start the server, or correct {DATABASE_URL_ENV} / `sparklio config set storage.database_url`",
        )
    finally:
        engine.dispose()
    state = "the ledger's tables are there" if created else "empty: the first install to open it creates them"
    return Check("ledger", True, f"PostgreSQL (team): answers ({elapsed_ms:.1f} ms); {state}", shown)


def run_checks() -> list[Check]:
    """Every check, in the order the doctor prints them."""
    from sparklio_desktop.core.policy.catalog import load_catalog
    from sparklio_desktop.core.policy.routing_policy import load_policy
    from sparklio_desktop.core.settings.config import load_settings, settings_path

    folder = paths.data_dir(create=False)
    settings_file = settings_path()
    checks = [check_data_folder(folder)]
    if not checks[0].ok and folder.exists():  # a file where the folder should be: nothing below it
        return checks
    from sparklio_desktop.core.ledger.location import database_url
    from sparklio_desktop.core.settings.config import load_settings_lenient

    team_url = database_url(load_settings_lenient(settings_file)[0])
    if team_url is not None:  # team mode: the ledger is the team's PostgreSQL, not the file
        checks.append(check_team_ledger(team_url))
    else:
        checks.append(
            check_database(
                "ledger",
                paths.ledger_path(),
                LEDGER_MIGRATIONS,
                "run `sparklio doctor --repair` to set it aside and salvage its rows into a new ledger "
                "(close the app first)",
            )
        )
    checks.append(check_cache(settings_file))
    from sparklio_desktop.core.ledger.location import is_database_url

    team_conversations = team_url is not None and is_database_url(team_url)  # (a ledger file is not)
    checks.append(check_team_conversations(team_url) if team_conversations and team_url else check_conversations())
    checks.append(
        _check_loader(
            "settings",
            settings_file,
            lambda: load_settings(settings_file),
            "fix the file there, or `sparklio config set` the key again",
        )
    )
    user_catalog = paths.user_catalog_path()
    catalog_check = _check_loader(
        "catalog",
        user_catalog if user_catalog.is_file() else paths.shipped_catalog_path(),
        load_catalog,
        "fix the entry named there",
    )
    checks.append(catalog_check)
    try:
        policy_path = load_settings(settings_file).policy.path
    except Exception:  # noqa: BLE001 - reported by the settings check
        policy_path = None
    user_policy = paths.user_policy_path()
    policy_file = (
        Path(policy_path) if policy_path else (user_policy if user_policy.is_file() else paths.shipped_policy_path())
    )
    if catalog_check.ok:
        checks.append(
            _check_loader(
                "policy",
                policy_file,
                lambda: load_policy(policy_file, load_catalog()),
                "fix the field named there (`sparklio policy check` checks it again)",
            )
        )
    else:
        checks.append(
            Check(
                "policy",
                False,
                "not checked: the catalog it refers to is broken",
                str(policy_file),
                "fix the catalog first",
            )
        )
    checks.extend(check_ollama_hosts())
    return checks


def check_ollama_hosts() -> list[Check]:
    """With LAN Ollama hosts configured (``providers.ollama.hosts``), one check per host: does
    it answer, and with how many models. Nothing with one host: a single-user install
    without Ollama is healthy."""
    from sparklio_desktop.core.routing.live import ollama_hosts_of
    from sparklio_desktop.core.routing.ollama_hosts import probe_ollama_hosts
    from sparklio_desktop.core.settings.config import load_settings_lenient

    hosts = ollama_hosts_of(load_settings_lenient()[0])
    if len(hosts) < 2:
        return []
    checks = []
    for probe in probe_ollama_hosts(hosts, timeout_s=2.0, with_ps=True):
        where = "this machine" if probe.host.local else "LAN"
        if probe.reachable:
            count = len(probe.tags or ())
            detail = f"{probe.host.label} ({where}, {probe.host.url}): {count} model{'s' if count != 1 else ''}"
            detail += f", {len(probe.loaded)} loaded" if probe.loaded else ""
            checks.append(Check("ollama", True, detail))
        else:
            action = (
                "start `ollama serve` there (OLLAMA_HOST=0.0.0.0 lets the LAN reach it), "
                "or take it out of providers.ollama.hosts"
                if not probe.host.local
                else "start it with `ollama serve`"
            )
            detail = f"{probe.host.label} ({where}, {probe.host.url}): {probe.reason}; its models are unavailable"
            checks.append(Check("ollama", False, detail, action=action))
    return checks


# -- salvage ------------------------------------------------------------------------


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _has_rowid(conn: sqlite3.Connection, table: str) -> bool:
    try:
        conn.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
        return True
    except sqlite3.OperationalError:
        return False


def _first_rowid_from(conn: sqlite3.Connection, table: str, start: int) -> None:
    """Raises when the b-tree cannot be read from ``start`` on."""
    conn.execute(f'SELECT rowid FROM "{table}" WHERE rowid >= ? ORDER BY rowid LIMIT 1', (start,)).fetchall()


def _resume_point(conn: sqlite3.Connection, table: str, after: int) -> int | None:
    """The smallest start past ``after`` from which the table reads again, found by
    doubling steps and then halving back; None when nothing past ``after`` reads."""
    bad, step = after, 1
    while True:
        start = after + step
        if start > _MAX_ROWID:
            return None
        try:
            _first_rowid_from(conn, table, start)
            break
        except sqlite3.DatabaseError:
            bad, step = start, step * 2
    good = start
    while good - bad > 1:
        mid = (good + bad) // 2
        try:
            _first_rowid_from(conn, table, mid)
            good = mid
        except sqlite3.DatabaseError:
            bad = mid
    return good


def read_rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple[Any, ...] | None]:
    """Every readable row of ``table`` in rowid order; ``None`` marks a skipped stretch."""
    names = ", ".join(f'"{c}"' for c in columns)
    if not _has_rowid(conn, table):  # WITHOUT ROWID: read until the first damage
        try:
            yield from conn.execute(f'SELECT {names} FROM "{table}"')
        except sqlite3.DatabaseError:
            yield None
        return
    bulk = f'SELECT rowid, {names} FROM "{table}" WHERE rowid >= ? ORDER BY rowid'
    single = bulk + " LIMIT 1"
    start = -_MAX_ROWID - 1
    while True:
        last: int | None = None
        try:
            for row in conn.execute(bulk, (start,)):
                last = row[0]
                yield row[1:]
            return
        except sqlite3.DatabaseError:
            pass
        # The driver steps one row ahead, so the row before the damage was read but
        # not handed over: walk on one row at a time (LIMIT 1 never looks further).
        pos = last + 1 if last is not None else start
        while True:
            try:
                found = conn.execute(single, (pos,)).fetchone()
            except sqlite3.DatabaseError:
                break
            if found is None:
                return
            yield found[1:]
            if found[0] >= _MAX_ROWID:
                return
            pos = found[0] + 1
        yield None
        resume = _resume_point(conn, table, pos)  # the row at ``pos`` (or just past it) is unreadable
        if resume is None:
            return
        start = resume


def _repair_header(path: Path, page_size: int = 4096) -> bool:
    """Give a file whose first 100 bytes are garbage the header of a Sparklio ledger
    (4 KiB pages, UTF-8, WAL), so SQLite reads the pages behind it. True when changed."""
    with path.open("r+b") as handle:
        head = handle.read(100)
        if head[:16] == SQLITE_MAGIC:
            return False
        size = path.stat().st_size
        header = bytearray(100)
        header[0:16] = SQLITE_MAGIC
        header[16:18] = page_size.to_bytes(2, "big")
        header[18], header[19], header[20] = 2, 2, 0  # WAL read/write versions, no reserved bytes
        header[21], header[22], header[23] = 64, 32, 32  # payload fractions (fixed by the format)
        header[24:28] = (1).to_bytes(4, "big")  # change counter
        header[28:32] = (size // page_size).to_bytes(4, "big")  # pages
        header[40:44] = (1).to_bytes(4, "big")  # schema cookie
        header[44:48] = (4).to_bytes(4, "big")  # schema format
        header[56:60] = (1).to_bytes(4, "big")  # UTF-8
        header[92:96] = (1).to_bytes(4, "big")  # version-valid-for = change counter
        major, minor, patch = sqlite3.sqlite_version_info
        header[96:100] = (major * 1_000_000 + minor * 1000 + patch).to_bytes(4, "big")
        handle.seek(0)
        handle.write(bytes(header))
    return True


def _fit_page_count(path: Path) -> None:
    """A truncated file: cut it to whole pages and make the header's page count say so,
    so SQLite reads the pages that are left instead of refusing the whole file."""
    with path.open("r+b") as handle:
        header = bytearray(handle.read(100))
        raw_size = int.from_bytes(header[16:18], "big")
        page_size = 65536 if raw_size == 1 else raw_size
        if page_size < 512 or page_size & (page_size - 1):
            return
        pages = path.stat().st_size // page_size
        if pages == 0 or int.from_bytes(header[28:32], "big") <= pages:
            return
        handle.truncate(pages * page_size)
        header[28:32] = pages.to_bytes(4, "big")
        header[92:96] = header[24:28]  # version-valid-for = change counter: the count is trusted
        handle.seek(0)
        handle.write(bytes(header))


def salvage(source: Path, dest: Path) -> list[TableSalvage]:
    """Copy every readable row of ``source`` into the migrated ledger at ``dest``.

    ``source`` is never changed: it is copied (with its WAL) to a scratch folder first.
    """
    results: list[TableSalvage] = []
    with _damaged_copy(source, dest.parent) as old:
        new = sqlite3.connect(dest, isolation_level=None)
        try:
            new.execute("PRAGMA foreign_keys=ON")
            try:
                old_tables = {row[0] for row in old.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            except sqlite3.DatabaseError:
                old_tables = set()
            targets = [
                row[0]
                for row in new.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                    # The schema's own records are the new ledger's (it is at this build's head).
                    " AND name NOT IN ('_migrations', 'alembic_version') ORDER BY rootpage"
                )
            ]
            for table in targets:
                if table in DERIVED_TABLES:
                    continue
                results.append(_salvage_table(old, new, table, table in old_tables))
        finally:
            new.close()
    return results


@contextmanager
def _damaged_copy(source: Path, scratch_parent: Path) -> Iterator[sqlite3.Connection]:
    """A connection to a scratch copy of ``source`` (with its WAL), its header mended and
    its page count fitted, so SQLite reads what is left; ``source`` is never changed."""
    with tempfile.TemporaryDirectory(prefix=".sparklio-salvage-", dir=scratch_parent) as scratch:
        copy = Path(scratch) / "damaged.sqlite3"
        if source.is_file():
            shutil.copyfile(source, copy)
            wal, _shm = companions(source)
            if wal.is_file():
                shutil.copyfile(wal, companions(copy)[0])
        else:
            copy.write_bytes(b"")
        if copy.stat().st_size >= 100:
            _repair_header(copy)
            _fit_page_count(copy)
        old = sqlite3.connect(copy, isolation_level=None)
        try:
            yield old
        finally:
            old.close()


def salvage_conversations(source: Path, dest: Path) -> list[SalvageCount]:
    """Every readable conversation, turn and feedback row of ``source`` into the new,
    migrated conversations file at ``dest`` (core/conversations/salvage.py keeps the tree)."""
    with _damaged_copy(source, dest.parent) as old:
        new = sqlite3.connect(dest, isolation_level=None)
        try:
            return salvage_rows(old, new, lambda table, columns: read_rows(old, table, columns))
        finally:
            new.close()


def _salvage_table(old: sqlite3.Connection, new: sqlite3.Connection, table: str, present: bool) -> TableSalvage:
    if not present:
        return TableSalvage(table, 0, 0, 0, readable=False)
    try:
        shared = [c for c in _columns(new, table) if c in set(_columns(old, table))]
    except sqlite3.DatabaseError:
        return TableSalvage(table, 0, 0, 0, readable=False)
    if not shared:
        return TableSalvage(table, 0, 0, 0, readable=False)
    insert = (
        f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in shared)}) '
        f"VALUES ({', '.join('?' for _ in shared)})"
    )
    salvaged = refused = skipped = 0
    new.execute("BEGIN IMMEDIATE")
    try:
        for row in read_rows(old, table, shared):
            if row is None:
                skipped += 1
                continue
            try:
                new.execute(insert, row)
                salvaged += 1
            except sqlite3.IntegrityError:
                refused += 1
        new.execute("COMMIT")
    except BaseException:
        new.execute("ROLLBACK")
        raise
    return TableSalvage(table, salvaged, refused, skipped)


# -- repair -------------------------------------------------------------------------


def repair(checks: list[Check], now: datetime | None = None) -> list[Repair]:
    """Set aside and rebuild what the checks found damaged (ledger: with salvage)."""

    done: list[Repair] = []
    for check in checks:
        if check.ok or not check.repairable:
            continue
        if check.name == "ledger":
            path = paths.ledger_path()
            aside = set_aside(path, now)
            LedgerStore.open(path).close()  # a fresh, migrated ledger
            done.append(Repair("ledger", str(path), str(aside), salvage(aside, path)))
        elif check.name == "conversations":
            mended = repair_conversations(now=now)
            if mended is not None:
                done.append(mended)
        elif check.name == "cache":
            path = default_cache_path()
            aside = set_aside(path, now)
            with ResponseCache(path) as cache:
                cache.stats()  # creates and migrates the empty one
            done.append(Repair("cache", str(path), str(aside)))
    return done


def repair_conversations(path: Path | None = None, now: datetime | None = None) -> Repair | None:
    """Check ``conversations.sqlite`` and mend it when it is damaged; None when it needed
    nothing (or nothing a repair can do: a newer Sparklio's file, a read-only folder).

    A damaged search index alone is rebuilt in place. A damaged file (or an index that
    cannot be rebuilt, such as a dropped shadow table) is set aside as
    ``conversations.sqlite.damaged-<time>`` (never deleted) and every readable row is
    salvaged into a new file. The window calls this when opening the store raised a
    damaged :class:`~sparklio_desktop.core.conversations.ConversationsFileError`, after the
    user agreed; the store must be closed (no other Sparklio process writing it).
    """
    path = path or conversations_path()
    check, state = _assess_conversations(path)
    if state not in ("index", "file"):
        return None
    if state == "index":
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            still = rebuild_fts(conn)
        except sqlite3.Error as exc:  # locked by a running Sparklio, a read-only folder: one line
            found = file_error(path, "conversations file", exc)
            raise (ConversationsFileError.wrap(found) if found is not None else exc) from None
        finally:
            conn.close()
        if not still:
            return Repair("conversations", str(path), None, notes=["search index rebuilt in place; nothing set aside"])
    aside = set_aside(path, now)
    ConversationStore(path).close()  # a fresh, migrated file
    counts = salvage_conversations(aside, path)
    notes = [f"was: {check.detail}"]
    recreated = sum(c.recreated for c in counts)
    rerooted = sum(c.rerooted for c in counts)
    if recreated:
        notes.append(f"{recreated} conversation(s) made again from their turns (their own row was lost)")
    if rerooted:
        notes.append(f"{rerooted} turn(s) whose earlier turn was lost now start their thread")
    tables = [TableSalvage(c.table, c.salvaged, c.refused, c.damaged_ranges, c.readable) for c in counts]
    return Repair("conversations", str(path), str(aside), tables, notes)
