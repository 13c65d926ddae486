"""The range every number in the policy and the catalog must fall in.

A value that validates is a value the router, the dispatcher and the ledger can use:
``complexity_levels.simple: 0`` divided the quality score by zero, ``retry.backoff_s:
[1e308]`` waited forever, a price of ``1e400`` became an infinite float. So each number
has a finite range here, wide enough for any real setting, and the schemas in
:mod:`~sparklio_desktop.core.policy.routing_policy` and :mod:`~sparklio_desktop.core.policy.catalog` use these
types instead of bare ``float``/``int``. docs/routing.md ("Bounds") lists them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

MAX_WAIT_S = 3600.0  # one hour: timeouts, latency limits, Retry-After
MAX_BACKOFF_S = 600.0  # ten minutes between two tries of one model
MAX_TTL_S = 10 * 366 * 86400  # ten years in the cache
MAX_INPUT_TOKENS = 10_000_000
MAX_OUTPUT_TOKENS = 1_000_000
MAX_CONTEXT_TOKENS = 100_000_000
MAX_IMAGE_INPUT_TOKENS = 1_000_000
MAX_EMBEDDING_DIMENSIONS = 65_536
MAX_VRAM_GB = 1024.0
MAX_VOTES = 1_000_000
# The dearest request the limits allow (10M tokens in, 2M reserved out at $10,000 per
# million) stays far inside the ledger's 64-bit picodollars.
MAX_PRICE_PER_MTOK = Decimal(10_000)
MAX_IMAGE_PRICE = Decimal(1_000)
MAX_USD = Decimal(1_000_000_000)
MIN_COST_REFERENCE_USD = Decimal("0.000001")  # the cost score divides by (reference + cost)
MIN_SECONDS = 0.001  # a speed reference or timeout shorter than a millisecond means nothing
QUALITY_MAX = 10.0  # the catalog's quality scale is 0-10

Seconds = Annotated[float, Field(ge=MIN_SECONDS, le=MAX_WAIT_S, allow_inf_nan=False)]
BackoffSeconds = Annotated[float, Field(ge=0, le=MAX_BACKOFF_S, allow_inf_nan=False)]
Quality = Annotated[float, Field(ge=0, le=QUALITY_MAX, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
PricePerMTok = Annotated[Decimal, Field(ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False)]
ImagePrice = Annotated[Decimal, Field(ge=0, le=MAX_IMAGE_PRICE, allow_inf_nan=False)]
Usd = Annotated[Decimal, Field(ge=0, le=MAX_USD, allow_inf_nan=False)]
