"""The first-run guide: one scrolling page that says what is here and what to do next.

Sections: API keys (paste one: into the OS keyring, or for this session only where
there is no keyring, with how to get one), Local models (Ollama's state, the GPU, the
recommended model to pull, the download page), Images (checkpoints folders), Budget.
"Skip for now" and "Done" both save ``ui.onboarding_done``; Help reaches the guide again.

Non-blocking: the dialog is shown with ``show()``, never ``exec()``; detection runs in
the view-model's worker thread and fills the page when it is done.

For the integrator (app.py):

* ``open_onboarding(ctx, window)`` shows the window's guide (built once, detected again
  on each opening): Help → First-run guide…; ``create_onboarding(ctx, parent)`` builds a
  new one over a ``GuiContext`` and starts detection, without showing it.
* ``await show_onboarding_if_needed(ctx, parent)`` at start-up: detects, and shows the
  guide only when it was never finished or skipped and nothing is configured.
* ``await onboarding_screenshot(ctx, folder, parent)`` writes ``onboarding.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.onboarding import (
    MAX_MONTHLY_USD,
    NOT_SAVED_NO_KEYRING,
    OLLAMA_DOWNLOAD_URL,
    Findings,
    OnboardingViewModel,
    PullProgress,
    key_source_words,
)

ERROR_STYLE = "color: #b02a37"


def _wrapped(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if name:
        label.setAccessibleName(name)
    return label


def key_words(source: str | None) -> str:
    """Where a key comes from, in the settings panel's words (never the key)."""
    return "no key" if source is None else f"Key in use ({key_source_words(source)})"


class OnboardingDialog(QDialog):
    """The first-run guide over its view-model."""

    def __init__(self, vm: OnboardingViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setWindowTitle("Welcome to Sparklio")
        self.setModal(False)
        self.resize(720, 760)
        self.key_rows: dict[str, dict[str, Any]] = {}
        self._build()
        vm.detectingChanged.connect(self._on_detecting)
        vm.findingsChanged.connect(self._on_findings)
        vm.keyResult.connect(self._on_key_result)
        vm.keyringUnavailable.connect(self._on_keyring_unavailable)
        vm.fieldError.connect(self._on_field_error)
        vm.pullProgress.connect(self._on_pull_progress)
        vm.pullStateChanged.connect(self._on_pull_state)
        vm.pullFinished.connect(self._on_pull_finished)
        vm.notice.connect(self.notice.setText)
        if vm.findings is not None:
            self._on_findings(vm.findings)

    # -- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.summary = _wrapped("Looking at this computer…", "What to do next")
        font = self.summary.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        font.setBold(True)
        self.summary.setFont(font)
        intro = _wrapped(
            "Sparklio sends each request to the model that suits it: a cloud model through your API "
            "key, or a free model on this computer through Ollama. One of them is enough to start."
        )

        page = QWidget()
        column = QVBoxLayout(page)
        column.addWidget(self.summary)
        column.addWidget(intro)
        column.addWidget(self._keys_box())
        column.addWidget(self._local_box())
        column.addWidget(self._images_box())
        column.addWidget(self._budget_box())
        column.addStretch(1)
        self.page_scroll = scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(page)

        self.notice = _wrapped("", "Guide notice")
        self.check_again = QPushButton("Check &again")
        self.check_again.clicked.connect(lambda: self.vm.detect())
        self.skip_button = QPushButton("S&kip for now")
        self.skip_button.setToolTip("The guide stays in the Help menu")
        self.skip_button.clicked.connect(self.reject)
        self.done_button = QPushButton("&Done")
        self.done_button.setDefault(True)
        self.done_button.clicked.connect(self._on_done)
        buttons = QHBoxLayout()
        buttons.addWidget(self.check_again)
        buttons.addStretch(1)
        buttons.addWidget(self.skip_button)
        buttons.addWidget(self.done_button)

        layout = QVBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.notice)
        layout.addLayout(buttons)

    def _keys_box(self) -> QGroupBox:
        box = QGroupBox("1. API keys for cloud models")
        grid = QGridLayout(box)
        self.keyring_help = _wrapped("", "How to enable the keyring")
        self.keyring_help.setStyleSheet(ERROR_STYLE)
        self.keyring_help.hide()
        grid.addWidget(self.keyring_help, 0, 0, 1, 4)
        for row, provider in enumerate(("openai", "anthropic", "google"), start=1):
            name = self.vm.provider_name(provider)
            status = _wrapped("…", f"{name} key status")
            edit = QLineEdit()
            edit.setEchoMode(QLineEdit.EchoMode.Password)
            edit.setPlaceholderText(f"Paste your {name} API key")
            edit.setAccessibleName(f"{name} API key")
            save = QPushButton("Save")
            save.setAccessibleName(f"Save the {name} key")
            session = QPushButton("Use for this session only")
            session.setAccessibleName(f"Use the {name} key for this session only")
            session.hide()
            message = _wrapped("", f"{name} key message")
            message.hide()
            save.clicked.connect(lambda _=False, p=provider: self._save_key(p))
            edit.returnPressed.connect(lambda p=provider: self._save_key(p))
            session.clicked.connect(lambda _=False, p=provider: self._use_for_session(p))
            label = QLabel(f"<b>{name}</b>")
            label.setBuddy(edit)
            grid.addWidget(label, row * 2 - 1, 0)
            grid.addWidget(edit, row * 2 - 1, 1)
            grid.addWidget(save, row * 2 - 1, 2)
            grid.addWidget(session, row * 2 - 1, 3)
            inner = QVBoxLayout()
            inner.addWidget(status)
            inner.addWidget(message)
            grid.addLayout(inner, row * 2, 1, 1, 3)
            self.key_rows[provider] = {"status": status, "edit": edit, "save": save, "session": session,
                                       "message": message}  # fmt: skip
        grid.setColumnStretch(1, 1)
        return box

    def _local_box(self) -> QGroupBox:
        box = QGroupBox("2. Free models on this computer (Ollama)")
        column = QVBoxLayout(box)
        self.ollama_state = _wrapped("…", "Ollama state")
        self.gpu_state = _wrapped("", "GPU")
        self.recommendation = _wrapped("", "Recommended local model")
        self.pull_button = QPushButton("Pull the recommended model")
        self.pull_button.hide()
        self.pull_button.clicked.connect(self._pull)
        self.cancel_pull_button = QPushButton("Cancel pull")
        self.cancel_pull_button.hide()
        self.cancel_pull_button.clicked.connect(self.vm.cancel_pull)
        self.pull_bar = QProgressBar()
        self.pull_bar.setAccessibleName("Pull progress")
        self.pull_bar.hide()
        self.start_ollama_button = QPushButton("Start Ollama")
        self.start_ollama_button.hide()
        self.start_ollama_button.clicked.connect(lambda: self.vm.start_ollama())
        self.install_link = QLabel(
            f'<a href="{OLLAMA_DOWNLOAD_URL}">Download Ollama</a> (free), then press Check again.'
        )
        self.install_link.setAccessibleName("Download Ollama")
        self.install_link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.install_link.linkActivated.connect(lambda url: QDesktopServices.openUrl(url))
        self.install_link.hide()
        row = QHBoxLayout()
        for widget in (self.start_ollama_button, self.pull_button, self.cancel_pull_button):
            row.addWidget(widget)
        row.addStretch(1)
        for label in (self.ollama_state, self.install_link, self.gpu_state, self.recommendation):
            column.addWidget(label)
        column.addLayout(row)
        column.addWidget(self.pull_bar)
        return box

    def _images_box(self) -> QGroupBox:
        box = QGroupBox("3. Images on this computer (Stable Diffusion, optional)")
        column = QVBoxLayout(box)
        self.folders = _wrapped("", "Checkpoints folders")
        self.add_folder_button = QPushButton("Add a checkpoints &folder…")
        self.add_folder_button.clicked.connect(lambda: self.add_folder())
        self.folder_error = _wrapped("", "Checkpoints folder error")
        self.folder_error.setStyleSheet(ERROR_STYLE)
        self.folder_error.hide()
        row = QHBoxLayout()
        row.addWidget(self.add_folder_button)
        row.addStretch(1)
        column.addWidget(self.folders)
        column.addLayout(row)
        column.addWidget(self.folder_error)
        return box

    def _budget_box(self) -> QGroupBox:
        box = QGroupBox("4. Monthly budget for cloud models")
        column = QVBoxLayout(box)
        column.addWidget(
            _wrapped(
                "Sparklio keeps each month's spending under this amount: at the cap it switches to "
                "local models. Every answer shows what it cost."
            )
        )
        self.budget = QDoubleSpinBox()
        self.budget.setAccessibleName("Monthly budget in dollars")
        self.budget.setPrefix("$ ")
        self.budget.setDecimals(2)
        self.budget.setRange(0.0, float(MAX_MONTHLY_USD))
        self.budget.setSingleStep(5.0)
        self.budget.editingFinished.connect(self._save_budget)
        self.budget_error = _wrapped("", "Budget error")
        self.budget_error.setStyleSheet(ERROR_STYLE)
        self.budget_error.hide()
        row = QHBoxLayout()
        row.addWidget(QLabel("Per month:"))
        row.addWidget(self.budget)
        row.addStretch(1)
        column.addLayout(row)
        column.addWidget(self.budget_error)
        return box

    # -- user actions ------------------------------------------------------------------------
    def _save_key(self, provider: str) -> None:
        edit = self.key_rows[provider]["edit"]
        if edit.text().strip():
            self.vm.save_key(provider, edit.text())

    def _use_for_session(self, provider: str) -> None:
        edit = self.key_rows[provider]["edit"]
        if edit.text().strip():
            self.vm.use_for_session(provider, edit.text())

    def _pull(self) -> None:
        if self.vm.pull_recommended():
            self.pull_button.setEnabled(False)

    def add_folder(self, folder: str | None = None) -> None:
        """Add a checkpoints folder (``folder`` given: no file dialog, for tests)."""
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self, "Choose a folder with Stable Diffusion checkpoints")
        if folder:
            self.vm.add_weights_folder(folder)

    def _budget_text(self) -> str:
        return f"{self.budget.value():.2f}"

    def _save_budget(self) -> None:
        self.vm.set_budget(self._budget_text())

    def _on_done(self) -> None:
        self._save_budget()
        self.accept()

    def done(self, result: int) -> None:
        """Done, Skip, Esc and the close button all end the guide: it no longer opens by itself."""
        self.vm.finish()
        super().done(result)

    # -- view-model signals ------------------------------------------------------------------
    def _on_detecting(self, busy: bool) -> None:
        self.check_again.setEnabled(not busy)
        if busy and self.vm.findings is None:
            self.summary.setText("Looking at this computer…")

    def _on_findings(self, found: Findings) -> None:
        self.summary.setText(found.next_step())
        self.keyring_help.setText(found.keyring_help)
        self.keyring_help.setVisible(not found.keyring_available)
        for key in found.keys:
            row = self.key_rows.get(key.provider)
            if row is None:
                continue
            row["status"].setText(key_words(key.source))
            row["session"].setVisible(not found.keyring_available)
            row["save"].setVisible(found.keyring_available)
        self._show_local(found)
        folders = [str(p) for p in found.weights_folders]
        self.folders.setText(
            "Sparklio looks for checkpoints in its own folder"
            + (" and in: " + ", ".join(folders) if folders else ". Add the folder where yours are (A1111, ComfyUI…).")
        )
        if not self.budget.hasFocus():
            self.budget.setValue(float(found.monthly_budget_usd))

    def _show_local(self, found: Findings) -> None:
        ollama, rec = found.ollama, found.recommended
        self.ollama_state.setText(ollama.words)
        self.install_link.setVisible(not ollama.installed_app)
        self.start_ollama_button.setVisible(ollama.installed_app and not ollama.reachable)
        self.gpu_state.setText(found.gpu.words)
        if rec is None:
            self.recommendation.setText(
                "No local model of the catalog fits the free GPU memory; cloud models still work."
            )
        elif rec.installed:
            self.recommendation.setText(f"{rec.name} is installed: it answers for free on this computer.")
        else:
            self.recommendation.setText(f"Recommended: {rec.name} ({rec.tag}), {rec.why}.")
        can_pull = ollama.reachable and rec is not None and not rec.installed
        self.pull_button.setVisible(can_pull)
        if rec is not None:
            self.pull_button.setText(f"&Pull {rec.name} ({rec.vram_gb:g} GB)")

    def _on_key_result(self, provider: str, outcome: str, message: str) -> None:
        row = self.key_rows.get(provider)
        if row is None:
            return
        row["message"].setText(message)
        row["message"].setStyleSheet(ERROR_STYLE if outcome == "error" else "")
        row["message"].show()
        if outcome != "error":
            row["edit"].clear()

    def _on_keyring_unavailable(self, provider: str, explanation: str) -> None:
        self.keyring_help.setText(explanation)
        self.keyring_help.show()
        for each in self.key_rows.values():
            each["session"].show()
        row = self.key_rows.get(provider)
        if row is not None:
            row["message"].setText(NOT_SAVED_NO_KEYRING)
            row["message"].setStyleSheet(ERROR_STYLE)
            row["message"].show()

    def _on_field_error(self, key: str, message: str) -> None:
        label = {"budget.monthly_usd": self.budget_error, "local.sd_weight_dirs": self.folder_error}.get(key)
        if label is not None:
            label.setText(message)
            label.setVisible(bool(message))

    def _on_pull_progress(self, progress: PullProgress) -> None:
        fraction = progress.fraction
        self.pull_bar.setRange(0, 1000 if fraction is not None else 0)
        if fraction is not None:
            self.pull_bar.setValue(int(fraction * 1000))
        self.pull_bar.setFormat(progress.status or "")

    def _on_pull_state(self, pulling: bool) -> None:
        self.pull_bar.setVisible(pulling)
        self.cancel_pull_button.setVisible(pulling)
        self.pull_button.setEnabled(not pulling)

    def focus_keys(self) -> None:
        """Scroll to the keys and put the cursor in the first provider without one (Add a key)."""
        found = self.vm.findings
        missing = [k.provider for k in found.keys if not k.present] if found is not None else []
        edit = self.key_rows[missing[0] if missing and missing[0] in self.key_rows else "openai"]["edit"]
        self.page_scroll.ensureWidgetVisible(edit)
        edit.setFocus()

    def focus_local(self) -> None:
        """Scroll to the local models section (Start Ollama, Pull)."""
        self.page_scroll.ensureWidgetVisible(self.ollama_state)

    def _on_pull_finished(self, name: str, outcome: str) -> None:
        if outcome != "success":
            self.notice.setText(f"The pull of {name} {'was cancelled' if outcome == 'cancelled' else 'failed'}.")


# -- for the integrator ----------------------------------------------------------------------


def create_onboarding(ctx: Any, parent: QWidget | None = None, **vm_options: Any) -> OnboardingDialog:
    """The guide over a ``GuiContext`` (app.py); detection starts at once. The view-model
    joins ``ctx.extra_view_models`` so the app's shutdown waits for it (and a pull), and
    its ``machineChanged`` redraws the composer's preview and the status bar."""
    vm = OnboardingViewModel(ctx.workspace, ctx.keys, ctx.planner, ctx.settings, ctx.executor, **vm_options)
    ctx.extra_view_models.append(vm)
    # A key, a pulled model, a started Ollama: the composer's route and the status bar show it at once.
    vm.machineChanged.connect(ctx.composer.schedule_preview)
    vm.machineChanged.connect(ctx.status.refresh)
    dialog = OnboardingDialog(vm, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
    vm.detect()
    return dialog


def open_onboarding(ctx: Any, parent: QWidget | None = None) -> OnboardingDialog:
    """Help → First-run guide…, and the composer's Add a key / Start Ollama: the window's
    guide, shown and raised (built once per parent window, then detected again)."""
    found = parent.findChild(OnboardingDialog) if parent is not None else None
    if found is None:
        found = create_onboarding(ctx, parent)
    else:
        found.vm.detect()
    found.show()
    found.raise_()
    found.activateWindow()
    return found


async def show_onboarding_if_needed(ctx: Any, parent: QWidget | None = None) -> OnboardingDialog | None:
    """At start-up: show the guide when it was never finished or skipped and nothing is
    configured (no key, no local model ready); returns the dialog shown, if any."""
    if ctx.workspace.settings.ui.onboarding_done:
        return None
    dialog = create_onboarding(ctx, parent)
    await dialog.vm.wait_idle()
    found = dialog.vm.findings
    if found is not None and found.configured:
        return None
    dialog.show()
    return dialog


async def onboarding_screenshot(ctx: Any, folder: Path, parent: QWidget | None = None) -> Path:
    """Show the guide, wait for its detection, save ``onboarding.png`` in ``folder``, close it
    without marking it done (a screenshot is not the user skipping it)."""
    import asyncio

    dialog = create_onboarding(ctx, parent)
    dialog.show()
    await dialog.vm.wait_idle()
    for _ in range(3):  # let the layout settle after the findings filled it
        await asyncio.sleep(0.05)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "onboarding.png"
    if not dialog.grab().save(str(path)):
        raise OSError(f"could not write {path}")
    dialog.hide()
    dialog.deleteLater()
    return path
