"""Before a paid call: its worst case, held in the budget with the attempt's start row.

Why it matters: the reservation is what keeps concurrent requests (threads, the GUI and
a CLI sharing the ledger) from overshooting the monthly cap, so a paid prompt is never
sent before its worst case is admitted (docs/dispatch.md, "The budget's guarantee").
The worst case is the input (exact counts as they are, estimates with a 20% margin)
plus the maximum output, which is also sent as the provider's output cap, so the bound
holds; image models are priced per image at the requested size.

The reservation and the attempt's ``in_flight`` row are one ``BEGIN IMMEDIATE``
transaction on the ledger's direct connection (core/ledger/direct.py): about a tenth
of a millisecond on the first-token path, and a kill after it never loses the attempt.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING

from sparklio_desktop.core.dispatch.attempt import AttemptContext
from sparklio_desktop.core.dispatch.record import start_row
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.policy.catalog import Capability, ModelSpec
from sparklio_desktop.core.policy.routing_policy import TaskSpec
from sparklio_desktop.core.pricing import worst_case_cost

if TYPE_CHECKING:
    from sparklio_desktop.core.budget import Reservation
    from sparklio_desktop.core.dispatch.collaborators import Budget

__all__ = ["max_output_tokens", "reserve", "reserve_input", "worst_case"]

MIN_RESERVED_OUTPUT = 1024


def max_output_tokens(request: RunRequest, task: TaskSpec, capability: str) -> int:
    """The answer's cap: ``--max-output-tokens``, else twice the task's expected output
    (at least 1,024 tokens) for text and vision; 0 for calls without a text answer."""
    if request.max_output_tokens:
        return request.max_output_tokens
    if capability in (Capability.TEXT, Capability.VISION):
        return max(MIN_RESERVED_OUTPUT, 2 * task.expected_output_tokens)
    return 0


def reserve_input(model: ModelSpec, estimate: int) -> int:
    """Input tokens to reserve for: exact counts as they are, estimated ones with a 20% margin."""
    return estimate if model.tokenizer.method == "exact" else -(-estimate * 6 // 5)


def image_count(model: ModelSpec, request: RunRequest) -> int:
    """Images priced: those generated, or those attached (a vision model's input)."""
    if model.has(Capability.IMAGE_GENERATION):
        return request.n_images
    return len(request.route.attachments)


def worst_case(model: ModelSpec, request: RunRequest, input_estimate: int, max_output: int) -> Decimal:
    """The most the call can cost; raises ``UnpricedModelError`` for a model without a price."""
    return worst_case_cost(
        model, reserve_input(model, input_estimate), max_output, image_count(model, request), request.paid_image_size
    )


def reserve(budget: Budget | None, attempt: AttemptContext, request: RunRequest, max_output: int) -> Reservation | None:
    """Hold the worst case of ``attempt``'s call, its start row written in the same
    transaction; None when nothing is held (no budget, a free model), and then the caller
    writes the start row. Raises ``BudgetError`` (refused) or ``UnpricedModelError``."""
    if budget is None or attempt.model.is_free:
        return None
    worst = worst_case(attempt.model, request, attempt.input_estimate, max_output)
    return budget.reserve(attempt.request_id, worst, start=start_row(replace(attempt, worst_case_usd=worst)))
