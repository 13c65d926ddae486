"""The response cache: stable keys, TTLs, exact costs, its own file."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.cache import CachedResponse, ResponseCache, cache_key
from sparklio_desktop.core.providers.base import ImageInput, Message

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    with ResponseCache(tmp_path / "cache.sqlite3") as opened:
        yield opened


def answer(**overrides: object) -> CachedResponse:
    values: dict[str, object] = {
        "model_id": "gpt-4o-mini",
        "output": "Bonjour ✓",
        "input_tokens": 12,
        "output_tokens": 3,
        "cost_usd": Decimal("0.000003600001"),
        "created": NOW,
    }
    values.update(overrides)
    return CachedResponse(**values)  # type: ignore[arg-type]


def test_key_is_normalised_over_messages_objects_and_dicts() -> None:
    png = b"\x89PNG fake"
    as_objects = [Message("system", "Be brief."), Message("user", "Hi\r\nthere  \n", (ImageInput(png),))]
    as_dicts = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi\nthere", "images": [{"data": png}]},
    ]
    params = {"temperature": 0.2, "max_tokens": 100}
    key = cache_key("gpt-4o-mini", as_objects, params)
    assert re.fullmatch(r"[0-9a-f]{64}", key)  # a SHA-256 in hex
    assert cache_key("gpt-4o-mini", as_dicts, {"max_tokens": 100, "temperature": 0.2}) == key
    assert cache_key("gpt-4o-mini", as_dicts, {**params, "seed": None}) == key
    # anything that changes the answer changes the key
    assert cache_key("gpt-4o", as_objects, params) != key
    assert cache_key("gpt-4o-mini", as_objects, {**params, "temperature": 0.3}) != key
    assert cache_key("gpt-4o-mini", [as_dicts[0], {**as_dicts[1], "images": [b"other"]}], params) != key
    assert cache_key("gpt-4o-mini", [as_dicts[1], as_dicts[0]], params) != key
    assert cache_key("gpt-4o-mini", [as_dicts[0], {**as_dicts[1], "role": "assistant"}], params) != key


def test_key_is_the_same_in_another_process() -> None:
    """Python's hash() is salted per process; the key must not be."""
    code = (
        "from sparklio_desktop.core.cache import cache_key;"
        "print(cache_key('m', [{'role': 'user', 'content': 'hello'}], {'t': 1}))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == cache_key("m", [{"role": "user", "content": "hello"}], {"t": 1})


def test_unsupported_parameter_types_are_refused() -> None:
    with pytest.raises(TypeError):
        cache_key("m", [], {"stop": object()})
    with pytest.raises(TypeError):
        cache_key("m", [{"role": "user", "content": "x", "images": ["not bytes"]}])


def test_put_then_get_returns_the_exact_answer(cache: ResponseCache) -> None:
    cache.put("k", answer(), ttl_s=60, now=NOW)
    got = cache.get("k", now=NOW + timedelta(seconds=59))
    assert got == answer()
    assert got is not None and got.cost_usd == Decimal("0.000003600001")
    assert cache.get("missing", now=NOW) is None


def test_expired_entries_miss_and_are_deleted(cache: ResponseCache) -> None:
    cache.put("k", answer(), ttl_s=60, now=NOW)
    cache.put("k2", answer(), ttl_s=600, now=NOW)
    later = NOW + timedelta(seconds=60)
    assert cache.stats(now=later).expired == 1
    assert cache.get("k", now=later) is None
    assert cache.stats(now=later).entries == 1
    assert cache.get("k2", now=later) is not None


def test_put_replaces_and_ttl_must_be_positive(cache: ResponseCache) -> None:
    cache.put("k", answer(), ttl_s=60, now=NOW)
    cache.put("k", answer(output="newer"), ttl_s=60, now=NOW)
    got = cache.get("k", now=NOW)
    assert got is not None and got.output == "newer"
    with pytest.raises(ValueError):
        cache.put("k", answer(), ttl_s=0)


def test_stats_clear_and_purge(cache: ResponseCache) -> None:
    cache.put("a", answer(), ttl_s=10, now=NOW)
    cache.put("b", answer(), ttl_s=1000, now=NOW)
    cache.get("a", now=NOW)
    cache.get("zzz", now=NOW)
    stats = cache.stats(now=NOW)
    assert (stats.entries, stats.expired, stats.hits, stats.misses) == (2, 0, 1, 1)
    assert stats.output_bytes == 2 * len("Bonjour ✓".encode())
    assert cache.purge_expired(now=NOW + timedelta(seconds=10)) == 1
    cache.clear()
    assert cache.stats().entries == 0


def test_default_path_is_its_own_file_in_the_data_dir(sparklio_home: Path) -> None:
    with ResponseCache() as opened:
        assert opened.path == sparklio_home / "cache.sqlite3"
        assert not opened.path.exists()  # opened on first use: `run --no-cache` never touches it
        opened.put("k", answer(), ttl_s=60)
    assert opened.path.exists()
