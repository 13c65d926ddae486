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
from sparklio_desktop.core.policy.catalog import MTOK, Capability, Catalog, ModelSpec, Price, image_lookup

if TYPE_CHECKING:  # NumPy is imported only by large catalogs' scoring
    import numpy as np
    import numpy.typing as npt

ANY_SIZE = "*"
# How a model's speed figure scales (catalog ``speed.per``), as codes for the NumPy pass.
LATENCY_PER = {"output_500": 0, "image": 1, "input_512": 2}
NO_SPEED = 3
# The kinds of token a price bills, each at its own rate (docs/routing.md, "Pricing").
KINDS = ("input", "cache_read", "cache_write", "output", "reasoning")
_FIELD = {kind: f"{kind}_per_mtok" for kind in KINDS}
_PARENT = {"cache_read": "input", "cache_write": "input", "reasoning": "output"}


class UnpricedModelError(SparklioError):
    """The catalog has no price for this model (or for this kind of usage)."""


class InvalidUsageError(SparklioError):
    """Usage that cannot be real: a part larger than the whole it belongs to."""


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """What a call used, in genai-prices' convention.

    ``input_tokens`` is ALL input, cache reads and cache writes included;
    ``output_tokens`` is ALL output, reasoning included. The parts say how many of those
    were cache reads, cache writes and reasoning, each billed at its own rate. ``batch``:
    the request went through the provider's batch API.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    images: int = 0
    image_size: str | None = None
    image_quality: str | None = None
    batch: bool = False

    def check(self) -> None:
        """Raise :class:`InvalidUsageError` for counts no provider can report."""
        counts = (
            self.input_tokens,
            self.output_tokens,
            self.cache_read_tokens,
            self.cache_write_tokens,
            self.reasoning_tokens,
            self.images,
        )
        if any(n < 0 for n in counts):
            raise InvalidUsageError("token and image counts must not be negative")
        if self.cache_read_tokens + self.cache_write_tokens > self.input_tokens:
            raise InvalidUsageError(
                f"cache reads ({self.cache_read_tokens}) and writes ({self.cache_write_tokens})"
                f" exceed the input tokens ({self.input_tokens}) they are part of"
            )
        if self.reasoning_tokens > self.output_tokens:
            raise InvalidUsageError(
                f"reasoning tokens ({self.reasoning_tokens}) exceed the output tokens ({self.output_tokens})"
            )


@dataclass(frozen=True)
class CostEstimate:
    """The exact cost of a call, part by part.

    ``input_tokens``/``output_tokens`` are the billed totals (cached and reasoning tokens
    included); ``input_cost`` prices the input that was neither read from nor written to
    the cache, ``output_cost`` the output that was not reasoning. ``tier`` is the
    ``above_input_tokens`` of the price tier applied (``None``: the base rates).
    """

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
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cache_read_price_per_mtok: Decimal | None = None
    cache_write_price_per_mtok: Decimal | None = None
    reasoning_price_per_mtok: Decimal | None = None
    cache_read_cost: Decimal = Decimal(0)
    cache_write_cost: Decimal = Decimal(0)
    reasoning_cost: Decimal = Decimal(0)
    image_quality: str | None = None
    batch: bool = False
    tier: int | None = None

    @property
    def cost_usd(self) -> Decimal:
        return (
            self.input_cost
            + self.cache_read_cost
            + self.cache_write_cost
            + self.output_cost
            + self.reasoning_cost
            + self.image_cost
        )


def _per_token_picos(per_mtok: Decimal | None) -> int | None:
    # $X per 1M tokens is X * 1e6 picodollars per token: whole, as the catalog has <= 6 decimals.
    return None if per_mtok is None else to_picodollars(per_mtok / MTOK)


def _usd(picos: int) -> float:
    return float(from_picodollars(picos))


@dataclass(frozen=True, slots=True)
class Schedule:
    """One kind of token's rate: a base and the tiers that replace it past a prompt length.

    ``tiers`` are ``(above_input_tokens, rate)`` in increasing order; past a threshold
    its rate applies to every token of the kind (cliff semantics, as genai-prices).
    """

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()
    base_picos: int = 0
    tier_picos: tuple[tuple[int, int], ...] = ()
    base_usd: float = 0.0
    tier_usd: tuple[tuple[int, float], ...] = ()

    @classmethod
    def of(cls, base: Decimal, tiers: tuple[tuple[int, Decimal], ...]) -> Schedule:
        picos = _per_token_picos(base) or 0
        tier_picos = tuple((above, _per_token_picos(rate) or 0) for above, rate in tiers)
        return cls(base, tiers, picos, tier_picos, _usd(picos), tuple((above, _usd(p)) for above, p in tier_picos))

    def at(self, input_tokens: int) -> tuple[Decimal, int, int | None]:
        """The rate per MTok, picodollars per token and tier threshold for this prompt length."""
        for index in range(len(self.tiers) - 1, -1, -1):
            above, rate = self.tiers[index]
            if input_tokens > above:
                return rate, self.tier_picos[index][1], above
        return self.base, self.base_picos, None

    def usd_at(self, input_tokens: int) -> float:
        for above, usd in reversed(self.tier_usd):
            if input_tokens > above:
                return usd
        return self.base_usd


Schedules = Mapping[str, Schedule | None]  # by kind


def _schedules(price: Price, batch: bool) -> dict[str, Schedule | None]:
    """Each kind's schedule: from the batch rates where they name the kind, else the
    standard ones; a kind without a rate takes its parent's (cached input is input,
    reasoning is output), as genai-prices' leaf decomposition bills it."""
    own: dict[str, Schedule | None] = {}
    for kind in KINDS:
        field = _FIELD[kind]
        source: Any = price
        if batch and price.batch is not None and price.batch.rate(field) is not None:
            source = price.batch
        base = source.rate(field)
        if base is None:
            own[kind] = None
            continue
        tiers = tuple((t.above_input_tokens, r) for t in source.tiers if (r := t.rate(field)) is not None)
        own[kind] = Schedule.of(base, tiers)
    return {kind: own[kind] if own[kind] is not None else own.get(_PARENT.get(kind, ""), None) for kind in KINDS}


@dataclass(frozen=True, slots=True)
class Breakdown:
    """One usage priced, kind by kind, in picodollars (the one place the rules live)."""

    counts: Mapping[str, int]  # billed tokens by kind (leaf counts: each token once)
    rates: Mapping[str, Decimal | None]  # the rate per MTok applied, by kind
    picos: Mapping[str, int]  # by kind, and "image"
    image_unit: int | None
    tier: int | None

    @property
    def total(self) -> int:
        return sum(self.picos.values())


@dataclass(frozen=True, slots=True)
class UnitPrices:
    """One model's prices per unit: exact picodollars, and float USD for scoring."""

    model: ModelSpec
    priced: bool  # the catalog gives a price at all
    bills_tokens: bool  # False: an image generator without a token price, billed per image only
    generates_images: bool
    image_input_tokens: int  # input tokens each attached image adds (0 for image generators)
    in_picos: int | None  # per input token at the base rate; None: no input price
    out_picos: int | None
    image_picos: Mapping[str, int] | None  # per image by size[@quality] ("*": any size); None: no image price
    in_usd: float  # the same prices as float USD (0.0 where absent), for scores only
    out_usd: float
    image_usd: Mapping[str, float] | None
    token_rates: bool  # flat per-token rates, both given: the usual text model's short path
    standard: Schedules  # each kind's schedule, standard requests
    batch: Schedules  # the same for batch requests

    @classmethod
    def of(cls, model: ModelSpec) -> UnitPrices:
        price = model.price
        generates = model.has(Capability.IMAGE_GENERATION)
        iit = 0 if generates else (model.image_input_tokens or 0)
        none = dict.fromkeys(KINDS)
        if price is None:
            return cls(model, False, True, generates, iit, None, None, None, 0.0, 0.0, None, False, none, none)
        in_picos = _per_token_picos(price.input_per_mtok)
        out_picos = _per_token_picos(price.output_per_mtok)
        images = None if price.per_image is None else {size: to_picodollars(p) for size, p in price.per_image.items()}
        bills_tokens = not (generates and in_picos is None)
        flat = not price.tiers
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
            flat and bills_tokens and in_picos is not None and out_picos is not None,
            _schedules(price, False),
            _schedules(price, True),
        )

    def billed_tokens(self, input_tokens: int, output_tokens: int, images: int) -> tuple[int, int]:
        """The tokens the provider bills for this usage (attached images add input tokens)."""
        if not self.bills_tokens:
            return 0, 0
        return input_tokens + self.image_input_tokens * images, output_tokens

    def image_unit(self, size: str | None, quality: str | None = None) -> int | None:
        """Picodollars per image of this size and quality; ``None``: no price for it."""
        prices = self.image_picos
        if prices is None:
            return None
        return image_lookup(prices, size, quality)  # Price.image_price's rule, over the worked-out prices

    def image_unit_usd(self, size: str | None, quality: str | None = None) -> float | None:
        prices = self.image_usd
        if prices is None:
            return None
        return image_lookup(prices, size, quality)

    def breakdown(self, usage: UsageRecord) -> Breakdown | str:
        """This usage priced kind by kind; a ``str``: why it has no price."""
        model = self.model
        usage.check()
        if not self.priced:
            return f"{model.name} ({model.id}) is unpriced in the catalog; add a price before using it"
        billed_in, billed_out = self.billed_tokens(usage.input_tokens, usage.output_tokens, usage.images)
        if self.bills_tokens:
            read, write, reasoning = usage.cache_read_tokens, usage.cache_write_tokens, usage.reasoning_tokens
        else:
            read = write = reasoning = 0
        counts = {
            "input": billed_in - read - write,
            "cache_read": read,
            "cache_write": write,
            "output": billed_out - reasoning,
            "reasoning": reasoning,
        }
        schedules = self.batch if usage.batch else self.standard
        rates: dict[str, Decimal | None] = {}
        picos: dict[str, int] = {}
        tier: int | None = None
        for kind in KINDS:
            schedule = schedules[kind]
            count = counts[kind]
            if schedule is None:
                rates[kind] = None
                if count:
                    direction = "output" if kind in ("output", "reasoning") else "input"
                    return (
                        f"{model.name} ({model.id}) has no {direction}-token price in the catalog;"
                        " add one before using it"
                    )
                picos[kind] = 0
                continue
            rate, unit, above = schedule.at(billed_in)
            rates[kind] = rate
            picos[kind] = unit * count
            if above is not None and (tier is None or above > tier):
                tier = above
        image_unit: int | None = None
        if usage.images:
            if self.image_picos is not None:
                image_unit = self.image_unit(usage.image_size, usage.image_quality)
                if image_unit is None:
                    sizes = ", ".join(sorted(self.image_picos))
                    wanted = usage.image_size or "(none)"
                    if usage.image_quality:
                        wanted += f" quality {usage.image_quality}"
                    return f"{model.name} has no price for size {wanted}; priced sizes: {sizes}"
                picos["image"] = image_unit * usage.images
            elif self.generates_images:
                return f"{model.name} has no per-image price in the catalog"
        return Breakdown(counts, rates, picos, image_unit, tier)

    def unpriced_reason(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> str | None:
        """Why this usage has no price, or ``None`` when it has one."""
        found = self.breakdown(UsageRecord(input_tokens, output_tokens, images=images, image_size=image_size))
        return found if isinstance(found, str) else None

    def picodollars(
        self, input_tokens: int, output_tokens: int, images: int = 0, image_size: str | None = None
    ) -> int | None:
        """The exact cost of this usage in picodollars; ``None`` when it has no price."""
        if self.token_rates and not images:  # the router's commonest case, kept short
            return self.in_picos * input_tokens + self.out_picos * output_tokens  # type: ignore[operator]
        found = self.breakdown(UsageRecord(input_tokens, output_tokens, images=images, image_size=image_size))
        return None if isinstance(found, str) else found.total

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
        inp, out = self.standard["input"], self.standard["output"]
        if (billed_in and inp is None) or (billed_out and out is None):
            return None
        cost = (inp.usd_at(billed_in) * billed_in if inp is not None else 0.0) + (
            out.usd_at(billed_in) * billed_out if out is not None else 0.0
        )
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
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    reasoning_tokens: int = 0,
    image_quality: str | None = None,
    batch: bool = False,
) -> CostEstimate:
    """Exact cost of a call with the given usage, at the catalog's prices."""
    usage = UsageRecord(
        input_tokens,
        output_tokens,
        cache_read_tokens,
        cache_write_tokens,
        reasoning_tokens,
        images,
        image_size,
        image_quality,
        batch,
    )
    return price_usage(model, usage)


def price_usage(model: ModelSpec, usage: UsageRecord, unit: UnitPrices | None = None) -> CostEstimate:
    """Exact cost of ``usage`` with ``model``, every billing rule applied, part by part."""
    unit = unit if unit is not None and unit.model is model else UnitPrices.of(model)
    found = unit.breakdown(usage)
    if isinstance(found, str):
        raise UnpricedModelError(found)
    price = model.price
    assert price is not None  # breakdown refused an unpriced model
    counts, rates, picos = found.counts, found.rates, found.picos
    billed_in, billed_out = unit.billed_tokens(usage.input_tokens, usage.output_tokens, usage.images)

    def rate(kind: str, tokens: int) -> Decimal | None:
        return rates[kind] if tokens else None

    return CostEstimate(
        model.id,
        billed_in,
        billed_out,
        usage.images,
        usage.image_size,
        rate("input", billed_in),
        rate("output", billed_out),
        price.image_price(usage.image_size, usage.image_quality) if found.image_unit is not None else None,
        from_picodollars(picos["input"]),
        from_picodollars(picos["output"]),
        from_picodollars(picos.get("image", 0)),
        counts["cache_read"],
        counts["cache_write"],
        counts["reasoning"],
        rate("cache_read", counts["cache_read"]),
        rate("cache_write", counts["cache_write"]),
        rate("reasoning", counts["reasoning"]),
        from_picodollars(picos["cache_read"]),
        from_picodollars(picos["cache_write"]),
        from_picodollars(picos["reasoning"]),
        usage.image_quality,
        usage.batch,
        found.tier,
    )


def worst_case_cost(
    model: ModelSpec,
    input_tokens: int,
    max_output_tokens: int,
    images: int = 0,
    image_size: str | None = None,
    *,
    batch: bool = False,
) -> Decimal:
    """What the budget reserves before a paid call: input plus the maximum output (all of
    it reasoning, where reasoning is dearer than the answer); ``batch``: at the batch rates."""
    plain = price_call(model, input_tokens, max_output_tokens, images, image_size, batch=batch).cost_usd
    price = model.price
    if price is None or (price.reasoning_per_mtok is None and not price.tiers and price.batch is None):
        return plain
    thinking = price_call(
        model, input_tokens, max_output_tokens, images, image_size, reasoning_tokens=max_output_tokens, batch=batch
    ).cost_usd
    return max(plain, thinking)


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
        # Models with tiered rates: priced one by one after the column pass (there are few).
        self.tiered = [i for i, u in enumerate(units) if u.model.price is not None and u.model.price.tiers]
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
        for i in self.tiered:
            exact = self.units[i].score_usd(int(tin[i]), int(tout[i]), images, size)
            cost[i] = 0.0 if exact is None else exact
            unpriced[i] = exact is None
        return cost, unpriced


def unit_prices(models: Iterable[ModelSpec], table: Mapping[str, UnitPrices] | None = None) -> list[UnitPrices]:
    """The unit prices of these models, from ``table`` where it has them."""
    return [
        table[m.id]
        if table is not None and table.get(m.id) is not None and table[m.id].model is m
        else UnitPrices.of(m)
        for m in models
    ]
