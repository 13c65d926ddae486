"""The NumPy scoring pass (large catalogs) decides exactly as the plain loop does.

The two are compared by calling both scoring functions on the router's own plans and
usages, and asking each result the questions the router asks (rules, top-k, counts).
"""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import Router, RouteRequest
from sparklio_desktop.core.routing.scoring import VECTOR_THRESHOLD, Columns, Scored, score_columns, score_loop


def random_catalog(base: Catalog, rng: random.Random, extra: int = 90) -> Catalog:
    models = list(base.values())
    sources = [m for m in models if m.has("text") or m.has("vision") or m.has("embedding")]
    for i in range(extra):
        src = rng.choice(sources)
        price = src.price
        update = {
            "id": f"{src.provider}/variant-{i}",
            "name": f"{src.name} v{i}",
            "quality": round(rng.uniform(4, 10), 1),
            "complex_capable": rng.random() < 0.5,
            "context_tokens": rng.choice([None, 2_000, 8_000, 32_000, 200_000]),
        }
        if price is not None and not src.local:
            roll = rng.random()
            if roll < 0.1:
                update["price"] = None
            elif price.input_per_mtok is not None:
                update["price"] = price.model_copy(
                    update={
                        "input_per_mtok": Decimal(str(round(rng.uniform(0.01, 40), 3))),
                        "output_per_mtok": None if roll < 0.15 else Decimal(str(round(rng.uniform(0.01, 80), 3))),
                    }
                )
        if src.speed is not None:
            low = round(rng.uniform(0.2, 10), 2)
            update["speed"] = src.speed.model_copy(update={"seconds": (low, low + round(rng.uniform(0, 8), 2))})
        models.append(src.model_copy(update=update))
    return Catalog(models)


def requests(rng: random.Random, tasks):
    for _ in range(60):
        kw = {"task": rng.choice(tasks), "explore": rng.random() < 0.5, "seed": rng.randrange(1000)}
        for key, values in (
            ("budget", ["low", "standard", "premium"]),
            ("speed", ["realtime", "standard", "batch"]),
            ("quality", ["draft", "standard", "production"]),
            ("complexity", ["simple", "medium", "complex"]),
        ):
            if rng.random() < 0.5:
                kw[key] = rng.choice(values)
        roll = rng.random()
        if roll < 0.3:
            kw["input_tokens"] = rng.choice([10, 500, 5_000, 50_000])
        elif roll < 0.6:
            kw["prompt"] = "Write something for creators " * rng.randrange(1, 40)
        if rng.random() < 0.3:
            kw["output_tokens"] = rng.choice([50, 800, 4_000])
        yield RouteRequest(**kw)


def live_states(rng: random.Random, catalog: Catalog):
    ids = list(catalog)
    yield LiveState()
    yield LiveState(
        unavailable=dict.fromkeys(rng.sample(ids, 30), (Rule.NO_API_KEY, "test")),
        quality={m: rng.uniform(3, 10) for m in rng.sample(ids, 20)},
    )
    yield LiveState(spent_usd=Decimal("60"), budget_usd=Decimal("50"), at_cap="local_only")
    yield LiveState(spent_usd=Decimal("45"), budget_usd=Decimal("50"), at_cap="stop")


def assert_same(a: Scored, b: Scored, request: RouteRequest) -> None:
    """The plain loop's result ``a`` and the NumPy pass's ``b`` answer every question alike."""
    n = len(a.rows)
    for i in range(n):
        assert a.tokens_of(i) == b.tokens_of(i), (request, i)
        assert a.rules_of(i) == b.rules_of(i), (request, a.rows[i].id)
        assert a.excluded(i) == b.excluded(i) and bool(a.unpriced[i]) == bool(b.unpriced[i])
        assert (a.latency_of(i) is None) == (b.latency_of(i) is None)
        assert a.latency_of(i) == pytest.approx(b.latency_of(i), rel=1e-12)
        assert a.quality_of(i) == b.quality_of(i)
        assert a.scores(i) == pytest.approx(b.scores(i), rel=1e-12)
        assert a.total[i] == pytest.approx(float(b.total[i]), rel=1e-12)
    assert a.excluded_counts() == b.excluded_counts()
    assert a.eligible_ids() == b.eligible_ids()
    assert a.first_ruled_by(Rule.BUDGET_CAP) == b.first_ruled_by(Rule.BUDGET_CAP)
    chain = [i for i in range(n) if not a.excluded(i)][:3]
    for k in (1, 3, n):
        for eligible in (True, False):
            assert a.top(k, eligible=eligible) == b.top(k, eligible=eligible), (request, k, eligible)
            assert a.top(k, eligible=eligible, skip=set(chain), local=True) == b.top(
                k, eligible=eligible, skip=set(chain), local=True
            )
            assert a.top(k, eligible=eligible, local=False) == b.top(k, eligible=eligible, local=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vector_and_loop_paths_agree(catalog, policy, seed):
    """Both scoring functions, on the same plans: the router picks one by catalog size."""
    rng = random.Random(seed)
    big = random_catalog(catalog, rng)
    router = Router(big, policy)
    assert len(big.with_capability("text")) >= VECTOR_THRESHOLD
    tasks = sorted(policy.tasks)
    compared = 0
    for live in live_states(rng, big):
        for request in requests(rng, tasks):
            plan, usage = router.scoring_inputs(request)
            loop = score_loop(plan, usage, live)
            vector = score_columns(plan, Columns(plan.rows), usage, live)
            assert_same(loop, vector, request)
            compared += 1
    assert compared == 240


def test_ties_keep_catalog_order_in_both_paths(catalog, policy):
    """Equal totals rank in catalog order in the loop's stable sort and the NumPy pass's top-k."""
    text = catalog["openai/gpt-3.5-turbo"]
    clones = [text.model_copy(update={"id": f"openai/clone-{i}", "name": f"Clone {i}"}) for i in range(80)]
    big = Catalog([*catalog.values(), *clones])
    router = Router(big, policy)
    plan, usage = router.scoring_inputs(RouteRequest(task="chat", input_tokens=100, explore=False))
    loop = score_loop(plan, usage, LiveState())
    vector = score_columns(plan, Columns(plan.rows), usage, LiveState())
    clone_rows = [i for i, row in enumerate(plan.rows) if row.id.startswith("openai/clone-")]
    others = set(range(len(plan.rows))) - set(clone_rows)
    assert len({loop.total[i] for i in clone_rows}) == 1  # a real tie
    assert vector.top(5, eligible=True, skip=others) == loop.top(5, eligible=True, skip=others) == clone_rows[:5]


def test_a_large_catalog_routes_as_the_loop_would(catalog, policy):
    """The router's NumPy route gives the decision the plain loop's answers imply."""
    rng = random.Random(5)
    big = random_catalog(catalog, rng)
    router = Router(big, policy)
    request = RouteRequest(task="copywriting_standard", input_tokens=800, explore=False)
    decision = router.route(request)
    plan, usage = router.scoring_inputs(request)
    loop = score_loop(plan, usage, LiveState())
    eligible = [row.id for i, row in enumerate(plan.rows) if not loop.excluded(i)]
    table_first = [m for m in plan.table if m in eligible]
    assert list(decision.chain[: len(table_first)]) == table_first
    for model_id in decision.chain:
        assert decision.candidate(model_id).excluded_by is None
