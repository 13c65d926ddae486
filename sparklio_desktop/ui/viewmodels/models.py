"""The model manager's view-model: Ollama (status, installed, running, pull, delete,
fit, add to catalog) and Stable Diffusion checkpoints (list, probe, import, delete,
trust a pickle file, override the type).

Why the pull lives here and not in the view: a download of several gigabytes takes
minutes, and the user switches panels meanwhile. The task is owned (and referenced) by
this object, so hiding or even destroying the view leaves it running; a view built
later simply reads :attr:`ModelsViewModel.pull_snapshot`.

Why two kinds of background work: Ollama calls are coroutines on the qasync loop (the
SDK is async); checkpoint probing, imports and deletes are file I/O, so they run in a
worker thread (``asyncio.to_thread``) and only their results come back as signals.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local import (
    PICKLE_WARNING,
    Checkpoint,
    CheckpointStore,
    FitCheck,
    ModelType,
    ProbeResult,
    delete_checkpoint,
    gpu_memory,
    import_checkpoint,
)
from sparklio_desktop.core.local.enable import local_runtime_advice
from sparklio_desktop.core.local.ollama_admin import (
    InstalledModel,
    ModelDetails,
    OllamaAdmin,
    OllamaStatus,
    PullProgress,
    RunningModel,
)
from sparklio_desktop.core.local.sd.families import LOADABLE_TYPES
from sparklio_desktop.core.local.sd.weights import probe_checkpoints
from sparklio_desktop.core.policy import user_catalog
from sparklio_desktop.core.routing.ollama_hosts import configured_ollama_hosts, probe_ollama_hosts
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel

# The core values the signals carry, named here for the view (views do not import the core).
__all__ = [
    "CheckpointRow",
    "HostModelRow",
    "InstalledModel",
    "ModelInfo",
    "ModelsViewModel",
    "OllamaStatus",
    "PullProgress",
    "RunningModel",
]

DEFAULT_CONTEXT = 4096  # Ollama's num_ctx when OLLAMA_CONTEXT_LENGTH is unset
PROGRESS_INTERVAL_S = 0.1  # at most ten progress updates a second reach the view


@dataclass(frozen=True)
class HostModelRow:
    """One model on a LAN Ollama host, or one host that does not answer (``model`` empty)."""

    host: str  # as people read it: gpu-box:11434
    url: str
    model: str
    state: str  # "loaded", "installed", or why the host is down


def _lan_rows(host: str | None, lan: Sequence[str]) -> list[HostModelRow]:
    """Each LAN host's own /api/tags and /api/ps, asked at once (blocking: run in a thread)."""
    hosts = configured_ollama_hosts(host, lan)
    if len(hosts) < 2:
        return []
    rows: list[HostModelRow] = []
    for probe in probe_ollama_hosts(hosts, timeout_s=2.0, with_ps=True)[1:]:
        if not probe.reachable:
            rows.append(HostModelRow(probe.host.label, probe.host.url, "", f"down: {probe.reason}"))
            continue
        for name in sorted(probe.tags or ()):
            state = "loaded" if name in probe.loaded else "installed"
            rows.append(HostModelRow(probe.host.label, probe.host.url, name, state))
    return rows


@dataclass(frozen=True)
class CheckpointRow:
    """One checkpoint with what its header says (``probe`` None and ``error`` the reason when unusable)."""

    checkpoint: Checkpoint
    probe: ProbeResult | None
    error: str | None

    @property
    def refused(self) -> bool:
        """A pickle file the user has not trusted: listed, never loaded."""
        return not self.checkpoint.loadable


@dataclass(frozen=True)
class ModelInfo:
    """The details pane: ``/api/show`` figures and the fit at the chosen context."""

    details: ModelDetails
    context: int
    fit: FitCheck | None
    fit_error: str | None


def _probe_all(folders: Sequence[Path], store: CheckpointStore) -> list[CheckpointRow]:
    """List and probe every checkpoint (runs in a worker thread: headers are file reads).
    A checkpoint that cannot be used (a broken header, a link loop) carries the reason."""
    return [CheckpointRow(r.checkpoint, r.probe, r.problem) for r in probe_checkpoints(folders, store=store)]


class ModelsViewModel(ViewModel):
    """Everything the model manager does, as async slots and signals."""

    statusChanged = Signal(object)  # OllamaStatus
    installedChanged = Signal(object)  # list[InstalledModel]
    runningChanged = Signal(object)  # list[RunningModel]
    detailsChanged = Signal(object)  # ModelInfo
    pullProgress = Signal(object)  # PullProgress
    pullStateChanged = Signal(bool)  # a pull is running
    pullFinished = Signal(str, str)  # model, "success" | "cancelled" | "failed"
    checkpointsChanged = Signal(object)  # list[CheckpointRow]
    lanModelsChanged = Signal(object)  # list[HostModelRow]: the models on LAN Ollama hosts
    localRuntimeChanged = Signal(str)  # how to install the `local` extra here; "" when installed
    catalogAdded = Signal(str)  # model id
    notice = Signal(str)  # a one-line outcome for the status line

    def __init__(
        self,
        executor: SerialExecutor,
        *,
        host: str | None = None,
        lan_hosts: Sequence[str] = (),
        sd_folders: Sequence[Path] = (),
        gpu_total_gb: float | None = None,
        configured_gpu_gb: float = 12.0,
        catalog_path: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(executor, parent)
        self._host = host
        self._lan_hosts = list(lan_hosts)
        self._sd_folders = [Path(p) for p in sd_folders]
        self._gpu_total_gb = gpu_total_gb
        self._configured_gpu_gb = configured_gpu_gb
        self._catalog_path = catalog_path
        self._admin: OllamaAdmin | None = None
        self._store: CheckpointStore | None = None
        self._pull_task: asyncio.Task[Any] | None = None
        self._details_task: asyncio.Task[Any] | None = None
        self.pull_snapshot: PullProgress | None = None  # the last one, for a view built mid-pull
        self.pulling: str | None = None
        self.status: OllamaStatus | None = None
        self.installed: list[InstalledModel] = []
        self.running: list[RunningModel] = []
        self.checkpoints: list[CheckpointRow] = []
        self.lan_models: list[HostModelRow] = []
        self.local_runtime = ""  # the last localRuntimeChanged text
        self.context = DEFAULT_CONTEXT

    # -- plumbing ------------------------------------------------------------------------
    async def _ollama(self) -> OllamaAdmin:
        """The admin client, built on first use; importing the SDK (~0.2 s) happens off the loop."""
        if self._admin is None:
            await asyncio.to_thread(importlib.import_module, "ollama")
            self._admin = OllamaAdmin(self._host)
        return self._admin

    def _checkpoint_store(self) -> CheckpointStore:
        if self._store is None:
            self._store = CheckpointStore()
        return self._store

    async def _gpu_gb(self) -> float:
        if self._gpu_total_gb is None:
            found = await asyncio.to_thread(gpu_memory, self._configured_gpu_gb)
            self._gpu_total_gb = found.total_gb
        return self._gpu_total_gb

    async def aclose(self) -> None:
        """Cancel a pull and close the HTTP pool on the loop that opened it."""
        self.cancel_pull()
        await self.wait_idle()
        if self._admin is not None:
            await self._admin.aclose()
            self._admin = None

    def shutdown(self) -> None:
        self.cancel_pull()

    # -- Ollama: reading -------------------------------------------------------------------
    @asyncSlot()
    async def refresh(self) -> None:
        """Status first; the lists only when Ollama answers (else the view shows how to start it).
        The LAN Ollama hosts are asked meanwhile, in a thread, each with a short timeout."""
        self._track()
        lan = asyncio.ensure_future(asyncio.to_thread(_lan_rows, self._host, self._lan_hosts))
        try:
            await self._refresh_local()
        finally:
            self.lan_models = await lan
            self.lanModelsChanged.emit(self.lan_models)

    async def _refresh_local(self) -> None:
        admin = await self._ollama()
        self.status = await admin.status()
        self.statusChanged.emit(self.status)
        if not self.status.reachable:
            self.installed, self.running = [], []
            self.installedChanged.emit([])
            self.runningChanged.emit([])
            return
        try:
            self.installed = await admin.list()
            self.installedChanged.emit(self.installed)
            self.running = await admin.ps()
            self.runningChanged.emit(self.running)
        except SparklioError as err:
            self.errorRaised.emit(str(err))

    @asyncSlot(str)
    async def show_details(self, name: str) -> None:
        """``/api/show`` and the fit verdict at :attr:`context` tokens; a newer selection
        cancels this one, so a slow answer never overwrites the pane for the model now chosen."""
        me = self._track()
        if self._details_task is not None:
            self._details_task.cancel()
        self._details_task = me
        try:
            admin = await self._ollama()
            details = await admin.show(name)
            fit, why = None, None
            try:
                fit = await admin.fit(details, self.context, await self._gpu_gb())
            except SparklioError as err:
                why = str(err)
        except asyncio.CancelledError:
            return  # the user chose another model meanwhile
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        finally:
            if self._details_task is me:
                self._details_task = None
        self.detailsChanged.emit(ModelInfo(details, self.context, fit, why))

    def set_context(self, tokens: int, name: str | None = None) -> None:
        """Change the context the fit verdict is computed for; recompute for ``name``."""
        self.context = max(256, int(tokens))
        if name:
            self.show_details(name)

    # -- Ollama: changing ------------------------------------------------------------------
    @asyncSlot(str)
    async def unload(self, name: str) -> None:
        self._track()
        admin = await self._ollama()
        try:
            await admin.unload(name)
            self.running = await admin.ps()
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        self.runningChanged.emit(self.running)
        self.notice.emit(f"Unloaded {name}")

    @asyncSlot(str)
    async def delete(self, name: str) -> None:
        """Delete a model; the view asked the user first (that is the ``confirm=True``)."""
        self._track()
        admin = await self._ollama()
        try:
            await admin.delete(name, confirm=True)
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        self.notice.emit(f"Deleted {name}")
        await self.refresh()

    def start_pull(self, name: str) -> bool:
        """Start pulling ``name`` unless a pull runs; the task belongs to this view-model."""
        name = name.strip()
        if not name or self._pull_task is not None:
            return False
        self.pulling = name
        self.pull_snapshot = None
        self._pull_task = asyncio.ensure_future(self._pull(name))
        self._tasks.add(self._pull_task)
        self._pull_task.add_done_callback(self._tasks.discard)
        self.pullStateChanged.emit(True)
        return True

    def cancel_pull(self) -> None:
        """Cancelling the task closes the stream (``OllamaAdmin.pull``'s ``finally``)."""
        if self._pull_task is not None:
            self._pull_task.cancel()

    async def _pull(self, name: str) -> None:
        outcome = "failed"
        shown_at = 0.0
        try:
            admin = await self._ollama()
            # An async generator (annotated AsyncIterator in the core): closing it closes the HTTP stream.
            stream = admin.pull(name)
            try:
                async for snapshot in stream:
                    self.pull_snapshot = snapshot
                    now = time.monotonic()
                    if snapshot.done or now - shown_at >= PROGRESS_INTERVAL_S:
                        shown_at = now
                        self.pullProgress.emit(snapshot)
            finally:
                await stream.aclose()
            outcome = "success"
        except asyncio.CancelledError:
            outcome = "cancelled"
        except SparklioError as err:
            self.errorRaised.emit(str(err))
        finally:
            self._pull_task = None
            self.pulling = None
            self.pullStateChanged.emit(False)
            self.pullFinished.emit(name, outcome)
        if outcome == "success":
            self.notice.emit(f"Pulled {name}")
            await self.refresh()

    @asyncSlot(str, float, float, float)
    async def add_to_catalog(self, name: str, quality: float, speed_low: float, speed_high: float) -> None:
        """Make a pulled model routable: an entry in the user's catalog, quality and speed editable."""
        self._track()
        admin = await self._ollama()
        try:
            details = await admin.show(name)
            weights = details.weights_bytes or 0
            low, high = sorted((speed_low, speed_high))
            installed = {m.name: m.digest or "" for m in self.installed}
            # One entry per model: an entry that already runs as this tag is updated in place
            # (the same rule as `sparklio models ollama add`).
            added = await self._executor.call(
                user_catalog.add_ollama_model,
                name,
                installed,
                quality=quality,
                speed=(low, high),
                context_tokens=details.context_length,
                vram_gb=weights / 1e9 * 1.15 + 0.5,
                path=self._catalog_path,
            )
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        model = added.model
        self.catalogAdded.emit(model.id)
        self.notice.emit(
            f"{'Updated' if added.updated else 'Added'} {model.id} in your catalog (runs as {model.api_name})"
        )

    # -- Stable Diffusion --------------------------------------------------------------------
    @asyncSlot()
    async def refresh_checkpoints(self) -> None:
        """List and probe every checkpoint in a worker thread; the window never waits for disks."""
        self._track()

        def work() -> list[CheckpointRow]:
            return _probe_all(self._sd_folders, self._checkpoint_store())

        self.checkpoints = await asyncio.to_thread(work)
        self.checkpointsChanged.emit(self.checkpoints)
        # Checkpoints list without torch; generating them needs the `local` extra: say how to get it.
        self.local_runtime = (await asyncio.to_thread(local_runtime_advice)).text()
        self.localRuntimeChanged.emit(self.local_runtime)

    async def _sd_call(self, fn: Callable[[], object], done: str) -> None:
        try:
            await asyncio.to_thread(fn)
        except (SparklioError, OSError, ValueError) as err:
            self.errorRaised.emit(str(err))
            return
        self.notice.emit(done)
        await self.refresh_checkpoints()

    @asyncSlot(str, str)
    async def import_checkpoint(self, path: str, mode: str = "copy") -> None:
        self._track()
        source = Path(path)
        how: Literal["copy", "link"] = "link" if mode == "link" else "copy"
        await self._sd_call(
            lambda: import_checkpoint(source, mode=how, store=self._checkpoint_store()),
            f"{'Linked' if how == 'link' else 'Copied'} {source.name}",
        )

    @asyncSlot(str)
    async def delete_checkpoint(self, path: str) -> None:
        """Delete after the view's confirmation; a link is removed, never its target."""
        self._track()
        await self._sd_call(
            lambda: delete_checkpoint(Path(path), confirm=True, store=self._checkpoint_store()),
            f"Deleted {Path(path).name}",
        )

    @asyncSlot(str)
    async def trust_pickle(self, path: str) -> None:
        """The view showed PICKLE_WARNING and the user agreed: this one file may load."""
        self._track()
        await self._sd_call(
            lambda: self._checkpoint_store().trust_pickle(Path(path), confirm=True), f"Trusted {Path(path).name}"
        )

    @asyncSlot(str, str)
    async def set_type(self, path: str, model_type: str) -> None:
        """Override the probed type ("" or "auto": back to detection)."""
        self._track()
        chosen = None if model_type in ("", "auto") else ModelType(model_type)
        await self._sd_call(
            lambda: self._checkpoint_store().set_type_override(Path(path), chosen),
            f"{Path(path).name}: type {chosen.value if chosen else 'detected'}",
        )

    @staticmethod
    def pickle_warning() -> str:
        return PICKLE_WARNING

    @staticmethod
    def model_types() -> list[str]:
        return [t.value for t in LOADABLE_TYPES]
