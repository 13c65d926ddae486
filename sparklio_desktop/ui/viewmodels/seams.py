"""The core services as the UI sees them, typed so that mypy checks every use.

Why Protocols here and concrete core classes elsewhere: the view-models take the core's
own classes (``Workspace``, ``Dispatcher``, ``LedgerStore``, ``RoutePlanner``,
``BudgetGuard``, ``KeyStore``, ``VoteStore``) where there is one implementation. Two seams
have none the UI may name: the services bundle (``core.services.Services``, which only the
app and the commands may import: import-linter's "Only the app and the commands build the
services") and the local image engine (the lazily built Stable Diffusion service, whose
module imports the generation stack's helpers). Each Protocol lists exactly what the UI
reads from them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: nothing here is needed at run time
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.routing.planner import RoutePlanner
    from sparklio_desktop.core.workspace import Workspace


class LocalImages(Protocol):
    """The local Stable Diffusion service (core/local/sd/service.py ``LazyStableDiffusion``)."""

    async def cuda_available(self) -> bool:
        """Whether generation runs on a CUDA GPU (imports torch: off the loop)."""
        ...

    async def unload(self) -> None:
        """Give the pipeline's memory back; it loads again with the next image."""
        ...


class PanelServices(Protocol):
    """What the lazily built panels' ``create(services, ...)`` read from the services."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def dispatcher(self) -> Dispatcher: ...

    @property
    def votes(self) -> VoteStore: ...

    @property
    def planner(self) -> RoutePlanner: ...

    @property
    def local_images(self) -> LocalImages | None: ...
