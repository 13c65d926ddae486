"""Decide what to unload from the GPU before loading a model, as a plan, not an act.

Ollama and the Stable Diffusion engine share one GPU and neither knows of the other:
Ollama keeps models resident for minutes after use, and a loaded SD pipeline holds
2–7 GiB. Before loading either, the app asks :class:`VramScheduler` for a plan, shows
it when useful, then carries it out (``keep_alive: 0`` for Ollama, ``engine.unload()``
for SD). Keeping the decision pure makes it testable with simulated GPUs.

Order of sacrifice: idle Ollama models (least recently used first, larger first on
ties), then the SD pipeline. Busy models (a request in flight) are never unloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sparklio_desktop.core.local.vram import GIB

Kind = Literal["ollama", "sd"]


@dataclass(frozen=True)
class LoadedModel:
    """Something resident on the GPU now."""

    kind: Kind
    name: str
    vram_bytes: int
    busy: bool = False
    last_used: float = 0.0  # any monotonic clock; only the order matters


@dataclass(frozen=True)
class LoadRequest:
    kind: Kind
    name: str
    vram_bytes: int


@dataclass(frozen=True)
class UnloadAction:
    kind: Kind
    name: str
    frees_bytes: int
    reason: str


@dataclass(frozen=True)
class VramPlan:
    """The unloads to do, in order. ``fits`` False: even all of them leave too little
    room; the caller picks smaller settings (SD savers) or lets Ollama split the model
    between GPU and CPU, which it does by itself."""

    actions: tuple[UnloadAction, ...]
    fits: bool
    free_after_bytes: int
    needed_bytes: int
    note: str = ""


class VramScheduler:
    """Plans unloads for one GPU of ``gpu_total_bytes`` keeping ``reserve_bytes`` spare."""

    def __init__(self, gpu_total_bytes: int, reserve_bytes: int = GIB // 2) -> None:
        self.gpu_total_bytes = gpu_total_bytes
        self.reserve_bytes = reserve_bytes

    def plan(self, loaded: Sequence[LoadedModel], request: LoadRequest) -> VramPlan:
        if any(m.kind == request.kind and m.name == request.name for m in loaded):
            free = self._free(loaded)
            return VramPlan((), True, free, request.vram_bytes, note="already loaded")

        actions: list[UnloadAction] = []
        free = self._free(loaded)
        remaining = list(loaded)
        if request.kind == "sd":
            # The engine holds one pipeline: another checkpoint replaces it.
            for m in [m for m in remaining if m.kind == "sd"]:
                if m.busy:
                    return VramPlan((), False, free, request.vram_bytes, note=f"{m.name} is generating")
                actions.append(UnloadAction("sd", m.name, m.vram_bytes, "replaced by the new checkpoint"))
                free += m.vram_bytes
                remaining.remove(m)

        idle_ollama = sorted(
            (m for m in remaining if m.kind == "ollama" and not m.busy),
            key=lambda m: (m.last_used, -m.vram_bytes),
        )
        idle_sd = [m for m in remaining if m.kind == "sd" and not m.busy]
        for m in [*idle_ollama, *idle_sd]:
            if free >= request.vram_bytes:
                break
            reason = "idle Ollama model" if m.kind == "ollama" else "idle image pipeline"
            actions.append(UnloadAction(m.kind, m.name, m.vram_bytes, reason))
            free += m.vram_bytes

        fits = free >= request.vram_bytes
        note = ""
        if not fits:
            note = (
                "Ollama will keep part of the model on the CPU"
                if request.kind == "ollama"
                else "needs memory savers or a smaller size"
            )
        return VramPlan(tuple(actions), fits, free, request.vram_bytes, note)

    def _free(self, loaded: Iterable[LoadedModel]) -> int:
        return self.gpu_total_bytes - self.reserve_bytes - sum(m.vram_bytes for m in loaded)


def plan_unloads(
    gpu_total_bytes: int,
    loaded: Sequence[LoadedModel],
    request: LoadRequest,
    reserve_bytes: int = GIB // 2,
) -> VramPlan:
    """Function form of :meth:`VramScheduler.plan`."""
    return VramScheduler(gpu_total_bytes, reserve_bytes).plan(loaded, request)


def loaded_from_ollama_ps(
    running: Iterable[Mapping[str, Any] | Any], busy: Iterable[str] = (), last_used: Mapping[str, float] | None = None
) -> list[LoadedModel]:
    """``ollama.ps()`` entries (dicts or the client's objects) → :class:`LoadedModel`.

    Ollama does not say whether a model is answering right now; the app does (``busy``).
    Only ``size_vram`` counts: the CPU part of a split model does not use the GPU.
    """
    busy_set = set(busy)
    used = last_used or {}
    out: list[LoadedModel] = []
    for entry in running:
        get = entry.get if isinstance(entry, Mapping) else lambda k, e=entry: getattr(e, k, None)
        name = get("model") or get("name")
        size_vram = int(get("size_vram") or 0)
        if not name or size_vram <= 0:
            continue
        out.append(LoadedModel("ollama", str(name), size_vram, str(name) in busy_set, used.get(str(name), 0.0)))
    return out
