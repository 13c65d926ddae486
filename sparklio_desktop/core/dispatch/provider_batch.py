"""Requests sent through a provider's batch API: routed, reserved, submitted, collected.

Why here, beside the dispatcher: a row sent in a provider batch is the same routed
request as any other (the session's planner, the task's system prompt, the same input
estimate and output cap, the ledger's attempt rows and decision), only sent, paid and
answered differently: many at once, at the batch rates, answered within a day. So this
module reuses the dispatcher's pieces and adds the three steps a job has:

1. :meth:`ProviderBatches.prepare`: route one request; it goes to the provider's batch
   API only when the chain's first model is a cloud text model of a provider with one
   (core/providers/batch_jobs.py) that the catalog prices at batch rates (never at a
   guessed discount), and the request carries no images; else it says why not, and the
   caller sends it as a normal request.
2. :meth:`ProviderBatches.submit`: one reservation for the whole job's worst case at the
   batch rates, written with every item's ``in_flight`` attempt row in one transaction,
   both owned by the job (core/ledger/owners.py, ``provider_job_owner``), so no ending
   process reclaims them: the job outlives the process that sent it. Then the decisions
   and the provider call. A refusal of the budget sends nothing.
3. :meth:`ProviderBatches.collect`: once the provider says the job ended, every item's
   attempt is finished from the provider's reported usage, priced at the batch rates
   (``batch`` on the row), and the job's reservation released. An item the provider
   never ran (expired, cancelled) is recorded as ``cancelled`` at $0 and is sent again
   later; a failed one is an ``error`` at $0.

Latency is not recorded for these attempts: a batch answer's hours in a queue say
nothing of the model's speed, and the router measures speed from the ledger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, cast

from sparklio_desktop.core.dispatch import record
from sparklio_desktop.core.dispatch.attempt import AttemptContext, AttemptState
from sparklio_desktop.core.dispatch.job_values import Ending, JobRef
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.dispatch.reserve import max_output_tokens, reserve_input
from sparklio_desktop.core.dispatch.runner import Dispatcher, _input_estimate, _messages
from sparklio_desktop.core.ledger.owners import provider_job_owner
from sparklio_desktop.core.ledger.records import IN_FLIGHT, AttemptRecord
from sparklio_desktop.core.policy.catalog import Capability, ModelSpec
from sparklio_desktop.core.pricing import price_call, worst_case_cost
from sparklio_desktop.core.providers.batch_jobs import (
    BatchItem,
    BatchJobClient,
    ItemResult,
    JobStatus,
    create_batch_client,
    has_batch_api,
)
from sparklio_desktop.core.providers.errors import ProviderError
from sparklio_desktop.core.routing.decision import ResolvedOptions, RoutingDecision

if TYPE_CHECKING:
    import httpx

    from sparklio_desktop.core.budget import Reservation
    from sparklio_desktop.core.ledger.owners import ProcessOwner

__all__ = [
    "JOB_LABEL_PREFIX",
    "Ending",
    "batch_rate_cost",
    "JobBudget",
    "JobItem",
    "JobLedger",
    "JobRef",
    "ProviderBatches",
    "job_label",
]

JOB_LABEL_PREFIX = "sparklio-job-"
EXPIRED_NOTE = "the provider's batch window ended before this item ran; it is sent again"
CANCELLED_NOTE = "the provider batch was cancelled before this item ran"


def batch_rate_cost(model: ModelSpec, decision: RoutingDecision) -> Decimal | None:
    """What the decision's estimate costs in a provider batch, at the batch rates; None
    when a request routed this way would not go in one (what :meth:`ProviderBatches.why_not`
    says for a request without images)."""
    if not has_batch_api(model.provider) or decision.options.capability != Capability.TEXT:
        return None
    if model.price is None or model.price.batch is None:
        return None
    estimate = decision.estimate
    return price_call(model, estimate.input_tokens, estimate.output_tokens, batch=True).cost_usd


def job_label(job_id: str) -> str:
    """The label a job is submitted with (and its reservation's request id)."""
    return f"{JOB_LABEL_PREFIX}{job_id}"


class JobLedger(Protocol):
    """What a job needs of the ledger (core.ledger.LedgerStore)."""

    def attempts(self, request_id: str) -> list[AttemptRecord]: ...

    def finish_attempt(self, record: AttemptRecord) -> int: ...

    def start_attempt(self, record: AttemptRecord) -> int: ...

    def release_reservations_for(self, request_id: str) -> int: ...

    def set_decision_model(self, request_id: str, model_id: str | None) -> None: ...

    def record_decision(
        self,
        request_id: str,
        *,
        prompt: str,
        task_type: str,
        trace: object,
        final_model_id: str | None = None,
        exploration: bool = False,
        history_tokens_sent: int = 0,
        history_tokens_saved: int = 0,
    ) -> None: ...


class JobBudget(Protocol):
    """What a job needs of the budget (core.budget.BudgetGuard)."""

    def reserve(
        self,
        request_id: str,
        worst_case_usd: Decimal,
        *,
        start: Sequence[AttemptRecord] | None = None,
        owner: ProcessOwner | None = None,
    ) -> Reservation: ...


@dataclass(frozen=True)
class JobItem:
    """One routed request, ready to go into a job; ``request_id`` is its item's custom id."""

    request_id: str
    request: RunRequest
    decision: RoutingDecision
    model: ModelSpec
    input_estimate: int
    max_output: int
    batch_item: BatchItem

    def attempt(self, worst_case_usd: Decimal | None = None) -> AttemptContext:
        return AttemptContext(
            self.request_id, 1, self.decision.options, self.model, self.input_estimate, "1024x1024",
            False, worst_case_usd=worst_case_usd, batch=True, run_id=self.request.run_id,
        )  # fmt: skip


class ProviderBatches:
    """Provider batch jobs for one dispatcher (its planner, keys, ledger and budget)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        *,
        http_client: httpx.AsyncClient | None = None,
        clients: Callable[[str], BatchJobClient] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._dispatcher = dispatcher
        self._ledger = cast(JobLedger, dispatcher.ledger)
        self._budget = cast("JobBudget | None", dispatcher.budget)
        self._made: dict[str, BatchJobClient] = {}
        self._factory = clients or (lambda provider: create_batch_client(provider, http_client))
        self._clock = clock

    # -- which requests may go ---------------------------------------------------------
    @staticmethod
    def why_not(model: ModelSpec, request: RunRequest, decision: RoutingDecision) -> str | None:
        """Why ``model`` cannot take ``request`` in a provider batch; None: it can."""
        if not has_batch_api(model.provider):
            return f"{model.name} runs here or at a provider without a batch API"
        if decision.options.capability != Capability.TEXT:
            return f"provider batches take text requests, not {decision.options.capability}"
        if request.route.attachments:
            return "requests with images are sent one by one"
        if request.json_output is not None:  # checked, and retried when invalid, answer by answer
            return "requests for JSON output are sent one by one"
        if model.price is None or model.price.batch is None:
            return f"the catalog has no batch rates for {model.name}, so its batch cost could not be known"
        return None

    async def prepare(self, request: RunRequest, request_id: str) -> JobItem | str:
        """Route ``request``; the item for a job, or why it must go as a normal request."""
        decision = await self._dispatcher.planner.aplan(request.route)
        if not decision.chain:
            reasons = "; ".join(decision.no_fit_reasons) or "no model fits"
            return f"no model fits: {reasons}"
        model = self._dispatcher.workspace.catalog[decision.chain[0]]
        reason = self.why_not(model, request, decision)
        if reason is not None:
            return reason
        task = self._dispatcher.workspace.policy.task(decision.options.task)
        system = task.system_prompt if request.system_prompt is None else request.system_prompt
        messages = _messages(system, request)
        input_estimate = _input_estimate(model, messages, decision)
        max_output = max_output_tokens(request, task, decision.options.capability)
        item = BatchItem(request_id, tuple(messages), max_output, request.temperature)
        return JobItem(request_id, request, decision, model, input_estimate, max_output, item)

    # -- submitting --------------------------------------------------------------------
    def worst_case(self, item: JobItem) -> Decimal:
        return worst_case_cost(
            item.model, reserve_input(item.model, item.input_estimate), item.max_output, batch=True
        )  # fmt: skip

    async def hold(self, job_id: str, items: Sequence[JobItem]) -> None:
        """Reserve the job's worst case with every item's ``in_flight`` row, owned by the job.
        Raises ``BudgetError`` (nothing written) when the month cannot hold it. In a worker
        thread: a thousand rows' prices and inserts would stall the event loop."""
        await asyncio.to_thread(self._hold, job_id, items)

    def _hold(self, job_id: str, items: Sequence[JobItem]) -> None:
        owner = provider_job_owner(job_id)
        starts = []
        total = Decimal(0)
        for item in items:
            worst = self.worst_case(item)
            total += worst
            row = record.start_row(item.attempt(worst))
            starts.append(replace(row, owner_pid=owner.pid, owner_start=owner.start))
        if self._budget is None:
            for row in starts:
                self._ledger.start_attempt(row)
            return
        self._budget.reserve(job_label(job_id), total, start=starts, owner=owner)

    async def submit(self, job_id: str, items: Sequence[JobItem]) -> str:
        """Send the held job to its provider; returns the provider's job id. Every item must
        be for the same model. A ``ProviderError`` leaves the hold in place: the caller
        either finds the job (:meth:`find`) or lets it go (:meth:`abandon`)."""
        model = items[0].model
        if any(item.model.id != model.id for item in items):
            raise ValueError("one provider job is for one model")
        await asyncio.to_thread(self._record_decisions, items)
        endpoint = self._dispatcher.access.endpoint(model)
        return await self._client(model.provider).submit(
            endpoint, [item.batch_item for item in items], label=job_label(job_id)
        )

    def _record_decisions(self, items: Sequence[JobItem]) -> None:
        for item in items:
            self._ledger.record_decision(
                item.request_id,
                prompt=item.request.prompt,
                task_type=item.decision.options.task,
                trace=item.decision.to_dict(),
                exploration=item.decision.exploration,
            )

    # -- while it runs -----------------------------------------------------------------
    async def status(self, job: JobRef) -> JobStatus:
        model, job_id = self._model(job), _submitted(job)
        return await self._client(job.provider).status(self._dispatcher.access.endpoint(model), job_id)

    async def cancel(self, job: JobRef) -> None:
        model, job_id = self._model(job), _submitted(job)
        await self._client(job.provider).cancel(self._dispatcher.access.endpoint(model), job_id)

    async def find(self, job: JobRef) -> str | None:
        """The provider's id of a job whose submission was interrupted, or None."""
        model = self._model(job)
        return await self._client(job.provider).find(
            self._dispatcher.access.endpoint(model), job_label(job.id), total=job.total, created_after=job.created_at
        )

    # -- settling ----------------------------------------------------------------------
    async def collect(self, job: JobRef, request_ids: Sequence[str]) -> list[Ending]:
        """Fetch an ended job's results and finish every item's attempt; the job's
        reservation is released once all are recorded. An item the provider does not
        report is recorded as never run (``again``)."""
        model = self._model(job)
        results = await self._client(job.provider).results(self._dispatcher.access.endpoint(model), _submitted(job))
        by_id = {result.custom_id: result for result in results}
        return await asyncio.to_thread(self._settle_all, job, model, [(r, by_id.get(r)) for r in request_ids])

    def _settle_all(
        self, job: JobRef, model: ModelSpec, items: Sequence[tuple[str, ItemResult | None]]
    ) -> list[Ending]:
        """Every item's attempt finished, then the hold released (in a worker thread: a
        thousand rows' ledger writes would stall the event loop)."""
        endings = [self._settle(model, request_id, result) for request_id, result in items]
        self._ledger.release_reservations_for(job_label(job.id))
        return endings

    async def abandon(
        self, job: JobRef, request_ids: Sequence[str], reason: str, *, refused: bool = False
    ) -> list[Ending]:
        """The job never reached the provider: close its attempts at $0 and release its
        hold; each item may be sent again. ``refused``: the provider refused the job whole
        (a bad key, an invalid request): each attempt is an ``error`` with ``reason`` and
        its item fails, rather than being sent to it again and again."""
        model = self._model(job)
        if refused:
            failures = [(r, ItemResult(r, "error", error=reason)) for r in request_ids]
            return await asyncio.to_thread(self._settle_all, job, model, failures)
        return await asyncio.to_thread(self._let_go, job, model, request_ids, reason)

    def _let_go(self, job: JobRef, model: ModelSpec, request_ids: Sequence[str], reason: str) -> list[Ending]:
        endings = [self._settle(model, request_id, None, reason=reason) for request_id in request_ids]
        self._ledger.release_reservations_for(job_label(job.id))
        return endings

    def _settle(self, model: ModelSpec, request_id: str, result: ItemResult | None, reason: str = "") -> Ending:
        started = [a for a in self._ledger.attempts(request_id) if a.outcome == IN_FLIGHT]
        if not started:  # settled before (a collect that stopped half-way), or never held
            finished = self._ledger.attempts(request_id)
            return _ending_of(request_id, model.id, finished)
        attempt = _context(started[0], model)
        recorder = record.AttemptRecorder(self._ledger, self._dispatcher.access.secrets_of)
        if result is not None and result.outcome == "ok":
            state = AttemptState(text=result.text or "", usage=result.usage)
            facts = replace(record.succeeded(attempt, state, 0.0), latency_s=None, ttft_s=None)
            recorder.record(facts)
            self._ledger.set_decision_model(request_id, model.id)
            return Ending(request_id, "done", model.id, result.text or "", facts.cost_usd)
        if result is not None and result.outcome == "error":
            error = ProviderError(result.error or "the provider reported an error", provider=model.provider,
                                  model=model.api_name)  # fmt: skip
            recorder.record(record.AttemptFacts(attempt, "error", usage_source="estimate", error=error))
            return Ending(request_id, "failed", model.id, error=str(error))
        if result is None:
            note = reason or "the provider's results did not include this item"
        else:
            note = EXPIRED_NOTE if result.outcome == "expired" else CANCELLED_NOTE
        recorder.record(record.AttemptFacts(attempt, "cancelled", usage_source="estimate", note=note))
        return Ending(request_id, "again", model.id, error=note)

    # -- plumbing ----------------------------------------------------------------------
    def _client(self, provider: str) -> BatchJobClient:
        client = self._made.get(provider)
        if client is None:
            client = self._made[provider] = self._factory(provider)
        return client

    def _model(self, job: JobRef) -> ModelSpec:
        return self._dispatcher.workspace.catalog.get_model(job.model_id)

    async def aclose(self) -> None:
        made, self._made = list(self._made.values()), {}
        for client in made:
            await client.aclose()


def _submitted(job: JobRef) -> str:
    if job.provider_job_id is None:
        raise ValueError(f"job {job.id} has no provider id yet")
    return job.provider_job_id


def _context(started: AttemptRecord, model: ModelSpec) -> AttemptContext:
    """The attempt as it was started (in this process or an earlier one), from its row."""
    options = ResolvedOptions(
        started.task_type, started.complexity, started.budget_tier or "", started.speed or "batch",
        started.quality_target or "", Capability.TEXT,
    )  # fmt: skip
    return AttemptContext(
        started.request_id, started.attempt, options, model, started.input_tokens, "1024x1024",
        started.exploration, worst_case_usd=started.worst_case_usd, batch=True, run_id=started.run_id,
    )  # fmt: skip


def _ending_of(request_id: str, model_id: str, attempts: Sequence[AttemptRecord]) -> Ending:
    """The ending of an item whose attempt was already finished (no output: not kept)."""
    if not attempts:
        return Ending(request_id, "again", model_id, error="never sent")
    last = attempts[-1]
    if last.outcome == "ok":
        return Ending(request_id, "done", model_id, None, last.cost_usd, "answered; the output was not kept")
    if last.outcome == "error":
        return Ending(request_id, "failed", model_id, error=last.error_message)
    return Ending(request_id, "again", model_id, error=last.error_message)
