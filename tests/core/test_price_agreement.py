"""Sparklio's price of a call agrees with genai-prices' ``calc_price``, to the picodollar.

For each model below, the catalog ``Price`` is built from genai-prices' own data by
``price_source.convert`` (the path a ``price: genai-prices`` catalog entry takes), and a
table of usage records covering every billing rule (plain, cache reads, cache writes,
reasoning, prompts past the 200k tier, batch, and mixtures of them) is priced both by
Sparklio's pricing core and by ``genai_prices.calc_price`` with the same usage, model,
provider, time and price context. The two totals must be equal as exact decimals.
"""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from sparklio_desktop.core.policy import price_source
from sparklio_desktop.core.policy.catalog import ModelSpec, Price
from sparklio_desktop.core.pricing import UsageRecord, price_usage

# One fixed moment for both sides: genai-prices' prices are dated (batch rates from 2026-10-14).
WHEN = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)

MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-4.1"),
    ("openai", "gpt-5"),
    ("openai", "gpt-5-mini"),
    ("openai", "o3"),
    ("openai", "o4-mini"),
    ("openai", "o1"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("anthropic", "claude-opus-4-1"),
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("google", "gemini-2.5-pro"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-flash-lite"),
    ("google", "gemini-2.0-flash"),
]

# (input, output, cache read, cache write, reasoning): input and output are totals, in
# genai-prices' convention (cached and reasoning tokens included).
SHAPES = {
    "plain": (1_234, 567, 0, 0, 0),
    "plain-large-output": (3, 64_000, 0, 0, 0),
    "cached-read": (50_000, 800, 40_000, 0, 0),
    "cached-read-all": (8_192, 10, 8_192, 0, 0),
    "cache-write": (12_000, 300, 0, 11_000, 0),
    "cache-read-and-write": (90_000, 1_500, 60_000, 25_000, 0),
    "reasoning": (2_000, 9_000, 0, 0, 7_500),
    "reasoning-only": (100, 4_096, 0, 0, 4_096),
    "tier-edge-200k": (200_000, 1_000, 0, 0, 0),
    "above-200k": (200_001, 2_000, 0, 0, 0),
    "above-200k-cached": (350_000, 4_000, 300_000, 0, 1_000),
    "above-200k-write": (420_000, 512, 100_000, 250_000, 0),
    "mixture": (75_311, 12_345, 20_001, 9_999, 4_444),
}


def _spec(provider: str, api_name: str) -> ModelSpec:
    from genai_prices import data_snapshot

    _, info = data_snapshot.get_snapshot().find_provider_model(api_name, None, provider, None)
    fields = price_source.convert(info, WHEN)
    assert fields is not None, f"genai-prices gives {provider}/{api_name} no token price"
    return ModelSpec(
        id=f"{provider}/{api_name}",
        name=api_name,
        provider=provider,
        api_name=api_name,
        capabilities=["text"],
        quality=5,
        price=Price.model_validate(fields),
    )


def _genai_prices_total(provider: str, api_name: str, usage: UsageRecord) -> Decimal:
    from genai_prices import Usage, calc_price

    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_reasoning_tokens": usage.reasoning_tokens,
    }
    result = calc_price(
        Usage(**{k: v for k, v in counts.items() if v}),
        api_name,
        provider_id=provider,
        genai_request_timestamp=WHEN,
        price_context={"processing": "batch"} if usage.batch else None,
    )
    return result.total_price


CASES = [
    pytest.param(provider, api_name, shape, batch, id=f"{provider}/{api_name}-{shape}{'-batch' if batch else ''}")
    for (provider, api_name), shape, batch in itertools.product(MODELS, SHAPES, (False, True))
]


def test_the_table_covers_every_rule():
    assert len(CASES) >= 200
    assert {p for p, _ in MODELS} == {"openai", "anthropic", "google"}


@pytest.fixture(scope="module")
def specs() -> dict[tuple[str, str], ModelSpec]:
    return {pair: _spec(*pair) for pair in MODELS}


@pytest.mark.parametrize(("provider", "api_name", "shape", "batch"), CASES)
def test_sparklio_price_equals_genai_prices(specs, provider, api_name, shape, batch):
    inp, out, read, write, reasoning = SHAPES[shape]
    usage = UsageRecord(inp, out, read, write, reasoning, batch=batch)
    ours = price_usage(specs[(provider, api_name)], usage).cost_usd
    theirs = _genai_prices_total(provider, api_name, usage)
    assert ours == theirs, f"{provider}/{api_name} {shape} batch={batch}: sparklio {ours} != genai-prices {theirs}"


def test_the_rules_the_table_exercises_really_change_the_price(specs):
    """The table is not trivially agreeing: each rule moves the price for some model."""
    sonnet = specs[("anthropic", "claude-sonnet-4-5-20250929")]
    gpt5, pro = specs[("openai", "gpt-5")], specs[("google", "gemini-2.5-pro")]
    plain = price_usage(sonnet, UsageRecord(50_000, 800)).cost_usd
    assert price_usage(sonnet, UsageRecord(50_000, 800, 40_000)).cost_usd < plain
    assert price_usage(sonnet, UsageRecord(50_000, 800, 0, 40_000)).cost_usd > plain
    assert price_usage(sonnet, UsageRecord(50_000, 800, batch=True)).cost_usd == plain / 2
    below = price_usage(pro, UsageRecord(200_000, 1_000))
    above = price_usage(pro, UsageRecord(200_001, 1_000))
    assert (below.tier, above.tier) == (None, 200_000)
    assert above.input_price_per_mtok == Decimal("2.5") and above.output_price_per_mtok == Decimal("15")
    thinking = price_usage(gpt5, UsageRecord(2_000, 9_000, reasoning_tokens=7_500))
    assert thinking.reasoning_cost == Decimal("0.075") and thinking.output_cost == Decimal("0.015")
