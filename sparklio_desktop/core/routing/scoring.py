"""Scoring and filtering every candidate of a request: the router's hot loop.

Two implementations fill the same :class:`Scored` result: a plain loop for ordinary
catalogs (a few dozen models, where NumPy's per-call overhead would dominate) and a
NumPy pass for large ones (hundreds of user-added models), which keeps its columns as
arrays. Both follow the same formulas (docs/routing.md §2–4) and take prices and
latencies from the one pricing core (core/pricing.py: ``UnitPrices.score_usd`` and
``latency_s``, ``PriceColumns`` and ``latency_columns``); ``tests/core/test_router_scoring.py``
checks that they agree on random catalogs.

The hot path computes floats only. What a person reads later (the four factor scores,
each candidate's exact ``Decimal`` cost, the details of an exclusion) is worked out from
the stored columns when it is read.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.policy.routing_policy import Complexity, TaskSpec
from sparklio_desktop.core.pricing import LATENCY_PER, NO_SPEED, PriceColumns, UnitPrices, latency_columns, latency_s
from sparklio_desktop.core.routing.decision import ResolvedOptions, Rule, Scores
from sparklio_desktop.core.tokens import scaled_tokens

if TYPE_CHECKING:  # the router imports this module
    from sparklio_desktop.core.routing.live_state import LiveState

VECTOR_THRESHOLD = 64  # candidates; below this the plain loop is faster
RULES = tuple(Rule)
_CODE = {rule: code for code, rule in enumerate(RULES)}


class Row(NamedTuple):
    """A catalog model reduced to what scoring needs, computed once per router."""

    model: ModelSpec
    id: str
    local: bool
    free: bool
    complex_capable: bool
    context: int | None
    quality: float
    prices: UnitPrices
    typical_s: float | None
    per: str | None
    exact_tokens: bool
    token_factor: float
    retired: str | None = None  # when and why its provider retired it: never routed
    first_s: float = 0.0  # measured seconds to the first token (0: the catalog's figure)


def make_row(model: ModelSpec, prices: UnitPrices, retired: str | None = None) -> Row:
    speed = model.speed
    return Row(
        model,
        model.id,
        model.local,
        model.is_free,
        model.complex_capable,
        model.context_tokens,
        model.quality,
        prices,
        speed.typical_s if speed else None,
        speed.per if speed else None,
        model.tokenizer.method == "exact",
        model.tokenizer.factor,
        retired,
        speed.first_token_s if speed else 0.0,
    )


class Plan(NamedTuple):
    """Everything about a request that does not depend on its usage or the live state."""

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
    static_rules: tuple[tuple[Rule, ...], ...]  # per row: the tier's and the complexity's rules
    loop_rows: tuple[LoopRow, ...]  # per row: what the plain loop reads, in one tuple
    table_rows: tuple[tuple[str, int], ...]  # the task table's models that are candidates: (id, row index)
    local_rows: tuple[int, ...]  # the local models' row indices


class LoopRow(NamedTuple):
    """One row as the plain loop unpacks it: the model's facts and the plan's option-only results."""

    id: str
    free: bool
    context: int | None
    quality: float
    prices: UnitPrices
    typical_s: float | None
    per: str | None
    exact_tokens: bool
    token_factor: float
    rules: tuple[Rule, ...]  # the tier's and the complexity's rules
    s_cx: float  # complexity and quality scores at the catalog's quality
    s_q: float
    first_s: float  # measured seconds to the first token


def loop_rows(
    rows: Sequence[Row], rules: Sequence[tuple[Rule, ...]], required: float | None, exponent: float
) -> tuple[LoopRow, ...]:
    return tuple(
        LoopRow(
            r.id,
            r.free,
            r.context,
            r.quality,
            r.prices,
            r.typical_s,
            r.per,
            r.exact_tokens,
            r.token_factor,
            found,
            *quality_scores(r.quality, required, exponent),
            r.first_s,
        )
        for r, found in zip(rows, rules, strict=True)
    )


def quality_scores(quality: float, required: float | None, exponent: float) -> tuple[float, float]:
    """The complexity and quality factor scores for a model of this quality."""
    return (1.0 if required is None else min(1.0, quality / required)), (quality / 10.0) ** exponent


def static_rules(
    rows: Sequence[Row],
    complexity: Complexity | None,
    avoid: frozenset[str],
    occasional: frozenset[str],
    when: str,
    table: tuple[str, ...],
) -> tuple[tuple[Rule, ...], ...]:
    """The rules that depend only on the options: the budget tier's and the complexity filter."""
    is_complex = complexity is Complexity.COMPLEX
    found = []
    for row in rows:
        rules: list[Rule] = []
        if row.retired is not None:
            rules.append(Rule.RETIRED)
        if row.id in avoid:
            rules.append(Rule.AVOIDED_BY_TIER)
        elif row.id in occasional and (
            (when == "complex_tasks" and not is_complex) or (when == "task_table" and row.id not in table)
        ):
            rules.append(Rule.OCCASIONAL_ONLY)
        if is_complex and not row.complex_capable:
            rules.append(Rule.NOT_COMPLEX_CAPABLE)
        found.append(tuple(rules))
    return tuple(found)


class Usage(NamedTuple):
    """The request's work, before per-model token scaling."""

    base_tokens: int
    base_exact: bool
    given: bool
    images: int
    image_size: str | None
    fixed_output: int | None  # None: output follows each model's input (translation)
    output_ratio: float | None
    output_floor: int


def output_tokens_for(usage: Usage, tin: int) -> int:
    if usage.fixed_output is not None:
        return usage.fixed_output
    assert usage.output_ratio is not None  # the router sets a ratio whenever it sets no fixed output
    return max(usage.output_floor, round(tin * usage.output_ratio))


class Scored:
    """Per-candidate results in catalog order, and the questions the router asks of them.

    This is the plain loop's form (Python lists); :class:`ColumnScored` answers the same
    questions over NumPy arrays.
    """

    def __init__(
        self,
        plan: Plan,
        usage: Usage,
        tin: Sequence[int],
        tout: Sequence[int],
        cost: Sequence[float],
        unpriced: Sequence[bool],
        latency: Sequence[float | None],
        quality: Sequence[float],
        total: Sequence[float],
        rules: Sequence[tuple[Rule, ...]] | None,
    ) -> None:
        self.plan = plan
        self.usage = usage
        self.rows = plan.rows
        self.tin = tin
        self.tout = tout
        self.cost = cost  # float USD for the cost score; 0.0 where unpriced
        self.unpriced = unpriced
        self.latency = latency
        self.quality = quality
        self.total = total
        self._rules = rules
        # truthy where the candidate is excluded (the plain loop's rule tuples, or a NumPy mask)
        self.excluded_flags: Sequence[Any] = rules if rules is not None else ()

    # -- one candidate ---------------------------------------------------------
    def rules_of(self, i: int) -> tuple[Rule, ...]:
        """Every rule that excludes candidate ``i``, the deciding one first (empty: eligible)."""
        assert self._rules is not None
        return self._rules[i]

    def excluded(self, i: int) -> bool:
        assert self._rules is not None
        return bool(self._rules[i])

    def scores(self, i: int) -> Scores:
        plan = self.plan
        s_cx, s_q = quality_scores(self.quality[i], plan.required, plan.exponent)
        latency = self.latency[i]
        s_cost = 0.0 if self.unpriced[i] else plan.cost_ref / (plan.cost_ref + self.cost[i])
        s_speed = 0.5 if latency is None else plan.speed_ref / (plan.speed_ref + latency)
        return Scores(s_cx, s_cost, s_speed, s_q, self.total[i])

    # -- across candidates -----------------------------------------------------
    def top(self, k: int, *, eligible: bool, skip: Collection[int] = (), local: bool | None = None) -> list[int]:
        """Up to ``k`` candidates by total score, best first (ties: catalog order)."""
        rules, total = self._rules, self.total
        assert rules is not None
        if local:
            found = [i for i in self.plan.local_rows if (not rules[i]) is eligible and i not in skip]
        else:
            rows = self.rows
            found = [
                i
                for i, r in enumerate(rules)
                if (not r) is eligible and i not in skip and (local is None or rows[i].local is local)
            ]
        if k == 1 and found:
            return [max(found, key=total.__getitem__)]  # the first of equals, as the stable sort
        found.sort(key=lambda i: -total[i])
        return found[:k]

    def first_ruled_by(self, rule: Rule) -> list[int]:
        """The candidates whose deciding rule is ``rule``, in catalog order."""
        assert self._rules is not None
        return [i for i, found in enumerate(self._rules) if found and found[0] is rule]

    def excluded_counts(self) -> dict[Rule, int]:
        assert self._rules is not None
        counts: dict[Rule, int] = {}
        for found in self._rules:
            if found:
                counts[found[0]] = counts.get(found[0], 0) + 1
        return {rule: counts[rule] for rule in RULES if rule in counts}

    def eligible_ids(self) -> list[str]:
        assert self._rules is not None
        rows = self.rows
        return [rows[i].id for i, found in enumerate(self._rules) if not found]

    def latency_of(self, i: int) -> float | None:
        return self.latency[i]

    def tokens_of(self, i: int) -> tuple[int, int]:
        """Candidate ``i``'s input and output tokens."""
        return int(self.tin[i]), int(self.tout[i])

    def quality_of(self, i: int) -> float:
        return float(self.quality[i])


def rule_detail(
    rule: Rule, row: Row, tin: int, tout: int, latency: float | None, plan: Plan, usage: Usage, live: LiveState
) -> str:
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
    if rule is Rule.RETIRED:
        return row.retired or ""
    if rule is Rule.UNPRICED:
        return row.prices.unpriced_reason(tin, tout, usage.images, usage.image_size) or "no price"
    gone = live.unavailable.get(row.id)
    return gone[1] if gone else ""


def score_loop(plan: Plan, usage: Usage, live: LiveState) -> Scored:
    """The plain loop: fastest for the few dozen models of an ordinary catalog."""
    wc, wk, ws, wq = plan.weights
    required, cost_ref, speed_ref, exponent = plan.required, plan.cost_ref, plan.speed_ref, plan.exponent
    max_latency = plan.max_latency
    capped = live.capped
    unavailable = live.unavailable
    overrides = live.quality
    base, images, size = usage.base_tokens, usage.images, usage.image_size
    given, base_exact, fixed = usage.given, usage.base_exact, usage.fixed_output
    unpriced_rule, context_rule, slow_rule, cap_rule = (
        Rule.UNPRICED,
        Rule.CONTEXT_TOO_SMALL,
        Rule.TOO_SLOW,
        Rule.BUDGET_CAP,
    )
    n = len(plan.rows)
    tins = [0] * n
    touts = [0] * n
    costs = [0.0] * n
    unpriced_col = [False] * n
    lats: list[float | None] = [None] * n
    quals = [0.0] * n
    totals = [0.0] * n
    rules_col: list[tuple[Rule, ...]] = [()] * n
    for i, (
        model_id,
        free,
        context,
        quality,
        prices,
        typical,
        per,
        exact,
        factor,
        rules,
        s_cx,
        s_q,
        first,
    ) in enumerate(plan.loop_rows):
        tin = base if given or (exact and base_exact) else scaled_tokens(base, factor)
        tout = fixed if fixed is not None else output_tokens_for(usage, tin)
        cost = prices.score_usd(tin, tout, images, size)
        latency = latency_s(per, typical, tin, tout, images, first)
        if overrides and model_id in overrides:
            quality = overrides[model_id]
            s_cx, s_q = quality_scores(quality, required, exponent)
        if cost is None:
            unpriced_col[i] = True
            rules = (unpriced_rule, *rules)
            s_cost = 0.0
        else:
            costs[i] = cost
            s_cost = cost_ref / (cost_ref + cost)
        s_speed = 0.5 if latency is None else speed_ref / (speed_ref + latency)
        if context is not None and tin + tout > context:
            rules += (context_rule,)
        if max_latency is not None and latency is not None and latency >= max_latency:
            rules += (slow_rule,)
        if capped and not free:
            rules += (cap_rule,)
        if unavailable:
            gone = unavailable.get(model_id)
            if gone is not None:
                rules += (gone[0],)
        tins[i], touts[i], lats[i], quals[i], rules_col[i] = tin, tout, latency, quality, rules
        totals[i] = wc * s_cx + wk * s_cost + ws * s_speed + wq * s_q
    return Scored(plan, usage, tins, touts, costs, unpriced_col, lats, quals, totals, rules_col)


class Columns:
    """A capability's rows as NumPy arrays, built once per router for large catalogs."""

    def __init__(self, rows: Sequence[Row]) -> None:
        import numpy as np

        self.np = np
        self.index = {row.id: i for i, row in enumerate(rows)}
        nan = float("nan")
        self.prices = PriceColumns(np, [r.prices for r in rows])
        self.quality = np.array([r.quality for r in rows], dtype=float)
        self.context = np.array([r.context if r.context is not None else np.inf for r in rows])
        self.local = np.array([r.local for r in rows], dtype=bool)
        self.free = np.array([r.free for r in rows], dtype=bool)
        self.typical = np.array([r.typical_s if r.typical_s is not None else nan for r in rows], dtype=float)
        self.per = np.array([LATENCY_PER.get(r.per or "", NO_SPEED) for r in rows])
        self.first = np.array([r.first_s for r in rows], dtype=float)
        self.exact = np.array([r.exact_tokens for r in rows], dtype=bool)
        self.factor = np.array([r.token_factor for r in rows], dtype=float)
        self.ids = [r.id for r in rows]
        self._static: dict[ResolvedOptions, list[tuple[Rule, Any]]] = {}

    def static_masks(self, plan: Plan) -> list[tuple[Rule, Any]]:
        """The plan's option-only rules as (rule, mask) pairs, built once per plan."""
        key = plan.options
        masks = self._static.get(key)
        if masks is None:
            np = self.np
            masks = []
            for rule in (Rule.AVOIDED_BY_TIER, Rule.OCCASIONAL_ONLY, Rule.NOT_COMPLEX_CAPABLE):
                mask = np.array([rule in found for found in plan.static_rules], dtype=bool)
                if mask.any():
                    masks.append((rule, mask))
            self._static[key] = masks
        return masks


class ColumnScored(Scored):
    """The NumPy pass's results: arrays, and each question answered over whole columns."""

    def __init__(
        self,
        plan: Plan,
        usage: Usage,
        cols: Columns,
        arrays: dict[str, Any],
        checks: list[tuple[Rule, Any]],
        gone: Mapping[int, Rule],
        first: Any,
    ) -> None:
        super().__init__(
            plan,
            usage,
            arrays["tin"],
            arrays["tout"],
            arrays["cost"],
            arrays["unpriced"],
            arrays["latency"],
            arrays["quality"],
            arrays["total"],
            None,
        )
        self.cols = cols
        self._latency = arrays["latency"]  # NaN: no speed figure
        self._checks = checks  # (rule, mask) in rule order; a candidate's rules are those whose mask holds
        self._gone = gone  # index -> availability rule (live state)
        self._first = first  # per candidate: the deciding rule's code, -1 when eligible
        self.excluded_flags = (first >= 0).tolist()

    def rules_of(self, i: int) -> tuple[Rule, ...]:
        found = tuple(rule for rule, mask in self._checks if mask[i])
        gone = self._gone.get(i)
        return found if gone is None else (*found, gone)

    def excluded(self, i: int) -> bool:
        return bool(self._first[i] >= 0)

    def scores(self, i: int) -> Scores:
        plan = self.plan
        s_cx, s_q = quality_scores(float(self.quality[i]), plan.required, plan.exponent)
        latency = self.latency_of(i)
        s_cost = 0.0 if self.unpriced[i] else plan.cost_ref / (plan.cost_ref + float(self.cost[i]))
        s_speed = 0.5 if latency is None else plan.speed_ref / (plan.speed_ref + latency)
        return Scores(s_cx, s_cost, s_speed, s_q, float(self.total[i]))

    def latency_of(self, i: int) -> float | None:
        value = float(self._latency[i])
        return None if math.isnan(value) else value

    def top(self, k: int, *, eligible: bool, skip: Collection[int] = (), local: bool | None = None) -> list[int]:
        np = self.cols.np
        mask = (self._first < 0) if eligible else (self._first >= 0)
        if skip:
            mask = mask.copy()
            mask[list(skip)] = False
        if local is not None:
            mask = mask & (self.cols.local if local else ~self.cols.local)
        found = np.flatnonzero(mask)
        if k <= 0 or not len(found):
            return []
        values = self.total[found]
        if len(found) > k:  # keep every candidate tied with the k-th best, then order them stably
            kth = np.partition(values, len(values) - k)[len(values) - k]
            keep = values >= kth
            found, values = found[keep], values[keep]
        order = np.argsort(-values, kind="stable")
        return [int(i) for i in found[order][:k]]

    def first_ruled_by(self, rule: Rule) -> list[int]:
        return [int(i) for i in self.cols.np.flatnonzero(self._first == _CODE[rule])]

    def excluded_counts(self) -> dict[Rule, int]:
        np = self.cols.np
        counts = np.bincount(self._first[self._first >= 0], minlength=len(RULES))
        return {rule: int(counts[code]) for code, rule in enumerate(RULES) if counts[code]}

    def eligible_ids(self) -> list[str]:
        ids = self.cols.ids
        return [ids[i] for i in self.cols.np.flatnonzero(self._first < 0).tolist()]


def score_columns(plan: Plan, cols: Columns, usage: Usage, live: LiveState) -> ColumnScored:
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
    cost, unpriced = cols.prices.score_usd(tin, tout, images, usage.image_size)
    latency = latency_columns(np, cols.per, cols.typical, tin, tout, images, cols.first)
    quality = cols.quality
    if live.quality:
        quality = quality.copy()
        for model_id, value in live.quality.items():
            i = cols.index.get(model_id)
            if i is not None:
                quality[i] = value
    s_cx = np.ones(n) if plan.required is None else np.minimum(1.0, quality / plan.required)
    s_cost = np.where(unpriced, 0.0, plan.cost_ref / (plan.cost_ref + np.where(unpriced, 0.0, cost)))
    no_speed = np.isnan(latency)
    s_speed = np.where(no_speed, 0.5, plan.speed_ref / (plan.speed_ref + np.nan_to_num(latency)))
    s_q = (quality / 10.0) ** plan.exponent
    total = wc * s_cx + wk * s_cost + ws * s_speed + wq * s_q

    checks: list[tuple[Rule, Any]] = [
        (Rule.UNPRICED, unpriced),
        *cols.static_masks(plan),
        (Rule.CONTEXT_TOO_SMALL, (tin + tout) > cols.context),
    ]
    if plan.max_latency is not None:
        checks.append((Rule.TOO_SLOW, ~no_speed & (latency >= plan.max_latency)))
    if live.capped:
        checks.append((Rule.BUDGET_CAP, ~cols.free))
    gone: dict[int, Rule] = {}
    for model_id, (rule, _) in live.unavailable.items():
        i = cols.index.get(model_id)
        if i is not None:
            gone[i] = rule
    first = np.full(n, -1, dtype=np.int64)
    if gone:
        first[list(gone)] = [_CODE[rule] for rule in gone.values()]
    for rule, mask in reversed(checks):  # the first rule in order wins
        first = np.where(mask, _CODE[rule], first)
    arrays = {
        "tin": tin,
        "tout": tout,
        "cost": np.where(unpriced, 0.0, cost),
        "unpriced": unpriced,
        "latency": latency,
        "quality": quality,
        "total": total,
    }
    return ColumnScored(plan, usage, cols, arrays, checks, gone, first)
