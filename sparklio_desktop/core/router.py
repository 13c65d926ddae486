"""The router: a pure function from a request, the catalog, the policy and live state
to a :class:`~sparklio_desktop.core.decision.RoutingDecision`.

Every rule is written down in docs/routing.md. In short:

1. Candidates are all catalog models with the capability the task needs. Each gets four
   factor scores in [0, 1] and their weighted total (policy ``weights``).
2. Hard filters exclude candidates, each with the rule that excluded it: the budget
   tier's avoid list and occasional models outside their condition; complex tasks keep
   only complex-capable models; the context window must hold input plus output; the
   speed class's latency limit; unpriced models; the budget cap (paid models, once the
   month's spend reaches the budget); and live availability (API key, installed local
   model, reachable provider, models marked unavailable this session).
3. The chain is the task table's chain minus excluded models, in table order; when that
   leaves fewer than ``chain.min_length`` models, the best-scoring remaining candidates
   fill it; then, if it holds no local model, the best eligible local model is appended
   as the last resort.
4. With probability ``exploration.rate`` (seedable) an eligible alternative goes first.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from sparklio_desktop.core import tokens
from sparklio_desktop.core.catalog import MTOK, Capability, Catalog, ModelSpec
from sparklio_desktop.core.decision import (
    Candidate,
    Estimate,
    ResolvedOptions,
    RoutingDecision,
    Rule,
    Scores,
)
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.estimate import UnpricedModelError, price_call
from sparklio_desktop.core.explain import explain
from sparklio_desktop.core.policy import BudgetTier, Complexity, Policy, QualityTarget, SpeedClass, TaskSpec

DEFAULT_IMAGE_SIZE = "1024x1024"
_ZERO = Decimal(0)


@dataclass(frozen=True)
class RouteRequest:
    """What the caller wants. Options left as ``None`` take the task table's defaults."""

    task: str
    complexity: Complexity | str | None = None
    budget: BudgetTier | str | None = None
    speed: SpeedClass | str | None = None
    quality: QualityTarget | str | None = None
    prompt: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    images: int | None = None
    image_size: str | None = None
    explore: bool = True
    seed: int | None = None


@dataclass(frozen=True)
class LiveState:
    """What is true right now, outside the policy.

    ``unavailable`` maps a model id to the availability rule that keeps it out (and an
    optional detail). ``spent_usd``/``budget_usd`` are this month's figures; with
    ``capped`` True paid models are excluded by the budget cap. ``quality`` maps model
    ids to the quality score to use for this task (ratings blended in); absent ids use
    the catalog's score.
    """

    unavailable: Mapping[str, tuple[Rule, str]] = field(default_factory=dict)
    spent_usd: Decimal | None = None
    budget_usd: Decimal | None = None
    at_cap: str = "local_only"
    alert_threshold: float = 0.8
    quality: Mapping[str, float] = field(default_factory=dict)

    @property
    def capped(self) -> bool:
        return self.budget_usd is not None and self.spent_usd is not None and self.spent_usd >= self.budget_usd

    @property
    def past_alert(self) -> bool:
        if self.budget_usd is None or self.spent_usd is None or self.budget_usd <= 0:
            return False
        return self.spent_usd >= self.budget_usd * Decimal(str(self.alert_threshold))


EVERYTHING_AVAILABLE = LiveState()


def _enum(enum_type, value, default):
    if value is None:
        return default
    try:
        return enum_type(value)
    except ValueError:
        from sparklio_desktop.core.errors import UnknownNameError

        raise UnknownNameError(enum_type.__name__.lower(), str(value), [m.value for m in enum_type]) from None


class _Row(NamedTuple):
    """A catalog model reduced to what scoring needs, computed once per router."""

    model: ModelSpec
    id: str
    local: bool
    free: bool
    complex_capable: bool
    context: int | None
    quality: float
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


def _row(model: ModelSpec) -> _Row:
    price = model.price
    in_price = out_price = None
    images = None
    if price is not None:
        in_price = price.input_per_mtok / MTOK if price.input_per_mtok is not None else None
        out_price = price.output_per_mtok / MTOK if price.output_per_mtok is not None else None
        images = dict(price.per_image) if price.per_image is not None else None
    generates = model.has(Capability.IMAGE_GENERATION)
    return _Row(
        model, model.id, model.local, model.is_free, model.complex_capable, model.context_tokens, model.quality,
        in_price, out_price, images,
        float(in_price or 0), float(out_price or 0),
        model.speed.typical_s if model.speed else None, model.speed.per if model.speed else None,
        model.tokenizer.method == "exact", model.tokenizer.factor,
        0 if generates else (model.image_input_tokens or 0),
        not (generates and in_price is None),
    )


class _Plan(NamedTuple):
    """Everything about a request that does not depend on the model."""

    task: TaskSpec
    options: ResolvedOptions
    rows: list[_Row]
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


class Router:
    """Routes requests for one (catalog, policy) pair; precomputes what does not change."""

    def __init__(self, catalog: Catalog, policy: Policy) -> None:
        self.catalog = catalog
        self.policy = policy
        self._rows: dict[Capability, list[_Row]] = {
            cap: [_row(m) for m in catalog.with_capability(cap)] for cap in Capability
        }
        self._plans: dict[tuple, _Plan] = {}

    # -- options ---------------------------------------------------------------
    def resolve(self, request: RouteRequest) -> tuple[TaskSpec, ResolvedOptions]:
        plan = self._plan(request)
        return plan.task, plan.options

    def _plan(self, request: RouteRequest) -> _Plan:
        key = (request.task, request.complexity, request.budget, request.speed, request.quality)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        policy = self.policy
        task = policy.task(request.task)
        d = task.defaults
        complexity = _enum(Complexity, request.complexity, task.complexity)
        budget = _enum(BudgetTier, request.budget, d.budget or BudgetTier.STANDARD)
        speed = _enum(SpeedClass, request.speed, d.speed or SpeedClass.STANDARD)
        quality = _enum(QualityTarget, request.quality, d.quality or QualityTarget.STANDARD)
        if task.capability in (Capability.IMAGE_GENERATION, Capability.EMBEDDING):
            complexity = None  # the seed gives these tasks no complexity: nothing to filter on
        options = ResolvedOptions(
            request.task, complexity.value if complexity else None, budget.value, speed.value, quality.value,
            task.capability.value,
        )
        tier = policy.budget_tiers[budget]
        speed_spec = policy.speed_classes[speed]
        occasional = tier.occasional
        plan = _Plan(
            task, options, self._rows[task.capability], complexity,
            policy.complexity_levels[complexity] if complexity else None,
            float(tier.cost_reference_usd), speed_spec.max_latency_s, speed_spec.score_reference_s,
            policy.quality_targets[quality].exponent,
            frozenset(tier.avoid),
            frozenset(occasional.models) if occasional else frozenset(), occasional.when if occasional else "",
            tuple(task.chain),
        )
        self._plans[key] = plan
        return plan

    # -- the decision ----------------------------------------------------------
    def route(self, request: RouteRequest, live: LiveState = EVERYTHING_AVAILABLE) -> RoutingDecision:
        plan = self._plan(request)
        task, options = plan.task, plan.options
        w = self.policy.weights
        wc, wk, ws, wq = w.complexity, w.cost, w.speed, w.quality
        required, cost_ref, speed_ref, exponent = plan.required, plan.cost_ref, plan.speed_ref, plan.exponent
        max_latency = plan.max_latency
        is_complex = plan.complexity is Complexity.COMPLEX
        avoid, occasional, occasional_when, table = plan.avoid, plan.occasional, plan.occasional_when, plan.table
        budget_name = options.budget

        base_tokens, base_exact = self._base_input_tokens(request, task)
        given = request.input_tokens is not None
        images = self._images(request, task)
        image_size = request.image_size or (DEFAULT_IMAGE_SIZE if task.capability is Capability.IMAGE_GENERATION else None)
        fixed_output = None if task.output_input_ratio is not None else self._output_tokens(request, task, base_tokens)
        capped = live.capped
        unavailable = live.unavailable
        quality_of = live.quality

        # First pass: score and filter every model with the capability.
        scored = []  # (row, tokens_in, tokens_out, cost, latency, quality, scores, rules)
        for row in plan.rows:
            if given or (row.exact_tokens and base_exact):
                tin = base_tokens
            else:
                tin = math.ceil(base_tokens * row.token_factor)
            tout = fixed_output if fixed_output is not None else self._output_tokens(request, task, tin)
            rules: list[tuple[Rule, str]] | None = None
            billed_in = (tin + row.image_input_tokens * images) if row.bills_tokens else 0
            billed_out = tout if row.bills_tokens else 0
            cost: Decimal | None = None
            cost_f = 0.0
            unpriced = row.model.price is None
            if not unpriced:
                cost = _ZERO
                if billed_in:
                    if row.in_price is None:
                        unpriced = True
                    else:
                        cost = cost + row.in_price * billed_in
                        cost_f += row.in_f * billed_in
                if billed_out:
                    if row.out_price is None:
                        unpriced = True
                    else:
                        cost = cost + row.out_price * billed_out
                        cost_f += row.out_f * billed_out
                if images and row.image_prices is not None:
                    unit = row.image_prices.get(image_size) if image_size else None
                    if unit is None:
                        unit = row.image_prices.get("*")
                    if unit is None:
                        unpriced = True
                    else:
                        cost = cost + unit * images
                        cost_f += float(unit) * images
                if unpriced:
                    cost = None
            if unpriced:
                rules = [(Rule.UNPRICED, self._unpriced_detail(row.model, tin, tout, images, image_size))]
            per = row.per
            if per is None:
                latency = None
            elif per == "output_500":
                latency = row.typical_s * (tout if tout > 1 else 1) / 500
            elif per == "image":
                latency = row.typical_s * (images if images > 1 else 1)
            else:
                latency = row.typical_s * max(1, math.ceil(tin / 512))
            quality = quality_of.get(row.id, row.quality) if quality_of else row.quality

            s_complexity = 1.0 if required is None else min(1.0, quality / required)
            s_cost = 0.0 if cost is None else cost_ref / (cost_ref + cost_f)
            s_speed = 0.5 if latency is None else speed_ref / (speed_ref + latency)
            s_quality = (quality / 10.0) ** exponent
            total = wc * s_complexity + wk * s_cost + ws * s_speed + wq * s_quality

            model_id = row.id
            if model_id in avoid:
                rules = _add(rules, Rule.AVOIDED_BY_TIER, f"{budget_name} tier")
            elif model_id in occasional:
                if occasional_when == "complex_tasks" and not is_complex:
                    rules = _add(rules, Rule.OCCASIONAL_ONLY, f"{budget_name} tier: only for complex tasks")
                elif occasional_when == "task_table" and model_id not in table:
                    rules = _add(rules, Rule.OCCASIONAL_ONLY, f"{budget_name} tier: only where the task table names it")
            if is_complex and not row.complex_capable:
                rules = _add(rules, Rule.NOT_COMPLEX_CAPABLE, "the task is complex")
            if row.context is not None and tin + tout > row.context:
                rules = _add(rules, Rule.CONTEXT_TOO_SMALL,
                             f"needs {tin + tout:,} tokens, window holds {row.context:,}")
            if max_latency is not None and latency is not None and latency >= max_latency:
                rules = _add(rules, Rule.TOO_SLOW,
                             f"about {latency:.1f} s expected, limit {max_latency:g} s ({options.speed})")
            if capped and not row.free:
                rules = _add(rules, Rule.BUDGET_CAP, f"at the cap the policy says {live.at_cap}")
            if unavailable:
                gone = unavailable.get(model_id)
                if gone is not None:
                    rules = _add(rules, *gone)
            scored.append((row, tin, tout, cost, latency, quality,
                           Scores(s_complexity, s_cost, s_speed, s_quality, total), rules))

        eligible = {item[0].id: item for item in scored if item[7] is None}
        stop_at_cap = capped and live.at_cap == "stop"
        chain, roles = self._chain(table, eligible, allow_substitutes=not stop_at_cap)
        exploration = False
        rate = self.policy.exploration.rate
        if request.explore and rate > 0 and chain:
            rng = random.Random(request.seed)
            if rng.random() < rate:
                pick = self._exploration_pick(chain[0], eligible, live, rng)
                if pick is not None:
                    chain = [pick, *[m for m in chain if m != pick]]
                    roles[pick] = "exploration"
                    exploration = True

        # Second pass: build each candidate once, in display order.
        position = {m: i for i, m in enumerate(chain)}
        candidates = []
        for row, tin, tout, cost, latency, quality, scores, rules in scored:
            model = row.model
            pos = position.get(row.id)
            if rules is None:
                candidates.append(Candidate(row.id, model.name, model.provider, row.local, scores, cost, latency,
                                            quality, row.quality, None, "", (), pos, roles.get(row.id, "")))
            else:
                candidates.append(Candidate(row.id, model.name, model.provider, row.local, scores, cost, latency,
                                            quality, row.quality, rules[0][0], rules[0][1],
                                            tuple(r for r, _ in rules[1:]), None, ""))
        candidates.sort(key=_display_order)

        estimate = self._estimate(request, task, chain, eligible, base_tokens, base_exact, images)
        no_fit: tuple[str, ...] = ()
        if not chain:
            no_fit = tuple(f"{c.name}: {c.excluded_by.text} ({c.exclusion_detail})" for c in candidates if c.excluded_by)
            if not no_fit:
                no_fit = (f"the catalog has no model that can do {task.capability.value}",)
        notes = ("The monthly budget is spent and the policy stops paid requests.",) if stop_at_cap else ()
        return RoutingDecision(
            options=options,
            chain=tuple(chain),
            candidates=tuple(candidates),
            estimate=estimate,
            explanation=explain(task, options, chain, candidates, estimate, exploration, notes),
            exploration=exploration,
            no_fit_reasons=no_fit,
            notes=notes,
        )

    # -- pieces ----------------------------------------------------------------
    def _chain(self, table: tuple[str, ...], eligible: dict, allow_substitutes: bool) -> tuple[list[str], dict[str, str]]:
        chain = [m for m in table if m in eligible]
        roles = {m: ("primary" if m == table[0] else "fallback") for m in chain}
        if not allow_substitutes:
            # At the cap with "stop", paid models are already excluded; nothing stands in.
            return chain, roles
        want = self.policy.chain.min_length
        if len(chain) < want:
            rest = sorted((item for m, item in eligible.items() if m not in roles), key=lambda item: -item[6].total)
            fills = [item[0] for item in rest[: want - len(chain)]]
            # Cloud fill-ins go before local ones: local models are the chain's end.
            for row in [r for r in fills if not r.local] + [r for r in fills if r.local]:
                chain.append(row.id)
                roles[row.id] = "fill-in"
        if self.policy.chain.local_last_resort and not any(eligible[m][0].local for m in chain):
            local = [item for m, item in eligible.items() if item[0].local and m not in roles]
            if local:
                best = max(local, key=lambda item: item[6].total)[0].id
                chain.append(best)
                roles[best] = "last resort"
        return chain, roles

    @staticmethod
    def _exploration_pick(primary: str, eligible: dict, live: LiveState, rng: random.Random) -> str | None:
        primary_cost = eligible[primary][3] or _ZERO
        options = sorted(m for m in eligible if m != primary)
        if live.past_alert:
            # Past the alert threshold exploration never moves to a pricier model.
            options = [m for m in options if (eligible[m][3] or _ZERO) <= primary_cost]
        return rng.choice(options) if options else None

    @staticmethod
    def _unpriced_detail(model: ModelSpec, tin: int, tout: int, images: int, size: str | None) -> str:
        try:
            price_call(model, tin, tout, images, size)
        except UnpricedModelError as exc:
            return str(exc)
        return "no price"  # pragma: no cover - the fast path and price_call agree

    @staticmethod
    def _base_input_tokens(request: RouteRequest, task: TaskSpec) -> tuple[int, bool]:
        if request.input_tokens is not None:
            if request.input_tokens < 0:
                raise SparklioError("--input-tokens must not be negative")
            return request.input_tokens, True
        if request.prompt is not None:
            if task.capability is Capability.EMBEDDING:
                return tokens.count_text(request.prompt)
            system = task.system_prompt
            count, exact = tokens.count_text(request.prompt)
            overhead = tokens.TOKENS_REPLY_PRIMING + tokens.TOKENS_PER_MESSAGE
            if system:
                sys_count, sys_exact = tokens.count_text(system)
                count += sys_count + tokens.TOKENS_PER_MESSAGE
                exact = exact and sys_exact
            return count + overhead, exact
        return task.typical_input_tokens, False

    @staticmethod
    def _output_tokens(request: RouteRequest, task: TaskSpec, input_tokens: int) -> int:
        if task.capability in (Capability.IMAGE_GENERATION, Capability.EMBEDDING):
            return 0
        if request.output_tokens is not None:
            if request.output_tokens < 0:
                raise SparklioError("--output-tokens must not be negative")
            return request.output_tokens
        if task.output_input_ratio is not None and (request.prompt is not None or request.input_tokens is not None):
            return max(task.expected_output_tokens // 5, round(input_tokens * task.output_input_ratio))
        return task.expected_output_tokens

    @staticmethod
    def _images(request: RouteRequest, task: TaskSpec) -> int:
        if request.images is not None:
            if request.images < 0:
                raise SparklioError("--images must not be negative")
            return request.images
        return 1 if task.capability in (Capability.IMAGE_GENERATION, Capability.VISION) else 0

    def _estimate(self, request, task, chain, eligible, base_tokens, base_exact, images) -> Estimate:
        if request.input_tokens is not None:
            method = "given"
        elif request.prompt is None:
            method = "typical for the task"
        else:
            method = None
        if not chain:
            return Estimate(None, base_tokens, base_exact and request.prompt is not None or request.input_tokens is not None,
                            method or "exact (cl100k_base)", self._output_tokens(request, task, base_tokens), images,
                            None, None)
        row, tin, tout, cost, latency = eligible[chain[0]][:5]
        if method is None:
            count = tokens.for_model(row.model, base_tokens, base_exact)
            method, exact = count.method, count.exact
        else:
            exact = request.input_tokens is not None
        return Estimate(row.id, tin, exact, method, tout, images, cost, latency)


def _add(rules: list | None, rule: Rule, detail: str) -> list:
    if rules is None:
        return [(rule, detail)]
    rules.append((rule, detail))
    return rules


def _display_order(c: Candidate) -> tuple:
    """Chain members first in chain order, then eligible ones, then excluded ones; by score."""
    return (c.chain_position is None, c.chain_position or 0, c.excluded_by is not None, -c.scores.total)


_ROUTERS: dict[tuple[int, int], Router] = {}


def route(
    request: RouteRequest, catalog: Catalog, policy: Policy, live: LiveState = EVERYTHING_AVAILABLE
) -> RoutingDecision:
    """Route one request. Routers are cached per (catalog, policy) pair."""
    key = (id(catalog), id(policy))
    router = _ROUTERS.get(key)
    if router is None or router.catalog is not catalog or router.policy is not policy:
        router = _ROUTERS[key] = Router(catalog, policy)
    return router.route(request, live)
