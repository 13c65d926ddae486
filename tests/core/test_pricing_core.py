"""One pricing core: the router's estimates, its scores and the ledger's price agree.

The ledger records each attempt at ``price_call``'s exact price for the usage; the router
estimates with the unit prices the same core works out once per catalog. For every model
of the shipped catalog and every capability it has, the two must be the same number.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from sparklio_desktop.core.policy.catalog import Capability, Catalog, ModelSpec
from sparklio_desktop.core.pricing import (
    PriceColumns,
    UnitPrices,
    UnpricedModelError,
    price_call,
    price_table,
    worst_case_cost,
)
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import Router, RouteRequest

SIZES_TRIED = ("1024x1024", "1792x1024", "512x512", "640x480")


def task_for(policy, capability: Capability) -> str:
    return next(name for name, task in sorted(policy.tasks.items()) if task.capability is capability)


def usages(model: ModelSpec, capability: Capability):
    """(input tokens, output tokens, images, size) worth trying for this model and capability."""
    if capability is Capability.IMAGE_GENERATION:
        sizes = sorted({*(model.price.per_image or {}), *SIZES_TRIED} - {"*"}) if model.price else SIZES_TRIED
        for size in sizes:
            for images in (1, 4):
                yield 40, None, images, size
        return
    images = (0, 1, 3) if capability is Capability.VISION else (0,)
    outputs = (None,) if capability is Capability.EMBEDDING else (0, 333)
    for tokens in (1, 777, 12_345):
        for output in outputs:
            for n in images:
                yield tokens, output, n, None


def exact_or_none(model: ModelSpec, tin: int, tout: int, images: int, size: str | None) -> Decimal | None:
    try:
        return price_call(model, tin, tout, images, size).cost_usd
    except UnpricedModelError:
        return None


def only(model_id: str, catalog: Catalog) -> LiveState:
    """Every other model unavailable: the chain can only be ``model_id``."""
    return LiveState(unavailable={m: (Rule.NO_API_KEY, "test") for m in catalog if m != model_id})


def test_every_model_and_capability_estimates_what_the_ledger_charges(catalog, policy):
    router = Router(catalog, policy)
    estimated: set[tuple[str, Capability]] = set()
    with_images: set[tuple[str, Capability]] = set()
    for model in catalog.values():
        for capability in model.capabilities:
            task = task_for(policy, capability)
            for tokens_in, tokens_out, images, size in usages(model, capability):
                request = RouteRequest(
                    task=task,
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    images=images,
                    image_size=size,
                    budget="premium",
                    speed="batch",
                    explore=False,
                )
                candidate = router.route(request).candidate(model.id)
                decision = router.route(request, only(model.id, catalog))
                e = decision.estimate
                if decision.chain:
                    assert decision.chain == (model.id,)
                    charged = price_call(model, e.input_tokens, e.output_tokens, e.images, size or "1024x1024")
                    assert e.cost_usd == charged.cost_usd, (model.id, capability, request)
                    assert candidate.cost_usd == charged.cost_usd
                    estimated.add((model.id, capability))
                    if images:
                        with_images.add((model.id, capability))
                else:
                    assert candidate.excluded_by is not None
                tin = tokens_in
                tout = e.output_tokens if decision.chain else (tokens_out or 0)
                if capability in (Capability.IMAGE_GENERATION, Capability.EMBEDDING):
                    tout = 0
                expected = exact_or_none(
                    model,
                    tin,
                    tout,
                    images,
                    size or ("1024x1024" if capability is Capability.IMAGE_GENERATION else None),
                )
                assert candidate.cost_usd == expected, (model.id, capability, request)
                assert (candidate.excluded_by is Rule.UNPRICED) == (expected is None)
    everything = {(m.id, c) for m in catalog.values() for c in m.capabilities}
    assert estimated == everything  # each model and capability was estimated at least once
    assert with_images == {(m, c) for m, c in everything if c in (Capability.VISION, Capability.IMAGE_GENERATION)}


@pytest.mark.parametrize("capability", list(Capability))
def test_scores_use_the_same_prices_as_floats(catalog, capability):
    """``score_usd`` (the plain loop) and ``PriceColumns`` (the NumPy pass) are the exact price in floats."""
    table = price_table(catalog)
    units = [table[m.id] for m in catalog.with_capability(capability)]
    columns = PriceColumns(np, units)
    for tokens_in, tokens_out, images, size in [
        (0, 0, 0, None),
        (777, 333, 0, None),
        (777, 333, 2, None),
        (40, 0, 3, "1024x1792"),
        (40, 0, 1, "640x480"),
        (1, 1, 1, "*"),
    ]:
        tin = np.full(len(units), tokens_in)
        tout = np.full(len(units), tokens_out)
        cost, unpriced = columns.score_usd(tin, tout, images, size)
        for i, unit in enumerate(units):
            exact = unit.cost_usd(tokens_in, tokens_out, images, size)
            scalar = unit.score_usd(tokens_in, tokens_out, images, size)
            assert (exact is None) == (scalar is None) == bool(unpriced[i]), unit.model.id
            assert (exact is None) == (exact_or_none(unit.model, tokens_in, tokens_out, images, size) is None)
            if exact is not None:
                assert scalar == pytest.approx(float(exact), rel=1e-12, abs=1e-18)
                assert float(cost[i]) == scalar  # the same float operations, column-wise


def test_unit_prices_are_exact_picodollars(catalog):
    flash = price_table(catalog)["google/gemini-2.0-flash"]
    assert (flash.in_picos, flash.out_picos) == (75_000, 300_000)  # $0.075 and $0.30 per 1M tokens
    assert flash.cost_usd(1_234, 567) == Decimal("0.00009255") + Decimal("0.0001701")
    dalle = price_table(catalog)["openai/dall-e-3"]
    assert dalle.image_unit("1792x1024") == 80_000_000_000 and dalle.image_unit("640x480") is None
    assert not dalle.bills_tokens and dalle.picodollars(5_000, 0, 2, "1024x1024") == 80_000_000_000


def test_the_price_table_is_built_once_per_catalog(catalog):
    assert price_table(catalog) is price_table(catalog)
    copy = Catalog(list(catalog.values()))
    assert price_table(copy) is not price_table(catalog)
    assert price_table(copy)["openai/gpt-4"] == price_table(catalog)["openai/gpt-4"]


def test_a_generator_without_an_image_price_is_unpriced_everywhere(catalog, policy):
    data = catalog["openai/dall-e-3"].model_dump()
    data.update(id="openai/mystery-images", name="Mystery Images")
    data["price"] = {**data["price"], "per_image": None, "input_per_mtok": Decimal(1)}
    mystery = ModelSpec.model_validate(data)
    with pytest.raises(UnpricedModelError, match="no per-image price"):
        price_call(mystery, 10, 0, 1, "1024x1024")
    unit = UnitPrices.of(mystery)
    assert unit.score_usd(10, 0, 1, "1024x1024") is None and unit.picodollars(10, 0, 1) is None
    assert bool(PriceColumns(np, [unit]).score_usd(np.array([10]), np.array([0]), 1, "1024x1024")[1][0])
    router = Router(Catalog([*catalog.values(), mystery]), policy)
    decision = router.route(RouteRequest(task="image_generation_quality", budget="premium", explore=False))
    assert decision.candidate(mystery.id).excluded_by is Rule.UNPRICED
    assert "no per-image price" in decision.candidate(mystery.id).exclusion_detail


def test_worst_case_is_the_exact_price_of_the_maximum_output(catalog):
    model = catalog["anthropic/claude-3-5-sonnet"]
    assert worst_case_cost(model, 1_000, 4_096) == price_call(model, 1_000, 4_096).cost_usd == Decimal("0.064440")
