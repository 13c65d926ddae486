"""A response cache: the same prompt to the same model with the same settings is answered from disk.

It lives in its own SQLite file (``data_dir()/cache.sqlite3``) so that clearing or
deleting it never touches the ledger. Keys are SHA-256 over canonical JSON, never
Python's ``hash()``, which is salted per process and would make every run miss.

**Only complete, successful answers belong here.** The API has no flag for partial or
failed output on purpose: the dispatcher calls :meth:`ResponseCache.put` only after a
stream finished normally with outcome ``ok``; a cancelled, truncated or failed answer
is never stored, so a hit is always a whole answer.

**A cache is disposable.** The file is opened on first use, so ``run --no-cache`` never
touches it. If it turns out damaged (or a folder sits in its place), it is set aside as
``cache.sqlite3.damaged-<time>`` and a fresh one is started, with a one-line warning;
if even that fails (a read-only folder, a full disk), the cache is off for the rest of
the session. ``get`` and ``put`` never raise for the file's sake: a request that has
been paid for must not fail because its answer could not be cached.

**Two backends, one seam.** A team shares one cache in Redis instead
(core/redis_cache.py, chosen by ``$SPARKLIO_CACHE_URL`` or ``cache.url``:
:func:`core/cache_backend.open_response_cache`). The dispatcher sees either through
:class:`CacheBackend`'s coroutines (``aget``/``aput``), so a networked cache never blocks the event loop; this
file's are plain calls on a small local file, run inline as they always were.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, TypeVar

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, Text, cast, delete, func, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from sparklio_desktop.core.ledger import (
    MigrationSet,
    Money,
    UtcDateTime,
    create_sqlite_engine,
    execute_all,
    plain_decimal,
    utcnow,
    writer,
)
from sparklio_desktop.core.ledger.engine import DatabaseFileError, set_aside
from sparklio_desktop.core.settings import paths

_T = TypeVar("_T")
LABEL = "response cache"
# What a fresh file cures; a read-only folder or a full disk it does not.
_SET_ASIDE_FOR = frozenset({"damaged", "unopenable", "io"})

KEY_VERSION = 1  # bump when the normalisation below changes, so old keys simply miss

CACHE_MIGRATIONS = MigrationSet(LABEL)


@CACHE_MIGRATIONS.register
def c001_responses(conn: Connection) -> None:
    execute_all(
        conn,
        """CREATE TABLE responses (
            key TEXT PRIMARY KEY,
            model_id TEXT NOT NULL,
            output TEXT NOT NULL,
            input_tokens INTEGER NOT NULL,
            output_tokens INTEGER NOT NULL,
            cost_usd INTEGER NOT NULL,
            created_utc TEXT NOT NULL,
            expires_utc TEXT NOT NULL
        )""",
        "CREATE INDEX ix_responses_expires ON responses (expires_utc)",
    )


_metadata = MetaData()
responses = Table(
    "responses",
    _metadata,
    Column("key", Text, primary_key=True),
    Column("model_id", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Money, nullable=False),
    Column("created_utc", UtcDateTime, nullable=False),
    Column("expires_utc", UtcDateTime, nullable=False),
)
_c = responses.c


def warn_stderr(message: str) -> None:
    print(f"sparklio: warning: {message}", file=sys.stderr)


def default_cache_path() -> Path:
    return paths.data_dir() / "cache.sqlite3"


def _attr_or_item(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _image_digest(image: Any) -> str:
    data = image if isinstance(image, bytes | bytearray | memoryview) else _attr_or_item(image, "data")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("an image must be bytes or have .data bytes")
    return hashlib.sha256(bytes(data)).hexdigest()


def _normal_message(message: Any) -> dict[str, Any]:
    content = _attr_or_item(message, "content", "") or ""
    return {
        "role": _attr_or_item(message, "role"),
        "content": content.replace("\r\n", "\n").rstrip(),
        "images": [_image_digest(image) for image in _attr_or_item(message, "images", ()) or ()],
    }


def _json_param(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"generation parameter of type {type(value).__name__} cannot be part of a cache key")


def cache_key(model_id: str, messages: Iterable[Any], params: Mapping[str, Any] | None = None) -> str:
    """SHA-256 hex of the model, the normalised messages and the generation parameters.

    Messages are ``Message`` objects (``.role``, ``.content``, ``.images`` with
    ``.data``) or dicts with the same keys. Line endings (CRLF to LF) and trailing
    whitespace do not change the key; images count by the SHA-256 of their bytes.
    Parameters set to ``None`` mean "the provider's default" and are left out, so
    ``{"temperature": None}`` and ``{}`` give the same key.
    """
    payload = {
        "v": KEY_VERSION,
        "model": model_id,
        "messages": [_normal_message(message) for message in messages],
        "params": {k: v for k, v in (params or {}).items() if v is not None},
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=_json_param)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True, kw_only=True)
class CachedResponse:
    """A complete answer as it was first produced (and what producing it cost)."""

    model_id: str
    output: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    created: datetime = field(default_factory=utcnow)


@dataclass(frozen=True)
class CacheStats:
    entries: int  # including expired ones not yet deleted
    expired: int
    output_bytes: int  # UTF-8 size of the stored answers
    hits: int  # since this ResponseCache was opened
    misses: int


@dataclass(frozen=True)
class CacheHealth:
    """How the response cache stands, for the status bar and ``doctor``: its backend,
    where it is (a path, or a URL with its password masked) and, when it is not
    answering, why (one line; requests then go on without it)."""

    backend: Literal["sqlite", "redis"]
    where: str
    available: bool
    problem: str | None = None


class CacheBackend(Protocol):
    """What a response cache offers, whichever backend holds it (SQLite or Redis).

    The coroutines never raise for the backend's sake (a broken or unreachable cache is a
    miss), and ``aclose`` releases what the running loop holds; the cache stays usable."""

    backend: str

    async def aget(self, key: str) -> CachedResponse | None: ...

    async def aput(self, key: str, response: CachedResponse, ttl_s: float) -> None: ...

    async def acheck(self) -> CacheHealth: ...

    def health(self) -> CacheHealth: ...

    async def aclose(self) -> None: ...

    def close(self) -> None: ...


class ResponseCache:
    """Complete answers keyed by :func:`cache_key`, each kept for its own TTL.

    ``warn`` receives one line when the file had to be set aside or the cache was
    turned off (default: standard error).
    """

    backend = "sqlite"

    def __init__(self, path: Path | str | None = None, *, warn: Callable[[str], None] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self._warn = warn or warn_stderr
        self._engine: Engine | None = None
        self._writer: Engine | None = None
        self._state_lock = threading.RLock()
        self.disabled_reason: str | None = None
        self.set_aside_as: list[Path] = []
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def _open(self) -> None:
        engine = create_sqlite_engine(self.path, LABEL)
        try:
            CACHE_MIGRATIONS.apply(writer(engine))
        except BaseException:
            engine.dispose()
            raise
        self._engine, self._writer = engine, writer(engine)

    def _dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = self._writer = None

    def _recover(self, exc: DatabaseFileError, retried: bool) -> bool:
        """After ``exc``: set the file aside when that helps; True when worth retrying."""
        with self._state_lock:
            self._dispose()
            if exc.problem == "busy":
                self._warn(f"{exc}; answering without the cache this time")
                return False
            if exc.problem in _SET_ASIDE_FOR and not retried:
                try:
                    moved = set_aside(self.path)
                except OSError as move_error:
                    self._disable(f"{exc}; could not set it aside: {move_error.strerror or move_error}")
                    return False
                self.set_aside_as.append(moved)
                self._warn(
                    f"the {LABEL} {self.path} was unusable ({exc.detail}); "
                    f"set aside as {moved.name}, starting a fresh one"
                )
                return True
            self._disable(str(exc))
            return False

    def _disable(self, reason: str) -> None:
        self.disabled_reason = reason
        self._warn(f"{reason}; the response cache is off for this session")

    def _use(self, op: Callable[[Engine, Engine], _T], default: _T) -> _T:
        """Run ``op(reader, writer)`` on the open file (opening it first); a damaged file is
        set aside and ``op`` runs once more on a fresh one; ``default`` when it cannot run."""
        for retried in (False, True):
            with self._state_lock:
                if self.disabled_reason is not None:
                    return default
                try:
                    if self._engine is None:
                        self._open()
                    engine, write = self._engine, self._writer
                except DatabaseFileError as exc:
                    if self._recover(exc, retried):
                        continue
                    return default
            assert engine is not None and write is not None
            try:
                return op(engine, write)
            except DatabaseFileError as exc:
                if not self._recover(exc, retried):
                    return default
        return default

    def close(self) -> None:
        with self._state_lock:
            self._dispose()

    # -- the dispatcher's seam (CacheBackend): the same calls, as coroutines ------------
    async def aget(self, key: str) -> CachedResponse | None:
        return self.get(key)

    async def aput(self, key: str, response: CachedResponse, ttl_s: float) -> None:
        self.put(key, response, ttl_s)

    async def acheck(self) -> CacheHealth:
        return self.health()

    def health(self) -> CacheHealth:
        problem = self.disabled_reason
        return CacheHealth("sqlite", str(self.path), problem is None, problem)

    async def aclose(self) -> None:
        """Nothing to release per loop: the file stays open until :meth:`close`."""

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _count(self, hit: bool) -> None:
        with self._lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def get(self, key: str, now: datetime | None = None) -> CachedResponse | None:
        """The stored answer, or None; an expired entry is a miss and is deleted."""
        now = now or utcnow()

        def read(engine: Engine, write: Engine) -> Any:
            with engine.begin() as conn:
                row = conn.execute(select(responses).where(_c.key == key)).one_or_none()
            if row is not None and row.expires_utc <= now:
                with write.begin() as conn:
                    conn.execute(delete(responses).where(_c.key == key, _c.expires_utc <= now))
                return None
            return row

        row = self._use(read, None)
        if row is None:
            self._count(hit=False)
            return None
        self._count(hit=True)
        return CachedResponse(
            model_id=row.model_id,
            output=row.output,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=row.cost_usd,
            created=row.created_utc,
        )

    def put(self, key: str, response: CachedResponse, ttl_s: float, now: datetime | None = None) -> None:
        """Store a complete, successful answer for ``ttl_s`` seconds (replacing any)."""
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        expires = (now or utcnow()) + timedelta(seconds=ttl_s)
        values = {
            "key": key,
            "model_id": response.model_id,
            "output": response.output,
            "input_tokens": response.input_tokens,
            "output_tokens": response.output_tokens,
            "cost_usd": response.cost_usd,
            "created_utc": response.created,
            "expires_utc": expires,
        }
        statement = sqlite_insert(responses).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["key"], set_={k: statement.excluded[k] for k in values if k != "key"}
        )

        def store(_engine: Engine, write: Engine) -> None:
            with write.begin() as conn:
                conn.execute(statement)

        self._use(store, None)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete every expired entry now; returns how many went."""
        cutoff = now or utcnow()

        def purge(_engine: Engine, write: Engine) -> int:
            with write.begin() as conn:
                return int(conn.execute(delete(responses).where(_c.expires_utc <= cutoff)).rowcount)

        return self._use(purge, 0)

    def clear(self) -> None:
        def clear(_engine: Engine, write: Engine) -> None:
            with write.begin() as conn:
                conn.execute(delete(responses))

        self._use(clear, None)

    def stats(self, now: datetime | None = None) -> CacheStats:
        now = now or utcnow()
        query = select(
            func.count(),
            func.coalesce(func.sum(_c.expires_utc <= now), 0),
            func.coalesce(func.sum(func.length(cast(_c.output, LargeBinary))), 0),
        )

        def count(engine: Engine, _write: Engine) -> tuple[int, int, int]:
            with engine.begin() as conn:
                entries, expired, size = conn.execute(query).one()
            return int(entries), int(expired), int(size)

        entries, expired, size = self._use(count, (0, 0, 0))
        with self._lock:
            return CacheStats(entries, int(expired), int(size), self._hits, self._misses)
