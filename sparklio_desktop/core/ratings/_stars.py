"""Star ratings: per-model mean with a 95% Student-t interval.

Why t and not a bootstrap: it is deterministic (no seed to thread through), it is the
textbook interval for a mean, and for tiny samples — where most models will sit for a
while — the percentile bootstrap is badly over-confident (three ratings give an
interval a third as wide as it should be). Two adjustments for 1–5 star data:

* The interval is clipped to [1, 5]; the mean cannot leave the scale.
* Unanimous ratings (sample sd 0) would give a zero-width interval that claims
  certainty three ratings cannot give. The sd used is ``max(s, 1/√n)``: ``1/√n`` is the
  sample sd of n ratings of which one is a single star away from the rest, the
  smallest disagreement that could be missing.
* With one rating the interval is the whole scale [1, 5]; with none, everything is None.

No scipy: the t quantile comes from the exact closed-form t distribution for integer
degrees of freedom (Abramowitz & Stegun 26.7.3–4) solved by bisection, and from the
Cornish–Fisher expansion (error < 1e-9) beyond 60 degrees of freedom.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sparklio_desktop.core.ratings._records import StarRating, select_records

MIN_STARS = 1.0
MAX_STARS = 5.0
_NORMAL_975 = 1.959963984540054  # standard normal 97.5% quantile
_EXACT_DF_LIMIT = 60


@dataclass(frozen=True, slots=True)
class StarSummary:
    """Mean stars of one model with its 95% interval; all None when ``n`` is 0."""

    model_id: str
    mean: float | None
    low: float | None
    high: float | None
    n: int


def _t_central_probability(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer ``df`` (A&S 26.7.3 odd, 26.7.4 even)."""
    theta = math.atan(t / math.sqrt(df))
    cos2 = math.cos(theta) ** 2
    if df % 2 == 1:
        total, term = 0.0, math.cos(theta)
        for k in range(1, (df - 1) // 2 + 1):  # df - 2 is the last power; (df-1)/2 terms
            total += term
            term *= cos2 * (2 * k) / (2 * k + 1)
        return 2.0 / math.pi * (theta + math.sin(theta) * total)
    total, term = 0.0, 1.0
    for k in range(1, df // 2 + 1):  # powers 0, 2, ..., df - 2: df/2 terms
        total += term
        term *= cos2 * (2 * k - 1) / (2 * k)
    return math.sin(theta) * total


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with ``df`` >= 1 degrees of freedom."""
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if df > _EXACT_DF_LIMIT:
        z = _NORMAL_975
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    lo, hi = _NORMAL_975, 20.0
    while _t_central_probability(hi, df) < 0.95:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if _t_central_probability(mid, df) < 0.95:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def star_interval(stars: Iterable[int]) -> tuple[float | None, float | None, float | None, int]:
    """``(mean, low, high, n)`` for a sample of 1–5 star ratings (see module docstring)."""
    values = [float(s) for s in stars]
    n = len(values)
    if n == 0:
        return None, None, None, 0
    mean = math.fsum(values) / n
    if n == 1:
        return mean, MIN_STARS, MAX_STARS, 1
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in values) / (n - 1))
    half_width = t_quantile_975(n - 1) * max(sd, 1.0 / math.sqrt(n)) / math.sqrt(n)
    return mean, max(MIN_STARS, mean - half_width), min(MAX_STARS, mean + half_width), n


def summarize_stars(
    ratings: Iterable[StarRating],
    task_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, StarSummary]:
    """Per-model star summaries for one task type (all when None) and ``[since, until)``."""
    by_model: dict[str, list[int]] = defaultdict(list)
    for rating in select_records(ratings, task_type, since, until):
        by_model[rating.model_id].append(rating.stars)
    return {mid: StarSummary(mid, *star_interval(stars)) for mid, stars in sorted(by_model.items())}
