"""A batch's rows through provider batch APIs: submitted as jobs, polled, settled.

Speed class ``batch`` sends each row that can go in a provider job (core/dispatch/
provider_batch.py says which) in one job per model, at the batch rates; the others go
as normal requests in groups (core/batches/runner.py). The order of writes keeps a kill
at any point safe:

1. the job is created (``submitting``) with its rows marked running, their request ids set;
2. the ledger holds the job's worst case with every row's ``in_flight`` attempt, owned by
   the job (one transaction); a budget refusal drops the job and its rows go as normal
   requests instead;
3. the provider call; its job id is stored (``submitted``). A process killed between the
   call and the store leaves ``submitting``: the next poll asks the provider for the job
   by its label (:meth:`ProviderBatches.find`), and only when the provider has none are
   the rows let go (their attempts closed at $0, sent again later);
4. polling, with a growing pause (:data:`FIRST_POLL_S` to :data:`MAX_POLL_S`); when the
   job has ended, its results are recorded in the ledger (each row's attempt at the batch
   rate) and then its rows are settled here, in one transaction: done, failed, or back to
   pending when the provider never ran them (expired, cancelled).

A batch cancelled while a job runs asks the provider to cancel it; what the provider
answered before stopping is still billed, so the job is still collected.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sparklio_desktop.core.batches.jobs import JobStore, OpenJob
from sparklio_desktop.core.batches.records import Batch, BatchRow
from sparklio_desktop.core.batches.results import ResultRecord
from sparklio_desktop.core.batches.store import BatchStore
from sparklio_desktop.core.dispatch.job_values import Ending, JobRef
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.errors import BudgetError, SparklioError
from sparklio_desktop.core.providers.errors import ProviderError, TransientError

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch.provider_batch import JobItem
    from sparklio_desktop.core.providers.batch_jobs import JobStatus

__all__ = ["FIRST_POLL_S", "MAX_JOB_ITEMS", "MAX_POLL_S", "JobDriver", "ProviderJobs", "cancel_job", "poll_pauses"]

FIRST_POLL_S = 5.0
MAX_POLL_S = 60.0
MAX_JOB_ITEMS = 1000  # rows per provider job (every provider takes more; a smaller job settles sooner)
# Prompt text per job: Gemini takes inline jobs up to 20 MB of JSON, OpenAI input files up
# to 200 MB; 8 million characters stays well inside the smallest after JSON escaping.
MAX_JOB_CHARS = 8_000_000
GIVE_UP_AFTER = 5  # rounds of polls that all failed: the CLI stops waiting (resume polls again)
NEVER_ARRIVED = "the job never reached the provider; the row is sent again"


class ProviderJobs(Protocol):
    """What the driver needs of core.dispatch.provider_batch.ProviderBatches."""

    async def prepare(self, request: RunRequest, request_id: str) -> JobItem | str: ...

    async def hold(self, job_id: str, items: Sequence[JobItem]) -> None: ...

    async def submit(self, job_id: str, items: Sequence[JobItem]) -> str: ...

    async def status(self, job: JobRef) -> JobStatus: ...

    async def cancel(self, job: JobRef) -> None: ...

    async def find(self, job: JobRef) -> str | None: ...

    async def collect(self, job: JobRef, request_ids: Sequence[str]) -> list[Ending]: ...

    async def abandon(
        self, job: JobRef, request_ids: Sequence[str], reason: str, *, refused: bool = False
    ) -> list[Ending]: ...


def poll_pauses() -> tuple[float, float]:
    """(first, longest) pause between polls of a provider job. ``SPARKLIO_BATCH_POLL_S``
    sets the longest (and the first, when shorter than the default's): for tests and the
    impatient, in the CLI and the app alike."""
    text = os.environ.get("SPARKLIO_BATCH_POLL_S")
    if not text:
        return FIRST_POLL_S, MAX_POLL_S
    try:
        seconds = float(text)
    except ValueError:
        raise SparklioError(f"SPARKLIO_BATCH_POLL_S must be a number of seconds, not {text[:40]!r}") from None
    if not 0 < seconds <= 3600:
        raise SparklioError("SPARKLIO_BATCH_POLL_S must be more than 0 and at most 3600 seconds")
    return min(seconds, FIRST_POLL_S), seconds


async def cancel_job(provider: ProviderJobs, jobs: JobStore, job: JobRef) -> str | None:
    """Ask the provider to stop ``job``; it is still polled, for what it answered before.
    Returns the provider's refusal (say, the job had just ended), which changes nothing:
    the next poll tells where the job is."""
    refusal = None
    try:
        await provider.cancel(job)
    except ProviderError as exc:
        refusal = str(exc)
    jobs.set_state(job.id, "cancelling")
    return refusal


@dataclass
class JobDriver:
    """Submits a batch's rows as provider jobs and sees the jobs through."""

    store: BatchStore
    provider: ProviderJobs
    batch: Batch
    request_for: Callable[[str], RunRequest]  # a row's prompt -> its request
    finished: Callable[[list[ResultRecord]], None]  # rows settled: results file, progress
    first_poll_s: float = FIRST_POLL_S
    max_poll_s: float = MAX_POLL_S
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    stopped: Callable[[], bool] = lambda: False  # the runner was stopped (paused): stop polling
    submitted_rows: int = 0
    jobs: JobStore = field(init=False)
    last_error: str | None = None  # the last poll failure, for the user

    def __post_init__(self) -> None:
        self.jobs = JobStore(self.store)

    async def submit(self, rows: Sequence[BatchRow]) -> list[BatchRow]:
        """Submit the rows that can go in provider jobs; returns the rows that go as normal requests."""
        rest: list[BatchRow] = []
        by_model: dict[str, list[tuple[BatchRow, JobItem]]] = {}
        for number, row in enumerate(rows):
            if number % 16 == 15:
                await asyncio.sleep(0)  # routing a thousand rows is the loop's to share
            item = await self.provider.prepare(self.request_for(row.prompt), uuid.uuid4().hex)
            if isinstance(item, str):
                rest.append(row)
            else:
                by_model.setdefault(item.model.id, []).append((row, item))
        for pairs in by_model.values():
            for chunk in _chunks(pairs):
                rest.extend(await self._submit_job(chunk))
        return sorted(rest, key=lambda row: row.row_index)

    async def _submit_job(self, pairs: Sequence[tuple[BatchRow, JobItem]]) -> list[BatchRow]:
        items = [item for _, item in pairs]
        model = items[0].model
        job = self.jobs.create(
            self.batch.id, model.provider, model.id, [(row.row_index, item.request_id) for row, item in pairs]
        )
        try:
            await self.provider.hold(job.id, items)
        except BudgetError:  # nothing held, nothing sent: these rows go one by one instead
            self.jobs.drop(self.batch.id, job.id)
            return [row for row, _ in pairs]
        try:
            provider_job_id = await self.provider.submit(job.id, items)
        except TransientError as exc:  # it may have arrived: the next poll looks for it by its label
            self.last_error = str(exc)
            return []
        except ProviderError as exc:  # refused: no job exists
            self._settle(job, await self.provider.abandon(job, [i.request_id for i in items], str(exc), refused=True))
            return []
        self.jobs.submitted(job.id, provider_job_id)
        self.submitted_rows += len(items)
        return []

    async def watch(self) -> bool:
        """Poll this batch's open jobs until all are settled; False when it gave up after
        :data:`GIVE_UP_AFTER` rounds in which every poll failed (they stay open)."""
        delay = self.first_poll_s
        failed_rounds = 0
        while True:
            open_jobs = self.jobs.open_jobs(self.batch.id)
            if not open_jobs:
                return True
            progressed = False
            for job in open_jobs:
                progressed = await self._step(job) or progressed
            if not self.jobs.open_jobs(self.batch.id):
                return True
            failed_rounds = 0 if progressed else failed_rounds + 1
            if failed_rounds >= GIVE_UP_AFTER or self.stopped():
                return False
            await self.sleep(delay)
            delay = min(self.max_poll_s, delay * 1.5)

    async def _step(self, job: OpenJob) -> bool:
        """One poll of one job; False when the provider could not be asked."""
        ref = job.ref
        try:
            if job.state == "submitting":
                found = await self.provider.find(ref)
                if found is None:
                    self._settle(ref, await self.provider.abandon(ref, self._request_ids(ref), NEVER_ARRIVED))
                else:
                    self.jobs.submitted(ref.id, found)
                return True
            if job.state == "submitted" and self.store.status(self.batch.id) == "cancelled":
                await self.cancel(ref)
            status = await self.provider.status(ref)
            self.jobs.seen(ref.id, status)
            if status.state == "failed":
                reason = f"the provider refused the job: {status.error or status.detail}"
                self._settle(ref, await self.provider.abandon(ref, self._request_ids(ref), reason, refused=True))
            elif status.state == "ended":
                self._settle(ref, await self.provider.collect(ref, self._request_ids(ref)))
        except ProviderError as exc:
            self.last_error = str(exc)
            return False
        return True

    async def cancel(self, job: JobRef) -> None:
        self.last_error = await cancel_job(self.provider, self.jobs, job) or self.last_error

    def _request_ids(self, job: JobRef) -> list[str]:
        return [request_id for _, request_id in self.jobs.rows(job.id)]

    def _settle(self, job: JobRef, endings: Sequence[Ending]) -> None:
        """Settle the job's rows (the ledger has recorded their attempts)."""
        index_of = {request_id: index for index, request_id in self.jobs.rows(job.id)}
        pairs = [(index_of[e.request_id], e) for e in endings if e.request_id in index_of]
        self.jobs.settle(self.batch.id, job.id, pairs)
        records = [
            ResultRecord(index, e.outcome, e.output, e.model_id, e.cost_usd, e.request_id, e.error)
            for index, e in pairs
            if e.outcome != "again"
        ]
        if records:
            self.finished(records)


def _chunks(pairs: Sequence[tuple[BatchRow, JobItem]]) -> list[list[tuple[BatchRow, JobItem]]]:
    """The rows of one model, in jobs of at most :data:`MAX_JOB_ITEMS` rows and
    :data:`MAX_JOB_CHARS` characters of messages (a row larger than that goes alone)."""
    chunks: list[list[tuple[BatchRow, JobItem]]] = []
    size = 0
    for pair in pairs:
        chars = sum(len(message.content) for message in pair[1].batch_item.messages)
        if not chunks or len(chunks[-1]) >= MAX_JOB_ITEMS or size + chars > MAX_JOB_CHARS:
            chunks.append([])
            size = 0
        chunks[-1].append(pair)
        size += chars
    return chunks
