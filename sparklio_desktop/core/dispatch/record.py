"""How an attempt ends up in the ledger: one value, :class:`AttemptFacts`, per ending.

Why one value: the ledger row and the :class:`AttemptInfo` the front ends show were
built from fifteen keyword arguments, repeated (with small differences) for every way
an attempt ends, so a fix to one ending missed the others. Each ending now has one
builder here that decides what is billed; :class:`AttemptRecorder` turns the facts into
the row and the info the same way for all of them.

What is billed (docs/dispatch.md, "Failures"):

* an answer: the provider's usage, else the input estimate and the output counted;
* a failure: nothing, unless something arrived (output, images): then the input
  estimate, the output received and the images generated, all paid for;
* a cancel or a signal: the input estimate (the prompt was sent) plus what arrived;
* a budget refusal: nothing (nothing was sent); a cache hit: nothing, and it saved
  what the answer cost when it was made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from sparklio_desktop.core import tokens
from sparklio_desktop.core.dispatch import interrupts
from sparklio_desktop.core.dispatch.attempt import AttemptContext, AttemptState
from sparklio_desktop.core.dispatch.events import AttemptInfo
from sparklio_desktop.core.dispatch.watchdog import StalledError
from sparklio_desktop.core.ledger.records import AttemptRecord, Outcome, UsageSource
from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.pricing import CostEstimate, UsageRecord, price_usage
from sparklio_desktop.core.providers.errors import ProviderError, StreamBrokenError
from sparklio_desktop.core.redact import redact

log = logging.getLogger(__name__)
# A provider's error text, cut for the log (the ledger keeps it whole): a long body could quote the request.
LOGGED_ERROR_CHARS = 300

if TYPE_CHECKING:
    from sparklio_desktop.core.cache import CachedResponse
    from sparklio_desktop.core.dispatch.collaborators import AttemptLedger

__all__ = [
    "AttemptFacts",
    "AttemptRecorder",
    "cache_hit",
    "cancelled",
    "failed",
    "interrupted",
    "invalid_output",
    "priced",
    "refused",
    "start_row",
    "succeeded",
]

INTERRUPTED_MESSAGE = "the process was stopped by a signal during this attempt"
CANCELLED_MESSAGE = "cancelled by the user"


def priced(
    attempt: AttemptContext,
    input_tokens: int,
    output_tokens: int,
    images: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
) -> CostEstimate:
    """The exact cost of a call, part by part, every billing rule applied. Unpriced models
    never get this far (the router excludes them and a forced one is refused up front),
    so nothing is silently priced at $0.

    The parts are clamped into their totals (a cache read larger than the input cannot be
    real): a provider's odd report must never stop a paid attempt from being recorded."""
    read = max(0, min(cache_read_tokens, input_tokens))
    write = max(0, min(cache_write_tokens, input_tokens - read))
    reasoning = max(0, min(reasoning_tokens, output_tokens))
    usage = UsageRecord(
        input_tokens,
        output_tokens,
        read,
        write,
        reasoning,
        images,
        attempt.image_size,
        attempt.image_quality,
        attempt.batch,
    )
    return price_usage(attempt.model, usage)


@dataclass(frozen=True)
class AttemptFacts:
    """How one attempt ended: the one value its ledger row and its info are built from."""

    attempt: AttemptContext
    outcome: Outcome
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    usage_source: UsageSource = "provider"
    cost_usd: Decimal = Decimal(0)
    saved_usd: Decimal = Decimal(0)
    latency_s: float | None = None
    ttft_s: float | None = None
    gpu_seconds: float | None = None
    error: Exception | None = None  # its class and (redacted) message are recorded
    note: str | None = None  # the message when there is no error: why it ended
    bill: CostEstimate | None = None  # the priced parts and the rates applied (None: nothing billed)

    @property
    def billed(self) -> bool:
        """Something arrived that the provider charges for."""
        return bool(self.output_tokens or self.images)

    @property
    def tokens_per_s(self) -> float | None:
        latency, ttft = self.latency_s, self.ttft_s
        if self.outcome != "ok" or not latency or ttft is None or not self.output_tokens or latency <= ttft:
            return None
        return self.output_tokens / (latency - ttft)


def start_row(attempt: AttemptContext) -> AttemptRecord:
    """The ``in_flight`` row of an attempt about to start: its input estimate, priced (what
    it is billed if this process ends before it finishes), and the worst case reserved."""
    o, model, price = attempt.options, attempt.model, attempt.model.price
    return AttemptRecord(
        request_id=attempt.request_id,
        attempt=attempt.number,
        task_type=o.task,
        model_id=model.id,
        provider=model.provider,
        outcome="in_flight",
        complexity=o.complexity,
        budget_tier=o.budget,
        speed=o.speed,
        quality_target=o.quality,
        input_tokens=attempt.input_estimate,
        usage_source="estimate",
        price_input_per_mtok=price.input_per_mtok if price else None,
        price_output_per_mtok=price.output_per_mtok if price else None,
        start_cost_usd=priced(attempt, attempt.input_estimate, 0, 0).cost_usd,
        worst_case_usd=attempt.worst_case_usd,
        waited_s=attempt.waited_s,
        exploration=attempt.exploration,
        image_quality=attempt.image_quality,
        batch=attempt.batch,
        run_id=attempt.run_id,
    )


def succeeded(attempt: AttemptContext, state: AttemptState, latency_s: float) -> AttemptFacts:
    """An answer: the provider's usage where it reported it, else estimates."""
    usage = state.usage
    source: UsageSource = "provider"
    input_tokens = usage.input_tokens if usage is not None else None
    if input_tokens is None:
        input_tokens, source = attempt.input_estimate, "estimate"
    output_tokens = usage.output_tokens if usage is not None else None
    if output_tokens is None:
        output_tokens, source = tokens.count_text(state.text)[0], "estimate"
    # The parts count only within totals the provider reported.
    reported_in = usage is not None and usage.input_tokens is not None
    reported_out = usage is not None and usage.output_tokens is not None
    read = (usage.cache_read_tokens or 0) if usage is not None and reported_in else 0
    write = (usage.cache_write_tokens or 0) if usage is not None and reported_in else 0
    reasoning = (usage.reasoning_tokens or 0) if usage is not None and reported_out else 0
    images = len(state.images)
    bill = priced(attempt, input_tokens, output_tokens, images, read, write, reasoning)
    return AttemptFacts(
        attempt,
        "ok",
        input_tokens,
        output_tokens,
        images,
        source,
        bill.cost_usd,
        latency_s=latency_s,
        ttft_s=state.ttft_s,
        gpu_seconds=state.gpu_seconds,
        bill=bill,
    )


def failed(attempt: AttemptContext, error: ProviderError, state: AttemptState, latency_s: float) -> AttemptFacts:
    """A provider error or a stall: billed only for what arrived before it."""
    received = error.output_tokens if isinstance(error, StreamBrokenError) else 0
    if isinstance(error, StalledError):  # what arrived before the silence is billed
        received = tokens.count_text(state.text)[0] if state.text else 0
    images = len(state.images)  # images generated before a later call failed were paid for
    billed_input = attempt.input_estimate if received or images else 0
    bill = priced(attempt, billed_input, received, images) if received or images else None
    return AttemptFacts(
        attempt,
        "stalled" if isinstance(error, StalledError) else "error",
        billed_input,
        received,
        images,
        "estimate",
        bill.cost_usd if bill is not None else Decimal(0),
        latency_s=latency_s,
        ttft_s=state.ttft_s,
        error=error,
        bill=bill,
    )


def invalid_output(attempt: AttemptContext, state: AttemptState, latency_s: float, error: Exception) -> AttemptFacts:
    """An answer that is not the JSON the request asked for: billed as an answer (the
    provider charged for all of it), recorded as an error with the validation message."""
    return replace(succeeded(attempt, state, latency_s), outcome="error", error=error)


def _cut_short(
    attempt: AttemptContext, state: AttemptState, outcome: Outcome, latency_s: float, note: str
) -> AttemptFacts:
    received = tokens.count_text(state.text)[0]
    images = len(state.images)  # images already generated were paid for
    bill = priced(attempt, attempt.input_estimate, received, images)
    return AttemptFacts(
        attempt,
        outcome,
        attempt.input_estimate,
        received,
        images,
        "estimate",
        bill.cost_usd,
        latency_s=latency_s,
        ttft_s=state.ttft_s,
        note=note,
        bill=bill,
    )


def cancelled(attempt: AttemptContext, state: AttemptState, latency_s: float) -> AttemptFacts:
    """Cancelled by the user mid-call: the prompt was sent, and what arrived was made."""
    return _cut_short(attempt, state, "cancelled", latency_s, CANCELLED_MESSAGE)


def interrupted(attempt: AttemptContext, state: AttemptState, latency_s: float) -> AttemptFacts:
    """Cut off by SIGTERM or SIGHUP (core/dispatch/interrupts.py): billed as a cancel."""
    return _cut_short(attempt, state, "interrupted", latency_s, INTERRUPTED_MESSAGE)


def refused(attempt: AttemptContext, error: Exception) -> AttemptFacts:
    """The budget refused the call, or the model has no price: nothing was sent."""
    return AttemptFacts(attempt, "error", error=error)


def cache_hit(attempt: AttemptContext, hit: CachedResponse) -> AttemptFacts:
    return AttemptFacts(
        attempt, "cache_hit", hit.input_tokens, hit.output_tokens, saved_usd=hit.cost_usd, latency_s=0.0
    )


def _rate(bill: CostEstimate | None, name: str, listed: Decimal | None) -> Decimal | None:
    """The rate applied to this part when it was billed, else the catalog's base rate."""
    applied: Decimal | None = getattr(bill, name) if bill is not None else None
    return applied if applied is not None else listed


def _error_class(error: Exception) -> str:
    return error.error_class if isinstance(error, ProviderError) else type(error).__name__


class AttemptRecorder:
    """Writes each attempt's facts to the ledger (finishing its ``in_flight`` row, or
    inserting one for an attempt that never started) and returns what the run reports."""

    def __init__(self, ledger: AttemptLedger, secrets: Callable[[ModelSpec], list[str | None]]) -> None:
        self._ledger = ledger
        self._secrets = secrets  # every key the model's errors could echo, for redaction

    def record(self, facts: AttemptFacts) -> AttemptInfo:
        attempt, model = facts.attempt, facts.attempt.model
        error_class = message = None
        if facts.error is not None:
            error_class = _error_class(facts.error)
            text = facts.error.message if isinstance(facts.error, ProviderError) else ""
            message = redact(text or str(facts.error), self._secrets(model))
            # The log gets the failure with its context, never the prompt (docs/operations.md);
            # the terminal and the window show their own account of it.
            log.warning(
                "request %s attempt %d on %s/%s (%s) ended %s: %s: %s",
                attempt.request_id, attempt.number, model.provider, model.id, attempt.options.task,
                facts.outcome, error_class, (message or "")[:LOGGED_ERROR_CHARS], extra={"file_only": True},
            )  # fmt: skip
        elif facts.note is not None:
            message = facts.note
        price, o, bill = model.price, attempt.options, facts.bill
        interrupts.done(attempt.key)
        self._ledger.finish_attempt(
            AttemptRecord(
                request_id=attempt.request_id,
                attempt=attempt.number,
                task_type=o.task,
                model_id=model.id,
                provider=model.provider,
                outcome=facts.outcome,
                complexity=o.complexity,
                budget_tier=o.budget,
                speed=o.speed,
                quality_target=o.quality,
                error_class=error_class,
                error_message=message,
                input_tokens=facts.input_tokens,
                output_tokens=facts.output_tokens,
                images=facts.images,
                usage_source=facts.usage_source,
                # The rates applied (tier and batch included) where something was billed.
                price_input_per_mtok=_rate(bill, "input_price_per_mtok", price.input_per_mtok if price else None),
                price_output_per_mtok=_rate(bill, "output_price_per_mtok", price.output_per_mtok if price else None),
                price_per_image=(
                    price.image_price(attempt.image_size, attempt.image_quality) if price and price.per_image else None
                ),
                cost_usd=facts.cost_usd,
                saved_usd=facts.saved_usd,
                latency_s=facts.latency_s,
                ttft_s=facts.ttft_s,
                tokens_per_s=facts.tokens_per_s,
                waited_s=attempt.waited_s,
                exploration=attempt.exploration,
                gpu_seconds=facts.gpu_seconds,
                cache_read_tokens=bill.cache_read_tokens if bill else 0,
                cache_write_tokens=bill.cache_write_tokens if bill else 0,
                reasoning_tokens=bill.reasoning_tokens if bill else 0,
                image_quality=attempt.image_quality,
                batch=attempt.batch,
                price_cache_read_per_mtok=bill.cache_read_price_per_mtok if bill else None,
                price_cache_write_per_mtok=bill.cache_write_price_per_mtok if bill else None,
                price_reasoning_per_mtok=bill.reasoning_price_per_mtok if bill else None,
                price_tier_above_tokens=bill.tier if bill else None,
                run_id=attempt.run_id,
            )
        )
        return AttemptInfo(
            attempt.number,
            model.id,
            facts.outcome,
            error_class,
            message,
            facts.input_tokens,
            facts.output_tokens,
            facts.cost_usd,
            facts.latency_s,
            facts.ttft_s,
            attempt.waited_s,
            facts.usage_source,
            attempt.exploration,
            facts.error.status if isinstance(facts.error, ProviderError) else None,
        )
