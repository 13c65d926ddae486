"""What the dispatcher needs from the objects it is given, as Protocols.

Why: the dispatcher's collaborators were ``Any``, so nothing said which of the ledger's
or the budget's methods a run depends on, and mypy could not check a call to them. Each
Protocol here is the part of one collaborator the dispatcher uses; the real classes
(``LedgerStore``, ``BudgetGuard``, ``ResponseCache`` or ``RedisResponseCache``, ``RoutePlanner``, ``KeyStore``,
``LazyStableDiffusion``) satisfy them structurally, and a test double needs only these
methods. Nothing here is imported at run time except ``typing``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sparklio_desktop.core.budget import BudgetStatus, Reservation
    from sparklio_desktop.core.cache import CachedResponse
    from sparklio_desktop.core.gallery.recorder import ImagesMade, RecordedImages
    from sparklio_desktop.core.ledger import AttemptRecord
    from sparklio_desktop.core.local.sd.service import ImageOptions, ImageProgress
    from sparklio_desktop.core.policy.families import Resolution
    from sparklio_desktop.core.providers.base import ProviderClient
    from sparklio_desktop.core.routing.decision import RoutingDecision
    from sparklio_desktop.core.routing.planner import SessionFailures
    from sparklio_desktop.core.routing.router import RouteRequest

__all__ = [
    "AnswerCache", "AttemptLedger", "Budget", "ClientFactory", "ImageGallery", "KeySource", "LocalImageEngine",
    "Planner",
]  # fmt: skip


class AnswerCache(Protocol):
    """Complete answers by cache key (core.cache.ResponseCache, the SQLite file, or
    core.redis_cache.RedisResponseCache, a team's Redis): coroutines, so a networked
    cache never blocks the loop; neither raises for its backend's sake. ``aclose``
    releases the connections the running loop holds (the cache stays usable)."""

    async def aget(self, key: str) -> CachedResponse | None: ...

    async def aput(self, key: str, response: CachedResponse, ttl_s: float) -> None: ...

    async def aclose(self) -> None: ...


class Budget(Protocol):
    """The monthly budget guard (core.budget.BudgetGuard): reserve a paid call's worst
    case before it is sent, settle after its attempts are recorded."""

    def reserve(
        self, request_id: str, worst_case_usd: Decimal, *, start: AttemptRecord | None = None
    ) -> Reservation: ...

    def settle(self, reservation: Reservation) -> None: ...

    def alert_due(self) -> bool: ...

    def status(self) -> BudgetStatus: ...


class AttemptLedger(Protocol):
    """Where attempts and decisions are written (core.ledger.LedgerStore)."""

    def start_attempt(self, record: AttemptRecord) -> int: ...

    def finish_attempt(self, record: AttemptRecord) -> int: ...

    def record_decision(
        self,
        request_id: str,
        *,
        prompt: str,
        task_type: str,
        trace: Any,
        final_model_id: str | None = None,
        exploration: bool = False,
        history_tokens_sent: int = 0,
        history_tokens_saved: int = 0,
    ) -> None: ...


class Planner(Protocol):
    """The session's route planner (core.routing.planner.RoutePlanner): routes every
    request, and keeps the session's failures that the dispatcher reports."""

    session: SessionFailures

    async def aplan(self, request: RouteRequest) -> RoutingDecision: ...

    def invalidate(self) -> None: ...

    def family_successor(self, model_id: str, capability: str, tried: Iterable[str]) -> Resolution | None: ...


class ClientFactory(Protocol):
    """One provider client per provider kind, built on first use and closed together."""

    def client(self, provider: str) -> ProviderClient: ...

    async def aclose(self) -> None: ...


class KeySource(Protocol):
    """API keys by name (core.settings.secrets.KeyStore); None when there is none."""

    def get(self, provider: str) -> str | None: ...


class LocalImageEngine(Protocol):
    """Stable Diffusion on this machine (core.local.sd.service)."""

    async def generate(
        self,
        prompt: str,
        size: str,
        n: int,
        steps: int | None = None,
        *,
        options: ImageOptions | None = None,
        progress: ImageProgress | None = None,
    ) -> tuple[tuple[bytes, ...], float]:
        """PNG images and the GPU seconds they took."""
        ...


class ImageGallery(Protocol):
    """Where every answered image request's images are kept (core.gallery.GalleryRecorder):
    written under the data folder and recorded. Called from a worker thread; never raises
    (a failure is the result's ``warning``)."""

    def record(self, made: ImagesMade) -> RecordedImages: ...


# An engine that shares the GPU with Ollama frees it before a local model is loaded:
# (Ollama name, VRAM in GB, the Ollama host it runs on; a LAN host's model needs no room here).
MakeRoom = Callable[[str, float, str | None], Awaitable[None]]
