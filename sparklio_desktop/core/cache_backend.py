"""Which response cache is in force: Redis when a URL names one, else the SQLite file.

Kept out of ``cache.py`` so that the SQLite cache and the Redis one (``redis_cache.py``,
which reuses ``cache.py``'s records) do not import each other: the chooser imports both.
"""

from __future__ import annotations

from collections.abc import Callable

from sparklio_desktop.core.cache import CacheBackend, ResponseCache
from sparklio_desktop.core.cache_url import configured_cache_url

__all__ = ["open_response_cache"]


def open_response_cache(url_setting: str | None = None, *, warn: Callable[[str], None] | None = None) -> CacheBackend:
    """The cache in force: Redis when ``$SPARKLIO_CACHE_URL`` or the setting ``cache.url``
    (``url_setting``) names one, else the SQLite file in the data folder. Opens nothing:
    both connect or open on first use."""
    url = configured_cache_url(url_setting)
    if url is None:
        return ResponseCache(warn=warn)
    from sparklio_desktop.core.redis_cache import RedisResponseCache  # redis.asyncio only when asked for

    return RedisResponseCache(url, warn=warn)
