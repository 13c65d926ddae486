"""Scoring and filtering every candidate of a request: the router's hot loop.

Two implementations fill the same columnar :class:`Scored` result: a plain loop for
ordinary catalogs (a few dozen models, where NumPy's per-call overhead would dominate)
and a NumPy pass for large ones (hundreds of user-added models). Both follow the same
formulas (docs/routing.md §2–4); ``tests/core/test_router_scoring.py`` checks that they
agree on random catalogs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from sparklio_desktop.core.policy.catalog import MTOK, Capability, ModelSpec
from sparklio_desktop.core.policy.routing_policy import Complexity, TaskSpec
from sparklio_desktop.core.routing.decision import ResolvedOptions, Rule
from sparklio_desktop.core.tokens import scaled_tokens

if TYPE_CHECKING:  # the router imports this module
    from sparklio_desktop.core.routing.router import LiveState

VECTOR_THRESHOLD = 64  # candidates; below this the plain loop is faster
_ZERO = Decimal(0)
_PER_CODE = {"output_500": 0, "image": 1, "input_512": 2}


class Row(NamedTuple):
    """A catalog model reduced to what scoring needs, computed once per router."""

    model: ModelSpec
    id: str
    local: bool
    free: bool
    complex_capable: bool
    context: int | None
    quality: float
    priced: bool
    in_price: Decimal | None  # USD per token
    out_price: Decimal | None
    image_prices: dict[str, Decimal] | None
    in_f: float  # the same prices as floats, for scoring
    out_f: float
    typical_s: float | None
    per: str | None
    exact_tokens: bool
    token_factor: float
    image_input_tokens: int
    bills_tokens: bool


def make_row(model: ModelSpec) -> Row:
    price = model.price
    in_price = out_price = None
    images = None
    if price is not None:
        in_price = price.input_per_mtok / MTOK if price.input_per_mtok is not None else None
        out_price = price.output_per_mtok / MTOK if price.output_per_mtok is not None else None
        images = dict(price.per_image) if price.per_image is not None else None
    generates = model.has(Capability.IMAGE_GENERATION)
    return Row(
        model, model.id, model.local, model.is_free, model.complex_capable, model.context_tokens, model.quality,
        price is not None, in_price, out_price, images,
        float(in_price or 0), float(out_price or 0),
        model.speed.typical_s if model.speed else None, model.speed.per if model.speed else None,
        model.tokenizer.method == "exact", model.tokenizer.factor,
        0 if generates else (model.image_input_tokens or 0),
        not (generates and in_price is None),
    )


class Plan(NamedTuple):
    """Everything about a request that does not depend on the model."""

    task: TaskSpec
    options: ResolvedOptions
    rows: list[Row]
    complexity: Complexity | None
    required: float | None
    cost_ref: float
    max_latency: float | None
    speed_ref: float
    exponent: float
    avoid: frozenset[str]
    occasional: frozenset[str]
    occasional_when: str
    table: tuple[str, ...]
    weights: tuple[float, float, float, float]


@dataclass(frozen=True)
class Usage:
    """The request's work, before per-model token scaling."""

    base_tokens: int
    base_exact: bool
    given: bool
    images: int
    image_size: str | None
    fixed_output: int | None  # None: output follows each model's input (translation)
    output_ratio: float | None
    output_floor: int


@dataclass
class Scored:
    """Per-candidate results, column by column, in catalog order."""

    rows: Sequence[Row]
    tin: Sequence[int]
    tout: Sequence[int]
    cost_f: Sequence[float]
    unpriced: Sequence[bool]
    latency: Sequence[float | None]
    quality: Sequence[float]
    scores: Sequence[tuple[float, float, float, float, float]]
    rules: list[tuple[Rule, ...]]  # empty tuple: eligible

    def eligible(self, index: int) -> bool:
        return not self.rules[index]


def output_tokens_for(usage: Usage, tin: int) -> int:
    if usage.fixed_output is not None:
        return usage.fixed_output
    assert usage.output_ratio is not None  # the router sets a ratio whenever it sets no fixed output
    return max(usage.output_floor, round(tin * usage.output_ratio))


def decimal_cost(row: Row, tin: int, tout: int, usage: Usage) -> Decimal | None:
    """The exact cost at the catalog's prices, or ``None`` when the model is unpriced for it."""
    if not row.priced:
        return None
    images = usage.images
    billed_in = (tin + row.image_input_tokens * images) if row.bills_tokens else 0
    billed_out = tout if row.bills_tokens else 0
    cost = _ZERO
    if billed_in:
        if row.in_price is None:
            return None
        cost += row.in_price * billed_in
    if billed_out:
        if row.out_price is None:
            return None
        cost += row.out_price * billed_out
    if images and row.image_prices is not None:
        unit = _image_unit(row, usage.image_size)
        if unit is None:
            return None
        cost += unit * images
    return cost


def _image_unit(row: Row, size: str | None) -> Decimal | None:
    prices = row.image_prices
    if prices is None:
        return None
    unit = prices.get(size) if size else None
    return unit if unit is not None else prices.get("*")


def rule_detail(rule: Rule, row: Row, tin: int, tout: int, latency: float | None, plan: Plan, usage: Usage,
                live: LiveState) -> str:
    """The specifics behind an exclusion, written only when someone reads it."""
    budget = plan.options.budget
    if rule is Rule.AVOIDED_BY_TIER:
        return f"{budget} tier"
    if rule is Rule.OCCASIONAL_ONLY:
        if plan.occasional_when == "complex_tasks":
            return f"{budget} tier: only for complex tasks"
        return f"{budget} tier: only where the task table names it"
    if rule is Rule.NOT_COMPLEX_CAPABLE:
        return "the task is complex"
    if rule is Rule.CONTEXT_TOO_SMALL:
        return f"needs {tin + tout:,} tokens, window holds {row.context:,}"
    if rule is Rule.TOO_SLOW:
        return f"about {latency:.1f} s expected, limit {plan.max_latency:g} s ({plan.options.speed})"
    if rule is Rule.BUDGET_CAP:
        return f"at the cap the policy says {live.at_cap}"
    if rule is Rule.UNPRICED:
        from sparklio_desktop.core.pricing import UnpricedModelError, price_call

        try:
            price_call(row.model, tin, tout, usage.images, usage.image_size)
        except UnpricedModelError as exc:
            return str(exc)
        return "no price"
    gone = live.unavailable.get(row.id)
    return gone[1] if gone else ""


def _latency(per: str | None, typical: float | None, tin: int, tout: int, images: int) -> float | None:
    if per is None or typical is None:
        return None
    if per == "output_500":
        return typical * (tout if tout > 1 else 1) / 500
    if per == "image":
        return typical * (images if images > 1 else 1)
    return typical * max(1, math.ceil(tin / 512))


def score_loop(plan: Plan, usage: Usage, live: LiveState) -> Scored:
    """The plain loop: fastest for the few dozen models of an ordinary catalog."""
    wc, wk, ws, wq = plan.weights
    required, cost_ref, speed_ref, exponent = plan.required, plan.cost_ref, plan.speed_ref, plan.exponent
    max_latency = plan.max_latency
    is_complex = plan.complexity is Complexity.COMPLEX
    avoid, occasional, when, table = plan.avoid, plan.occasional, plan.occasional_when, plan.table
    capped = live.capped
    unavailable = live.unavailable
    quality_of = live.quality
    base, images, size = usage.base_tokens, usage.images, usage.image_size
    n = len(plan.rows)
    columns: list[list[Any]] = [[None] * n for _ in range(8)]  # filled row by row below
    tins, touts, costs, unpriced_col, lats, quals, scores, rules_col = columns
    for i, row in enumerate(plan.rows):
        tin = base if usage.given or (row.exact_tokens and usage.base_exact) else scaled_tokens(base, row.token_factor)
        tout = usage.fixed_output if usage.fixed_output is not None else output_tokens_for(usage, tin)
        rules: list[Rule] = []
        cost_f = 0.0
        unpriced = not row.priced
        if not unpriced:
            billed_in = (tin + row.image_input_tokens * images) if row.bills_tokens else 0
            billed_out = tout if row.bills_tokens else 0
            if billed_in:
                if row.in_price is None:
                    unpriced = True
                cost_f += row.in_f * billed_in
            if billed_out:
                if row.out_price is None:
                    unpriced = True
                cost_f += row.out_f * billed_out
            if images and row.image_prices is not None:
                unit = _image_unit(row, size)
                if unit is None:
                    unpriced = True
                else:
                    cost_f += float(unit) * images
        if unpriced:
            rules.append(Rule.UNPRICED)
        latency = _latency(row.per, row.typical_s, tin, tout, images)
        quality = quality_of.get(row.id, row.quality) if quality_of else row.quality
        s_cx = 1.0 if required is None else min(1.0, quality / required)
        s_cost = 0.0 if unpriced else cost_ref / (cost_ref + cost_f)
        s_speed = 0.5 if latency is None else speed_ref / (speed_ref + latency)
        s_q = (quality / 10.0) ** exponent
        model_id = row.id
        if model_id in avoid:
            rules.append(Rule.AVOIDED_BY_TIER)
        elif model_id in occasional and (
            (when == "complex_tasks" and not is_complex) or (when == "task_table" and model_id not in table)
        ):
            rules.append(Rule.OCCASIONAL_ONLY)
        if is_complex and not row.complex_capable:
            rules.append(Rule.NOT_COMPLEX_CAPABLE)
        if row.context is not None and tin + tout > row.context:
            rules.append(Rule.CONTEXT_TOO_SMALL)
        if max_latency is not None and latency is not None and latency >= max_latency:
            rules.append(Rule.TOO_SLOW)
        if capped and not row.free:
            rules.append(Rule.BUDGET_CAP)
        if unavailable:
            gone = unavailable.get(model_id)
            if gone is not None:
                rules.append(gone[0])
        tins[i], touts[i], costs[i], unpriced_col[i], lats[i], quals[i] = tin, tout, cost_f, unpriced, latency, quality
        scores[i] = (s_cx, s_cost, s_speed, s_q, wc * s_cx + wk * s_cost + ws * s_speed + wq * s_q)
        rules_col[i] = tuple(rules)
    return Scored(plan.rows, tins, touts, costs, unpriced_col, lats, quals, scores, rules_col)


class Columns:
    """A capability's rows as NumPy arrays, built once per router for large catalogs."""

    def __init__(self, rows: Sequence[Row]) -> None:
        import numpy as np

        self.np = np
        self.index = {row.id: i for i, row in enumerate(rows)}
        nan = float("nan")
        self.quality = np.array([r.quality for r in rows])
        self.context = np.array([r.context if r.context is not None else np.inf for r in rows])
        self.complex_capable = np.array([r.complex_capable for r in rows])
        self.local = np.array([r.local for r in rows])
        self.free = np.array([r.free for r in rows])
        self.priced = np.array([r.priced for r in rows])
        self.has_in = np.array([r.in_price is not None for r in rows])
        self.has_out = np.array([r.out_price is not None for r in rows])
        self.in_f = np.array([r.in_f for r in rows])
        self.out_f = np.array([r.out_f for r in rows])
        self.typical = np.array([r.typical_s if r.typical_s is not None else nan for r in rows])
        self.per = np.array([_PER_CODE.get(r.per or "", 3) for r in rows])
        self.exact = np.array([r.exact_tokens for r in rows])
        self.factor = np.array([r.token_factor for r in rows])
        self.iit = np.array([r.image_input_tokens for r in rows])
        self.bills = np.array([r.bills_tokens for r in rows])
        self.has_images = np.array([r.image_prices is not None for r in rows])
        self.ids = [r.id for r in rows]


def score_columns(plan: Plan, cols: Columns, usage: Usage, live: LiveState) -> Scored:
    """The same rules as :func:`score_loop`, over whole columns at once."""
    np = cols.np
    wc, wk, ws, wq = plan.weights
    n = len(cols.ids)
    images = usage.images
    if usage.given:
        tin = np.full(n, usage.base_tokens, dtype=np.int64)
    else:
        scaled = np.ceil(usage.base_tokens * cols.factor - 1e-9).astype(np.int64)  # as scaled_tokens()
        tin = np.where(cols.exact & usage.base_exact, usage.base_tokens, scaled)
    if usage.fixed_output is not None:
        tout = np.full(n, usage.fixed_output, dtype=np.int64)
    else:
        tout = np.maximum(usage.output_floor, np.rint(tin * usage.output_ratio)).astype(np.int64)
    billed_in = np.where(cols.bills, tin + cols.iit * images, 0)
    billed_out = np.where(cols.bills, tout, 0)
    unpriced = ~cols.priced | ((billed_in > 0) & ~cols.has_in) | ((billed_out > 0) & ~cols.has_out)
    cost = cols.in_f * billed_in + cols.out_f * billed_out
    if images and cols.has_images.any():
        units = np.array([float(u) if (u := _image_unit(r, usage.image_size)) is not None else np.nan
                          if r.image_prices is not None else 0.0 for r in plan.rows])
        unpriced |= np.isnan(units)
        cost = cost + np.nan_to_num(units) * images
    per = cols.per
    latency = np.where(per == 0, cols.typical * np.maximum(tout, 1) / 500,
                       np.where(per == 1, cols.typical * max(images, 1),
                                cols.typical * np.maximum(1, np.ceil(tin / 512))))
    latency = np.where(per == 3, np.nan, latency)
    quality = cols.quality
    if live.quality:
        quality = quality.copy()
        for model_id, value in live.quality.items():
            i = cols.index.get(model_id)
            if i is not None:
                quality[i] = value
    s_cx = np.ones(n) if plan.required is None else np.minimum(1.0, quality / plan.required)
    s_cost = np.where(unpriced, 0.0, plan.cost_ref / (plan.cost_ref + cost))
    s_speed = np.where(np.isnan(latency), 0.5, plan.speed_ref / (plan.speed_ref + np.nan_to_num(latency)))
    s_q = (quality / 10.0) ** plan.exponent
    total = wc * s_cx + wk * s_cost + ws * s_speed + wq * s_q

    ids = cols.ids
    checks: list[tuple[Rule, object]] = [(Rule.UNPRICED, unpriced)]
    avoid = np.array([m in plan.avoid for m in ids]) if plan.avoid else None
    if avoid is not None:
        checks.append((Rule.AVOIDED_BY_TIER, avoid))
    if plan.occasional:
        is_complex = plan.complexity is Complexity.COMPLEX
        occasional = np.array([
            m in plan.occasional and ((plan.occasional_when == "complex_tasks" and not is_complex)
                                      or (plan.occasional_when == "task_table" and m not in plan.table))
            for m in ids])
        if avoid is not None:
            occasional &= ~avoid
        checks.append((Rule.OCCASIONAL_ONLY, occasional))
    if plan.complexity is Complexity.COMPLEX:
        checks.append((Rule.NOT_COMPLEX_CAPABLE, ~cols.complex_capable))
    checks.append((Rule.CONTEXT_TOO_SMALL, (tin + tout) > cols.context))
    if plan.max_latency is not None:
        checks.append((Rule.TOO_SLOW, ~np.isnan(latency) & (latency >= plan.max_latency)))
    if live.capped:
        checks.append((Rule.BUDGET_CAP, ~cols.free))
    rules: list[list[Rule]] = [[] for _ in range(n)]
    for rule, mask in checks:
        for i in np.flatnonzero(mask):
            rules[i].append(rule)
    for model_id, (rule, _) in live.unavailable.items():
        i = cols.index.get(model_id)
        if i is not None:
            rules[i].append(rule)
    lat_list = [None if math.isnan(x) else x for x in latency.tolist()]
    scores = list(zip(s_cx.tolist(), s_cost.tolist(), s_speed.tolist(), s_q.tolist(), total.tolist(), strict=True))
    return Scored(plan.rows, tin.tolist(), tout.tolist(), cost.tolist(), unpriced.tolist(), lat_list,
                  quality.tolist(), scores, [tuple(r) for r in rules])
