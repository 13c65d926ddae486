"""What the local-image tests share: the real engine on the tiny model's config, and a
real dispatcher over a real ledger with the cloud models the test chooses made unusable."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from keyring.backends import null

from sparklio_desktop.core.dispatch import Dispatcher
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local.sd.pipeline import LocalImageEngine
from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace


class TinyConfigEngine(LocalImageEngine):
    """The real engine, given the tiny model's config folder (its shapes are not SD 1.5's)."""

    def __init__(self, config_dir: Path) -> None:
        super().__init__(device="cpu")
        self._config_dir = config_dir

    def generate(self, checkpoint: Path, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super().generate(checkpoint, request, config_dir=self._config_dir, **kwargs)


def local_dispatcher(
    workspace: Workspace,
    ledger: LedgerStore,
    service: Any,
    *,
    unusable: Callable[[ModelSpec], bool],
    gallery: Any = None,
) -> Dispatcher:
    """A dispatcher whose local images are ``service``; models for which ``unusable(model)``
    holds count as having no API key (so a chain cannot fall back to them)."""
    unavailable = {m.id: (Rule.NO_API_KEY, "test") for m in workspace.catalog.values() if unusable(m)}
    return Dispatcher(
        workspace,
        ledger=ledger,
        keys=KeyStore(backend=null.Keyring()),
        live=lambda: LiveState(unavailable=unavailable),
        local_images=service,
        gallery=gallery,
    )
