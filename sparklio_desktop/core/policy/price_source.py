"""Prices from genai-prices, Pydantic's maintained price database, used as a library.

A catalog entry that says ``price: genai-prices`` is priced here when the catalog is
loaded; an entry with its own ``price`` keeps it (an explicit price wins), and a model
genai-prices does not know is unpriced: never routed, never counted as free.

genai-prices is imported only when an entry asks for it (its data takes about half a
second to load), so the shipped catalog, which prices every entry itself, never loads it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

# A price as the catalog's ``Price`` fields (core/policy/catalog.py validates them); this
# module names no catalog type, so the catalog can import it without a cycle.
PriceFields = dict[str, Any]

# Our provider names -> genai-prices' provider ids.
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "google": "google"}


def _snapshot() -> Any:
    from genai_prices import data_snapshot

    return data_snapshot.get_snapshot()


def source_label() -> str:
    from genai_prices import __version__

    return f"genai-prices {__version__}"


def find_model(provider: str, api_name: str) -> Any | None:
    """genai-prices' ``ModelInfo`` for this model, or ``None`` when it does not know it."""
    provider_id = PROVIDER_IDS.get(provider)
    if provider_id is None:
        return None
    try:
        _, model = _snapshot().find_provider_model(api_name, None, provider_id, None)
    except LookupError:
        return None
    return model


def _decimal(value: object) -> Decimal | None:
    return value if isinstance(value, Decimal) else None


def to_price(model_info: Any, when: dt.datetime | None = None) -> PriceFields | None:
    """The catalog ``Price`` fields for genai-prices' model at ``when`` (default: now)."""
    when = when or dt.datetime.now(dt.UTC)
    prices = model_info.get_prices(when)
    inp = _decimal(prices.input_mtok)
    out = _decimal(prices.output_mtok)
    if inp is None and out is None:
        return None
    return {
        "input_per_mtok": inp,
        "output_per_mtok": out,
        "as_of": _as_of(model_info, when),
        "source": source_label(),
    }


def _as_of(model_info: Any, when: dt.datetime) -> dt.date:
    """The date the price in force started, where genai-prices dates it; else today."""
    prices = model_info.prices
    start: dt.date | None = None
    if isinstance(prices, list):
        for conditional in prices:
            constraint = conditional.constraint
            begin = getattr(constraint, "start_date", None)
            if isinstance(begin, dt.date) and (constraint is None or constraint.active(when)):
                start = begin if start is None or begin > start else start
    return start or when.date()


def genai_prices_for(models: Iterable[tuple[str, str, str]]) -> Mapping[str, PriceFields | None]:
    """Each model's price from genai-prices, by id, for ``(id, provider, api_name)``
    (``None``: it does not know the model)."""
    result: dict[str, PriceFields | None] = {}
    for model_id, provider, api_name in models:
        info = find_model(provider, api_name)
        result[model_id] = None if info is None else to_price(info)
    return result
