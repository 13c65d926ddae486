"""One VRAM budget for the 12 GB card: make room before a local model loads.

Ollama keeps models resident for minutes and the Stable Diffusion pipeline stays loaded
between images; neither knows about the other. Before the SD pipeline loads, idle Ollama
models are unloaded (``keep_alive: 0``) if the sum would not fit; before an Ollama model
answers, the idle SD pipeline is unloaded if it would crowd it out. The decision is
:class:`~sparklio_desktop.core.local.vram_scheduler.VramScheduler`'s; this module only
gathers what is loaded and carries the plan out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sparklio_desktop.core.local.vram import GIB
from sparklio_desktop.core.local.vram_scheduler import (
    LoadedModel,
    LoadRequest,
    VramPlan,
    VramScheduler,
    loaded_from_ollama_ps,
)

log = logging.getLogger(__name__)


class GpuArbiter:
    def __init__(
        self,
        gpu_total_bytes: int,
        admin: Callable[[], Any],
        sd_residency: Callable[[], LoadedModel | None],
        unload_sd: Callable[[], None],
        reserve_bytes: int = GIB // 2,
    ) -> None:
        """``admin()`` opens an ``OllamaAdmin`` (an async context manager); ``sd_residency()``
        tells what the SD engine holds on the GPU; ``unload_sd()`` frees it."""
        self.scheduler = VramScheduler(gpu_total_bytes, reserve_bytes)
        self._admin = admin
        self._sd_residency = sd_residency
        self._unload_sd = unload_sd
        self.last_plan: VramPlan | None = None

    async def _loaded(self, admin: Any) -> list[LoadedModel]:
        try:
            running = await admin.ps()
        except Exception:  # noqa: BLE001 - Ollama down or unreachable: nothing of it is loaded
            running = []
        loaded = loaded_from_ollama_ps(running)
        sd = self._sd_residency()
        if sd is not None:
            loaded.append(sd)
        return loaded

    async def before_sd(self, checkpoint: str, vram_bytes: int) -> VramPlan:
        """Unload idle Ollama models if the pipeline would not fit beside them."""
        async with self._admin() as admin:
            loaded = [m for m in await self._loaded(admin) if not (m.kind == "sd" and m.name == checkpoint)]
            plan = self.scheduler.plan(loaded, LoadRequest("sd", checkpoint, vram_bytes))
            for action in plan.actions:
                if action.kind == "ollama":
                    log.info("unloading %s to make room for Stable Diffusion (%s)", action.name, action.reason)
                    await admin.unload(action.name)
        self.last_plan = plan
        return plan

    async def before_ollama(self, name: str, vram_bytes: int) -> VramPlan:
        """Unload the idle SD pipeline (or other idle Ollama models) if the model would not fit."""
        async with self._admin() as admin:
            loaded = [m for m in await self._loaded(admin) if not (m.kind == "ollama" and m.name == name)]
            plan = self.scheduler.plan(loaded, LoadRequest("ollama", name, vram_bytes))
            for action in plan.actions:
                if action.kind == "sd":
                    log.info("unloading the Stable Diffusion pipeline for %s (%s)", name, action.reason)
                    self._unload_sd()
                else:
                    await admin.unload(action.name)
        self.last_plan = plan
        return plan
