"""Runs a batch: every unfinished row a normal routed request, a bounded number at once.

Each row is a :class:`~sparklio_desktop.core.dispatch.RunRequest` through the one
:class:`~sparklio_desktop.core.dispatch.Dispatcher`, so retries, fallback, the budget's
reservation and the ledger are exactly a ``sparklio run``'s. The order of writes is what
makes a kill at any point safe:

1. the row is marked ``running`` (batches file) before it is sent;
2. when the dispatcher has routed it, the row keeps its request id, before any attempt
   is paid for (the ledger writes the attempt's ``in_flight`` row itself);
3. when it ends, the row is ``done`` or ``failed`` with its request id, model, output and
   cost, and then its record is appended to the results file.

On resume (:meth:`BatchRunner.recover`) a row still marked ``running`` is looked up in
the ledger by its request id: an attempt that answered (``ok`` or ``cache_hit``) means
the row was finished, so it counts as done and is never sent again; its output was not
kept (the ledger keeps no answers), which its record says. Any other running row goes
back to pending. So a resume sends at most the unfinished rows plus the rows that were in
flight when the process died, which is at most the concurrency.

Speed class ``batch``: with ``jobs`` (the dispatcher's provider batches), the rows a
provider batch API can take go there at its discounted rate (core/batches/job_runner.py);
the rest go out in groups of :data:`GROUP_SIZE` (the seed's 5-10), all routed by the same
options, the next group starting when the previous one has finished. A row waiting on a
provider job is ``running`` with its ``job_id``; :meth:`BatchRunner.recover` leaves it to
the job, which is polled, across restarts, until it is settled.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sparklio_desktop.core.batches.from_template import json_output_from_option
from sparklio_desktop.core.batches.job_runner import FIRST_POLL_S, MAX_POLL_S, JobDriver, ProviderJobs
from sparklio_desktop.core.batches.records import Batch, BatchCounts, BatchRow
from sparklio_desktop.core.batches.results import ResultRecord, ResultsFile
from sparklio_desktop.core.batches.store import BatchStore
from sparklio_desktop.core.dispatch.events import Event, Finished, Routed
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.records import ANSWER_OUTCOMES, AttemptRecord
from sparklio_desktop.core.routing.router import RouteRequest

__all__ = [
    "GROUP_SIZE", "MAX_CONCURRENCY", "RECOVERED_NOTE", "BatchRunner", "LedgerAnswer", "RowDispatcher", "ledger_answer",
    "route_for",
]  # fmt: skip

MAX_CONCURRENCY = 32
GROUP_SIZE = 8  # speed class "batch": rows per group (the seed says 5-10)
RECOVERED_NOTE = "answered (the ledger shows it) but the output was lost when the process stopped"


class RowDispatcher(Protocol):
    def stream(self, request: RunRequest) -> AsyncIterator[Event]: ...


# request id -> (the model that answered, what the request cost), or None when the
# ledger has no answer for it.
LedgerAnswer = Callable[[str], "tuple[str, Decimal] | None"]


class AttemptsByRequest(Protocol):
    def attempts(self, request_id: str) -> list[AttemptRecord]: ...


def ledger_answer(ledger: AttemptsByRequest) -> LedgerAnswer:
    """The :data:`LedgerAnswer` of a ledger: the model of the request's answering attempt
    (``ok`` or ``cache_hit``) and the cost of all its attempts, or None."""

    def answer(request_id: str) -> tuple[str, Decimal] | None:
        attempts = ledger.attempts(request_id)
        answered = [a for a in attempts if a.outcome in ANSWER_OUTCOMES]
        if not answered:
            return None
        return answered[-1].model_id, sum((a.cost_usd for a in attempts), Decimal(0))

    return answer


def route_for(task: str, options: dict[str, Any], prompt: str) -> RouteRequest:
    """The route request of one row, from the batch's stored options."""
    return RouteRequest(
        task=task,
        complexity=options.get("complexity"),
        budget=options.get("budget"),
        speed=options.get("speed"),
        quality=options.get("quality"),
        prompt=prompt,
        explore=not options.get("no_explore", False),
        seed=options.get("seed"),
        system_prompt=options.get("system_prompt"),  # a batch built from a template (from_template.py)
    )


def request_for(batch: Batch, prompt: str) -> RunRequest:
    return RunRequest(
        route=route_for(batch.task, batch.options, prompt),
        use_cache=not batch.options.get("no_cache", False),
        max_output_tokens=batch.options.get("max_output_tokens"),
        run_id=batch.id,  # the ledger's rows of one batch share it (history --run)
        origin="batch",
        json_output=json_output_from_option(batch.options.get("json_output")),
    )


@dataclass
class BatchRunner:
    """Runs one batch's unfinished rows. ``on_progress`` is called after each row ends."""

    store: BatchStore
    dispatcher: RowDispatcher
    batch: Batch
    results: ResultsFile | None = None
    on_progress: Callable[[BatchCounts], None] | None = None
    jobs: ProviderJobs | None = None  # provider batch APIs (speed class ``batch``); None: never used
    wait_for_jobs: bool = True  # poll the batch's provider jobs until they are settled
    first_poll_s: float = FIRST_POLL_S
    max_poll_s: float = MAX_POLL_S
    sent: int = 0  # rows handed to the dispatcher or to a provider job by this runner
    jobs_waiting: bool = False  # provider jobs were still open when run() returned
    _stopping: bool = False  # no further row (stopped, or the batch was cancelled)
    _paused: bool = False  # stopped: provider jobs are not polled either (a cancel still collects them)

    def stop(self) -> None:
        """Send no further row and stop polling provider jobs; the rows in flight finish (or
        are cancelled by the caller)."""
        self._stopping = True
        self._paused = True

    @property
    def window(self) -> int:
        """Rows in flight at most: the concurrency, or a group for speed class ``batch``."""
        return GROUP_SIZE if self.batch.options.get("speed") == "batch" else self.batch.concurrency

    def recover(self, answer: LedgerAnswer) -> int:
        """Settle rows left ``running`` by a process that stopped; returns how many were
        found answered in the ledger. Then add finished rows the results file lacks."""
        found = 0
        back: list[int] = []
        for row in self.store.rows(self.batch.id, "running"):
            if row.job_id is not None:  # waits on its provider job, which is polled
                continue
            answered = answer(row.request_id) if row.request_id else None
            if answered is None:
                back.append(row.row_index)
                continue
            model, cost = answered
            self.store.finish(
                self.batch.id, row.row_index, ok=True, request_id=row.request_id, model=model, output=None,
                cost_usd=cost, error=RECOVERED_NOTE,
            )  # fmt: skip
            found += 1
        self.store.back_to_pending(self.batch.id, back)
        if self.results is not None:
            for status in ("done", "failed"):
                for finished in self.store.rows(self.batch.id, status):
                    if finished.row_index not in self.results.written:
                        self.results.append(_record(finished))
        return found

    async def run(self) -> BatchCounts:
        """Send every pending row; returns the counts. The batch is ``done`` when no row is
        left unfinished, else ``paused`` (stopped) or as a ``cancel`` left it."""
        pending = self.store.rows(self.batch.id, "pending")
        by_speed = self.batch.options.get("speed") == "batch"
        driver = self._driver()
        try:
            if driver is not None and by_speed and self._go_on():
                pending = await driver.submit(pending)
                self.sent += driver.submitted_rows
            if by_speed:
                await self._in_groups(pending)
            else:
                await self._bounded(pending)
            if driver is not None and self.wait_for_jobs and not self._paused:
                await driver.watch()
            self.jobs_waiting = driver is not None and bool(driver.jobs.open_jobs(self.batch.id))
        finally:
            counts = self.store.counts(self.batch.id)
            self.store.release(self.batch.id, "done" if counts.unfinished == 0 else "paused")
        return counts

    def _driver(self) -> JobDriver | None:
        if self.jobs is None:
            return None
        return JobDriver(
            self.store, self.jobs, self.batch, lambda prompt: request_for(self.batch, prompt), self._finished,
            self.first_poll_s, self.max_poll_s, stopped=lambda: self._paused,
        )  # fmt: skip

    def _finished(self, records: list[ResultRecord]) -> None:
        if self.results is not None:
            for record in records:
                self.results.append(record)
        if self.on_progress is not None:
            self.on_progress(self.store.counts(self.batch.id))

    def _go_on(self) -> bool:
        if self._stopping:
            return False
        if self.store.status(self.batch.id) == "cancelled":  # `sparklio batch cancel` from elsewhere
            self._stopping = True
            return False
        return True

    async def _bounded(self, rows: Sequence[BatchRow]) -> None:
        slots = asyncio.Semaphore(self.batch.concurrency)

        async def one(row: BatchRow) -> None:
            try:
                await self._row(row)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as group:
            for row in rows:
                await slots.acquire()
                if not self._go_on():
                    slots.release()
                    break
                group.create_task(one(row))

    async def _in_groups(self, rows: Sequence[BatchRow]) -> None:
        for start in range(0, len(rows), GROUP_SIZE):
            if not self._go_on():
                return
            async with asyncio.TaskGroup() as group:
                for row in rows[start : start + GROUP_SIZE]:
                    group.create_task(self._row(row))

    async def _row(self, row: BatchRow) -> None:
        batch_id = self.batch.id
        self.store.mark_running(batch_id, row.row_index)
        self.sent += 1
        request_id: str | None = None
        result = None
        # A cancel (Ctrl+C, a signal) that lands once the answer is in is held back until
        # the row is recorded: the answer is paid for, and a row put back to pending would
        # be sent (and paid) again, one left running would lose its output.
        cancelled = False
        record: ResultRecord | None = None
        try:
            async for event in self.dispatcher.stream(request_for(self.batch, row.prompt)):
                if isinstance(event, Routed):
                    request_id = event.request_id
                    self.store.set_request(batch_id, row.row_index, request_id)
                elif isinstance(event, Finished):
                    result = event.result
        except asyncio.CancelledError:
            if result is None:
                self.store.back_to_pending(batch_id, [row.row_index])  # no answer: it goes again on resume
                raise
            cancelled = True
        except SparklioError as exc:  # this row cannot run (say, no model fits it): the others go on
            record = ResultRecord(row.row_index, "failed", None, None, Decimal(0), request_id, str(exc))
        if record is None:
            if result is None:
                raise RuntimeError("the dispatcher ended without a result")
            if not cancelled:
                try:
                    await asyncio.sleep(0)  # the row's own writes in a turn of the loop of their own
                except asyncio.CancelledError:
                    cancelled = True
            record = ResultRecord(
                row.row_index, "done" if result.ok else "failed", result.output if result.ok else None,
                result.model, result.cost_usd, result.request_id, result.error,
            )  # fmt: skip
        self.store.finish(
            batch_id, row.row_index, ok=record.outcome == "done", request_id=record.request_id, model=record.model,
            output=record.output, cost_usd=record.cost_usd, error=record.error,
        )  # fmt: skip
        if self.results is not None:
            self.results.append(record)
        if self.on_progress is not None:
            self.on_progress(self.store.counts(batch_id))
        if cancelled:
            raise asyncio.CancelledError


def _record(row: BatchRow) -> ResultRecord:
    return ResultRecord(
        row.row_index, "done" if row.status == "done" else "failed", row.output, row.model,
        row.cost_usd or Decimal(0), row.request_id, row.error,
    )  # fmt: skip
