"""The billing rules the agreement table cannot reach: images by size and quality, and
the scores' floats for a tiered model (loop and NumPy pass) against the exact price."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from sparklio_desktop.core.policy.catalog import ModelSpec, Price
from sparklio_desktop.core.pricing import PriceColumns, UnitPrices, UnpricedModelError, price_call


def _model(price: dict, capabilities=("text",)) -> ModelSpec:
    return ModelSpec(
        id="openai/m",
        name="M",
        provider="openai",
        api_name="m",
        capabilities=list(capabilities),
        quality=5,
        price=Price.model_validate({"as_of": "2026-01-01", "source": "test", **price}),
    )


def test_images_are_priced_by_size_and_quality():
    dalle = _model(
        {"per_image": {"1024x1024": "0.04", "1024x1024@hd": "0.08", "1792x1024": "0.08"}}, ("image_generation",)
    )
    assert price_call(dalle, 0, 0, 2, "1024x1024").cost_usd == Decimal("0.08")
    assert price_call(dalle, 0, 0, 2, "1024x1024", image_quality="hd").cost_usd == Decimal("0.16")
    assert price_call(dalle, 0, 0, 1, "1024x1024", image_quality="standard").cost_usd == Decimal("0.04")
    with pytest.raises(UnpricedModelError, match="1792x1024 quality hd"):
        price_call(dalle, 0, 0, 1, "1792x1024", image_quality="hd")  # hd is priced, not for this size


def test_a_tier_rate_must_have_a_base_rate():
    with pytest.raises(ValueError, match="no base cache_read_per_mtok"):
        _model({"input_per_mtok": 1, "tiers": [{"above_input_tokens": 10, "cache_read_per_mtok": 1}]})


@pytest.mark.parametrize("tokens_in", [1_000, 200_000, 200_001, 500_000])
def test_scores_of_a_tiered_model_are_its_exact_price(tokens_in):
    tiered = _model(
        {
            "input_per_mtok": "1.25",
            "output_per_mtok": "10",
            "tiers": [{"above_input_tokens": 200_000, "input_per_mtok": "2.5", "output_per_mtok": "15"}],
        }
    )
    flat = _model({"input_per_mtok": "1", "output_per_mtok": "2"})
    units = [UnitPrices.of(tiered), UnitPrices.of(flat)]
    exact = [price_call(m, tokens_in, 4_000).cost_usd for m in (tiered, flat)]
    loop = [u.score_usd(tokens_in, 4_000) for u in units]
    cost, unpriced = PriceColumns(np, units).score_usd(np.full(2, tokens_in), np.full(2, 4_000), 0, None)
    assert not unpriced.any()
    for i in range(2):
        assert loop[i] == pytest.approx(float(exact[i]), rel=1e-12) == pytest.approx(cost[i], rel=1e-12)
    assert units[0].picodollars(tokens_in, 4_000) == int(exact[0] * 10**12)
