"""The status bar's view-model: this month's spend and which providers have a key.

Why a view-model of its own: the main window shows these figures whatever panel is
open, and must not reach into the ledger or the key store itself.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel


class StatusViewModel(ViewModel):
    """Month spend against the budget, and each provider's key status."""

    statusChanged = Signal(object)  # dict: month, spent_usd, budget_usd, percent, providers {name: state}

    def __init__(self, workspace: Any, keys: Any, budget: Any, executor: SerialExecutor,
                 parent: QObject | None = None) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._keys = keys
        self._budget = budget

    def _providers(self) -> list[str]:
        return sorted({m.provider for m in self._workspace.catalog.values()})

    def _read(self) -> dict[str, Any]:
        status = self._budget.status()
        live_state = {}
        from sparklio_desktop.core.settings.key_index import has_key_fast

        for provider in self._providers():
            if provider in ("ollama", "diffusers", "openai_compatible"):
                continue  # local or keyless: reachability shows in the route preview
            live_state[provider] = "key" if has_key_fast(provider) else "no key"
        return {"month": status.month, "spent_usd": status.spent_usd, "budget_usd": status.budget_usd,
                "percent": float(status.percent), "alert": status.alert, "providers": live_state}

    def _ollama(self) -> str:
        from sparklio_desktop.core.routing.live import ollama_tags, resolve_local_tags

        models = ollama_tags(self._workspace.settings.providers.ollama.host)
        if models is None:
            return "not running"
        # The same resolution as the route preview and the run (core.live.resolve_ollama_tag).
        usable = len(set(resolve_local_tags(self._workspace.catalog, models).values()))
        return f"{len(models)} models, {usable} in the catalog"

    @asyncSlot()
    async def refresh(self) -> None:
        """Read the figures; Ollama is probed in the default executor (up to 0.3 s),
        so the serial database worker is not held up by it."""
        self._track()
        import asyncio

        loop = asyncio.get_running_loop()
        ollama = loop.run_in_executor(None, self._ollama)
        status = await self._executor.call(self._read)
        status["providers"]["ollama"] = await ollama
        self.statusChanged.emit(status)
