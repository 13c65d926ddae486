"""Every batch, kept in the data folder: ``batches.sqlite``.

Why a file of its own: a batch is a queue of work and its results, written many times a
second while it runs; the ledger is money and stays the record of what was paid. The
two meet through the request id a row keeps: a resume asks the ledger whether a row
marked ``running`` was in fact answered before the process died (core/batches/runner.py).

Plain ``sqlite3`` in WAL mode, one short transaction per write (a row marked running,
its request id, its result), so a process killed at any point loses at most the write
in progress. Opening checks the file as the ledger does (core/ledger/sqlite_file.py):
a read-only folder or a damaged file is one located line, never a traceback.
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
from typing import Any, Self, cast

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
from sparklio_desktop.core.ledger.owners import is_gone, this_process
from sparklio_desktop.core.ledger.plain_migrations import open_migrated
from sparklio_desktop.core.ledger.sqlite_file import (
    DatabaseFileError,
    file_error,
)
from sparklio_desktop.core.money import from_picodollars, to_picodollars
from sparklio_desktop.core.settings import paths

__all__ = ["FILENAME", "BatchStore", "new_batch_id"]

FILENAME = "batches.sqlite"
LABEL = "batches file"
MIN_PREFIX = 4
_BATCH_COLUMNS = "id, created_at, task, template, options_json, source_path, out_path, status, concurrency"
_COUNTS = """SELECT COUNT(*),
    COALESCE(SUM(status = 'pending'), 0), COALESCE(SUM(status = 'running'), 0),
    COALESCE(SUM(status = 'done'), 0), COALESCE(SUM(status = 'failed'), 0), COALESCE(SUM(cost_usd), 0)
    FROM batch_rows WHERE batch_id = ?"""


def _now_text() -> str:
    utc = datetime.now(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def new_batch_id() -> str:
    return secrets.token_hex(8)


class BatchStore:
    """SQLite file ``data_dir()/batches.sqlite`` (WAL). One thread at a time; a lock makes
    a mistake there safe rather than corrupting."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn = self._open(self.path)

    @classmethod
    def open_default(cls) -> BatchStore:
        return cls(paths.data_dir() / FILENAME)

    def close(self) -> None:
        with self._lock:
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
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise (file_error(self.path, LABEL, exc) or exc) from None

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise (file_error(self.path, LABEL, exc) or exc) from None

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
                f"INSERT INTO batches ({_BATCH_COLUMNS}, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)",
                (batch_id, now, task, template, json.dumps(options, sort_keys=True), source_path, out_path,
                 concurrency, now),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO batch_rows (batch_id, row_index, prompt) VALUES (?, ?, ?)",
                ((batch_id, index, prompt) for index, prompt in enumerate(prompts, start=1)),
            )
        return batch_id

    def resolve(self, id_or_prefix: str) -> str:
        """The full id of the batch ``id_or_prefix`` names (a unique prefix of 4+ characters)."""
        text = id_or_prefix.strip().lower()
        with self._read() as conn:
            if conn.execute("SELECT 1 FROM batches WHERE id = ?", (text,)).fetchone():
                return text
            found = []
            if len(text) >= MIN_PREFIX and all(ch in "0123456789abcdef" for ch in text):
                found = [r[0] for r in conn.execute("SELECT id FROM batches WHERE id LIKE ? LIMIT 2", (text + "%",))]
        if len(found) == 1:
            return str(found[0])
        if len(found) > 1:
            raise BatchNotFound(f"batch {id_or_prefix!r} is ambiguous: give more of its id")
        raise BatchNotFound(f"no batch {id_or_prefix!r}; `sparklio batch list` shows them")

    def get(self, id_or_prefix: str) -> Batch:
        batch_id = self.resolve(id_or_prefix)
        with self._read() as conn:
            row = conn.execute(
                f"SELECT {_BATCH_COLUMNS}, owner_pid, owner_start FROM batches WHERE id = ?", (batch_id,)
            ).fetchone()
            counts = self._counts(conn, batch_id)
        return _batch(row, counts)

    def batches(self, limit: int = 50) -> list[Batch]:
        with self._read() as conn:
            rows = conn.execute(
                f"SELECT {_BATCH_COLUMNS}, owner_pid, owner_start FROM batches ORDER BY created_at DESC LIMIT ?",
                (limit,),
            ).fetchall()
            return [_batch(row, self._counts(conn, row[0])) for row in rows]

    def counts(self, batch_id: str) -> BatchCounts:
        with self._read() as conn:
            return self._counts(conn, batch_id)

    @staticmethod
    def _counts(conn: sqlite3.Connection, batch_id: str) -> BatchCounts:
        total, pending, running, done, failed, picos = conn.execute(_COUNTS, (batch_id,)).fetchone()
        return BatchCounts(total, pending, running, done, failed, from_picodollars(int(picos)))

    def status(self, batch_id: str) -> BatchStatus:
        with self._read() as conn:
            row = conn.execute("SELECT status FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise BatchNotFound(f"no batch {batch_id!r}")
        return cast(BatchStatus, row[0])

    def claim(self, batch_id: str) -> None:
        """Mark the batch ``running`` by this process; refused (:class:`BatchBusy`) while
        another live process runs it. One transaction, so two resumes cannot both claim it.
        A process killed with SIGKILL is gone: its claim lapses (core/ledger/owners.py)."""
        me = this_process()
        with self._write() as conn:
            row = conn.execute("SELECT owner_pid, owner_start FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                raise BatchNotFound(f"no batch {batch_id!r}")
            pid, start = row
            if pid is not None and pid != me.pid and not is_gone(pid, start):
                raise BatchBusy(f"batch {batch_id} is being run by process {pid}; stop that one or wait for it")
            conn.execute(
                "UPDATE batches SET status = CASE WHEN status = 'cancelled' THEN status ELSE 'running' END,"
                " owner_pid = ?, owner_start = ?, updated_at = ? WHERE id = ?",
                (me.pid, me.start, _now_text(), batch_id),
            )

    def release(self, batch_id: str, status: BatchStatus) -> None:
        """This process stops running the batch, leaving it ``status`` (a cancel stays)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE batches SET status = CASE WHEN status = 'cancelled' THEN status ELSE ? END,"
                " owner_pid = NULL, owner_start = NULL, updated_at = ? WHERE id = ?",
                (status, _now_text(), batch_id),
            )

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
                ((batch_id, index) for index in row_indexes),
            )


def _batch(row: Sequence[Any], counts: BatchCounts) -> Batch:
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
        # Running, and its process is still there (a killed one left it "running").
        active=row[7] == "running" and row[9] is not None and not is_gone(row[9], row[10]),
    )
