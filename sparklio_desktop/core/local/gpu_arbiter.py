"""One VRAM budget for the 12 GB card: make room before a local model loads.

Ollama keeps models resident for minutes and the Stable Diffusion pipeline stays loaded
between images; neither knows about the other. Before the SD pipeline loads, idle Ollama
models are unloaded (``keep_alive: 0``) if the sum would not fit; before an Ollama model
answers, the idle SD pipeline is unloaded if it would crowd it out. The decision is
:class:`~sparklio_desktop.core.local.vram_scheduler.VramScheduler`'s; this module only
gathers what is loaded and carries the plan out.

One arbiter per GPU, and this one governs the local card only: it counts what the local
Ollama host (``host``) has loaded and unloads only there. A request for a model on a LAN
Ollama host (core/routing/ollama_hosts.py) runs on that box's GPU, so it neither waits for
nor evicts anything here (:meth:`GpuArbiter.before_ollama` with that ``host`` plans
nothing); each host's last plan is kept apart in :attr:`GpuArbiter.plans`.
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
from sparklio_desktop.core.routing.ollama_hosts import ollama_base_url

log = logging.getLogger(__name__)


class GpuArbiter:
    def __init__(
        self,
        gpu_total_bytes: int,
        admin: Callable[[], Any],
        sd_residency: Callable[[], LoadedModel | None],
        unload_sd: Callable[[], None],
        reserve_bytes: int = GIB // 2,
        host: str | None = None,
    ) -> None:
        """``admin()`` opens an ``OllamaAdmin`` (an async context manager) on ``host``, the
        local Ollama (None: the default host, as ``OLLAMA_HOST`` or 127.0.0.1:11434);
        ``sd_residency()`` tells what the SD engine holds on the GPU; ``unload_sd()`` frees it."""
        self.scheduler = VramScheduler(gpu_total_bytes, reserve_bytes)
        self.host = ollama_base_url(host)
        self._admin = admin
        self._sd_residency = sd_residency
        self._unload_sd = unload_sd
        self.last_plan: VramPlan | None = None
        self.plans: dict[str, VramPlan] = {}  # Ollama host URL -> the last plan made for it

    def serves(self, host: str | None) -> bool:
        """Whether a model on Ollama ``host`` (None: the local one) loads on this GPU."""
        return host is None or ollama_base_url(host).lower() == self.host.lower()

    def _record(self, host: str, plan: VramPlan) -> VramPlan:
        self.plans[host] = plan
        if host == self.host:
            self.last_plan = plan
        return plan

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
        return self._record(self.host, plan)

    async def before_ollama(self, name: str, vram_bytes: int, host: str | None = None) -> VramPlan:
        """Unload the idle SD pipeline (or other idle Ollama models) if the model would not fit.

        A model on another Ollama ``host`` (a LAN GPU box) does not touch this GPU: nothing
        is asked or unloaded, and the plan says so."""
        if not self.serves(host):
            remote = ollama_base_url(host)
            plan = VramPlan((), True, 0, vram_bytes, note=f"runs on {remote}: this machine's GPU is not involved")
            return self._record(remote, plan)
        async with self._admin() as admin:
            loaded = [m for m in await self._loaded(admin) if not (m.kind == "ollama" and m.name == name)]
            plan = self.scheduler.plan(loaded, LoadRequest("ollama", name, vram_bytes))
            for action in plan.actions:
                if action.kind == "sd":
                    log.info("unloading the Stable Diffusion pipeline for %s (%s)", name, action.reason)
                    self._unload_sd()
                else:
                    await admin.unload(action.name)
        return self._record(self.host, plan)
