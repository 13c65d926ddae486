"""The shipped catalog's batch rates are genai-prices' batch rates, and only where it has them.

Seed entries keep the seed's standard prices; the rates a provider's batch API charges
come from genai-prices' ``{processing: batch}`` variants (docs/batches.md, "Provider batch
APIs"). A seed model genai-prices gives no batch variant has no batch rates, so it is
never sent through a batch API: its cost there could not be known exactly.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from sparklio_desktop.core.policy import price_source
from sparklio_desktop.core.policy.catalog import load_catalog
from sparklio_desktop.core.settings.paths import shipped_catalog_path

WHEN = dt.datetime(2026, 12, 1, 12, tzinfo=dt.UTC)
CLOUD = ("openai", "anthropic", "google")


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory):
    return load_catalog(shipped_catalog_path(), Path(tmp_path_factory.mktemp("user")) / "none.yaml")


def _genai_batch(provider: str, api_name: str) -> dict[str, str] | None:
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(api_name, None, provider, None)
    except LookupError:
        return None
    fields = price_source.convert(info, WHEN)
    return None if fields is None else fields.get("batch")


def _text_models(catalog):
    return [m for m in (catalog[i] for i in catalog) if m.provider in CLOUD and "text" in m.capabilities and m.price]


def test_every_shipped_batch_rate_is_genai_prices(catalog):
    priced = [m for m in _text_models(catalog) if m.price.batch is not None]
    assert {m.id for m in priced} >= {"openai/gpt-4-turbo", "openai/gpt-4", "openai/gpt-3.5-turbo"}
    for model in priced:
        theirs = _genai_batch(model.provider, model.api_name)
        assert theirs is not None, f"{model.id}: batch rates that genai-prices does not have"
        ours = model.price.batch.model_dump(exclude_none=True, exclude_defaults=True)
        for field, value in theirs.items():
            if field == "tiers":
                continue
            assert str(ours[field]) == str(value), f"{model.id} batch {field}: {ours[field]} != genai-prices {value}"


def test_a_seed_model_with_a_genai_prices_batch_variant_has_batch_rates(catalog):
    """Nothing genai-prices could price at the batch rate is left at the standard one."""
    for model in _text_models(catalog):
        theirs = _genai_batch(model.provider, model.api_name)
        if theirs is None:
            continue
        standard = {"input_per_mtok": model.price.input_per_mtok, "output_per_mtok": model.price.output_per_mtok}
        assert model.price.batch is not None, f"{model.id}: genai-prices has batch rates {theirs}, standard {standard}"
