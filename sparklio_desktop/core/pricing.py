"""What a model call costs and how long it takes: the one pricing core.

Every price Sparklio shows, reserves or records comes from here: the router's scores
(plain loop and NumPy pass), its estimates, the budget's worst-case reservations, the
ledger's cost of each attempt and ``sparklio estimate``.

A model's catalog prices are worked out once into :class:`UnitPrices`: exact integer
picodollars per input token, per output token and per image (by size), and the same as
float USD for scoring. Integers are exact because the catalog allows at most 6 decimals
per 1M tokens and 12 per image (docs/routing.md §9), so a cost is an integer sum, turned
into ``Decimal`` USD (core/money.py) only when it is read. :func:`price_table` holds the
unit prices of a whole catalog, built once per catalog (cached by identity); the router
builds its scoring rows and NumPy columns from it (:class:`PriceColumns`).

The usage rules (docs/routing.md §3), written once in :meth:`UnitPrices.billed_tokens`
and :meth:`UnitPrices.picodollars`: an image generator without a token price bills per
image only; a model that reads images bills ``image_input_tokens`` per attached image as
input; a model with a per-image price adds it for each image. A model without a price
(or without one for this usage) is refused (``UnpricedModelError``), never counted as free.

Latency is written once too: :func:`latency_s` for one model, :func:`latency_columns` for
the NumPy pass, with the same formula.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import from_picodollars, to_picodollars
from sparklio_desktop.core.policy.catalog import MTOK, Capability, Catalog, ModelSpec

if TYPE_CHECKING:  # NumPy is imported only by large catalogs' scoring
    import numpy as np
    import numpy.typing as npt

ANY_SIZE = "*"
# How a model's speed figure scales (catalog ``speed.per``), as codes for the NumPy pass.
LATENCY_PER = {"output_500": 0, "image": 1, "input_512": 2}
NO_SPEED = 3


class UnpricedModelError(SparklioError):
    """The catalog has no price for this model (or for this kind of usage)."""


@dataclass(frozen=True)
class CostEstimate:
    model_id: str
    input_tokens: int
    output_tokens: int
    images: int
    image_size: str | None
    input_price_per_mtok: Decimal | None
    output_price_per_mtok: Decimal | None
    image_price: Decimal | None
    input_cost: Decimal
    output_cost: Decimal
    image_cost: Decimal

    @property
    def cost_usd(self) -> Decimal:
        return self.input_cost + self.output_cost + self.image_cost


def _per_token_picos(per_mtok: Decimal | None) -> int | None:
    # $X per 1M tokens is X * 1e6 picodollars per token: whole, as the catalog has <= 6 decimals.
    return None if per_mtok is None else to_picodollars(per_mtok / MTOK)


def _usd(picos: int) -> float:
    return float(from_picodollars(picos))


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """One model's prices per unit: exact picodollars, and float USD for scoring."""

    model: ModelSpec
    priced: bool  # the catalog gives a price at all
    bills_tokens: bool  # False: an image generator without a token price, billed per image only
    generates_images: bool
    image_input_tokens: int  # input tokens each attached image adds (0 for image generators)
    in_picos: int | None  # per input token; None: no input price
    out_picos: int | None
    image_picos: Mapping[str, int] | None  # per image by size ("*": any size); None: no image price
    in_usd: float  # the same prices as float USD (0.0 where absent), for scores only
    out_usd: float
    image_usd: Mapping[str, float] | None
    token_rates: bool  # billed per token with both prices given: the usual text model's short path

    @classmethod
    def of(cls, model: ModelSpec) -> UnitPrices:
        price = model.price
        generates = model.has(Capability.IMAGE_GENERATION)
        iit = 0 if generates else (model.image_input_tokens or 0)
        if price is None:
            return cls(model, False, True, generates, iit, None, None, None, 0.0, 0.0, None, False)
        in_picos = _per_token_picos(price.input_per_mtok)
        out_picos = _per_token_picos(price.output_per_mtok)
        images = None if price.per_image is None else {size: to_picodollars(p) for size, p in price.per_image.items()}
        bills_tokens = not (generates and in_picos is None)
        return cls(
            model,
            True,
            bills_tokens,
            generates,
            iit,
            in_picos,
            out_picos,
            images,
            _usd(in_picos or 0),
            _usd(out_picos or 0),
            None if images is None else {size: _usd(p) for size, p in images.items()},
            bills_tokens and in_picos is not None and out_picos is not None,
        )

    def billed_tokens(self, input_tokens: int, output_tokens: int, images: int) -> tuple[int, int]:
        """The tokens the provider bills for this usage (attached images add input tokens)."""
        if not self.bills_tokens:
            return 0, 0
        return input_tokens + self.image_input_tokens * images, output_tokens

    def image_unit(self, size: str | None) -> int | None:
        """Picodollars per image of this size; ``None``: no price for it."""
        prices = self.image_picos
        if prices is None:
            return None
        unit = prices.get(size) if size else None
        return unit if unit is not None else prices.get(ANY_SIZE)

    def image_unit_usd(self, size: str | None) -> float | None:
        prices = self.image_usd
        if prices is None:
            return None
        unit = prices.get(size) if size else None
        return unit if unit is not None else prices.get(ANY_SIZE)

    def unpriced_reason(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> str | None:
        """Why this usage has no price, or ``None`` when it has one."""
        model = self.model
        if not self.priced:
            return f"{model.name} ({model.id}) is unpriced in the catalog; add a price before using it"
        billed_in, billed_out = self.billed_tokens(input_tokens, output_tokens, images)
        if billed_in and self.in_picos is None:
            return f"{model.name} ({model.id}) has no input-token price in the catalog; add one before using it"
        if billed_out and self.out_picos is None:
            return f"{model.name} ({model.id}) has no output-token price in the catalog; add one before using it"
        if images and self.image_picos is not None and self.image_unit(image_size) is None:
            sizes = ", ".join(sorted(self.image_picos))
            return f"{model.name} has no price for size {image_size or '(none)'}; priced sizes: {sizes}"
        if images and self.image_picos is None and self.generates_images:
            return f"{model.name} has no per-image price in the catalog"
        return None

    def picodollars(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> int | None:
        """The exact cost of this usage in picodollars; ``None`` when it has no price."""
        if not self.priced:
            return None
        billed_in, billed_out = self.billed_tokens(input_tokens, output_tokens, images)
        total = 0
        if billed_in:
            if self.in_picos is None:
                return None
            total += self.in_picos * billed_in
        if billed_out:
            if self.out_picos is None:
                return None
            total += self.out_picos * billed_out
        if images:
            if self.image_picos is not None:
                unit = self.image_unit(image_size)
                if unit is None:
                    return None
                total += unit * images
            elif self.generates_images:
                return None
        return total

    def cost_usd(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> Decimal | None:
        """The exact cost as ``Decimal`` USD; ``None`` when it has no price."""
        picos = self.picodollars(input_tokens, output_tokens, images, image_size)
        return None if picos is None else from_picodollars(picos)

    def score_usd(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> float | None:
        """The cost as float USD for the scores (the NumPy pass computes the same, column-wise)."""
        if self.token_rates and not images:  # the router's commonest case, kept short
            return self.in_usd * input_tokens + self.out_usd * output_tokens
        if not self.priced:
            return None
        billed_in, billed_out = self.billed_tokens(input_tokens, output_tokens, images)
        if (billed_in and self.in_picos is None) or (billed_out and self.out_picos is None):
            return None
        cost = self.in_usd * billed_in + self.out_usd * billed_out
        if images:
            if self.image_usd is not None:
                unit = self.image_unit_usd(image_size)
                if unit is None:
                    return None
                cost = cost + unit * images
            elif self.generates_images:
                return None
        return cost


_TABLES: dict[int, tuple[weakref.ref[Catalog], dict[str, UnitPrices]]] = {}


def price_table(catalog: Catalog) -> Mapping[str, UnitPrices]:
    """Every catalog model's unit prices, worked out once per catalog (kept while it lives)."""
    key = id(catalog)
    held = _TABLES.get(key)
    if held is not None and held[0]() is catalog:
        return held[1]
    table = {model_id: UnitPrices.of(model) for model_id, model in catalog.items()}
    _TABLES[key] = (weakref.ref(catalog), table)
    weakref.finalize(catalog, _TABLES.pop, key, None)
    return table


def price_call(
    model: ModelSpec,
    input_tokens: int = 0,
    output_tokens: int = 0,
    images: int = 0,
    image_size: str | None = None,
) -> CostEstimate:
    """Exact cost of a call with the given usage, at the catalog's prices."""
    return _price(UnitPrices.of(model), input_tokens, output_tokens, images, image_size)


def _price(
    unit: UnitPrices, input_tokens: int, output_tokens: int, images: int, image_size: str | None
) -> CostEstimate:
    if input_tokens < 0 or output_tokens < 0 or images < 0:
        raise SparklioError("token and image counts must not be negative")
    reason = unit.unpriced_reason(input_tokens, output_tokens, images, image_size)
    if reason is not None:
        raise UnpricedModelError(reason)
    price = unit.model.price
    assert price is not None  # unpriced_reason refused an unpriced model
    billed_in, billed_out = unit.billed_tokens(input_tokens, output_tokens, images)
    input_cost = from_picodollars((unit.in_picos or 0) * billed_in)
    output_cost = from_picodollars((unit.out_picos or 0) * billed_out)
    image_picos = unit.image_unit(image_size) if images else None
    image_cost = from_picodollars(image_picos * images) if image_picos is not None else Decimal(0)
    return CostEstimate(
        unit.model.id,
        billed_in,
        billed_out,
        images,
        image_size,
        price.input_per_mtok if billed_in else None,
        price.output_per_mtok if billed_out else None,
        price.image_price(image_size) if image_picos is not None else None,
        input_cost,
        output_cost,
        image_cost,
    )


def worst_case_cost(
    model: ModelSpec, input_tokens: int, max_output_tokens: int, images: int = 0, image_size: str | None = None
) -> Decimal:
    """What the budget reserves before a paid call: input plus the maximum output."""
    return price_call(model, input_tokens, max_output_tokens, images, image_size).cost_usd


# -- latency ---------------------------------------------------------------------------
def latency_s(
    per: str | None, typical_s: float | None, input_tokens: int, output_tokens: int, images: int, first_s: float = 0.0
) -> float | None:
    """Typical seconds for the call: the middle of the seed's range (or the measured
    figure), scaled by the work; ``first_s``: the measured time to the first token, which
    a text answer waits before its tokens flow (0 for the catalog's figures)."""
    if per is None or typical_s is None:
        return None
    if per == "output_500":
        return first_s + typical_s * (output_tokens if output_tokens > 1 else 1) / 500
    if per == "image":
        return typical_s * (images if images > 1 else 1)
    return typical_s * max(1, math.ceil(input_tokens / 512))


def expected_latency_s(
    model: ModelSpec, output_tokens: int = 0, input_tokens: int = 0, images: int = 0
) -> float | None:
    """Typical seconds for the call with this model (docs/routing.md §3)."""
    speed = model.speed
    if speed is None:
        return None
    return latency_s(speed.per, speed.typical_s, input_tokens, output_tokens, images, speed.first_token_s)


def latency_columns(
    np_: Any,
    per: npt.NDArray[Any],
    typical: npt.NDArray[np.float64],
    tin: npt.NDArray[Any],
    tout: npt.NDArray[Any],
    images: int,
    first: npt.NDArray[np.float64] | float = 0.0,
) -> npt.NDArray[np.float64]:
    """:func:`latency_s` over columns (``per`` as :data:`LATENCY_PER` codes); NaN: no speed figure."""
    latency = np_.where(
        per == 0,
        first + typical * np_.maximum(tout, 1) / 500,
        np_.where(per == 1, typical * max(images, 1), typical * np_.maximum(1, np_.ceil(tin / 512))),
    )
    result: npt.NDArray[np.float64] = np_.where(per == NO_SPEED, np_.nan, latency)
    return result


class PriceColumns:
    """Unit prices of many models as NumPy columns: :meth:`UnitPrices.score_usd` column-wise."""

    def __init__(self, np_: Any, units: Sequence[UnitPrices]) -> None:
        self.np = np_
        self.units = units
        self.priced = np_.array([u.priced for u in units], dtype=bool)
        self.has_in = np_.array([u.in_picos is not None for u in units], dtype=bool)
        self.has_out = np_.array([u.out_picos is not None for u in units], dtype=bool)
        self.in_usd = np_.array([u.in_usd for u in units], dtype=float)
        self.out_usd = np_.array([u.out_usd for u in units], dtype=float)
        self.bills = np_.array([u.bills_tokens for u in units], dtype=bool)
        self.iit = np_.array([u.image_input_tokens for u in units], dtype=np_.int64)
        self.has_images = np_.array([u.image_usd is not None for u in units], dtype=bool)
        self.generates = np_.array([u.generates_images for u in units], dtype=bool)
        self._image_units: dict[str | None, npt.NDArray[np.float64]] = {}

    def image_units(self, size: str | None) -> npt.NDArray[np.float64]:
        """USD per image of this size: NaN where the model has image prices but none for it, 0 without any."""
        units = self._image_units.get(size)
        if units is None:
            nan = float("nan")
            units = self._image_units[size] = self.np.array(
                [
                    (nan if (unit := u.image_unit_usd(size)) is None else unit) if u.image_usd is not None else 0.0
                    for u in self.units
                ],
                dtype=float,
            )
        return units

    def score_usd(
        self, tin: npt.NDArray[Any], tout: npt.NDArray[Any], images: int, size: str | None
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """Costs in float USD and which models have no price for this usage."""
        np_ = self.np
        billed_in = np_.where(self.bills, tin + self.iit * images, 0)
        billed_out = np_.where(self.bills, tout, 0)
        unpriced = ~self.priced | ((billed_in > 0) & ~self.has_in) | ((billed_out > 0) & ~self.has_out)
        cost = self.in_usd * billed_in + self.out_usd * billed_out
        if images:
            units = self.image_units(size)
            unpriced = unpriced | np_.isnan(units) | (self.generates & ~self.has_images)
            cost = cost + np_.nan_to_num(units) * images
        return cost, unpriced


def unit_prices(models: Iterable[ModelSpec], table: Mapping[str, UnitPrices] | None = None) -> list[UnitPrices]:
    """The unit prices of these models, from ``table`` where it has them."""
    return [
        table[m.id]
        if table is not None and table.get(m.id) is not None and table[m.id].model is m
        else UnitPrices.of(m)
        for m in models
    ]
