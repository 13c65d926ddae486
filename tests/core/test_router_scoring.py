"""The NumPy scoring path (large catalogs) decides exactly as the plain loop does."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.router import LiveState, Router, RouteRequest
from sparklio_desktop.core.routing.scoring import VECTOR_THRESHOLD


def random_catalog(base: Catalog, rng: random.Random, extra: int = 90) -> Catalog:
    models = list(base.values())
    sources = [m for m in models if m.has("text") or m.has("vision") or m.has("embedding")]
    for i in range(extra):
        src = rng.choice(sources)
        price = src.price
        update = {"id": f"{src.provider}/variant-{i}", "name": f"{src.name} v{i}",
                  "quality": round(rng.uniform(4, 10), 1), "complex_capable": rng.random() < 0.5,
                  "context_tokens": rng.choice([None, 2_000, 8_000, 32_000, 200_000])}
        if price is not None and not src.local:
            roll = rng.random()
            if roll < 0.1:
                update["price"] = None
            elif price.input_per_mtok is not None:
                update["price"] = price.model_copy(update={
                    "input_per_mtok": Decimal(str(round(rng.uniform(0.01, 40), 3))),
                    "output_per_mtok": None if roll < 0.15 else Decimal(str(round(rng.uniform(0.01, 80), 3)))})
        if src.speed is not None:
            low = round(rng.uniform(0.2, 10), 2)
            update["speed"] = src.speed.model_copy(update={"seconds": (low, low + round(rng.uniform(0, 8), 2))})
        models.append(src.model_copy(update=update))
    return Catalog(models)


def requests(rng: random.Random, tasks):
    for _ in range(60):
        kw = {"task": rng.choice(tasks), "explore": rng.random() < 0.5, "seed": rng.randrange(1000)}
        for key, values in (("budget", ["low", "standard", "premium"]), ("speed", ["realtime", "standard", "batch"]),
                            ("quality", ["draft", "standard", "production"]),
                            ("complexity", ["simple", "medium", "complex"])):
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
    yield LiveState(unavailable=dict.fromkeys(rng.sample(ids, 30), (Rule.NO_API_KEY, "test")),
                    quality={m: rng.uniform(3, 10) for m in rng.sample(ids, 20)})
    yield LiveState(spent_usd=Decimal("60"), budget_usd=Decimal("50"), at_cap="local_only")
    yield LiveState(spent_usd=Decimal("45"), budget_usd=Decimal("50"), at_cap="stop")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vector_and_loop_paths_agree(catalog, policy, seed):
    rng = random.Random(seed)
    big = random_catalog(catalog, rng)
    vector = Router(big, policy)
    loop = Router(big, policy)
    loop.force_loop = True
    assert len(big.with_capability("text")) >= VECTOR_THRESHOLD
    tasks = sorted(policy.tasks)
    compared = 0
    for live in live_states(rng, big):
        for request in requests(rng, tasks):
            a, b = vector.route(request, live), loop.route(request, live)
            assert a.chain == b.chain, request
            assert a.exploration == b.exploration and a.explanation == b.explanation
            assert a.estimate == b.estimate
            for ca, cb in zip(a.candidates, b.candidates, strict=True):
                assert (ca.id, ca.excluded_by, ca.other_rules, ca.exclusion_detail, ca.cost_usd, ca.role) == \
                       (cb.id, cb.excluded_by, cb.other_rules, cb.exclusion_detail, cb.cost_usd, cb.role)
                assert ca.scores.total == pytest.approx(cb.scores.total, rel=1e-12)
                assert (ca.latency_s is None) == (cb.latency_s is None)
            compared += 1
    assert compared == 240
