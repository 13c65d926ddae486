"""Every batch, kept in the data folder (``batches.sqlite``), or on the team's database.

Why a file of its own: a batch is a queue of work and its results, written many times a
second while it runs; the ledger is money and stays the record of what was paid. The
two meet through the request id a row keeps: a resume asks the ledger whether a row
marked ``running`` was in fact answered before the process died (core/batches/runner.py).

Plain ``sqlite3`` in WAL mode, one short transaction per write (a row marked running,
its request id, its result), so a process killed at any point loses at most the write
in progress. Opening checks the file as the ledger does (core/ledger/sqlite_file.py):
a read-only folder or a damaged file is one located line, never a traceback.

Team mode (a team database URL is set, core/ledger/location.py): the same tables live in
the team's PostgreSQL (core/batches/team_database.py), and the same statements run there
through the ledger's psycopg connection, each write one transaction as here. What differs
is small and kept here: reads see only the member's own batches (``_mine``), a claim locks
its row (``FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` already does), and a claim names its
host, so a batch run on another machine is refused rather than judged by a PID of
another machine (:func:`~sparklio_desktop.core.batches.team_database.claim_refusal`).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeAlias, cast

from sparklio_desktop.core.batches.records import (
    Batch,
    BatchBusy,
    BatchCounts,
    BatchNotFound,
    BatchRow,
    BatchStatus,
    RowStatus,
)
from sparklio_desktop.core.batches.schema import MIGRATIONS
from sparklio_desktop.core.batches.team_database import claim_refusal, open_team_database, team_member
from sparklio_desktop.core.ledger.location import database_url, is_database_url
from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.owners import is_gone, this_process
from sparklio_desktop.core.ledger.plain_migrations import open_migrated
from sparklio_desktop.core.ledger.sqlite_file import (
    DatabaseFileError,
    file_error,
)
from sparklio_desktop.core.money import from_picodollars, to_picodollars
from sparklio_desktop.core.settings import paths

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection, PgDirectSession

__all__ = ["FILENAME", "BatchStore", "Session", "new_batch_id"]

FILENAME = "batches.sqlite"
LABEL = "batches file"
MIN_PREFIX = 4
# The file's sqlite3 connection, or one transaction on the team database (same SQL, "?" placeholders).
Session: TypeAlias = "sqlite3.Connection | PgDirectSession"
_BATCH_COLUMNS = "id, created_at, task, template, options_json, source_path, out_path, status, concurrency"
_OWNER_COLUMNS = "owner_pid, owner_start, owner_host, member"
# CASE, not SQLite's SUM(status = 'x'): a boolean has no SUM on PostgreSQL.
_COUNTS = (
    "SELECT COUNT(*), "
    + ", ".join(
        f"COALESCE(SUM(CASE WHEN status = '{status}' THEN 1 ELSE 0 END), 0)"
        for status in ("pending", "running", "done", "failed")
    )
    + ", COALESCE(SUM(cost_usd), 0) FROM batch_rows WHERE batch_id = ?"
)


def _now_text() -> str:
    utc = datetime.now(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def new_batch_id() -> str:
    return secrets.token_hex(8)


class BatchStore:
    """SQLite file ``data_dir()/batches.sqlite`` (WAL), or the team database when ``target``
    is its URL. One thread at a time; a lock makes a mistake there safe rather than corrupting.

    ``member``: on a team database, whose batches this store sees and creates (None: this
    install's member, core/batches/team_database.py); a file records it and filters by
    nothing. ``host`` names this machine in claims.
    """

    def __init__(self, target: Path | str, *, member: str | None = None) -> None:
        self._lock = threading.RLock()
        self.host: str = this_host()
        self._team: PgDirectConnection | None = None
        if is_database_url(target):
            self.target: Path | str = str(target)
            self.path: Path | None = None
            self.member: str | None = team_member(member)
            self._team = open_team_database(str(target))
            self._mine = " AND member = ?"  # a member sees only their own batches
            self._mine_params: tuple[str, ...] = (self.member,)
            self._for_update = " FOR UPDATE"  # READ COMMITTED: a claim locks the row it judges
        else:
            self.target = self.path = Path(target)
            self.member = member  # a file is one install's: its batches name no member unless told
            self._conn = self._open(self.path)
            self._mine, self._mine_params, self._for_update = "", (), ""  # BEGIN IMMEDIATE serialises

    @classmethod
    def open(cls, target: Path | str | None = None, *, member: str | None = None) -> BatchStore:
        """The store at ``target``: a file, a team database's URL, or None (the team database
        when one is set, else ``data_dir()/batches.sqlite``)."""
        if target is None:
            target = database_url() or paths.data_dir() / FILENAME
        return cls(target, member=member)

    @classmethod
    def open_default(cls) -> BatchStore:
        return cls.open()

    @property
    def team(self) -> bool:
        """Whether the batches live on a team database."""
        return self._team is not None

    def close(self) -> None:
        with self._lock:
            if self._team is not None:
                self._team.close()
            else:
                self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- the file -------------------------------------------------------------------
    def _open(self, path: Path) -> sqlite3.Connection:
        return open_migrated(
            path,
            LABEL,
            MIGRATIONS,
            _now_text(),
            classify=lambda exc: file_error(path, LABEL, exc),
            make=lambda problem, detail: DatabaseFileError(path, LABEL, problem, detail),
        )

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """One write transaction: all of it or none of it, on either backend."""
        with self._lock:
            if self._team is not None:
                with self._team.transaction("IMMEDIATE") as session:
                    yield session
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise (file_error(self._file, LABEL, exc) or exc) from None

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._lock:
            if self._team is not None:
                with self._team.transaction("DEFERRED") as session:  # one snapshot
                    yield session
                return
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise (file_error(self._file, LABEL, exc) or exc) from None

    @property
    def _file(self) -> Path:
        assert self.path is not None  # only the file's errors are translated here
        return self.path

    # -- batches --------------------------------------------------------------------
    def create(
        self,
        *,
        task: str,
        template: str,
        options: dict[str, Any],
        source_path: str,
        out_path: str | None,
        concurrency: int,
        prompts: Sequence[str],
        batch_id: str | None = None,
    ) -> str:
        """A new batch with its rows (numbered from 1, in input order), all pending; one
        transaction, so a batch is never half-created."""
        batch_id = batch_id or new_batch_id()
        now = _now_text()
        with self._write() as conn:
            conn.execute(
                f"INSERT INTO batches ({_BATCH_COLUMNS}, updated_at, member)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)",
                (batch_id, now, task, template, json.dumps(options, sort_keys=True), source_path, out_path,
                 concurrency, now, self.member),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO batch_rows (batch_id, row_index, prompt) VALUES (?, ?, ?)",
                [(batch_id, index, prompt) for index, prompt in enumerate(prompts, start=1)],
            )
        return batch_id

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the batch ``id_or_prefix`` names (a unique prefix of 4+ characters);
        on a team database, only among the member's own batches."""
        text = id_or_prefix.strip().lower()
        with self._read() as conn:
            if conn.execute(f"SELECT 1 FROM batches WHERE id = ?{self._mine}", (text, *self._mine_params)).fetchone():
                return text
            found = []
            if len(text) >= MIN_PREFIX and all(ch in "0123456789abcdef" for ch in text):
                found = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT id FROM batches WHERE id LIKE ?{self._mine} LIMIT 2", (text + "%", *self._mine_params)
                    ).fetchall()
                ]
        if len(found) == 1:
            return str(found[0])
        if len(found) > 1:
            raise BatchNotFound(f"batch {id_or_prefix!r} is ambiguous: give more of its id")
        raise BatchNotFound(f"no batch {id_or_prefix!r}; `sparklio batch list` shows them")

    def get(self, id_or_prefix: str) -> Batch:
        batch_id = self.resolve(id_or_prefix)
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_BATCH_COLUMNS}, {_OWNER_COLUMNS} FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            counts = self._counts(conn, batch_id)
        if row is None:  # deleted between the two reads
            raise BatchNotFound(f"no batch {id_or_prefix!r}")
        return _batch(row, counts, self.host)

    def batches(self, limit: int = 50) -> list[Batch]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_BATCH_COLUMNS}, {_OWNER_COLUMNS} FROM batches WHERE 1 = 1{self._mine}"
                " ORDER BY created_at DESC LIMIT ?",
                (*self._mine_params, limit),
            ).fetchall()
            return [_batch(row, self._counts(conn, row[0]), self.host) for row in rows]

    def counts(self, batch_id: str) -> BatchCounts:
        with self._read() as conn:
            return self._counts(conn, batch_id)

    @staticmethod
    def _counts(conn: Session, batch_id: str) -> BatchCounts:
        found = conn.execute(_COUNTS, (batch_id,)).fetchone()
        assert found is not None  # an aggregate always gives one row
        total, pending, running, done, failed, picos = (int(value) for value in found)
        return BatchCounts(total, pending, running, done, failed, from_picodollars(picos))

    def status(self, batch_id: str) -> BatchStatus:
        with self._read() as conn:
            row = conn.execute(
                f"SELECT status FROM batches WHERE id = ?{self._mine}", (batch_id, *self._mine_params)
            ).fetchone()
        if row is None:
            raise BatchNotFound(f"no batch {batch_id!r}")
        return cast(BatchStatus, row[0])

    def claim(self, batch_id: str) -> None:
        """Mark the batch ``running`` by this process on this host; refused (:class:`BatchBusy`,
        one line) while another live process of this host runs it, or any process of another
        host does (team_database.claim_refusal). One transaction (the row locked on a team
        database), so two resumes cannot both claim it. A process of this host killed with
        SIGKILL is gone: its claim lapses (core/ledger/owners.py)."""
        me = this_process()
        with self._write() as conn:
            row = conn.execute(
                f"SELECT owner_pid, owner_start, owner_host, member FROM batches WHERE id = ?{self._mine}"
                f"{self._for_update}",
                (batch_id, *self._mine_params),
            ).fetchone()
            if row is None:
                raise BatchNotFound(f"no batch {batch_id!r}")
            refusal = claim_refusal(
                (row[0], row[1], row[2]), me, self.host, what=f"batch {batch_id}", member=row[3] or "unknown"
            )
            if refusal is not None:
                raise BatchBusy(refusal)
            conn.execute(
                "UPDATE batches SET status = CASE WHEN status = 'cancelled' THEN status ELSE 'running' END,"
                " owner_pid = ?, owner_start = ?, owner_host = ?, updated_at = ? WHERE id = ?",
                (me.pid, me.start, self.host, _now_text(), batch_id),
            )

    def release(self, batch_id: str, status: BatchStatus) -> None:
        """This process stops running the batch, leaving it ``status`` (a cancel stays)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batches SET status = CASE WHEN status = 'cancelled' THEN status ELSE ? END,"
                " owner_pid = NULL, owner_start = NULL, owner_host = NULL, updated_at = ? WHERE id = ?",
                (status, _now_text(), batch_id),
            )

    @staticmethod
    def hosts_claiming(conn: Session) -> set[str]:
        """The machines whose processes hold a claim on a batch (for ``release-host``)."""
        rows = conn.execute("SELECT DISTINCT owner_host FROM batches WHERE owner_host IS NOT NULL").fetchall()
        return {str(row[0]) for row in rows}

    @staticmethod
    def release_host(conn: Session, host: str, *, dry_run: bool = False) -> int:
        """Clear the claims processes of ``host`` hold on batches, every member's; how many
        there were (with ``dry_run``, only counted). A claim of another host never lapses
        here (:func:`claim_refusal`), so when a person says that machine is gone for good
        (``sparklio ledger release-host``) this lets another install of the member resume
        the batch. Runs in the caller's transaction on the team database, beside the
        ledger's release of that host's money; the status is left as it is (a ``running``
        batch without a claim is a stopped one)."""
        if dry_run:
            row = conn.execute("SELECT count(*) FROM batches WHERE owner_host = ?", (host,)).fetchone()
            return int(row[0]) if row is not None else 0
        return conn.execute(
            "UPDATE batches SET owner_pid = NULL, owner_start = NULL, owner_host = NULL, updated_at = ?"
            " WHERE owner_host = ?",
            (_now_text(), host),
        ).rowcount

    def set_status(self, batch_id: str, status: BatchStatus) -> None:
        with self._write() as conn:
            conn.execute("UPDATE batches SET status = ?, updated_at = ? WHERE id = ?", (status, _now_text(), batch_id))

    # -- rows -----------------------------------------------------------------------
    def rows(self, batch_id: str, status: RowStatus | None = None) -> list[BatchRow]:
        query = (
            "SELECT row_index, prompt, status, request_id, model, output, cost_usd, error, job_id FROM batch_rows"
            " WHERE batch_id = ?" + (" AND status = ?" if status else "") + " ORDER BY row_index"
        )
        with self._read() as conn:
            found = conn.execute(query, (batch_id, status) if status else (batch_id,)).fetchall()
        return [
            BatchRow(
                int(r[0]),
                r[1],
                cast(RowStatus, r[2]),
                r[3],
                r[4],
                r[5],
                None if r[6] is None else from_picodollars(int(r[6])),
                r[7],
                r[8],
            )  # fmt: skip
            for r in found
        ]

    def mark_running(self, batch_id: str, row_index: int) -> None:
        """Before the row is sent: a crash from here on leaves it ``running`` (see resume)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batch_rows SET status = 'running', request_id = NULL, error = NULL"
                " WHERE batch_id = ? AND row_index = ?",
                (batch_id, row_index),
            )

    def set_request(self, batch_id: str, row_index: int, request_id: str) -> None:
        """The dispatcher routed the row: keep its request id before any attempt is paid."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batch_rows SET request_id = ? WHERE batch_id = ? AND row_index = ?",
                (request_id, batch_id, row_index),
            )

    def finish(
        self,
        batch_id: str,
        row_index: int,
        *,
        ok: bool,
        request_id: str | None,
        model: str | None,
        output: str | None,
        cost_usd: Decimal,
        error: str | None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE batch_rows SET status = ?, request_id = ?, model = ?, output = ?, cost_usd = ?, error = ?,"
                " finished_at = ? WHERE batch_id = ? AND row_index = ?",
                ("done" if ok else "failed", request_id, model, output, to_picodollars(cost_usd), error,
                 _now_text(), batch_id, row_index),
            )  # fmt: skip

    def back_to_pending(self, batch_id: str, row_indexes: Sequence[int]) -> None:
        """Rows that were running when the batch stopped and have no answer: send them again."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE batch_rows SET status = 'pending', request_id = NULL"
                " WHERE batch_id = ? AND row_index = ? AND status = 'running' AND job_id IS NULL",
                [(batch_id, index) for index in row_indexes],
            )


def _batch(row: Sequence[Any], counts: BatchCounts, here: str) -> Batch:
    pid, start, host = row[9], row[10], row[11]
    return Batch(
        id=row[0],
        created_at=datetime.fromisoformat(row[1]).astimezone(UTC),
        task=row[2],
        template=row[3],
        options=json.loads(row[4]),
        source_path=row[5],
        out_path=row[6],
        status=cast(BatchStatus, row[7]),
        concurrency=int(row[8]),
        counts=counts,
        # Running, and its process is still there (a killed one left it "running"); a process
        # of another host cannot be seen from here, so its claim counts as live.
        active=row[7] == "running" and pid is not None and (host not in (None, here) or not is_gone(pid, start)),
    )
