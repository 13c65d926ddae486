"""The router: a pure function from a request, the catalog, the policy and live state
to a :class:`~sparklio_desktop.core.routing.decision.RoutingDecision`.

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

Routing is the hot path (the composer re-routes as the user types): it compares float
scores from the pricing core and returns a decision whose candidates (with their exact
``Decimal`` costs) and explanation are built from the scored columns when first read
(docs/routing.md §10).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, TypeVar

from sparklio_desktop.core import tokens
from sparklio_desktop.core.errors import SparklioError, UnknownNameError
from sparklio_desktop.core.naming import task_words
from sparklio_desktop.core.policy.catalog import Capability, Catalog
from sparklio_desktop.core.policy.families import Resolution, catalog_usable, resolve_policy, uses_families
from sparklio_desktop.core.policy.routing_policy import (
    BudgetTier,
    Complexity,
    Policy,
    QualityTarget,
    SpeedClass,
    TaskSpec,
)
from sparklio_desktop.core.pricing import price_table
from sparklio_desktop.core.routing.decision import (
    Candidate,
    Estimate,
    ResolvedOptions,
    RoutingDecision,
    Rule,
)
from sparklio_desktop.core.routing.explain import Pick, explain, lead_sentence
from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE, LiveState
from sparklio_desktop.core.routing.scoring import (
    VECTOR_THRESHOLD,
    Columns,
    Plan,
    Row,
    Scored,
    Usage,
    loop_rows,
    make_row,
    rule_detail,
    score_columns,
    score_loop,
    static_rules,
)
from sparklio_desktop.core.speed import speed_words

if TYPE_CHECKING:  # `sparklio route` imports no provider module
    from sparklio_desktop.core.providers.base import ImageInput

DEFAULT_IMAGE_SIZE = "1024x1024"
_E = TypeVar("_E", bound=Enum)
_D = TypeVar("_D")


@dataclass(frozen=True)
class RouteRequest:
    """What the caller wants. Options left as ``None`` take the task table's defaults.

    The one place a request's route options live: a run wraps this value
    (:class:`~sparklio_desktop.core.dispatch.RunRequest`) instead of repeating its fields,
    so the decision is priced for exactly what runs (docs/dispatch.md). ``images``: the
    images to generate, or (for a preview without the files) the number attached;
    ``attachments``: the images sent with the prompt, which count as the attached images
    whenever they are given. ``history_tokens``: the tokens of a conversation's earlier
    turns, sent with the prompt (counted once, by :class:`RunRequest` or the composer), so
    a follow-up is priced for the whole conversation it sends, not for its last message.
    """

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
    attachments: tuple[ImageInput, ...] = ()
    explore: bool = True
    seed: int | None = None
    history_tokens: int = 0
    # A template's system prompt, sent instead of the task's (None: the task's own).
    system_prompt: str | None = None


def _enum(enum_type: type[_E], value: object, default: _D) -> _E | _D:
    if value is None:
        return default
    try:
        return enum_type(value)
    except ValueError:
        raise UnknownNameError(enum_type.__name__.lower(), str(value), [m.value for m in enum_type]) from None


class Router:
    """Routes requests for one (catalog, policy) pair; precomputes what does not change."""

    def __init__(
        self, catalog: Catalog, policy: Policy, families: Mapping[str, tuple[Resolution, ...]] | None = None
    ) -> None:
        """``policy`` may name families: they resolve here against the catalog alone (newest
        member not retired and priced) unless the caller resolved them against the machine
        (the route planner does) and passes how each resolved as ``families``."""
        self.catalog = catalog
        self.policy = policy
        if uses_families(policy):
            resolved = resolve_policy(policy, catalog, catalog_usable(catalog), live=False)
            policy, families = resolved.policy, resolved.resolutions
        self.resolved = policy  # the policy as routed: every family reference a model id
        self._families = families or {}
        prices = price_table(catalog)
        retired = {
            m: f"since {r.since.isoformat()}" + (f": {r.reason}" if r.reason else "")
            for m, r in catalog.retired.items()
        }
        self._rows: dict[Capability, list[Row]] = {
            cap: [make_row(m, prices[m.id], retired.get(m.id)) for m in catalog.with_capability(cap)]
            for cap in Capability
        }
        self._index = {cap: {row.id: i for i, row in enumerate(rows)} for cap, rows in self._rows.items()}
        self._columns: dict[Capability, Columns] = {}
        self._plans: dict[tuple[object, ...], Plan] = {}
        w = policy.weights
        self._weights = (w.complexity, w.cost, w.speed, w.quality)
        self._min_length = policy.chain.min_length
        self._local_last_resort = policy.chain.local_last_resort
        self._ratings = policy.ratings.enabled
        self._exploration_rate = policy.exploration.rate

    # -- options ---------------------------------------------------------------
    def resolve(self, request: RouteRequest) -> tuple[TaskSpec, ResolvedOptions]:
        plan = self._plan(request)
        return plan.task, plan.options

    def _plan(self, request: RouteRequest) -> Plan:
        key = (request.task, request.complexity, request.budget, request.speed, request.quality)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        policy = self.resolved
        task = policy.task(request.task)
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
        tier = policy.budget_tiers[budget]
        speed_spec = policy.speed_classes[speed]
        occasional = tier.occasional
        rows = self._rows[task.capability]
        required = policy.complexity_levels[complexity] if complexity else None
        exponent = policy.quality_targets[quality].exponent
        avoid = frozenset(tier.avoid)
        occasional_models = frozenset(occasional.models) if occasional else frozenset()
        when = occasional.when if occasional else ""
        table = tuple(task.chain)
        rules = static_rules(rows, complexity, avoid, occasional_models, when, table)
        plan = Plan(
            task,
            options,
            rows,
            complexity,
            required,
            float(tier.cost_reference_usd),
            speed_spec.max_latency_s,
            speed_spec.score_reference_s,
            exponent,
            avoid,
            occasional_models,
            when,
            table,
            self._weights,
            rules,
            loop_rows(rows, rules, required, exponent),
            tuple((m, self._index[task.capability][m]) for m in table if m in self._index[task.capability]),
            tuple(i for i, row in enumerate(rows) if row.local),
        )
        self._plans[key] = plan
        return plan

    # -- the decision ----------------------------------------------------------
    def scoring_inputs(self, request: RouteRequest) -> tuple[Plan, Usage]:
        """What the scoring functions take for this request (tests run both scoring paths on it)."""
        plan = self._plan(request)
        return plan, self._usage(request, plan.task)

    def route(self, request: RouteRequest, live: LiveState = EVERYTHING_AVAILABLE) -> RoutingDecision:
        plan = self._plan(request)
        task = plan.task
        usage = self._usage(request, task)
        scored: Scored
        if len(plan.rows) >= VECTOR_THRESHOLD:
            cap = task.capability
            columns = self._columns.get(cap)
            if columns is None:
                columns = self._columns[cap] = Columns(plan.rows)
            scored = score_columns(plan, columns, usage, live)
        else:
            scored = score_loop(plan, usage, live)
        index = self._index[task.capability]
        stop_at_cap = live.capped and live.at_cap == "stop"
        chain, roles = self._chain(plan, scored, index, live, allow_substitutes=not stop_at_cap)
        exploration = False
        rate = self._exploration_rate
        if request.explore and rate > 0 and chain:
            rng = random.Random(request.seed)
            if rng.random() < rate:
                pick = self._exploration_pick(chain[0], scored, index, live, rng)
                if pick is not None:
                    chain = [pick, *[m for m in chain if m != pick]]
                    roles[pick] = "exploration"
                    exploration = True
        estimate = self._estimate(request, usage, scored, index[chain[0]] if chain else None)
        notes = ("The monthly budget is spent and the policy stops paid requests.",) if stop_at_cap else ()
        local_tags = {m: live.local_tags[m] for m in chain if m in live.local_tags} if live.local_tags else {}
        hosts = {m: live.ollama_hosts[m] for m in chain if m in live.ollama_hosts} if live.ollama_hosts else {}
        families = self._families.get(request.task, ())
        source = _Candidates(plan, usage, live, scored, index, chain, roles, estimate, notes, local_tags, families)
        return RoutingDecision(
            plan.options, tuple(chain), estimate, exploration, source, notes, local_tags, families, hosts
        )

    # -- pieces ----------------------------------------------------------------
    def _chain(
        self, plan: Plan, scored: Scored, index: Mapping[str, int], live: LiveState, allow_substitutes: bool
    ) -> tuple[list[str], dict[str, str]]:
        excluded = scored.excluded_flags
        chain = [m for m, i in plan.table_rows if not excluded[i]]
        primary = plan.table[0] if plan.table else None
        roles = dict.fromkeys(chain, "fallback")
        if chain and chain[0] == primary:
            roles[primary] = "primary"
        if live.rating_votes and self._ratings:
            chain = self._promote_rated(chain, scored, index, live, roles)
        if not allow_substitutes:
            # At the cap with "stop", paid models are already excluded; nothing stands in.
            return chain, roles
        rows = plan.rows
        want = self._min_length
        if len(chain) < want:
            fills = scored.top(want - len(chain), eligible=True, skip={index[m] for m in roles})
            # Cloud fill-ins go before local ones: local models are the chain's end.
            for i in [i for i in fills if not rows[i].local] + [i for i in fills if rows[i].local]:
                chain.append(rows[i].id)
                roles[rows[i].id] = "fill-in"
        if self._local_last_resort:
            for m in chain:
                if rows[index[m]].local:
                    return chain, roles
            local = scored.top(1, eligible=True, skip={index[m] for m in roles}, local=True)
            if local:
                best = rows[local[0]].id
                chain.append(best)
                roles[best] = "last resort"
        return chain, roles

    def _promote_rated(
        self, chain: list[str], scored: Scored, index: Mapping[str, int], live: LiveState, roles: dict[str, str]
    ) -> list[str]:
        """Ratings reorder the task table's chain, with evidence: a model with at least
        ``ratings.min_votes`` votes moves ahead of each model before it whose (blended)
        quality it beats by ``ratings.promote_margin`` or more (docs/routing.md §5)."""
        rules = self.resolved.ratings
        votes = live.rating_votes

        def quality(model_id: str) -> float:
            return scored.quality_of(index[model_id])

        ordered: list[str] = []
        for model_id in chain:
            at = len(ordered)
            if votes.get(model_id, 0) >= rules.min_votes:
                while at > 0 and quality(model_id) >= quality(ordered[at - 1]) + rules.promote_margin:
                    at -= 1
            ordered.insert(at, model_id)
        for new, model_id in enumerate(ordered):
            if new < chain.index(model_id):
                roles[model_id] = "rated"
        if ordered and ordered[0] != chain[0]:
            roles[chain[0]] = "fallback"
        return ordered

    @staticmethod
    def _exploration_pick(
        primary: str, scored: Scored, index: Mapping[str, int], live: LiveState, rng: random.Random
    ) -> str | None:
        rows, usage = scored.rows, scored.usage
        options = sorted(m for m in scored.eligible_ids() if m != primary)
        if live.past_alert:
            # Past the alert threshold exploration never moves to a pricier model (exact picodollars).
            def cost(model_id: str) -> int:
                i = index[model_id]
                return rows[i].prices.picodollars(*scored.tokens_of(i), usage.images, usage.image_size) or 0

            ceiling = cost(primary)
            options = [m for m in options if cost(m) <= ceiling]
        return rng.choice(options) if options else None

    def _usage(self, request: RouteRequest, task: TaskSpec) -> Usage:
        base_tokens, base_exact = self._base_input_tokens(request, task)
        images = self._images(request, task)
        image_size = request.image_size or (
            DEFAULT_IMAGE_SIZE if task.capability is Capability.IMAGE_GENERATION else None
        )
        ratio = None
        fixed: int | None = self._output_tokens(request, task, base_tokens)
        if (
            task.output_input_ratio is not None
            and request.output_tokens is None
            and task.capability not in (Capability.IMAGE_GENERATION, Capability.EMBEDDING)
            and (request.prompt is not None or request.input_tokens is not None)
        ):
            fixed, ratio = None, task.output_input_ratio
        return Usage(
            base_tokens,
            base_exact,
            request.input_tokens is not None,
            images,
            image_size,
            fixed,
            ratio,
            task.expected_output_tokens // 5,
        )

    @staticmethod
    def _base_input_tokens(request: RouteRequest, task: TaskSpec) -> tuple[int, bool]:
        if request.input_tokens is not None:
            if request.input_tokens < 0:
                raise SparklioError("--input-tokens must not be negative")
            return request.input_tokens, True
        # Earlier turns go with a chat's prompt; an embedding or a picture is made of the prompt alone.
        alone = task.capability in (Capability.IMAGE_GENERATION, Capability.EMBEDDING)
        history = 0 if alone else request.history_tokens
        if history < 0:
            raise SparklioError("the conversation's history cannot have a negative number of tokens")
        if request.prompt is not None:
            if task.capability is Capability.EMBEDDING:
                return tokens.count_text(request.prompt)
            system = task.system_prompt if request.system_prompt is None else request.system_prompt
            count, exact = tokens.count_text(request.prompt)
            overhead = tokens.TOKENS_REPLY_PRIMING + tokens.TOKENS_PER_MESSAGE
            if system:
                sys_count, sys_exact = tokens.count_text(system)
                count += sys_count + tokens.TOKENS_PER_MESSAGE
                exact = exact and sys_exact
            return count + overhead + history, exact
        return task.typical_input_tokens + history, False

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
        if request.attachments and task.capability is not Capability.IMAGE_GENERATION:
            return len(request.attachments)  # what is sent, whatever count was given
        if request.images is not None:
            if request.images < 0:
                raise SparklioError("--images must not be negative")
            return request.images
        return 1 if task.capability in (Capability.IMAGE_GENERATION, Capability.VISION) else 0

    @staticmethod
    def _estimate(request: RouteRequest, usage: Usage, scored: Scored, first: int | None) -> Estimate:
        given = request.input_tokens is not None
        if first is None:
            output = usage.fixed_output if usage.fixed_output is not None else 0
            method = "given" if given else ("typical for the task" if request.prompt is None else "exact (cl100k_base)")
            return Estimate(
                None,
                usage.base_tokens,
                given or (usage.base_exact and request.prompt is not None),
                method,
                output,
                usage.images,
                None,
                None,
            )
        row = scored.rows[first]
        if given:
            method, exact = "given", True
        elif request.prompt is None:
            method, exact = "typical for the task", False
        else:
            count = tokens.for_model(row.model, usage.base_tokens, usage.base_exact)
            method, exact = count.method, count.exact
        tin, tout = scored.tokens_of(first)
        prices, images, size = row.prices, usage.images, usage.image_size
        return Estimate(
            row.id,
            tin,
            exact,
            method,
            tout,
            images,
            lambda: prices.cost_usd(tin, tout, images, size),
            scored.latency_of(first),
        )


class _Candidates:
    """A decision's candidates, built from the scored columns only when someone reads them
    (the :class:`~sparklio_desktop.core.routing.decision.CandidateSource` of a decision)."""

    __slots__ = (
        "plan",
        "usage",
        "live",
        "scored",
        "index",
        "chain",
        "roles",
        "estimate",
        "notes",
        "local_tags",
        "families",
        "_built",
        "_all",
        "_lead",
    )

    def __init__(
        self,
        plan: Plan,
        usage: Usage,
        live: LiveState,
        scored: Scored,
        index: Mapping[str, int],
        chain: list[str],
        roles: dict[str, str],
        estimate: Estimate,
        notes: tuple[str, ...],
        local_tags: Mapping[str, str],
        families: tuple[Resolution, ...] = (),
    ) -> None:
        self.plan, self.usage, self.live, self.scored, self.index = plan, usage, live, scored, index
        self.chain, self.roles, self.estimate, self.notes, self.local_tags = chain, roles, estimate, notes, local_tags
        self.families = families
        self._built: dict[int, Candidate] = {}
        self._all: tuple[Candidate, ...] | None = None
        self._lead: str | None = None

    def build(self, i: int) -> Candidate:
        found = self._built.get(i)
        if found is not None:
            return found
        scored, usage = self.scored, self.usage
        row = scored.rows[i]
        tin, tout = scored.tokens_of(i)
        latency = scored.latency_of(i)
        cost = None if scored.unpriced[i] else row.prices.cost_usd(tin, tout, usage.images, usage.image_size)
        model = row.model
        rules = scored.rules_of(i)
        rule, detail, position = None, "", None
        if rules:  # left out: why, and no place in the chain
            rule, detail = rules[0], rule_detail(rules[0], row, tin, tout, latency, self.plan, usage, self.live)
        elif row.id in self.roles:
            position = self.chain.index(row.id)
        found = Candidate(
            row.id,
            model.name,
            model.provider,
            row.local,
            scored.scores(i),
            cost,
            latency,
            scored.quality_of(i),
            row.quality,
            excluded_by=rule,
            exclusion_detail=detail,
            other_rules=rules[1:],
            chain_position=position,
            role="" if rules else self.roles.get(row.id, ""),
        )
        self._built[i] = found
        return found

    def _had_a_choice(self, resolution: Resolution) -> bool:
        """Whether the family had more than one member for this task (then the pick is worth a word)."""
        at = self.index.get(resolution.model_id) if resolution.model_id is not None else None
        family = self.scored.rows[at].model.family if at is not None else None
        capability = self.plan.task.capability
        members = [r for r in self.scored.rows if r.model.family == family and r.model.has(capability)]
        return family is not None and len(members) > 1

    def _chain_indices(self) -> list[int]:
        return [self.index[m] for m in self.chain]

    def all(self) -> Sequence[Candidate]:
        if self._all is None:
            scored, n = self.scored, len(self.scored.rows)
            chain = self._chain_indices()
            order = [*chain, *scored.top(n, eligible=True, skip=set(chain)), *scored.top(n, eligible=False)]
            self._all = tuple(self.build(i) for i in order)
        return self._all

    def get(self, model_id: str) -> Candidate | None:
        i = self.index.get(model_id)
        return None if i is None else self.build(i)

    def top(self, limit: int) -> list[Candidate]:
        scored, index = self.scored, self.index
        chain = self._chain_indices()
        excluded = scored.top(limit, eligible=False)
        wanted = [index[m] for m in self.plan.table if m in index and scored.excluded(index[m])]
        extra = [i for i in dict.fromkeys(wanted) if i not in excluded]
        if extra:
            total = scored.total
            excluded = sorted([*excluded, *extra], key=lambda i: (-float(total[i]), i))
        order = [*chain, *scored.top(limit, eligible=True, skip=set(chain)), *excluded]
        return [self.build(i) for i in order]

    def count(self) -> int:
        return len(self.scored.rows)

    def excluded_counts(self) -> Mapping[Rule, int]:
        return self.scored.excluded_counts()

    def summary(self) -> str:
        """The explanation's lead sentence: why the first model, and whether the best total won."""
        if self._lead is None:
            scored, index, table = self.scored, self.index, self.plan.table
            chain = [Pick.of(self.build(i)) for i in self._chain_indices()]
            best = scored.top(1, eligible=True)
            first = index.get(table[0]) if table else None
            self._lead = lead_sentence(
                task_words(None, self.plan.options.task).lower(),
                chain,
                Pick.of(self.build(best[0])) if best else None,
                Pick.of(self.build(first)) if first is not None else None,
            )
        return self._lead

    def explanation(self) -> str:
        scored, index, table = self.scored, self.index, self.plan.table
        chain = [self.build(i) for i in self._chain_indices()]
        wanted = [self.build(index[m]) for m in table if m in index and scored.excluded(index[m])]
        capped = [self.build(i) for i in scored.first_ruled_by(Rule.BUDGET_CAP) if scored.rows[i].id not in table][:2]
        excluded = [] if chain else [self.build(i) for i in scored.top(6, eligible=False)]
        text = explain(self.plan.options, chain, wanted, capped, excluded, self.estimate, self.notes, self.summary())
        if chain:
            measured = speed_words(scored.rows[index[chain[0].id]].model.speed)
            if measured:
                text += f" {chain[0].name}'s speed is {measured} on this machine."
        choices = [r.why for r in self.families if r.model_id in self.chain and self._had_a_choice(r)]
        if choices and chain:  # after the lead sentence: how the task table's families resolved
            lead = self.summary()
            text = lead + " " + "; ".join(choices) + "." + text[len(lead) :]
        elif choices:
            text = "; ".join(choices) + ". " + text
        for model_id, tag in self.local_tags.items():
            model = scored.rows[index[model_id]].model
            if tag != model.api_name:
                text += f" {model.name} runs as the installed Ollama tag {tag} (the catalog names {model.api_name})."
        for model_id in self.chain:  # several Ollama hosts: say which one answers
            host = self.live.ollama_hosts.get(model_id)
            if host is not None:
                name = scored.rows[index[model_id]].model.name
                where = "this machine's Ollama" if host.local else f"the LAN Ollama host {host.label}"
                text += f" {name} runs on {where}."
        return text


_ROUTERS: dict[tuple[int, int], Router] = {}


def route(
    request: RouteRequest,
    catalog: Catalog,
    policy: Policy,
    live: LiveState = EVERYTHING_AVAILABLE,
    families: Mapping[str, tuple[Resolution, ...]] | None = None,
) -> RoutingDecision:
    """Route one request. Routers are cached per (catalog, policy) pair; ``families``
    (how a policy the caller resolved got its ids) is read when the router is built."""
    key = (id(catalog), id(policy))
    router = _ROUTERS.get(key)
    if router is None or router.catalog is not catalog or router.policy is not policy:
        if len(_ROUTERS) >= 8:  # policies reload; keep only recent pairs alive
            _ROUTERS.pop(next(iter(_ROUTERS)))
        router = _ROUTERS[key] = Router(catalog, policy, families)
    return router.route(request, live)
