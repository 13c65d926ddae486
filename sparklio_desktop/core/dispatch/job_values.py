"""The values a provider batch job hands its caller, apart so the batches store can name
them without importing the dispatcher (core/dispatch/provider_batch.py does the work)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

__all__ = ["Ending", "JobRef"]


@dataclass(frozen=True)
class JobRef:
    """A submitted job as the caller keeps it: ours (``id``), and the provider's."""

    id: str
    provider: str
    model_id: str
    provider_job_id: str | None
    total: int
    created_at: float  # Unix time, before the job was submitted


@dataclass(frozen=True)
class Ending:
    """How one item of a collected job ended, for the caller's row. ``again``: the
    provider never ran it (expired, cancelled): it may be sent again."""

    request_id: str
    outcome: Literal["done", "failed", "again"]
    model_id: str
    output: str | None = None
    cost_usd: Decimal = Decimal(0)
    error: str | None = None
