"""What a batch will cost, before it starts: each sampled row routed by the session's planner.

Routing every row of a 100,000-row file would take longer than the user wants to wait
for a number, and rows made from one template differ mostly in length. So up to
:data:`SAMPLE_ROWS` rows, spread evenly over the file (first and last included), are
routed exactly as they will run (the same planner, options and prompt text), and the
total is their mean cost times the number of rows. A batch of at most
:data:`SAMPLE_ROWS` rows is priced row by row, exactly. The estimate is the chain's
first model's (retries and fallbacks are not in it), as ``sparklio route`` shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from sparklio_desktop.core.batches.runner import route_for
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.routing.decision import RoutingDecision
from sparklio_desktop.core.routing.router import RouteRequest

__all__ = ["CONFIRM_ABOVE_USD", "SAMPLE_ROWS", "BatchEstimate", "estimate_batch"]

SAMPLE_ROWS = 20
CONFIRM_ABOVE_USD = Decimal("1.00")  # the CLI asks before a batch estimated above this


class Plans(Protocol):
    def plan(self, request: RouteRequest) -> RoutingDecision: ...


@dataclass(frozen=True)
class BatchEstimate:
    rows: int
    sampled: int
    total_usd: Decimal
    per_row_usd: Decimal  # the sampled rows' mean
    models: dict[str, int]  # the first model of each sampled row's chain -> rows

    @property
    def exact(self) -> bool:
        return self.sampled == self.rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "sampled": self.sampled,
            "total_usd": str(self.total_usd),
            "per_row_usd": str(self.per_row_usd),
            "models": self.models,
        }


def sample_indexes(rows: int, sample: int = SAMPLE_ROWS) -> list[int]:
    """Up to ``sample`` indexes spread evenly over ``range(rows)``, first and last included."""
    if rows <= sample:
        return list(range(rows))
    return sorted({round(i * (rows - 1) / (sample - 1)) for i in range(sample)})


def estimate_batch(
    planner: Plans,
    task: str,
    options: dict[str, Any],
    prompts: Sequence[str],
    at_batch_rates: Callable[[RoutingDecision], Decimal | None] | None = None,
) -> BatchEstimate:
    """The batch's estimate; a row that no model fits is refused with its reasons.

    ``at_batch_rates``: for speed class ``batch``, a row's cost when it goes in a provider
    batch job (core/dispatch/provider_batch.py, ``batch_rate_cost``), None when it would
    not; those rows are priced at the batch rates, the others at the standard ones."""
    picked = sample_indexes(len(prompts))
    total = Decimal(0)
    models: Counter[str] = Counter()
    for index in picked:
        decision = planner.plan(route_for(task, {**options, "no_explore": True}, prompts[index]))
        if not decision.chain:
            reasons = "; ".join(decision.no_fit_reasons) or "no model fits"
            raise SparklioError(f"no model fits row {index + 1}: {reasons}")
        cost = decision.estimate.cost_usd
        if at_batch_rates is not None and options.get("speed") == "batch":
            discounted = at_batch_rates(decision)
            cost = cost if discounted is None else discounted
        if cost is None:
            raise SparklioError(f"row {index + 1} cannot be priced: its model has no price in the catalog")
        total += cost
        models[decision.chain[0]] += 1
    mean = total / len(picked)
    scaled = total if len(picked) == len(prompts) else mean * len(prompts)
    return BatchEstimate(len(prompts), len(picked), scaled, mean, dict(models))
