"""The response cache in Redis: one cache for every install of a team.

Why: with a cache per install, an answer one workstation paid for is paid for again on
the next. ``SPARKLIO_CACHE_URL=redis://…`` (or the setting ``cache.url``;
core/cache_url.py) puts the cache in the Redis the studio already runs. Keys are the
SQLite cache's SHA-256 keys (:func:`~sparklio_desktop.core.cache.cache_key`) under the
prefix :data:`NAMESPACE`, so both backends agree on what "the same request" is; each
entry expires by Redis itself after the policy's TTL for its task (``cache_ttl_s``: 24 h
for answers that do not go stale, 1 h for those that do), which the dispatcher passes
to :meth:`RedisResponseCache.aput` exactly as to the SQLite cache.

**It never blocks and never raises.** The client is ``redis.asyncio`` on the running
event loop; connecting and each command are bounded by :data:`OP_TIMEOUT_S`. When Redis
does not answer (down, a wrong port, a wrong password), the request goes on without
the cache, one warning line says so, and the cache is skipped for :data:`BACKOFF_S`
rather than timing out on every request; the first operation after that tries again.
:meth:`RedisResponseCache.health` is what the status bar and ``sparklio doctor`` show.

**The password is never shown.** The URL appears only masked (core/cache_url.py); the
errors redis-py raises pass through :func:`~sparklio_desktop.core.redact.redact`.

``redis.asyncio`` connections belong to the loop that opened them, and the CLI runs a
loop per command: the client is made on first use in the running loop (again when the
loop changes), and :meth:`RedisResponseCache.aclose` (called by ``Dispatcher.aclose``)
releases it; the next operation connects again.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, TypeVar

from sparklio_desktop.core.cache import CachedResponse, CacheHealth, warn_stderr
from sparklio_desktop.core.cache_url import check_cache_url, masked_url, url_password
from sparklio_desktop.core.ledger import plain_decimal
from sparklio_desktop.core.redact import redact

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["BACKOFF_S", "NAMESPACE", "OP_TIMEOUT_S", "RedisResponseCache", "decode_entry", "encode_entry"]

NAMESPACE = "sparklio:response:"
OP_TIMEOUT_S = 0.25  # connect, and each command: loopback or LAN answers in well under a millisecond
BACKOFF_S = 30.0  # after a failure, how long requests skip the cache before trying Redis again

_T = TypeVar("_T")


class _Failed:
    """What an operation gives when Redis was skipped, down or erroring."""


_FAILED = _Failed()


def encode_entry(response: CachedResponse) -> bytes:
    """One cache entry as compact JSON (money as an exact decimal string)."""
    return json.dumps(
        {
            "model_id": response.model_id,
            "output": response.output,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "cost_usd": plain_decimal(response.cost_usd),
            "created": response.created.isoformat(),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode("utf-8")


def decode_entry(raw: bytes) -> CachedResponse | None:
    """The entry, or None when it is not one this version wrote (then it is a miss)."""
    try:
        data = json.loads(raw)
        return CachedResponse(
            model_id=str(data["model_id"]),
            output=str(data["output"]),
            input_tokens=int(data["input_tokens"]),
            output_tokens=int(data["output_tokens"]),
            cost_usd=Decimal(str(data["cost_usd"])),
            created=datetime.fromisoformat(data["created"]),
        )
    except (ValueError, TypeError, KeyError, InvalidOperation):
        return None


class RedisResponseCache:
    """Complete answers in Redis, keyed like :class:`~sparklio_desktop.core.cache.ResponseCache`.

    ``warn`` receives one line when Redis stops answering (default: standard error);
    ``clock`` (monotonic seconds) times the back-off.
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = NAMESPACE,
        op_timeout_s: float = OP_TIMEOUT_S,
        backoff_s: float = BACKOFF_S,
        warn: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self.where = masked_url(url)
        self._password = url_password(url)
        self.namespace = namespace
        self._op_timeout_s = op_timeout_s
        self._backoff_s = backoff_s
        self._warn = warn or warn_stderr
        self._clock = clock
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._problem: str | None = None  # why the last operation failed; None after a success
        self._retry_at = 0.0
        self.hits = self.misses = self.skipped = 0
        bad = check_cache_url(url)
        if bad is not None:  # never tried: the cache is off for the session, said once
            self._problem, self._retry_at = f"the cache URL {self.where} {bad}", math.inf
            self._warn(f"{self._problem}; answering without the cache")
        else:
            import redis.asyncio  # noqa: F401 - about 0.2 s: here, at start-up, not on the loop at the first request

    def __repr__(self) -> str:
        return f"RedisResponseCache({self.where!r})"  # never the password

    # -- the connection ------------------------------------------------------------
    def _connected(self) -> Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            # A client left on a finished loop cannot be closed from this one; its
            # connections went with that loop.
            self._client = Redis.from_url(
                self._url,
                socket_timeout=self._op_timeout_s,
                socket_connect_timeout=self._op_timeout_s,
                retry=Retry(NoBackoff(), 0),  # one try: the back-off below is the retry
            )
            self._loop = loop
        return self._client

    def _failed(self, exc: BaseException) -> None:
        detail = " ".join(str(exc).split()) or f"no answer within {self._op_timeout_s:g} s"
        problem = redact(f"Redis at {self.where} does not answer ({detail})", [self._password])
        self._retry_at = self._clock() + self._backoff_s
        if self._problem is None:
            self._warn(f"{problem}; answering without the cache, trying again in {self._backoff_s:g} s")
        self._problem = problem

    async def _call(self, op: Callable[[Redis], Awaitable[_T]]) -> _T | _Failed:
        """``op`` on the client, or :data:`_FAILED` (Redis skipped, down or erroring)."""
        if self._problem is not None and self._clock() < self._retry_at:
            self.skipped += 1
            return _FAILED
        try:
            client = self._connected()
            async with asyncio.timeout(2 * self._op_timeout_s):  # connect + command, whatever hangs
                result = await op(client)
        except Exception as exc:  # noqa: BLE001 - RedisError, OSError, TimeoutError: the cache is off for now
            self._failed(exc)
            return _FAILED
        if self._problem is not None:
            self._warn(f"Redis at {self.where} answers again; the shared cache is back")
        self._problem = None
        return result

    # -- the cache -----------------------------------------------------------------
    async def aget(self, key: str) -> CachedResponse | None:
        """The stored answer, or None (a miss, or Redis unavailable)."""
        raw = await self._call(lambda client: client.get(self.namespace + key))
        found = decode_entry(raw) if isinstance(raw, bytes) else None
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    async def aput(self, key: str, response: CachedResponse, ttl_s: float) -> None:
        """Store a complete, successful answer for ``ttl_s`` seconds (replacing any)."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        payload = encode_entry(response)
        await self._call(lambda client: client.set(self.namespace + key, payload, px=max(1, round(ttl_s * 1000))))

    async def acheck(self) -> CacheHealth:
        """Ask Redis (PING) unless it is in its back-off, and say how the cache stands."""
        await self._call(lambda client: client.ping())
        return self.health()

    def health(self) -> CacheHealth:
        return CacheHealth("redis", self.where, self._problem is None, self._problem)

    async def aclose(self) -> None:
        """Release the connections (on the loop that opened them); the next use reconnects."""
        client, loop = self._client, self._loop
        self._client = self._loop = None
        if client is not None:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                return
            if loop is running:
                await client.aclose()

    def close(self) -> None:
        """Forget the client (``aclose`` has released its connections where a loop ran)."""
        self._client = self._loop = None
