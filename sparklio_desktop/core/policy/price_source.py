"""Prices from genai-prices, Pydantic's maintained price database, used as a library.

A catalog entry that says ``price: genai-prices`` is priced here when the catalog is
loaded; an entry with its own ``price`` keeps it (an explicit price wins), and a model
genai-prices does not know is unpriced: never routed, never counted as free.

**Conversion.** A genai-prices ``ModelPrice`` becomes the catalog's ``Price`` fields
whole: ``input_mtok``, ``output_mtok``, ``cache_read_mtok``, ``cache_write_mtok`` and
``output_reasoning_mtok`` (each a ``Decimal`` or ``TieredPrices``: the tiers of all keys
merge into ``tiers`` by threshold), and the ``price_variants`` that apply when
``{"processing": "batch"}`` into ``batch`` (only the keys the variant overrides: the
others keep their standard rates, as genai-prices resolves them). Keys for usage Sparklio
never reports (audio, image and video tokens, 1-hour cache writes, web searches) price
nothing for a text call, so they are left out. A model whose price Sparklio cannot bill
exactly is unpriced rather than approximated: a per-request fee (``requests_kcount``),
or a rate with more than 6 decimals per MTok (a token would cost a fraction of a
picodollar, which the ledger cannot hold; genai-prices' openai, anthropic and google
data has none, some resellers' data has such rates, e.g. 0.0833333333333333).

**Start-up cost.** genai-prices' data takes about half a second to import, so the
prices worked out are kept in ``genai-prices-cache.json`` in the data directory, keyed by
the genai-prices version and the hash of the updated data file (when there is one), with
the date each price stops holding (the next dated price change genai-prices knows). A
catalog that asks for prices already in the cache never imports genai-prices.

**Update.** :func:`update_prices` fetches genai-prices' newer data (the JSON their
``UpdatePrices`` reads, ``DEFAULT_UPDATE_URL``) into the data directory; from then on it
is used instead of the data shipped in the package. It reports an outcome and never
raises: routing never waits on it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from sparklio_desktop.core.settings import paths

# A price as the catalog's ``Price`` fields (core/policy/catalog.py validates them); this
# module names no catalog type, so the catalog can import it without a cycle.
PriceFields = dict[str, Any]

# Our provider names -> genai-prices' provider ids.
PROVIDER_IDS = {"openai": "openai", "anthropic": "anthropic", "google": "google"}
# genai-prices' price keys -> the catalog's rate fields.
RATE_KEYS = {
    "input_mtok": "input_per_mtok",
    "output_mtok": "output_per_mtok",
    "cache_read_mtok": "cache_read_per_mtok",
    "cache_write_mtok": "cache_write_per_mtok",
    "output_reasoning_mtok": "reasoning_per_mtok",
}
# Keys that bill every call whatever its usage: Sparklio cannot price them, so refuses.
UNBILLABLE_KEYS = frozenset({"requests_kcount"})
BATCH_CONTEXT = {"processing": "batch"}
UPDATE_URL = "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
DATA_FILE = "genai-prices-data.json"
CACHE_FILE = "genai-prices-cache.json"
_CACHE_FORMAT = 1

_loaded_update: tuple[str, Any] | None = None  # (hash of the data file, its snapshot)


class PriceConversionError(ValueError):
    """genai-prices prices this model in a way Sparklio cannot bill exactly."""


def _data_path() -> Path:
    return paths.data_dir() / DATA_FILE


_hashed: tuple[tuple[int, int], str] | None = None  # ((mtime_ns, size), hash) of the data file last read


def _data_hash() -> str | None:
    """The hash of the updated data file, or ``None`` when prices come from the package.

    Asked for every model priced or listed (the cache key, the source label, the
    snapshot), so the file is hashed again only when its size or time changes."""
    global _hashed
    path = _data_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    seen = (stat.st_mtime_ns, stat.st_size)
    if _hashed is None or _hashed[0] != seen:
        _hashed = (seen, hashlib.sha256(path.read_bytes()).hexdigest())
    return _hashed[1]


@functools.cache
def _package_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


def _snapshot() -> Any:
    """genai-prices' data: the updated file in the data directory when there is one."""
    global _loaded_update
    from genai_prices import data_snapshot

    digest = _data_hash()
    if digest is None:
        return data_snapshot.get_snapshot()
    if _loaded_update is None or _loaded_update[0] != digest:
        _loaded_update = (digest, _parse_data(_data_path().read_bytes()))
    return _loaded_update[1]


def _parse_data(raw: bytes) -> Any:
    """A data snapshot from genai-prices' JSON (as their ``UpdatePrices.fetch`` builds it)."""
    from genai_prices import data_snapshot
    from genai_prices.types import _providers_from_raw

    payload = json.loads(raw)
    if not isinstance(payload, list):
        raise ValueError("expected a list of providers")
    return data_snapshot.DataSnapshot(_providers_from_raw(payload), from_auto_update=True)


def source_label() -> str:
    label = f"genai-prices {_package_version()}"
    return label + " (updated data)" if _data_hash() is not None else label


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


# -- conversion --------------------------------------------------------------------------
def _exact(key: str, value: Decimal) -> str:
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise PriceConversionError(f"{key} = {value} has more than 6 decimals per MTok")
    return str(value)


def _rates(model_price: Any, keys: Iterable[str]) -> tuple[dict[str, str], dict[int, dict[str, str]]]:
    """The catalog rates of these keys, and their tiers' rates by threshold."""
    from genai_prices.types import TieredPrices

    base: dict[str, str] = {}
    tiers: dict[int, dict[str, str]] = {}
    for key in keys:
        value = getattr(model_price, key, None)
        if value is None:
            continue
        field = RATE_KEYS[key]
        if isinstance(value, TieredPrices):
            base[field] = _exact(key, value.base)
            for tier in value.tiers:
                tiers.setdefault(int(tier.start), {})[field] = _exact(key, tier.price)
        else:
            base[field] = _exact(key, value)
    return base, tiers


def _tier_list(tiers: Mapping[int, Mapping[str, str]]) -> list[dict[str, Any]]:
    return [{"above_input_tokens": above, **rates} for above, rates in sorted(tiers.items())]


def _batch_keys(model_info: Any, when: dt.datetime) -> set[str]:
    """The price keys genai-prices' batch variants override at ``when`` (its own resolution)."""
    keys: set[str] = set()
    for variant in model_info.price_variants or ():
        if variant.constraint is not None and not variant.constraint.active(when):
            continue
        if not all(BATCH_CONTEXT.get(k) == v for k, v in variant.when.items()):
            continue
        keys.update(k for k, v in variant.prices.__dict__.items() if v is not None)
    return keys


def convert(model_info: Any, when: dt.datetime | None = None) -> PriceFields | None:
    """The catalog ``Price`` fields for genai-prices' model at ``when`` (default: now);
    ``None`` when it gives no token price. Raises :class:`PriceConversionError` for a price
    Sparklio cannot bill exactly."""
    when = when or dt.datetime.now(dt.UTC)
    standard = model_info.get_prices(when)
    present = {k for k, v in standard.__dict__.items() if v is not None and not k.startswith("_")}
    refused = present & UNBILLABLE_KEYS
    if refused:
        raise PriceConversionError(f"it charges per request ({', '.join(sorted(refused))})")
    base, tiers = _rates(standard, RATE_KEYS)
    if "input_per_mtok" not in base and "output_per_mtok" not in base:
        return None
    fields: PriceFields = {**base, "as_of": _as_of(model_info, when).isoformat(), "source": source_label()}
    if tiers:
        fields["tiers"] = _tier_list(tiers)
    batch_keys = _batch_keys(model_info, when) & RATE_KEYS.keys()
    if batch_keys:
        resolved = model_info.get_prices(when, BATCH_CONTEXT)
        batch_base, batch_tiers = _rates(resolved, sorted(batch_keys))
        fields["batch"] = {**batch_base, **({"tiers": _tier_list(batch_tiers)} if batch_tiers else {})}
    return fields


def to_price(model_info: Any, when: dt.datetime | None = None) -> PriceFields | None:
    """:func:`convert`, with a price Sparklio cannot bill exactly counted as no price."""
    try:
        return convert(model_info, when)
    except PriceConversionError:
        return None


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


def _next_change(model_info: Any, when: dt.datetime) -> dt.date | None:
    """The first dated price change after ``when`` (prices or variants): the cache's limit."""
    dates = [
        getattr(item.constraint, "start_date", None)
        for item in [
            *(model_info.prices if isinstance(model_info.prices, list) else ()),
            *(model_info.price_variants or ()),
        ]
    ]
    future = [d for d in dates if isinstance(d, dt.date) and d > when.date()]
    return min(future) if future else None


# -- the on-disk cache -------------------------------------------------------------------
def _cache_key() -> dict[str, Any]:
    return {"format": _CACHE_FORMAT, "version": _package_version(), "data": _data_hash()}


def _read_cache(key: Mapping[str, Any]) -> dict[str, Any]:
    try:
        held = json.loads((paths.data_dir() / CACHE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(held, dict) or held.get("key") != key or not isinstance(held.get("prices"), dict):
        return {}
    today = dt.datetime.now(dt.UTC).date().isoformat()
    return {
        name: entry
        for name, entry in held["prices"].items()
        if isinstance(entry, dict) and (entry.get("until") is None or str(entry["until"]) > today)
    }


def _write_cache(key: Mapping[str, Any], prices: Mapping[str, Any]) -> None:
    path = paths.data_dir() / CACHE_FILE
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"key": key, "prices": prices}, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written costs half a second next start, nothing more


def _lookup(pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PriceFields | None]:
    """Each ``(provider, api_name)``'s price fields, from the cache where it has them."""
    key = _cache_key()
    cached = _read_cache(key)
    result: dict[tuple[str, str], PriceFields | None] = {}
    missing: list[tuple[str, str]] = []
    for pair in pairs:
        entry = cached.get(f"{pair[0]}/{pair[1]}")
        if entry is None:
            missing.append(pair)
        else:
            result[pair] = entry.get("price")
    if missing:
        now = dt.datetime.now(dt.UTC)
        for provider, api_name in missing:
            info = find_model(provider, api_name)
            fields = None if info is None else to_price(info, now)
            until = None if info is None else _next_change(info, now)
            result[(provider, api_name)] = fields
            cached[f"{provider}/{api_name}"] = {"price": fields, "until": until.isoformat() if until else None}
        _write_cache(key, cached)
    return result


def genai_prices_for(models: Iterable[tuple[str, str, str]]) -> Mapping[str, PriceFields | None]:
    """Each model's price from genai-prices, by id, for ``(id, provider, api_name)``
    (``None``: it does not know the model, or cannot be billed exactly)."""
    wanted = list(models)
    found = _lookup((provider, api_name) for _, provider, api_name in wanted)
    return {model_id: found[(provider, api_name)] for model_id, provider, api_name in wanted}


def list_price(provider: str, api_name: str) -> PriceFields | None:
    """genai-prices' current list price for this model (the catalog's "both prices" display)."""
    return _lookup([(provider, api_name)])[(provider, api_name)]


# -- update ------------------------------------------------------------------------------
@dataclass(frozen=True)
class UpdateOutcome:
    """What :func:`update_prices` did: ``updated`` (new data in use), ``unchanged`` or ``failed``."""

    status: str
    message: str

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def update_prices(timeout_s: float = 10.0, url: str = UPDATE_URL) -> UpdateOutcome:
    """Fetch genai-prices' newer data into the data directory and use it from now on.

    Never raises: no network, a bad answer or an unwritable directory is an outcome
    with a message, and the prices in use stay as they were.
    """
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return UpdateOutcome("failed", f"price update: the server answered {exc.response.status_code} for {url}")
    except httpx.HTTPError as exc:
        return UpdateOutcome("failed", f"price update: no network ({type(exc).__name__}: {exc or 'no detail'})")
    raw = response.content
    try:
        snapshot = _parse_data(raw)
    except Exception as exc:  # noqa: BLE001 - whatever the data's fault, the old prices stay
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return UpdateOutcome("failed", f"price update: the data from {url} is not genai-prices data: {first}")
    digest = hashlib.sha256(raw).hexdigest()
    if digest == _data_hash():
        return UpdateOutcome("unchanged", "prices are already up to date")
    path = _data_path()
    tmp = path.with_suffix(".tmp")
    try:
        tmp.write_bytes(raw)
        os.replace(tmp, path)
    except OSError as exc:
        return UpdateOutcome("failed", f"price update: cannot write {path}: {exc.strerror or exc}")
    global _loaded_update
    _loaded_update = (digest, snapshot)
    return UpdateOutcome("updated", f"updated prices for {len(snapshot.providers)} providers from {url}")
