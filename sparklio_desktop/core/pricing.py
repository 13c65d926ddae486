"""What a model call costs and how long it takes, before it is made.

Costs are ``Decimal`` from the catalog's unit prices: per 1M input and output tokens,
and per image by size. A model without a price is refused (``UnpricedModelError``),
never counted as free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.catalog import MTOK, Capability, ModelSpec


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


def _need(value: Decimal | None, model: ModelSpec, what: str) -> Decimal:
    if value is None:
        raise UnpricedModelError(f"{model.name} ({model.id}) has no {what} price in the catalog; add one before using it")
    return value


def price_call(
    model: ModelSpec,
    input_tokens: int = 0,
    output_tokens: int = 0,
    images: int = 0,
    image_size: str | None = None,
) -> CostEstimate:
    """Exact cost of a call with the given usage, at the catalog's prices."""
    if input_tokens < 0 or output_tokens < 0 or images < 0:
        raise SparklioError("token and image counts must not be negative")
    price = model.price
    if price is None:
        raise UnpricedModelError(f"{model.name} ({model.id}) is unpriced in the catalog; add a price before using it")
    in_price = out_price = img_price = None
    input_cost = output_cost = image_cost = Decimal(0)
    generates_images = model.has(Capability.IMAGE_GENERATION)
    if generates_images and price.input_per_mtok is None:
        input_tokens = output_tokens = 0  # billed per image; the prompt costs nothing extra
    if model.image_input_tokens and images and not generates_images:
        input_tokens += model.image_input_tokens * images
    if input_tokens:
        in_price = _need(price.input_per_mtok, model, "input-token")
        input_cost = in_price * input_tokens / MTOK
    if output_tokens:
        out_price = _need(price.output_per_mtok, model, "output-token")
        output_cost = out_price * output_tokens / MTOK
    if images and price.per_image is not None:
        img_price = price.image_price(image_size)
        if img_price is None:
            sizes = ", ".join(sorted(price.per_image))
            raise UnpricedModelError(f"{model.name} has no price for size {image_size or '(none)'}; priced sizes: {sizes}")
        image_cost = img_price * images
    elif images and generates_images:
        raise UnpricedModelError(f"{model.name} has no per-image price in the catalog")
    return CostEstimate(
        model.id, input_tokens, output_tokens, images, image_size,
        in_price, out_price, img_price, input_cost, output_cost, image_cost,
    )


def expected_latency_s(model: ModelSpec, output_tokens: int = 0, input_tokens: int = 0, images: int = 0) -> float | None:
    """Typical seconds for the call: the middle of the seed's range, scaled by the work."""
    speed = model.speed
    if speed is None:
        return None
    if speed.per == "output_500":
        return speed.typical_s * max(output_tokens, 1) / 500
    if speed.per == "image":
        return speed.typical_s * max(images, 1)
    return speed.typical_s * max(1, math.ceil(input_tokens / 512))


def worst_case_cost(model: ModelSpec, input_tokens: int, max_output_tokens: int, images: int = 0,
                    image_size: str | None = None) -> Decimal:
    """What the budget reserves before a paid call: input plus the maximum output."""
    return price_call(model, input_tokens, max_output_tokens, images, image_size).cost_usd
