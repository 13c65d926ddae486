"""The first-run guide's view-model: what is on this machine, and the few steps to be ready.

Why a view-model of its own over the others' owners: the guide only looks
(core/onboarding.py) and then asks the owners to change things. Settings (the budget,
the checkpoints folders, ``ui.onboarding_done``) go through the settings view-model,
which saves them and pushes them into the running services (budget guard, route
planner) and announces them on ``ledgerChanged``; the pull goes through a models
view-model (its task outlives the dialog); keys go through the settings view-model too
(``store_key``, ``hold_session_key``: the same code as the settings panel's Set and "Use
for this session only"), which tells the route planner and reads the keys again, which
redraws the settings panel, the status bar and the composer's preview (app.build_window
wires ``keysChanged``).

Detection blocks (keyring over D-Bus, Ollama with a short timeout, NVML), so it runs in
a worker thread; only its frozen result comes back as a signal.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal, InvalidOperation

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.vram import GpuMemory
from sparklio_desktop.core.onboarding import (
    OLLAMA_DOWNLOAD_URL,
    Findings,
    GpuFinding,
    KeyFinding,
    OllamaFinding,
    Recommendation,
    detect,
    start_ollama,
)
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.settings.config import MAX_MONTHLY_USD
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.models import ModelsViewModel, PullProgress
from sparklio_desktop.ui.viewmodels.settings import (
    NOT_SAVED_NO_KEYRING,
    KeyOutcome,
    SettingsViewModel,
    key_source_words,
)

# The core values the signals carry, named here for the view (views do not import the core).
__all__ = [
    "MAX_MONTHLY_USD",
    "NOT_SAVED_NO_KEYRING",
    "OLLAMA_DOWNLOAD_URL",
    "Findings",
    "GpuFinding",
    "KeyFinding",
    "OllamaFinding",
    "OnboardingViewModel",
    "PullProgress",
    "Recommendation",
    "key_source_words",
]

PROVIDER_NAMES = {"openai": "OpenAI", "anthropic": "Anthropic", "google": "Google Gemini"}
OLLAMA_START_WAIT_S = 15.0  # `ollama serve` answers within a second or two; a cold disk takes longer


class OnboardingViewModel(ViewModel):
    """Detects, then saves keys, the budget, checkpoints folders; pulls; starts Ollama."""

    detectingChanged = Signal(bool)
    findingsChanged = Signal(object)  # Findings
    keyResult = Signal(str, str, str)  # provider, "keyring" | "session" | "error", message
    keyringUnavailable = Signal(str, str)  # provider, the plain explanation (keyring_help)
    fieldError = Signal(str, str)  # setting key, message ("" = saved)
    pullProgress = Signal(object)  # PullProgress
    pullStateChanged = Signal(bool)
    pullFinished = Signal(str, str)  # model, "success" | "cancelled" | "failed"
    finished = Signal()  # ui.onboarding_done is saved
    machineChanged = Signal()  # a key, a pulled model or a started Ollama: previews and the status bar redraw
    notice = Signal(str)

    _WATCHED = ("budget.monthly_usd", "local.sd_weight_dirs", "ui.onboarding_done")

    def __init__(
        self,
        workspace: Workspace,
        keys: KeyStore,
        planner: RoutePlanner,
        settings: SettingsViewModel,
        executor: SerialExecutor,
        *,
        models: ModelsViewModel | None = None,
        gpu: GpuMemory | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``settings``: the app's settings view-model (the one owner of settings.json
        edits); ``models``: a models view-model for the pull (one is made when absent);
        ``gpu``: a simulated GPU (tests), else the probe's."""
        super().__init__(executor, parent)
        self._workspace = workspace
        self._keys = keys
        self._planner = planner
        self._settings = settings
        self._gpu = gpu
        host = workspace.settings.providers.ollama.host
        self.models = models or ModelsViewModel(
            executor, host=host, configured_gpu_gb=float(workspace.settings.gpu.vram_gb), parent=self
        )
        self.findings: Findings | None = None
        self._done_saved = False
        settings.fieldError.connect(self._on_field_error)
        self.models.pullProgress.connect(self.pullProgress)
        self.models.pullStateChanged.connect(self.pullStateChanged)
        self.models.pullFinished.connect(self._on_pull_finished)
        self.models.errorRaised.connect(self.notice)

    @staticmethod
    def provider_name(provider: str) -> str:
        return PROVIDER_NAMES.get(provider, provider)

    # -- detection -------------------------------------------------------------------------
    @asyncSlot()
    async def detect(self) -> None:
        """Look at the machine (worker thread) and emit the findings."""
        self._track()
        self.detectingChanged.emit(True)
        try:
            settings = self._workspace.settings
            catalog = self._workspace.catalog
            self.findings = await asyncio.to_thread(detect, settings, catalog, self._keys, gpu=self._gpu)
        finally:
            self.detectingChanged.emit(False)
        self.findingsChanged.emit(self.findings)

    # -- keys ------------------------------------------------------------------------------
    @asyncSlot(str, str)
    async def save_key(self, provider: str, key: str) -> None:
        """Store a key in the OS keyring; without one, say how to get one and offer the session."""
        self._track()
        await self._key_taken(await self._settings.store_key(provider, key))

    @asyncSlot(str, str)
    async def use_for_session(self, provider: str, key: str) -> None:
        """Hold the key in memory for this session only (nothing is written anywhere)."""
        self._track()
        await self._key_taken(await self._settings.hold_session_key(provider, key))

    async def _key_taken(self, result: KeyOutcome) -> None:
        """The settings view-model stored the key (the one owner of keys: it tells the
        route planner and redraws the settings panel, the status bar and the composer's
        preview); the guide says what became of it and looks again."""
        if result.outcome == "unavailable":
            self.keyringUnavailable.emit(result.provider, result.help)
            return
        self.keyResult.emit(result.provider, result.outcome, result.message)
        if result.taken:
            self.machineChanged.emit()
            await self.detect()

    # -- settings --------------------------------------------------------------------------
    def _on_field_error(self, key: str, message: str) -> None:
        if key in self._WATCHED:
            self.fieldError.emit(key, message)

    @asyncSlot(str)
    async def set_budget(self, dollars: str) -> None:
        """Save the monthly budget (dollars as text: money stays exact)."""
        self._track()
        try:
            value = Decimal(dollars.strip().lstrip("$").replace(",", ""))
        except InvalidOperation:
            self.fieldError.emit("budget.monthly_usd", f"'{dollars}' is not an amount in dollars")
            return
        text = format(value.quantize(Decimal("0.01")).normalize(), "f") if value.is_finite() else dollars
        await self._settings.set_value("budget.monthly_usd", text)

    @asyncSlot(str)
    async def add_weights_folder(self, folder: str) -> None:
        """Add a Stable Diffusion checkpoints folder to ``local.sd_weight_dirs``."""
        self._track()
        current = [str(p) for p in self._workspace.settings.local.sd_weight_dirs]
        if not folder or folder in current:
            return
        await self._settings.set_value("local.sd_weight_dirs", json.dumps([*current, folder]))
        if folder in [str(p) for p in self._workspace.settings.local.sd_weight_dirs]:
            self.notice.emit(f"Sparklio now looks for checkpoints in {folder}.")
        await self.detect()

    @asyncSlot()
    async def finish(self) -> None:
        """The guide was finished or skipped: it no longer opens by itself."""
        self._track()
        if self._done_saved:
            return
        self._done_saved = True
        if not self._workspace.settings.ui.onboarding_done:
            await self._settings.set_value("ui.onboarding_done", "true")
        self.finished.emit()

    # -- local models ----------------------------------------------------------------------
    def pull_recommended(self) -> bool:
        """Pull the recommended model (the models view-model owns the task)."""
        found = self.findings.recommended if self.findings is not None else None
        if found is None or found.installed:
            return False
        return self.models.start_pull(found.tag)

    def cancel_pull(self) -> None:
        self.models.cancel_pull()

    def _on_pull_finished(self, name: str, outcome: str) -> None:
        self.pullFinished.emit(name, outcome)
        if outcome == "success":
            self._planner.invalidate()  # a newly installed tag makes its catalog model routable
            self.machineChanged.emit()
            self.notice.emit(f"Pulled {name}: it answers for free on this computer.")
            self.detect()

    @asyncSlot()
    async def start_ollama(self) -> None:
        """Start ``ollama serve`` and wait until it answers (a few seconds at most)."""
        self._track()
        try:
            program = await asyncio.to_thread(start_ollama)
        except SparklioError as exc:
            self.notice.emit(str(exc))
            return
        self.notice.emit(f"Starting Ollama ({program})…")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OLLAMA_START_WAIT_S
        while loop.time() < deadline:
            await self.detect()
            if self.findings is not None and self.findings.ollama.reachable:
                self._planner.invalidate()
                self.machineChanged.emit()
                self.notice.emit("Ollama is running.")
                return
            await asyncio.sleep(1.0)
        self.notice.emit("Ollama did not answer yet; try Check again in a moment.")

    # -- lifetime --------------------------------------------------------------------------
    async def wait_idle(self) -> None:
        await super().wait_idle()
        # the pull is the models view-model's; a test or a screenshot waits for what it started
        await self.models.wait_idle()

    async def aclose(self) -> None:
        self.models.cancel_pull()
        await super().wait_idle()
        await self.models.aclose()

    def shutdown(self) -> None:
        self.models.shutdown()

    def __repr__(self) -> str:
        # never a key: the findings hold only where keys come from
        return f"OnboardingViewModel(findings={self.findings!r})"
