"""The values the batch store hands out, and its errors.

SparklioError
├── BatchNotFound          an id (or id prefix) that names no batch
├── BatchInputError        an input file or template that cannot run (file, line, column)
└── DatabaseFileError      (core.ledger.sqlite_file) the batches file cannot be used
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sparklio_desktop.core.errors import SparklioError

__all__ = [
    "BATCH_STATUSES", "ROW_STATUSES", "Batch", "BatchBusy", "BatchCounts", "BatchInputError", "BatchNotFound",
    "BatchRow", "BatchStatus", "RowStatus",
]  # fmt: skip

BatchStatus = Literal["running", "paused", "cancelled", "done"]
RowStatus = Literal["pending", "running", "done", "failed"]
BATCH_STATUSES: tuple[BatchStatus, ...] = ("running", "paused", "cancelled", "done")
ROW_STATUSES: tuple[RowStatus, ...] = ("pending", "running", "done", "failed")


class BatchNotFound(SparklioError):
    """No batch has this id (or unique id prefix)."""


class BatchBusy(SparklioError):
    """Another live process is running this batch."""


class BatchInputError(SparklioError):
    """An input file or a prompt template that cannot run, located (file, line, column)."""


@dataclass(frozen=True)
class BatchCounts:
    total: int
    pending: int
    running: int
    done: int
    failed: int
    cost_usd: Decimal

    @property
    def unfinished(self) -> int:
        return self.pending + self.running


@dataclass(frozen=True)
class Batch:
    id: str
    created_at: datetime
    task: str
    template: str
    options: dict[str, Any]
    source_path: str
    out_path: str | None
    status: BatchStatus
    concurrency: int
    counts: BatchCounts = field(compare=False)
    active: bool = field(default=False, compare=False)  # a live process is running it now

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``sparklio batch status --json``: money as exact decimal text."""
        c = self.counts
        return {
            "id": self.id,
            "status": self.status,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "task": self.task,
            "template": self.template,
            "options": self.options,
            "source": self.source_path,
            "out": self.out_path,
            "concurrency": self.concurrency,
            "total": c.total,
            "done": c.done,
            "failed": c.failed,
            "pending": c.pending,
            "running": c.running,
            "cost_usd": str(c.cost_usd),
        }


@dataclass(frozen=True)
class BatchRow:
    row_index: int
    prompt: str
    status: RowStatus
    request_id: str | None
    model: str | None
    output: str | None
    cost_usd: Decimal | None
    error: str | None
    job_id: str | None = None  # the provider batch job it waits on (core/batches/jobs.py)
