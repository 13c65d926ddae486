"""Speed from measurement: after enough calls, a model's speed is what this machine saw.

The seed's speed figures are guesses. Every successful call leaves its seconds, time to
first token and output tokens in the ledger; once a model has :data:`MIN_CALLS` of them,
its speed is the median seconds per 500 output tokens (after the first token) plus the
median time to the first token (per image for image models), measured here, on this
connection. Below that the catalog's figure stays. Embedding models keep the catalog's
figure (their calls are too short to time usefully).

The route planner reads the measurements with the machine's facts (in a worker thread)
and routes on :func:`measured_catalog`, a copy of the catalog with measured speeds, built
again only when the measurements change: a decision costs what it did (docs/routing.md §3).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.core.policy.catalog import Catalog, ModelSpec, Speed

MIN_CALLS = 20
# A text answer this short says little about the rate of tokens: its seconds are mostly the first token.
MIN_OUTPUT_TOKENS = 16


@dataclass(frozen=True)
class MeasuredSpeed:
    """One model's measured speed: what the explanation shows ("measured 3.1 s over 42 calls")."""

    calls: int
    seconds_per_500: float | None  # after the first token; None: not a text model or too few usable calls
    first_token_s: float | None
    seconds_per_image: float | None

    @property
    def enough(self) -> bool:
        return self.calls >= MIN_CALLS


def measure(rows: Iterable[tuple[Any, ...]]) -> dict[str, MeasuredSpeed]:
    """Median speeds per model from ``(model_id, latency_s, ttft_s, output_tokens, images)`` rows."""
    by_model: dict[str, list[tuple[float, float | None, int, int]]] = {}
    for model_id, latency, ttft, out, images in rows:
        by_model.setdefault(model_id, []).append((float(latency), ttft, int(out or 0), int(images or 0)))
    found: dict[str, MeasuredSpeed] = {}
    for model_id, calls in by_model.items():
        per_500 = [
            max(0.0, latency - (ttft or 0.0)) * 500 / out
            for latency, ttft, out, images in calls
            if out >= MIN_OUTPUT_TOKENS and not images
        ]
        firsts = [ttft for _, ttft, out, images in calls if ttft is not None and not images]
        per_image = [latency / images for latency, _, _, images in calls if images]
        found[model_id] = MeasuredSpeed(
            len(calls),
            statistics.median(per_500) if per_500 else None,
            statistics.median(firsts) if firsts else None,
            statistics.median(per_image) if per_image else None,
        )
    return found


def measured_speed(model: ModelSpec, measured: MeasuredSpeed | None) -> Speed | None:
    """The speed to route ``model`` with: measured when there are enough calls, else ``None``
    (keep the catalog's)."""
    speed = model.speed
    if measured is None or not measured.enough or speed is None:
        return None
    if speed.per == "output_500" and measured.seconds_per_500 is not None:
        typical = round(measured.seconds_per_500, 3)
        first = round(measured.first_token_s or 0.0, 3)
        return Speed(seconds=(typical, typical), per="output_500", first_token_s=first, measured_calls=measured.calls)
    if speed.per == "image" and measured.seconds_per_image is not None:
        typical = round(measured.seconds_per_image, 3)
        return Speed(seconds=(typical, typical), per="image", measured_calls=measured.calls)
    return None


def measured_speeds_at(path: Path | str) -> dict[str, MeasuredSpeed]:
    """The measured speeds in the ledger at ``path`` (none when there is no file yet), or in
    the team database a ``postgresql+psycopg://`` URL names."""
    if isinstance(path, Path) and not path.is_file():
        return {}
    from sparklio_desktop.core.ledger.reader import open_for_reading

    with open_for_reading(path) as ledger:
        return measure(ledger.speed_rows())


def measured_catalog(catalog: Catalog, measured: Mapping[str, MeasuredSpeed]) -> Catalog:
    """``catalog`` with measured speeds where there are enough calls (the same catalog when
    there are none). The route planner keeps the view until the catalog or the figures change."""
    changed: dict[str, ModelSpec] = {}
    for model_id, figures in measured.items():
        model = catalog.get(model_id)
        speed = measured_speed(model, figures) if model is not None else None
        if model is not None and speed is not None:
            changed[model_id] = model.model_copy(update={"speed": speed})
    if not changed:
        return catalog
    models = [changed.get(m.id, m) for m in catalog.values()]
    return Catalog(models, catalog.sources, families=catalog.families, retired=catalog.retired)


def measured_words(catalog: Catalog, measured: Mapping[str, MeasuredSpeed]) -> dict[str, str]:
    """Model id -> its measured speed in words, for the models with enough calls
    (``sparklio catalog``, the Catalog tab)."""
    found: dict[str, str] = {}
    for model_id, figures in measured.items():
        model = catalog.get(model_id)
        words = speed_words(measured_speed(model, figures)) if model is not None else None
        if words:
            found[model_id] = words
    return found


def speed_words(speed: Speed | None) -> str | None:
    """ "measured 3.1 s per 500 tokens (first token 0.4 s) over 42 calls", or ``None`` for a catalog figure."""
    if speed is None or not speed.measured_calls:
        return None
    if speed.per == "image":
        return f"measured {speed.typical_s:.1f} s per image over {speed.measured_calls} calls"
    return (
        f"measured {speed.typical_s:.1f} s per 500 tokens (first token {speed.first_token_s:.1f} s)"
        f" over {speed.measured_calls} calls"
    )
