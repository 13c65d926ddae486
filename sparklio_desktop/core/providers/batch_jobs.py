"""The contract of a provider's batch API, and the values that cross it.

OpenAI's Batch API, Anthropic's Message Batches and Gemini's batch mode all take many
chat requests at once, answer within a day at half the price, and are polled. A
:class:`BatchJobClient` hides their three wire formats behind five calls:

* :meth:`~BatchJobClient.submit`: one provider job for many :class:`BatchItem` (each with
  our ``custom_id``, echoed back with its result), labelled so it can be found again;
* :meth:`~BatchJobClient.status`: where the job is (:class:`JobStatus`);
* :meth:`~BatchJobClient.results`: once it has ended, one :class:`ItemResult` per item
  that the provider reports (answered, failed, expired or cancelled, with its usage);
* :meth:`~BatchJobClient.cancel`: ask the provider to stop; items already answered are
  still billed and still reported by ``results``;
* :meth:`~BatchJobClient.find`: the id of the job submitted with ``label``, for a
  process killed after the provider accepted a job and before its id was stored.

Every failure leaves as a :mod:`~sparklio_desktop.core.providers.errors` class, with the
key redacted, exactly as for a chat call. The clients never retry by themselves; the
caller polls again later. Each provider's client lives beside its chat client
(``openai_batch.py``, ``anthropic_batch.py``, ``gemini_batch.py``) and reuses its SDK
client, error mapping and redaction. SDKs are imported lazily, as for chat.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from sparklio_desktop.core.providers.base import Endpoint, Message, Usage

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BATCH_CLIENTS", "BatchItem", "BatchJobClient", "ItemOutcome", "ItemResult", "JobState", "JobStatus",
    "create_batch_client", "has_batch_api",
]  # fmt: skip

# The providers with a batch API, and the class that speaks it (module:Class, imported on use).
BATCH_CLIENTS: dict[str, str] = {
    "openai": "sparklio_desktop.core.providers.openai_batch:OpenAIBatchClient",
    "anthropic": "sparklio_desktop.core.providers.anthropic_batch:AnthropicBatchClient",
    "google": "sparklio_desktop.core.providers.gemini_batch:GeminiBatchClient",
}

# Where a job is. ``in_progress``: accepted, validating or running; ``ending``: cancelling
# or finalizing (results not ready yet); ``ended``: results can be fetched (completed,
# cancelled, expired: any items it answered are billed); ``failed``: the job as a whole
# was refused (say, an invalid input file) and answered nothing.
JobState = Literal["in_progress", "ending", "ended", "failed"]
ItemOutcome = Literal["ok", "error", "expired", "cancelled"]


@dataclass(frozen=True)
class BatchItem:
    """One chat request in a job. ``custom_id`` is ours (ASCII letters, digits, ``-`` and
    ``_``, at most 64 characters: the strictest of the three providers' rules)."""

    custom_id: str
    messages: tuple[Message, ...]
    max_output_tokens: int | None = None
    temperature: float | None = None


@dataclass(frozen=True)
class JobStatus:
    """What the provider says of a job now. ``detail`` is the provider's own status word
    (``validating``, ``in_progress``, ``JOB_STATE_RUNNING``, ...) for the user to read;
    ``error`` says why a ``failed`` job failed."""

    state: JobState
    total: int
    completed: int = 0  # items answered so far (where the provider counts them)
    failed: int = 0  # items that failed so far
    detail: str = ""
    error: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """One item's ending. ``ok``: ``text`` is the answer and ``usage`` what the provider
    reported (genai-prices' convention, as :class:`~sparklio_desktop.core.providers.base.Usage`
    documents: cache reads and writes inside ``input_tokens``, reasoning inside
    ``output_tokens``). Otherwise ``error`` says why, redacted; ``usage`` is set only
    where the provider billed something for it."""

    custom_id: str
    outcome: ItemOutcome
    text: str | None = None
    usage: Usage | None = None
    error: str | None = None


@runtime_checkable
class BatchJobClient(Protocol):
    """One provider's batch API. ``endpoint.api_name`` is the model every item is sent to."""

    provider: str

    async def submit(self, endpoint: Endpoint, items: Sequence[BatchItem], *, label: str) -> str:
        """Create one job for ``items``; returns the provider's job id. ``label`` (ASCII, at
        most 64 characters) is stored with the job where the provider keeps one, so
        :meth:`find` can recover the id."""
        ...

    async def status(self, endpoint: Endpoint, job_id: str) -> JobStatus: ...

    async def results(self, endpoint: Endpoint, job_id: str) -> list[ItemResult]:
        """Every item's result, once :meth:`status` says ``ended``."""
        ...

    async def cancel(self, endpoint: Endpoint, job_id: str) -> None: ...

    async def find(self, endpoint: Endpoint, label: str, *, total: int, created_after: float) -> str | None:
        """The job submitted with ``label`` (``total`` items, created at or after the Unix
        time ``created_after``), or None when the provider has none."""
        ...

    async def aclose(self) -> None: ...


def has_batch_api(provider: str) -> bool:
    return provider in BATCH_CLIENTS


def create_batch_client(provider: str, http_client: httpx.AsyncClient | None = None) -> BatchJobClient:
    """The batch client of ``provider`` (one of :data:`BATCH_CLIENTS`), sharing ``http_client``."""
    module_name, _, class_name = BATCH_CLIENTS[provider].partition(":")
    cls: Callable[..., BatchJobClient] = getattr(importlib.import_module(module_name), class_name)
    return cls(http_client=http_client)
