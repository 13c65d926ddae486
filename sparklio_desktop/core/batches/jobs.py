"""A batch's provider jobs in ``batches.sqlite``: which rows went in which job, and where it is.

The job's money lives in the ledger (core/dispatch/provider_batch.py); this is the queue's
side: a row in a job is ``running`` with the job's id until the job is settled, so a
resume or the app after a restart polls the job instead of sending the row again. Every
change that moves rows is one transaction with the job's own change, so a kill never
leaves a row in a job that does not say so, or the reverse.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from sparklio_desktop.core.dispatch.job_values import Ending, JobRef
from sparklio_desktop.core.money import to_picodollars

if TYPE_CHECKING:
    from sparklio_desktop.core.batches.store import BatchStore
    from sparklio_desktop.core.providers.batch_jobs import JobStatus

__all__ = ["JobState", "JobStore", "OpenJob"]

JobState = Literal["submitting", "submitted", "cancelling", "settled"]
_JOB_COLUMNS = (
    "id, provider, model_id, provider_job_id, total, created_at, state, completed, failed, detail, error, batch_id"
)


@dataclass(frozen=True)
class OpenJob:
    """A job not yet settled, with what the provider last said of it."""

    ref: JobRef
    state: JobState
    completed: int
    failed: int
    detail: str | None
    error: str | None
    batch_id: str

    def words(self) -> str:
        """The job for people: "42 rows with OpenAI's batch API (in progress, 10 answered)"."""
        from sparklio_desktop.core.naming import provider_name

        said = (self.detail or self.state).replace("_", " ").lower()
        so_far = f", {self.completed:,} answered" if self.completed else ""
        return f"{self.ref.total:,} rows with {provider_name(self.ref.provider)}'s batch API ({said}{so_far})"

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.ref.id,
            "provider": self.ref.provider,
            "model": self.ref.model_id,
            "provider_job_id": self.ref.provider_job_id,
            "state": self.state,
            "total": self.ref.total,
            "completed": self.completed,
            "failed": self.failed,
            "detail": self.detail,
        }


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class JobStore:
    """The provider jobs of the batch store (the same connection and lock as its rows: the
    file, or the team database)."""

    def __init__(self, store: BatchStore) -> None:
        self._store = store

    def create(self, batch_id: str, provider: str, model_id: str, rows: Sequence[tuple[int, str]]) -> JobRef:
        """A new job (``submitting``) holding ``rows`` (row index, request id), marked running."""
        job = JobRef(secrets.token_hex(8), provider, model_id, None, len(rows), time.time())
        with self._store._write() as conn:
            conn.execute(
                "INSERT INTO provider_jobs (id, batch_id, provider, model_id, state, total, created_at)"
                " VALUES (?, ?, ?, ?, 'submitting', ?, ?)",
                (job.id, batch_id, provider, model_id, job.total, job.created_at),
            )
            conn.executemany(
                "UPDATE batch_rows SET status = 'running', request_id = ?, job_id = ?, error = NULL"
                " WHERE batch_id = ? AND row_index = ?",
                [(request_id, job.id, batch_id, index) for index, request_id in rows],
            )
        return job

    def submitted(self, job_id: str, provider_job_id: str) -> None:
        with self._store._write() as conn:
            conn.execute(
                "UPDATE provider_jobs SET provider_job_id = ?, state = 'submitted', checked_at = ? WHERE id = ?",
                (provider_job_id, _now_text(), job_id),
            )

    def set_state(self, job_id: str, state: JobState) -> None:
        with self._store._write() as conn:
            conn.execute("UPDATE provider_jobs SET state = ? WHERE id = ? AND state != 'settled'", (state, job_id))

    def seen(self, job_id: str, status: JobStatus) -> None:
        """What the provider said of the job at its last poll."""
        with self._store._write() as conn:
            conn.execute(
                "UPDATE provider_jobs SET completed = ?, failed = ?, detail = ?, error = ?, checked_at = ?"
                " WHERE id = ?",
                (status.completed, status.failed, status.detail, status.error, _now_text(), job_id),
            )

    def drop(self, batch_id: str, job_id: str) -> None:
        """A job that held nothing and sent nothing (the budget refused it): its rows go
        back to pending and the job is forgotten."""
        with self._store._write() as conn:
            conn.execute(
                "UPDATE batch_rows SET status = 'pending', request_id = NULL, job_id = NULL"
                " WHERE batch_id = ? AND job_id = ?",
                (batch_id, job_id),
            )
            conn.execute("DELETE FROM provider_jobs WHERE id = ?", (job_id,))

    def open_jobs(self, batch_id: str | None = None) -> list[OpenJob]:
        """Jobs not yet settled: of one batch, or of every batch (the app polls them all)."""
        where, params = ("state != 'settled' AND batch_id = ?", (batch_id,)) if batch_id else self._mine()
        with self._store._read() as conn:
            found = conn.execute(
                f"SELECT {_JOB_COLUMNS} FROM provider_jobs WHERE {where} ORDER BY created_at", params
            ).fetchall()
        return [_open_job(row) for row in found]

    def batches_with_open_jobs(self) -> list[str]:
        where, params = self._mine()
        with self._store._read() as conn:
            found = conn.execute(f"SELECT DISTINCT batch_id FROM provider_jobs WHERE {where}", params).fetchall()
        return [str(row[0]) for row in found]

    def _mine(self) -> tuple[str, tuple[str, ...]]:
        """Jobs not yet settled, of the batches the store's member sees (all, on a file)."""
        store = self._store
        if not store._mine:
            return "state != 'settled'", ()
        return (
            f"state != 'settled' AND batch_id IN (SELECT id FROM batches WHERE 1 = 1{store._mine})",
            store._mine_params,
        )

    def rows(self, job_id: str) -> list[tuple[int, str]]:
        """(row index, request id) of the job's rows still waiting on it."""
        with self._store._read() as conn:
            found = conn.execute(
                "SELECT row_index, request_id FROM batch_rows WHERE job_id = ? AND status = 'running'"
                " ORDER BY row_index",
                (job_id,),
            ).fetchall()
        return [(int(index), str(request_id)) for index, request_id in found]

    def settle(self, batch_id: str, job_id: str, endings: Iterable[tuple[int, Ending]]) -> None:
        """Every row's ending and the job ``settled``, in one transaction. A row the
        provider never ran goes back to pending, out of the job."""
        now = _now_text()
        with self._store._write() as conn:
            for index, ending in endings:
                if ending.outcome == "again":
                    conn.execute(
                        "UPDATE batch_rows SET status = 'pending', request_id = NULL, job_id = NULL, error = ?"
                        " WHERE batch_id = ? AND row_index = ?",
                        (ending.error, batch_id, index),
                    )
                    continue
                conn.execute(
                    "UPDATE batch_rows SET status = ?, model = ?, output = ?, cost_usd = ?, error = ?,"
                    " finished_at = ? WHERE batch_id = ? AND row_index = ?",
                    ("done" if ending.outcome == "done" else "failed", ending.model_id, ending.output,
                     to_picodollars(ending.cost_usd), ending.error, now, batch_id, index),
                )  # fmt: skip
            conn.execute("UPDATE provider_jobs SET state = 'settled', settled_at = ? WHERE id = ?", (now, job_id))


def _open_job(row: Sequence[object]) -> OpenJob:
    ref = JobRef(
        str(row[0]), str(row[1]), str(row[2]), None if row[3] is None else str(row[3]), int(cast(int, row[4])),
        float(cast(float, row[5])),
    )  # fmt: skip
    return OpenJob(
        ref, cast(JobState, row[6]), int(cast(int, row[7])), int(cast(int, row[8])),
        None if row[9] is None else str(row[9]), None if row[10] is None else str(row[10]), str(row[11]),
    )  # fmt: skip
