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
from dataclasses import dataclass, field
from decimal import Decimal

from sparklio_desktop.core import tokens
from sparklio_desktop.core.catalog import Capability, Catalog, ModelSpec
from sparklio_desktop.core.decision import (
    Candidate,
    Estimate,
    ResolvedOptions,
    RoutingDecision,
    Rule,
    Scores,
)
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.estimate import UnpricedModelError, expected_latency_s, price_call
from sparklio_desktop.core.explain import explain
from sparklio_desktop.core.policy import BudgetTier, Complexity, Policy, QualityTarget, SpeedClass, TaskSpec

DEFAULT_IMAGE_SIZE = "1024x1024"


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


class Router:
    """Routes requests for one (catalog, policy) pair; precomputes what does not change."""

    def __init__(self, catalog: Catalog, policy: Policy) -> None:
        self.catalog = catalog
        self.policy = policy
        self._by_capability: dict[Capability, list[ModelSpec]] = {
            cap: catalog.with_capability(cap) for cap in Capability
        }
        self._avoid = {tier: frozenset(spec.avoid) for tier, spec in policy.budget_tiers.items()}
        self._occasional = {
            tier: (frozenset(spec.occasional.models), spec.occasional.when) if spec.occasional else (frozenset(), "")
            for tier, spec in policy.budget_tiers.items()
        }

    # -- options ---------------------------------------------------------------
    def resolve(self, request: RouteRequest) -> tuple[TaskSpec, ResolvedOptions]:
        task = self.policy.task(request.task)
        d = task.defaults
        complexity = _enum(Complexity, request.complexity, task.complexity)
        budget = _enum(BudgetTier, request.budget, d.budget or BudgetTier.STANDARD)
        speed = _enum(SpeedClass, request.speed, d.speed or SpeedClass.STANDARD)
        quality = _enum(QualityTarget, request.quality, d.quality or QualityTarget.STANDARD)
        if task.capability in (Capability.IMAGE_GENERATION, Capability.EMBEDDING):
            complexity = None  # the seed gives these tasks no complexity: nothing to filter on
        options = ResolvedOptions(
            request.task,
            complexity.value if complexity else None,
            budget.value,
            speed.value,
            quality.value,
            task.capability.value,
        )
        return task, options

    # -- the decision ----------------------------------------------------------
    def route(self, request: RouteRequest, live: LiveState = EVERYTHING_AVAILABLE) -> RoutingDecision:
        task, options = self.resolve(request)
        policy = self.policy
        budget = BudgetTier(options.budget)
        speed = policy.speed_classes[SpeedClass(options.speed)]
        exponent = policy.quality_targets[QualityTarget(options.quality)].exponent
        complexity = Complexity(options.complexity) if options.complexity else None
        required = policy.complexity_levels[complexity] if complexity else None
        tier = policy.budget_tiers[budget]
        cost_ref = float(tier.cost_reference_usd)
        avoid = self._avoid[budget]
        occasional, occasional_when = self._occasional[budget]
        table_chain = task.chain
        table_set = frozenset(table_chain)
        w = policy.weights

        base_tokens, base_exact = self._base_input_tokens(request, task)
        given = request.input_tokens is not None
        images = self._images(request, task)
        image_size = request.image_size or (DEFAULT_IMAGE_SIZE if task.capability is Capability.IMAGE_GENERATION else None)
        capped = live.capped
        stop_at_cap = capped and live.at_cap == "stop"

        candidates: list[Candidate] = []
        eligible: dict[str, Candidate] = {}
        counts: dict[str, tokens.TokenCount] = {}
        for model in self._by_capability[task.capability]:
            count = tokens.for_model(model, base_tokens, base_exact, given)
            counts[model.id] = count
            output_tokens = self._output_tokens(request, task, count.tokens)
            rules: list[tuple[Rule, str]] = []
            cost: Decimal | None
            try:
                cost = price_call(model, count.tokens, output_tokens, images, image_size).cost_usd
            except UnpricedModelError as exc:
                cost = None
                rules.append((Rule.UNPRICED, str(exc)))
            latency = expected_latency_s(model, output_tokens, count.tokens, images)
            quality = live.quality.get(model.id, model.quality)

            # factor scores, each in [0, 1]
            s_complexity = 1.0 if required is None else min(1.0, quality / required)
            s_cost = 0.0 if cost is None else cost_ref / (cost_ref + float(cost))
            s_speed = 0.5 if latency is None else speed.score_reference_s / (speed.score_reference_s + latency)
            s_quality = (quality / 10.0) ** exponent
            total = w.complexity * s_complexity + w.cost * s_cost + w.speed * s_speed + w.quality * s_quality

            # hard filters, in the order they are reported
            if model.id in avoid:
                rules.append((Rule.AVOIDED_BY_TIER, f"{budget.value} tier"))
            elif model.id in occasional:
                if occasional_when == "complex_tasks" and complexity is not Complexity.COMPLEX:
                    rules.append((Rule.OCCASIONAL_ONLY, f"{budget.value} tier: only for complex tasks"))
                elif occasional_when == "task_table" and model.id not in table_set:
                    rules.append(
                        (Rule.OCCASIONAL_ONLY, f"{budget.value} tier: only where the task table names it")
                    )
            if complexity is Complexity.COMPLEX and not model.complex_capable:
                rules.append((Rule.NOT_COMPLEX_CAPABLE, "the task is complex"))
            if model.context_tokens is not None and count.tokens + output_tokens > model.context_tokens:
                rules.append(
                    (
                        Rule.CONTEXT_TOO_SMALL,
                        f"needs {count.tokens + output_tokens:,} tokens, window holds {model.context_tokens:,}",
                    )
                )
            if speed.max_latency_s is not None and latency is not None and latency >= speed.max_latency_s:
                rules.append(
                    (Rule.TOO_SLOW, f"about {latency:.1f} s expected, limit {speed.max_latency_s:g} s ({options.speed})")
                )
            if capped and not model.is_free:
                rules.append((Rule.BUDGET_CAP, f"at the cap the policy says {live.at_cap}"))
            gone = live.unavailable.get(model.id)
            if gone is not None:
                rules.append(gone)

            first = rules[0] if rules else None
            candidate = Candidate(
                id=model.id,
                name=model.name,
                provider=model.provider,
                local=model.local,
                scores=Scores(s_complexity, s_cost, s_speed, s_quality, total),
                cost_usd=cost,
                latency_s=latency,
                quality=quality,
                catalog_quality=model.quality,
                excluded_by=first[0] if first else None,
                exclusion_detail=first[1] if first else "",
                other_rules=tuple(r for r, _ in rules[1:]),
            )
            candidates.append(candidate)
            if first is None:
                eligible[model.id] = candidate

        chain, roles = self._chain(table_chain, eligible, task, allow_substitutes=not stop_at_cap)
        exploration = False
        rate = policy.exploration.rate
        if request.explore and rate > 0 and chain:
            rng = random.Random(request.seed)
            if rng.random() < rate:
                pick = self._exploration_pick(chain[0], eligible, live, rng)
                if pick is not None:
                    chain = [pick, *[m for m in chain if m != pick]]
                    roles[pick] = "exploration"
                    exploration = True

        position = {m: i for i, m in enumerate(chain)}
        final = []
        for c in candidates:
            if c.id in position:
                c = _with(c, chain_position=position[c.id], role=roles[c.id])
            final.append(c)
        final.sort(key=lambda c: (c.chain_position is None, c.chain_position or 0, c.excluded_by is not None, -c.scores.total))

        estimate = self._estimate(request, task, chain, counts, base_tokens, base_exact, images, eligible)
        no_fit: tuple[str, ...] = ()
        if not chain:
            no_fit = tuple(f"{c.name}: {c.excluded_by.text} ({c.exclusion_detail})" for c in final if c.excluded_by)
            if not no_fit:
                no_fit = (f"the catalog has no model that can do {task.capability.value}",)
        notes = []
        if stop_at_cap:
            notes.append("The monthly budget is spent and the policy stops paid requests.")
        explanation = explain(task, options, chain, final, estimate, exploration, notes)
        return RoutingDecision(
            options=options,
            chain=tuple(chain),
            candidates=tuple(final),
            estimate=estimate,
            explanation=explanation,
            exploration=exploration,
            no_fit_reasons=no_fit,
            notes=tuple(notes),
        )

    # -- pieces ----------------------------------------------------------------
    def _chain(
        self, table_chain: list[str], eligible: dict[str, Candidate], task: TaskSpec, allow_substitutes: bool
    ) -> tuple[list[str], dict[str, str]]:
        chain = [m for m in table_chain if m in eligible]
        roles = {m: ("primary" if m == table_chain[0] else "fallback") for m in chain}
        if not allow_substitutes:
            # At the cap with "stop", paid models are already excluded; nothing stands in.
            return chain, roles
        want = self.policy.chain.min_length
        if len(chain) < want:
            rest = sorted((c for m, c in eligible.items() if m not in roles), key=lambda c: -c.scores.total)
            for c in rest[: want - len(chain)]:
                chain.append(c.id)
                roles[c.id] = "fill-in"
        # Cloud fill-ins go before local ones: local models are the chain's end.
        table_part = [m for m in chain if roles[m] != "fill-in"]
        fills = [m for m in chain if roles[m] == "fill-in"]
        chain = table_part + [m for m in fills if not eligible[m].local] + [m for m in fills if eligible[m].local]
        if self.policy.chain.local_last_resort and not any(eligible[m].local for m in chain):
            local = [c for c in eligible.values() if c.local and c.id not in roles]
            if local:
                best = max(local, key=lambda c: c.scores.total)
                chain.append(best.id)
                roles[best.id] = "last resort"
        return chain, roles

    @staticmethod
    def _exploration_pick(
        primary: str, eligible: dict[str, Candidate], live: LiveState, rng: random.Random
    ) -> str | None:
        primary_cost = eligible[primary].cost_usd or Decimal(0)
        options = sorted(m for m in eligible if m != primary)
        if live.past_alert:
            # Past the alert threshold exploration never moves to a pricier model.
            options = [m for m in options if (eligible[m].cost_usd or Decimal(0)) <= primary_cost]
        return rng.choice(options) if options else None

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

    def _estimate(self, request, task, chain, counts, base_tokens, base_exact, images, eligible) -> Estimate:
        if not chain:
            return Estimate(None, base_tokens, base_exact, "exact (cl100k_base)" if base_exact else "typical for the task",
                            self._output_tokens(request, task, base_tokens), images, None, None)
        first = chain[0]
        count = counts[first]
        method = count.method
        if request.input_tokens is not None:
            method = "given"
        elif request.prompt is None:
            method = "typical for the task"
        c = eligible[first]
        exact = request.input_tokens is not None or (request.prompt is not None and count.exact)
        return Estimate(
            first,
            count.tokens,
            exact,
            method,
            self._output_tokens(request, task, count.tokens),
            images,
            c.cost_usd,
            c.latency_s,
        )


def _with(candidate: Candidate, **changes) -> Candidate:
    from dataclasses import replace

    return replace(candidate, **changes)


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
