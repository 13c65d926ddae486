"""The decision in plain words, for a creator rather than an engineer.

The structured trace (candidates, scores, rules) sits next to this text; the text
names the model, why it was chosen, what it should cost, what happens if it fails,
and the exclusions a person would ask about: models the task table wanted but could
not have, and anything the budget cap removed. Money is written in the one display form
(core/money.py). The router builds this text only when a decision's ``explanation`` is read.
"""

from __future__ import annotations

from collections.abc import Sequence

from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.routing.decision import Candidate, Estimate, ResolvedOptions

_ROLE_WHY = {
    "primary": "the task table's first choice for this task",
    "fallback": "the first model in the task table's chain that fits your options",
    "fill-in": "the best-scoring model that fits once the task table's choices were ruled out",
    "last resort": "the only kind of model left: a local one",
    "exploration": "an A/B exploration pick (a small share of requests tries an alternative)",
    "rated": "creators' ratings put it ahead of the task table's first choice",
}


def _seconds(value: float | None) -> str:
    if value is None:
        return "unknown time"
    return f"about {value:.1f} s" if value < 10 else f"about {value:.0f} s"


def explain(
    options: ResolvedOptions,
    chain: Sequence[Candidate],
    wanted: Sequence[Candidate],
    capped: Sequence[Candidate],
    excluded: Sequence[Candidate],
    estimate: Estimate,
    notes: Sequence[str] = (),
) -> str:
    """``chain``: the chain's candidates in order; ``wanted``: the task table's models that
    were excluded; ``capped``: a few others the budget cap removed; ``excluded``: when
    nothing fits, the excluded candidates."""
    exploration = bool(chain) and chain[0].role == "exploration"
    setting = f"{options.budget} budget, {options.speed} speed, {options.quality} quality"
    if not chain:
        reasons = [f"{c.name} ({c.excluded_by.text})" for c in excluded if c.excluded_by][:6]
        text = f"No model fits this {options.task.replace('_', ' ')} request with {setting}."
        if reasons:
            text += " Ruled out: " + "; ".join(reasons) + "."
        return " ".join([text, *notes])
    first = chain[0]
    parts = [f"{first.name} answers: {_ROLE_WHY.get(first.role, 'it fits')} ({setting})."]
    work = f"{estimate.input_tokens:,} input"
    if estimate.output_tokens:
        work += f" and {estimate.output_tokens:,} output tokens"
    else:
        work += " tokens"
    if estimate.images and options.capability == "image_generation":
        work = f"{estimate.images} image" + ("s" if estimate.images != 1 else "")
    parts.append(f"Estimated {format_usd(estimate.cost_usd)} for {work}, {_seconds(estimate.latency_s)}.")
    if len(chain) > 1:
        rest = [c.name + (" (local)" if c.local else "") for c in chain[1:]]
        parts.append("If it fails: " + ", then ".join(rest) + ".")
    skipped = [
        f"{c.name} ({c.excluded_by.text if c.excluded_by else 'excluded'}: {c.exclusion_detail})"
        for c in [*wanted, *capped]
    ]
    if skipped:
        parts.append("Not used: " + "; ".join(skipped) + ".")
    if exploration:
        parts.append("This pick is an A/B exploration; your rating of it helps tune the routing.")
    parts.extend(notes)
    return " ".join(parts)
