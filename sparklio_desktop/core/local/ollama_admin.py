"""Managing the models of a local Ollama: status, list, show, ps, pull, delete, unload, fit.

The chat path (:mod:`sparklio_desktop.core.providers.ollama_client`) treats Ollama as one
provider among others; this module is the model manager's side, which needs what the
provider contract has no room for: pull progress, VRAM use and architecture figures.
It goes through the official ``ollama.AsyncClient`` (imported when the first admin is
built: it costs ~0.2 s) with the SDK's own timeout off, bounding each call with
``asyncio.timeout`` instead, as the provider client does.

Errors (each ``str()`` is one line for a person)::

    SparklioError                   (sparklio_desktop.core.errors)
    └── OllamaError                 Ollama refused or broke a request (message says which)
        ├── OllamaUnreachable       nothing answers at the host: says how to start Ollama
        └── OllamaModelNotFound     the model is not installed (or not in the library, for a pull)

A pull has no cancel endpoint: closing the stream cancels it. :meth:`OllamaAdmin.pull`
is an async generator whose ``finally`` closes the SDK stream, so ``aclose()`` on it (or
cancelling the task that iterates it) closes the HTTP connection at once; Ollama keeps
the layers fetched so far and resumes from them on the next pull.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.vram import GIB, KV_BYTES_PER_VALUE, FitCheck, gpu_memory, ollama_fit

if TYPE_CHECKING:
    import ollama

T = TypeVar("T")
START_HINT = "start it with `ollama serve` (or the Ollama app)"
STATUS_TIMEOUT_S = 3.0
CALL_TIMEOUT_S = 60.0  # /api/delete and unloading wait for the runner to let go
PULL_STALL_TIMEOUT_S = 300.0  # "verifying sha256 digest" of a 40 GB model is silent for a while
SPEED_WINDOW_S = 5.0

# Bits per weight of llama.cpp quantisations, for a weights estimate before the size is known.
_BITS_PER_WEIGHT = {"F32": 32, "F16": 16, "BF16": 16, "Q8_0": 8.5, "Q6_K": 6.56, "Q5_K_M": 5.69, "Q5_0": 5.5,
                    "Q4_K_M": 4.85, "Q4_K_S": 4.58, "Q4_0": 4.55, "Q3_K_M": 3.91, "Q2_K": 3.35}  # fmt: skip


class OllamaError(SparklioError):
    """Ollama refused or broke a request."""


class OllamaUnreachable(OllamaError):
    """Nothing answers at the host; the message tells the user how to start Ollama."""

    def __init__(self, host: str) -> None:
        self.host = host
        super().__init__(f"Ollama is not running at {host}: {START_HINT}")


class OllamaModelNotFound(OllamaError):
    """The model is not installed here or, for a pull, not in the library (``pulling``)."""

    def __init__(self, name: str, detail: str = "", *, pulling: bool = False) -> None:
        self.name = name
        self.detail = detail
        if pulling:
            text = f"Ollama cannot find '{name}' to pull ({detail or 'unknown model'}); check the name and tag"
        else:
            text = f"model '{name}' is not installed; see `sparklio models ollama list`, or pull it first"
        super().__init__(text)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class OllamaStatus:
    host: str
    reachable: bool
    version: str | None
    message: str  # one line for the status bar: "Ollama 0.12.6 at ..." or how to start it


@dataclass(frozen=True)
class InstalledModel:
    name: str
    family: str | None
    parameter_size: str | None
    quantization: str | None
    size_bytes: int
    modified_at: datetime | None
    digest: str | None
    format: str | None


@dataclass(frozen=True)
class Architecture:
    """The figures the KV-cache estimate needs, from ``model_info`` (or typed in by hand
    for a model not pulled yet)."""

    block_count: int
    head_count_kv: int
    head_dim: int
    name: str = ""
    embedding_length: int | None = None
    head_count: int | None = None
    parameter_count: int | None = None


@dataclass(frozen=True)
class ModelDetails:
    name: str
    family: str | None
    parameter_size: str | None
    quantization: str | None
    context_length: int | None
    capabilities: tuple[str, ...]
    template: str
    parameters: dict[str, list[str]]  # "stop" repeats, hence lists
    architecture: Architecture | None  # None when model_info lacks the figures (rare archs)
    size_bytes: int | None  # on disk, from /api/tags
    model_info: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def weights_bytes(self) -> int | None:
        """Size on disk when known, else parameters × the quantisation's bits per weight."""
        if self.size_bytes:
            return self.size_bytes
        count = self.architecture.parameter_count if self.architecture else None
        bits = _BITS_PER_WEIGHT.get((self.quantization or "").upper())
        return int(count * bits / 8) if count and bits else None


@dataclass(frozen=True)
class RunningModel:
    name: str
    size_bytes: int
    size_vram_bytes: int
    expires_at: datetime | None
    context_length: int | None

    @property
    def size_vram(self) -> int:
        """Ollama's name, so ``vram_scheduler.loaded_from_ollama_ps(await admin.ps())`` works."""
        return self.size_vram_bytes

    @property
    def gpu_percent(self) -> float:
        return 100.0 * self.size_vram_bytes / self.size_bytes if self.size_bytes else 0.0

    @property
    def processor(self) -> str:
        """As ``ollama ps`` prints it: "100% GPU", "100% CPU" or "45%/55% CPU/GPU"."""
        if self.size_vram_bytes <= 0:
            return "100% CPU"
        if self.size_vram_bytes == self.size_bytes:
            return "100% GPU"
        if self.size_vram_bytes > self.size_bytes:
            return "unknown"
        cpu = round(100 - self.gpu_percent)
        return f"{cpu}%/{100 - cpu}% CPU/GPU"


@dataclass(frozen=True)
class PullProgress:
    """One snapshot of a pull, summed over layers. ``total_bytes`` grows while Ollama
    announces layers; ``speed_bps`` counts bytes of this session only (not resumed ones)."""

    model: str
    status: str
    total_bytes: int
    completed_bytes: int
    speed_bps: float | None
    eta_s: float | None
    layers: int
    done: bool

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.completed_bytes / self.total_bytes) if self.total_bytes else None


class PullTracker:
    """Folds Ollama's per-layer progress lines into :class:`PullProgress` snapshots.

    Pure (the clock is passed in), so speed and ETA are testable without a network.
    Speed is over the last :data:`SPEED_WINDOW_S` seconds, which follows a changing
    bandwidth without jumping at every line.
    """

    def __init__(self, model: str, window_s: float = SPEED_WINDOW_S) -> None:
        self.model = model
        self.window_s = window_s
        self._totals: dict[str, int] = {}
        self._completed: dict[str, int] = {}
        self._samples: deque[tuple[float, int]] = deque()
        self.last: PullProgress | None = None

    def update(self, status: str | None, digest: str | None, total: int | None, completed: int | None,
               now: float) -> PullProgress:  # fmt: skip
        if digest:
            if total is not None:
                self._totals[digest] = int(total)
            if completed is not None:
                self._completed[digest] = int(completed)
            else:
                self._completed.setdefault(digest, 0)
        done_bytes = sum(self._completed.values())
        samples = self._samples
        samples.append((now, done_bytes))
        while len(samples) > 2 and now - samples[1][0] >= self.window_s:
            samples.popleft()
        t0, c0 = samples[0]
        speed = max(0, done_bytes - c0) / (now - t0) if now > t0 else None
        total_bytes = sum(self._totals.values())
        left = max(0, total_bytes - done_bytes)
        eta = left / speed if speed else (0.0 if total_bytes and not left else None)
        text = status or (self.last.status if self.last else "")
        self.last = PullProgress(self.model, text, total_bytes, done_bytes, speed, eta, len(self._totals),
                                 done=text == "success")  # fmt: skip
        return self.last


# ------------------------------------------------------------------------ fit check


def fit_check(
    arch: Architecture, weights_bytes: int, context_tokens: int, gpu_total_gb: float, *, kv_cache_type: str = "f16"
) -> FitCheck:
    """Weights + KV cache (2 × layers × KV heads × head dim × context × bytes) against the
    GPU: "fits", "partial offload" or "won't fit" (thresholds in :func:`vram.ollama_fit`).
    ``kv_cache_type`` is the server's ``OLLAMA_KV_CACHE_TYPE`` (f16, q8_0 or q4_0)."""
    try:
        per_value = KV_BYTES_PER_VALUE[kv_cache_type]
    except KeyError:
        raise OllamaError(f"unknown KV cache type '{kv_cache_type}'; valid: {', '.join(KV_BYTES_PER_VALUE)}") from None
    return ollama_fit(weights_bytes, arch.block_count, arch.head_count_kv, arch.head_dim, context_tokens,
                      int(gpu_total_gb * GIB), bytes_per_value=per_value)  # fmt: skip


def _figure(value: Any) -> int | None:
    """A model_info number; per-layer arrays (sliding-window models) count at their largest."""
    if isinstance(value, list):
        value = max((v for v in value if isinstance(v, (int, float))), default=None)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def architecture_from_info(info: Mapping[str, Any]) -> Architecture | None:
    """``model_info`` → :class:`Architecture`; head dim is ``key_length`` when given, else
    embedding / heads; KV heads default to the heads (no grouped-query attention)."""
    arch = str(info.get("general.architecture") or "")

    def get(key: str) -> int | None:
        return _figure(info.get(f"{arch}.{key}"))

    layers, heads, embed = get("block_count"), get("attention.head_count"), get("embedding_length")
    kv_heads = get("attention.head_count_kv") or heads
    head_dim = get("attention.key_length") or (embed // heads if embed and heads else None)
    if not (arch and layers and kv_heads and head_dim):
        return None
    return Architecture(layers, kv_heads, head_dim, arch, embed, heads, _figure(info.get("general.parameter_count")))


def _parameters(text: str | None) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key:
            out.setdefault(key, []).append(value.strip().strip('"'))
    return out


def resolve_host(host: str | None = None) -> str:
    """``host``, else the setting ``providers.ollama.host``, else ``OLLAMA_HOST``, else
    the Ollama row's default host (core/provider_table.py); normalised to ``http://host:port``."""
    from sparklio_desktop.core.routing.live import ollama_base_url

    if not host:
        from sparklio_desktop.core.settings.config import effective_base_url, load_settings_lenient

        host = effective_base_url("ollama", load_settings_lenient()[0])
    return ollama_base_url(host)


# ----------------------------------------------------------------------------- admin


class OllamaAdmin:
    """The model manager's calls against one Ollama server. Use ``async with`` (or call
    :meth:`aclose`) so the connection pool is closed on the loop that opened it."""

    def __init__(self, host: str | None = None) -> None:
        import ollama

        self.host = resolve_host(host)
        self._sdk: ollama.AsyncClient = ollama.AsyncClient(host=self.host, timeout=None)

    async def __aenter__(self) -> OllamaAdmin:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._sdk.close()  # type: ignore[no-untyped-call]  # the SDK leaves close() unannotated

    # -- reading -----------------------------------------------------------------------
    async def status(self) -> OllamaStatus:
        """Reachability and version; never raises for a server that is down."""
        # The SDK has no version call: use its own httpx client (same host, same pool).
        http: httpx.AsyncClient = self._sdk._client
        try:
            async with asyncio.timeout(STATUS_TIMEOUT_S):
                response = await http.get("/api/version")
            response.raise_for_status()
            payload = response.json()
        except (TimeoutError, httpx.TimeoutException):  # before OSError: TimeoutError is one
            return OllamaStatus(self.host, False, None, f"no answer from {self.host}; is Ollama stuck? {START_HINT}")
        except (httpx.ConnectError, ConnectionError):
            return OllamaStatus(self.host, False, None, str(OllamaUnreachable(self.host)))
        except (httpx.HTTPError, ValueError) as err:
            payload = None
            why = type(err).__name__
        else:
            why = "no version"
        if not isinstance(payload, dict) or not payload.get("version"):
            return OllamaStatus(self.host, False, None, f"{self.host} is not answering as Ollama does ({why})")
        version = str(payload["version"])
        return OllamaStatus(self.host, True, version, f"Ollama {version} at {self.host}")

    async def list(self) -> list[InstalledModel]:
        """Installed models, by name."""
        response = await self._call(self._sdk.list(), "")
        out = []
        for m in response.models:
            d = m.details
            out.append(InstalledModel(
                name=str(m.model), family=d.family if d else None, parameter_size=d.parameter_size if d else None,
                quantization=d.quantization_level if d else None, size_bytes=int(m.size or 0),
                modified_at=m.modified_at, digest=m.digest, format=d.format if d else None,
            ))  # fmt: skip
        return sorted(out, key=lambda m: m.name)

    async def show(self, name: str) -> ModelDetails:
        """``/api/show`` plus the size on disk from ``/api/tags`` (show has none)."""
        shown = await self._call(self._sdk.show(name), name)
        installed = await self.list()
        info = dict(shown.modelinfo or {})
        arch = str(info.get("general.architecture") or "")
        d = shown.details
        size = next((m.size_bytes for m in installed if m.name in (name, f"{name}:latest")), None)
        return ModelDetails(
            name=name, family=d.family if d else None, parameter_size=d.parameter_size if d else None,
            quantization=d.quantization_level if d else None,
            context_length=_figure(info.get(f"{arch}.context_length")),
            capabilities=tuple(shown.capabilities or ()), template=shown.template or "",
            parameters=_parameters(shown.parameters), architecture=architecture_from_info(info), size_bytes=size,
            model_info=info,
        )  # fmt: skip

    async def ps(self) -> builtins.list[RunningModel]:  # builtins: the method list() shadows list here
        """Loaded models and how much of each sits in VRAM."""
        response = await self._call(self._sdk.ps(), "")
        return [
            RunningModel(
                str(m.model or m.name), int(m.size or 0), int(m.size_vram or 0), m.expires_at, m.context_length
            )  # fmt: skip
            for m in response.models
        ]

    async def fit(self, name_or_show: str | ModelDetails, context_tokens: int, gpu_total_gb: float | None = None,
                  *, kv_cache_type: str = "f16") -> FitCheck:  # fmt: skip
        """:func:`fit_check` for an installed model; the GPU size defaults to NVML's
        figure, else the configured ``gpu.vram_gb``."""
        details = await self.show(name_or_show) if isinstance(name_or_show, str) else name_or_show
        weights = details.weights_bytes
        if details.architecture is None or weights is None:
            raise OllamaError(f"{details.name}: Ollama does not give the figures a fit check needs")
        if gpu_total_gb is None:
            from sparklio_desktop.core.settings.config import load_settings_lenient

            gpu_total_gb = gpu_memory(load_settings_lenient()[0].gpu.vram_gb).total_gb
        return fit_check(details.architecture, weights, context_tokens, gpu_total_gb, kv_cache_type=kv_cache_type)

    # -- changing ----------------------------------------------------------------------
    async def unload(self, name: str) -> None:
        """Free the model's memory now (``keep_alive: 0``) instead of after its idle timeout."""
        await self._call(self._sdk.generate(model=name, keep_alive=0), name, CALL_TIMEOUT_S)

    async def delete(self, name: str, *, confirm: bool) -> None:
        """Delete the model's files; the caller asked the user first and says so."""
        if confirm is not True:
            raise ValueError("OllamaAdmin.delete needs confirm=True after asking the user")
        await self._call(self._sdk.delete(name), name, CALL_TIMEOUT_S)

    async def pull(
        self, name: str, *, stall_timeout_s: float = PULL_STALL_TIMEOUT_S
    ) -> AsyncGenerator[PullProgress, None]:
        """Pull ``name``, yielding a snapshot per progress line; the last has ``done``.

        Cancel with ``aclose()`` on the iterator or by cancelling its task: the HTTP
        stream is closed in ``finally``. A line gap longer than ``stall_timeout_s`` fails.
        """
        tracker = PullTracker(name)
        stream: Any = None
        failure: OllamaError | None = None
        try:
            stream = await self._sdk.pull(name, stream=True)
            while True:
                try:
                    async with asyncio.timeout(stall_timeout_s):
                        part = await stream.__anext__()
                except StopAsyncIteration:
                    break
                yield tracker.update(part.status, part.digest, part.total, part.completed, time.monotonic())
        except Exception as err:  # noqa: BLE001 - mapped below; GeneratorExit/CancelledError pass
            failure = self._map(err, name, stall_timeout_s, pulling=True)
        finally:
            if stream is not None:
                await stream.aclose()
        if failure is not None:
            raise failure
        if tracker.last is None or not tracker.last.done:
            raise OllamaError(f"the pull of '{name}' ended before Ollama reported success; try again")

    # -- plumbing ----------------------------------------------------------------------
    async def _call(self, call: Awaitable[T], name: str, timeout_s: float = 30.0) -> T:
        try:
            async with asyncio.timeout(timeout_s):
                return await call
        except Exception as err:  # noqa: BLE001 - every SDK/transport failure is mapped
            failure = self._map(err, name, timeout_s)
        raise failure  # outside the except: the SDK exception does not ride along

    def _map(self, err: Exception, name: str, timeout_s: float, *, pulling: bool = False) -> OllamaError:
        """SDK/transport exception → our classes; anything else (a bug) is re-raised."""
        import ollama

        if isinstance(err, OllamaError):
            return err
        if isinstance(err, ollama.ResponseError):
            text = str(err.error)
            if err.status_code == 404 or "not found" in text or "file does not exist" in text:
                return OllamaModelNotFound(name, text, pulling=pulling) if name else OllamaError(f"Ollama: {text}")
            status = f" (HTTP {err.status_code})" if err.status_code > 0 else ""
            return OllamaError(f"Ollama at {self.host}: {text}{status}")
        if isinstance(err, (httpx.ConnectError, ConnectionError)):
            return OllamaUnreachable(self.host)
        if isinstance(err, (TimeoutError, httpx.TimeoutException)):
            return OllamaError(f"no answer from Ollama at {self.host} within {timeout_s:g} s")
        if isinstance(err, httpx.TransportError):
            return OllamaError(f"the connection to Ollama at {self.host} broke: {type(err).__name__}")
        if isinstance(err, (json.JSONDecodeError, ollama.RequestError, ValueError)):
            return OllamaError(f"Ollama at {self.host}: {err}")
        raise err


__all__ = [
    "Architecture", "InstalledModel", "ModelDetails", "OllamaAdmin", "OllamaError", "OllamaModelNotFound",
    "OllamaStatus", "OllamaUnreachable", "PullProgress", "PullTracker", "RunningModel", "architecture_from_info",
    "fit_check", "resolve_host",
]  # fmt: skip
