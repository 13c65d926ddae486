"""The catalog as people read it: families, their members newest first, and where prices come from.

Why one module: ``sparklio catalog`` and the models panel's Catalog tab show the same
rows (a member's retired flag and date, its price with the price's source and as-of
date, genai-prices' current list price where the catalog's differs, the measured speed),
so both build them here and only draw them differently. Qt-free; genai-prices is
imported only when list prices are asked for.

Price summaries are one string per price, the same everywhere (the refresh report's
``repriced`` old/new, the CLI table, the panel): ``"$2.50/$10.00 per 1M"`` (input/output
per million tokens, at least two decimals, more where the price has them), ``"$3.00 per
1M in"`` when only one side is priced, ``"$0.04/image"`` or ``"$0.04/image 1024x1024"``
for images (parts joined by ``", "``), ``"free"`` for a zero price and ``"unpriced"``
for none (docs/routing.md, "Refresh").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sparklio_desktop.core.errors import UnknownNameError
from sparklio_desktop.core.policy.catalog import Catalog, ModelSpec, Price

__all__ = [
    "FamilyRow",
    "MemberRow",
    "catalog_rows",
    "list_price_for",
    "price_summary",
]

UNPRICED = "unpriced"
NO_FAMILY = ""  # the group of models that belong to no family


def _usd(amount: Decimal) -> str:
    """``$2.50``: at least two decimals, every decimal the price has."""
    exponent = amount.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"${amount:.{places}f}"


def price_summary(price: Price | None) -> str:
    """One line for a price (see the module docstring); equal prices give equal strings."""
    if price is None:
        return UNPRICED
    if price.is_free:
        return "free"
    parts: list[str] = []
    inp, out = price.input_per_mtok, price.output_per_mtok
    if inp is not None and out is not None:
        parts.append(f"{_usd(inp)}/{_usd(out)} per 1M")
    elif inp is not None:
        parts.append(f"{_usd(inp)} per 1M in")
    elif out is not None:
        parts.append(f"{_usd(out)} per 1M out")
    for size, amount in sorted((price.per_image or {}).items()):
        parts.append(f"{_usd(amount)}/image" + ("" if size == "*" else f" {size}"))
    return ", ".join(parts) or UNPRICED


@dataclass(frozen=True)
class MemberRow:
    """One model as the catalog view shows it."""

    id: str
    name: str
    provider: str
    api_name: str
    family: str | None
    released: dt.date | None
    retired: bool
    retired_since: dt.date | None
    retired_reason: str
    price: str
    """:func:`price_summary` of the price in force."""
    price_source: str | None
    price_as_of: dt.date | None
    list_price: str | None
    """genai-prices' current list price where it differs from the catalog's; else ``None``."""
    list_price_as_of: dt.date | None
    unpriced: bool
    quality: float
    local: bool
    context_tokens: int | None
    measured: str | None = None
    """The measured speed ("measured 3.1 s over 42 calls"); filled by the caller that has the ledger."""

    def as_json(self) -> dict[str, Any]:
        return {
            "family": self.family,
            "released": self.released,
            "retired": self.retired,
            "retired_since": self.retired_since,
            "retired_reason": self.retired_reason or None,
            "price_summary": self.price,
            "price_source": self.price_source,
            "price_as_of": self.price_as_of,
            "list_price": self.list_price,
            "list_price_as_of": self.list_price_as_of,
            "measured": self.measured,
        }


@dataclass(frozen=True)
class FamilyRow:
    """A family and its members, newest first (``id`` ``""``: the models of no family)."""

    id: str
    name: str
    provider: str | None
    members: tuple[MemberRow, ...] = field(default_factory=tuple)
    resolved: str | None = None
    """The member the family resolves to now; filled by the caller that knows availability."""


def _differs(listed: Price, price: Price | None) -> bool:
    """Whether the catalog's price differs from genai-prices' on any part both price
    (GPT-4V's own image price is no difference: genai-prices has none to compare; nor is a
    per-image price against genai-prices' per-token rates for the same image model)."""
    if price is None:
        return True
    if price.per_image and price.input_per_mtok is None and price.output_per_mtok is None:
        return False  # billed per image (NanoBanana): genai-prices' token rates are another kind of price
    parts = (
        (listed.input_per_mtok, price.input_per_mtok),
        (listed.output_per_mtok, price.output_per_mtok),
        (listed.per_image, price.per_image),
    )
    return any(theirs is not None and theirs != ours for theirs, ours in parts)


def list_price_for(model: ModelSpec) -> Price | None:
    """genai-prices' current list price for ``model`` (``None``: local, or it does not know it).

    Uses ``price_source.list_price`` when the billing side provides it, else its
    ``find_model``/``to_price`` pair."""
    if model.local:
        return None
    from sparklio_desktop.core.policy import price_source

    finder: Callable[..., Any] | None = getattr(price_source, "list_price", None)
    if finder is not None:
        fields = finder(model.provider, model.api_name)
    else:
        info = price_source.find_model(model.provider, model.api_name)
        fields = None if info is None else price_source.to_price(info)
    if fields is None:
        return None
    return fields if isinstance(fields, Price) else Price.model_validate(fields)


def _member(model: ModelSpec, catalog: Catalog, list_prices: bool, measured: Mapping[str, str]) -> MemberRow:
    retired = catalog.retired.get(model.id)
    listed = list_price_for(model) if list_prices else None
    differs = listed is not None and _differs(listed, model.price)
    return MemberRow(
        id=model.id,
        name=model.name,
        provider=model.provider,
        api_name=model.api_name,
        family=model.family,
        released=model.released,
        retired=retired is not None,
        retired_since=retired.since if retired else None,
        retired_reason=retired.reason if retired else "",
        price=price_summary(model.price),
        price_source=model.price.source if model.price else None,
        price_as_of=model.price.as_of if model.price else None,
        list_price=price_summary(listed) if differs and listed is not None else None,
        list_price_as_of=listed.as_of if differs and listed is not None else None,
        unpriced=model.unpriced,
        quality=model.quality,
        local=model.local,
        context_tokens=model.context_tokens,
        measured=measured.get(model.id),
    )


def catalog_rows(
    catalog: Catalog,
    *,
    family: str | None = None,
    include_retired: bool = False,
    list_prices: bool = True,
    measured: Mapping[str, str] | None = None,
) -> list[FamilyRow]:
    """The catalog by family (catalog order), members newest first, then the models of no family.

    ``family``: only that family (``UnknownNameError`` listing the families when there is
    none by that id). ``include_retired``: show retired models too (default: hidden).
    ``list_prices``: look up genai-prices' list prices (loads genai-prices, about half a
    second). ``measured``: model id -> measured speed text."""
    if family is not None and family not in catalog.families:
        raise UnknownNameError("family", family, sorted(catalog.families))
    measured = measured or {}
    rows: list[FamilyRow] = []
    for spec in catalog.families.values():
        if family is not None and spec.id != family:
            continue
        members = tuple(
            _member(m, catalog, list_prices, measured)
            for m in catalog.members(spec.id)
            if include_retired or m.id not in catalog.retired
        )
        rows.append(FamilyRow(spec.id, spec.name, spec.provider, members))
    if family is None:
        loose = tuple(
            _member(m, catalog, list_prices, measured)
            for m in catalog.values()
            if m.family is None and (include_retired or m.id not in catalog.retired)
        )
        if loose:
            rows.append(FamilyRow(NO_FAMILY, "no family", None, loose))
    return rows
