"""The model manager panel: Ollama models and Stable Diffusion checkpoints, in two tabs.

The view only shows what :class:`ModelsViewModel` emits and forwards clicks to it;
confirmation dialogs (delete, trust a pickle file) are asked here because asking the
user is the view's job, and the view-model's destructive calls assume it was done.
Lists load the first time the panel is shown, so the app's start-up never waits for
Ollama or for a disk full of checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.catalog import CatalogViewModel
from sparklio_desktop.ui.viewmodels.models import (
    CheckpointRow,
    HostModelRow,
    InstalledModel,
    ModelInfo,
    ModelsViewModel,
    OllamaStatus,
    PullProgress,
    RunningModel,
)
from sparklio_desktop.ui.viewmodels.seams import PanelServices
from sparklio_desktop.ui.views.catalog_tab import CatalogTab
from sparklio_desktop.ui.widgets.notifier import notify_done

INSTALLED_COLUMNS = ("Name", "Family", "Parameters", "Quantization", "Size", "Modified")
RUNNING_COLUMNS = ("Name", "VRAM", "CPU/GPU", "Until")
LAN_COLUMNS = ("Name", "Host", "State")
CHECKPOINT_COLUMNS = ("Name", "Type", "Precision", "Size", "Est. VRAM", "Folder", "Note")


def bytes_text(value: float | None) -> str:
    """Sizes as people read them (decimal units, as Ollama prints them)."""
    if value is None:
        return "–"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover - the loop returns at GB


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def _table(columns: tuple[str, ...], name: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setAccessibleName(name)
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return table


def _fill(table: QTableWidget, rows: Sequence[tuple[str, ...]], keys: list[str]) -> None:
    """Replace the rows in one go (no repaint per cell); each row's key sits in column 0's UserRole."""
    table.setUpdatesEnabled(False)
    try:
        table.setRowCount(len(rows))
        for r, (values, key) in enumerate(zip(rows, keys, strict=True)):
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # a long reason or folder is cut in its cell; hovering shows it whole
                if c == 0:
                    item.setData(Qt.ItemDataRole.UserRole, key)
                table.setItem(r, c, item)
    finally:
        table.setUpdatesEnabled(True)


def _selected_key(table: QTableWidget) -> str | None:
    row = table.currentRow()
    item = table.item(row, 0) if row >= 0 else None
    return None if item is None else item.data(Qt.ItemDataRole.UserRole)


class ModelsView(QWidget):
    """Ollama and Stable Diffusion models: what is installed, what runs, what fits."""

    def __init__(
        self, vm: ModelsViewModel, parent: QWidget | None = None, catalog: CatalogViewModel | None = None
    ) -> None:
        super().__init__(parent)
        self.vm = vm
        self._loaded = False
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Model kinds")
        self.tabs.addTab(self._build_ollama(), "&Ollama")
        self.tabs.addTab(self._build_sd(), "&Stable Diffusion")
        # The catalog: every model the router knows, by family (no tab without its view-model).
        self.catalog_tab = CatalogTab(catalog) if catalog is not None else None
        if self.catalog_tab is not None:
            self.tabs.addTab(self.catalog_tab, "&Catalog")
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.notice_label = QLabel()
        self.notice_label.setAccessibleName("Last action")
        layout.addWidget(self.notice_label)
        vm.statusChanged.connect(self._on_status)
        vm.installedChanged.connect(self._on_installed)
        vm.runningChanged.connect(self._on_running)
        vm.detailsChanged.connect(self._on_details)
        vm.pullProgress.connect(self._on_pull_progress)
        vm.pullStateChanged.connect(self._on_pull_state)
        vm.pullFinished.connect(self._on_pull_finished)
        vm.checkpointsChanged.connect(self._on_checkpoints)
        vm.lanModelsChanged.connect(self._on_lan_models)
        vm.localRuntimeChanged.connect(self._on_local_runtime)
        vm.notice.connect(self.notice_label.setText)
        vm.errorRaised.connect(self.notice_label.setText)
        self._on_pull_state(vm.pulling is not None)  # a view built mid-pull shows it
        if vm.pull_snapshot is not None:
            self._on_pull_progress(vm.pull_snapshot)

    # -- building ------------------------------------------------------------------------
    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    def _build_ollama(self) -> QWidget:
        page = QWidget()
        self.status_label = QLabel("Looking for Ollama…")
        self.status_label.setAccessibleName("Ollama status")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.refresh_button = self._button("&Refresh", "Refresh Ollama models", self.vm.refresh)
        top = QHBoxLayout()
        top.addWidget(self.status_label, 1)
        top.addWidget(self.refresh_button)

        self.installed_table = _table(INSTALLED_COLUMNS, "Installed Ollama models")
        self.installed_table.itemSelectionChanged.connect(self._on_installed_selected)
        self.details_label = QLabel("Select a model to see its details.")
        self.details_label.setAccessibleName("Model details")
        self.details_label.setWordWrap(True)
        self.context_spin = QSpinBox()
        self.context_spin.setAccessibleName("Context for the fit check (tokens)")
        self.context_spin.setRange(256, 1_048_576)
        self.context_spin.setSingleStep(1024)
        self.context_spin.setValue(self.vm.context)
        self.context_spin.editingFinished.connect(
            lambda: self.vm.set_context(self.context_spin.value(), _selected_key(self.installed_table))
        )
        self.fit_label = QLabel()
        self.fit_label.setAccessibleName("Fit verdict")
        self.fit_label.setWordWrap(True)
        self.delete_button = self._button("Delet&e…", "Delete the selected Ollama model", self._delete_model)
        self.quality_spin = QDoubleSpinBox()
        self.quality_spin.setAccessibleName("Quality for the catalog (0-10)")
        self.quality_spin.setRange(0, 10)
        self.quality_spin.setValue(7.0)
        self.speed_low = QDoubleSpinBox()
        self.speed_low.setAccessibleName("Fastest seconds per 500 tokens")
        self.speed_low.setRange(0.1, 600)
        self.speed_low.setValue(2.0)
        self.speed_high = QDoubleSpinBox()
        self.speed_high.setAccessibleName("Slowest seconds per 500 tokens")
        self.speed_high.setRange(0.1, 600)
        self.speed_high.setValue(5.0)
        self.add_button = self._button("&Add to catalog", "Add the selected model to your catalog", self._add)
        details = QGroupBox("Details")
        form = QFormLayout(details)
        form.addRow(self.details_label)
        form.addRow("Context (tokens)", self.context_spin)
        form.addRow("Fit", self.fit_label)
        form.addRow("Quality", self.quality_spin)
        speeds = QHBoxLayout()
        speeds.addWidget(self.speed_low)
        speeds.addWidget(QLabel("to"))
        speeds.addWidget(self.speed_high)
        form.addRow("Seconds / 500 tokens", speeds)
        actions = QHBoxLayout()
        actions.addWidget(self.add_button)
        actions.addWidget(self.delete_button)
        form.addRow(actions)
        middle = QHBoxLayout()
        middle.addWidget(self.installed_table, 3)
        middle.addWidget(details, 2)

        self.running_table = _table(RUNNING_COLUMNS, "Running Ollama models")
        self.unload_button = self._button("&Unload", "Unload the selected running model", self._unload)
        running = QGroupBox("Running")
        running_layout = QHBoxLayout(running)
        running_layout.addWidget(self.running_table, 1)
        running_layout.addWidget(self.unload_button, 0, Qt.AlignmentFlag.AlignTop)

        self.pull_name = QLineEdit()
        self.pull_name.setAccessibleName("Model to pull")
        self.pull_name.setPlaceholderText("model name, e.g. qwen2.5:7b")
        self.pull_name.returnPressed.connect(self._pull)  # Enter pulls: no mnemonic clash with the tabs
        self.pull_button = self._button("Pull", "Pull the model", self._pull)
        self.cancel_button = self._button("Ca&ncel pull", "Cancel the pull", self.vm.cancel_pull)
        self.pull_bar = QProgressBar()
        self.pull_bar.setAccessibleName("Pull progress")
        self.pull_bar.setRange(0, 1000)
        self.pull_label = QLabel()
        self.pull_label.setAccessibleName("Pull figures")
        pull_row = QHBoxLayout()
        pull_row.addWidget(self.pull_name, 1)
        pull_row.addWidget(self.pull_button)
        pull_row.addWidget(self.cancel_button)

        # Models on LAN Ollama hosts (providers.ollama.hosts): read-only, shown only when some are set.
        self.lan_table = _table(LAN_COLUMNS, "Models on LAN Ollama hosts")
        # The host's URL is what tells two boxes apart: shown whole, not cut at a default width.
        self.lan_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.lan_box = QGroupBox("On LAN Ollama hosts")
        QVBoxLayout(self.lan_box).addWidget(self.lan_table)
        self.lan_box.setVisible(False)

        layout = QVBoxLayout(page)
        layout.addLayout(top)
        layout.addLayout(middle, 3)
        layout.addWidget(running, 1)
        layout.addWidget(self.lan_box, 1)
        layout.addLayout(pull_row)
        layout.addWidget(self.pull_bar)
        layout.addWidget(self.pull_label)
        return page

    def _build_sd(self) -> QWidget:
        page = QWidget()
        self.checkpoint_table = _table(CHECKPOINT_COLUMNS, "Stable Diffusion checkpoints")
        # The note says why a checkpoint is unusable: it shares the spare width with the name.
        self.checkpoint_table.horizontalHeader().setSectionResizeMode(
            CHECKPOINT_COLUMNS.index("Note"), QHeaderView.ResizeMode.Stretch
        )
        self.checkpoint_table.itemSelectionChanged.connect(self._on_checkpoint_selected)
        self.link_check = QCheckBox("Lin&k instead of copying")
        self.link_check.setAccessibleName("Link instead of copying on import")
        self.import_button = self._button("Import…", "Import a checkpoint", self._import)
        self.sd_delete_button = self._button("D&elete…", "Delete the selected checkpoint", self._delete_checkpoint)
        self.trust_button = self._button("Tr&ust…", "Trust the selected pickle file", self._trust)
        self.trust_button.setEnabled(False)
        self.type_combo = QComboBox()
        self.type_combo.setAccessibleName("Checkpoint type override")
        self.type_combo.addItem("detected", "auto")
        for value in self.vm.model_types():
            self.type_combo.addItem(value, value)
        self.type_combo.activated.connect(self._set_type)
        self.sd_refresh = self._button("Re&fresh", "Refresh the checkpoints", self.vm.refresh_checkpoints)
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addWidget(self.link_check)
        row.addStretch(1)
        row.addWidget(QLabel("Type"))
        row.addWidget(self.type_combo)
        row.addWidget(self.trust_button)
        row.addWidget(self.sd_delete_button)
        row.addWidget(self.sd_refresh)
        # Without the `local` extra the checkpoints still list; this says how to install it here.
        self.sd_runtime_label = QLabel()
        self.sd_runtime_label.setAccessibleName("Local generation setup")
        self.sd_runtime_label.setWordWrap(True)
        self.sd_runtime_label.setStyleSheet("color: #b45309;")
        self.sd_runtime_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # commands to copy
        self._on_local_runtime(self.vm.local_runtime)
        layout = QVBoxLayout(page)
        layout.addWidget(self.sd_runtime_label)
        layout.addWidget(self.checkpoint_table, 1)
        layout.addLayout(row)
        return page

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self.vm.refresh()
            self.vm.refresh_checkpoints()

    # -- Ollama ------------------------------------------------------------------------------
    def _on_status(self, status: OllamaStatus) -> None:
        self.status_label.setText(status.message)
        self.status_label.setStyleSheet("" if status.reachable else "color: #b02a37")
        for widget in (self.pull_button, self.delete_button, self.add_button, self.unload_button):
            widget.setEnabled(status.reachable and (widget is not self.pull_button or self.vm.pulling is None))

    def _on_installed(self, models: list[InstalledModel]) -> None:
        rows = [
            (
                m.name,
                m.family or "–",
                m.parameter_size or "–",
                m.quantization or "–",
                bytes_text(m.size_bytes),
                m.modified_at.strftime("%Y-%m-%d %H:%M") if m.modified_at else "–",
            )
            for m in models
        ]
        _fill(self.installed_table, rows, [m.name for m in models])

    def _on_running(self, models: list[RunningModel]) -> None:
        rows = [
            (
                m.name,
                bytes_text(m.size_vram_bytes),
                m.processor,
                m.expires_at.strftime("%H:%M:%S") if m.expires_at else "–",
            )
            for m in models
        ]
        _fill(self.running_table, rows, [m.name for m in models])

    def _on_lan_models(self, rows: list[HostModelRow]) -> None:
        self.lan_box.setVisible(bool(rows))
        shown = [(r.model or "–", f"{r.host} ({r.url})", r.state) for r in rows]
        _fill(self.lan_table, shown, [f"{r.url} {r.model}" for r in rows])

    def _on_installed_selected(self) -> None:
        name = _selected_key(self.installed_table)
        if name:
            self.vm.show_details(name)

    def _on_details(self, info: ModelInfo) -> None:
        d = info.details
        arch = d.architecture
        lines = [
            f"<b>{d.name}</b> — {d.family or '?'} {d.parameter_size or ''} {d.quantization or ''}",
            f"Context length: {d.context_length or '?'} tokens",
            f"Capabilities: {', '.join(d.capabilities) or '–'}",
        ]
        if arch is not None:
            lines.append(f"{arch.block_count} layers, {arch.head_count_kv} KV heads × {arch.head_dim}")
        self.details_label.setText("<br>".join(lines))
        with QSignalBlocker(self.context_spin):
            self.context_spin.setValue(info.context)
        if info.fit is None:
            self.fit_label.setText(info.fit_error or "–")
            return
        f = info.fit
        self.fit_label.setText(
            f"{f.verdict.value} at {info.context:,} tokens: weights {bytes_text(f.weights_bytes)}"
            f" + KV cache {bytes_text(f.kv_bytes)} vs {bytes_text(f.available_bytes)} usable; "
            f"{f.gpu_layers}/{f.total_layers} layers on the GPU"
        )

    def _unload(self) -> None:
        name = _selected_key(self.running_table)
        if name:
            self.vm.unload(name)

    def _delete_model(self) -> None:
        name = _selected_key(self.installed_table)
        if not name:
            return
        answer = QMessageBox.question(self, "Delete model", f"Delete the Ollama model {name}? Its files are removed.")
        if answer == QMessageBox.StandardButton.Yes:
            self.vm.delete(name)

    def _add(self) -> None:
        name = _selected_key(self.installed_table)
        if name:
            self.vm.add_to_catalog(name, self.quality_spin.value(), self.speed_low.value(), self.speed_high.value())

    def _pull(self) -> None:
        self.vm.start_pull(self.pull_name.text())

    def _on_pull_state(self, active: bool) -> None:
        self.pull_button.setEnabled(not active)
        self.cancel_button.setEnabled(active)
        if active:
            self.pull_bar.setValue(0)
            self.pull_label.setText(f"Pulling {self.vm.pulling}…")

    def _on_pull_progress(self, p: PullProgress) -> None:
        fraction = p.fraction
        if fraction is None:
            self.pull_bar.setValue(0)  # layers not announced yet (a busy bar animates on a timer)
        else:
            self.pull_bar.setRange(0, 1000)
            self.pull_bar.setValue(int(fraction * 1000))
        speed = f"{bytes_text(p.speed_bps)}/s" if p.speed_bps else "–/s"
        self.pull_label.setText(
            f"{p.model}: {p.status} · {bytes_text(p.completed_bytes)} of "
            f"{bytes_text(p.total_bytes)} · {speed} · ETA {_duration(p.eta_s)}"
        )

    def _on_pull_finished(self, model: str, outcome: str) -> None:
        if self.pull_bar.maximum() == 0:
            self.pull_bar.setRange(0, 1000)
        if outcome == "success":
            self.pull_bar.setValue(1000)
        self.pull_label.setText(f"{model}: {outcome}" + ("; pulling again resumes" if outcome == "cancelled" else ""))
        if outcome != "cancelled":  # the user cancelled it: they know
            notify_done(self, "Model pull finished" if outcome == "success" else "Model pull failed", model)

    # -- Stable Diffusion ------------------------------------------------------------------------
    def _on_local_runtime(self, text: str) -> None:
        self.sd_runtime_label.setText(text)
        self.sd_runtime_label.setVisible(bool(text))

    def _on_checkpoints(self, rows: list[CheckpointRow]) -> None:
        values = []
        for row in rows:
            c, p = row.checkpoint, row.probe
            note = "refused: pickle file (not trusted)" if row.refused else ("trusted pickle" if c.pickle else "")
            if row.error:
                note = f"unusable: {row.error}"
            if c.is_link:
                note = (note + "; " if note else "") + "link"
            values.append(
                (
                    c.name,
                    (p.model_type.value + (" (set)" if p.overridden else "")) if p else "unusable",
                    p.precision if p else "–",
                    bytes_text(c.size_bytes),
                    f"~{p.est_vram_bytes / 2**30:.1f} GiB" if p else "–",
                    str(c.folder),
                    note,
                )
            )
        _fill(self.checkpoint_table, values, [str(r.checkpoint.path) for r in rows])
        self._on_checkpoint_selected()

    def _selected_checkpoint(self) -> CheckpointRow | None:
        key = _selected_key(self.checkpoint_table)
        return next((r for r in self.vm.checkpoints if str(r.checkpoint.path) == key), None)

    def _on_checkpoint_selected(self) -> None:
        row = self._selected_checkpoint()
        self.trust_button.setEnabled(row is not None and row.refused)
        self.sd_delete_button.setEnabled(row is not None)
        self.type_combo.setEnabled(row is not None)
        if row is not None and row.probe is not None:
            with QSignalBlocker(self.type_combo):
                wanted = row.probe.model_type.value if row.probe.overridden else "auto"
                self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(wanted)))

    def _import(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a checkpoint", "", "Checkpoints (*.safetensors *.ckpt *.bin *.pt *.pth)"
        )
        if path:
            self.vm.import_checkpoint(path, "link" if self.link_check.isChecked() else "copy")

    def _delete_checkpoint(self) -> None:
        row = self._selected_checkpoint()
        if row is None:
            return
        c = row.checkpoint
        what = f"the link {c.path}" if c.is_link else f"{c.path} ({bytes_text(c.size_bytes)})"
        if QMessageBox.question(self, "Delete checkpoint", f"Delete {what}?") == QMessageBox.StandardButton.Yes:
            self.vm.delete_checkpoint(str(c.path))

    def _trust(self) -> None:
        row = self._selected_checkpoint()
        if row is None or not row.refused:
            return
        answer = QMessageBox.warning(
            self,
            "Trust a pickle file",
            f"{self.vm.pickle_warning()}\n\nTrust {row.checkpoint.path.name}?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.vm.trust_pickle(str(row.checkpoint.path))

    def _set_type(self, index: int) -> None:
        row = self._selected_checkpoint()
        if row is not None:
            self.vm.set_type(str(row.checkpoint.path), self.type_combo.itemData(index))


def create(
    services: PanelServices,
    parent: QWidget | None = None,
    executor: SerialExecutor | None = None,
    catalog: CatalogViewModel | None = None,
) -> ModelsView:
    """The model manager over a :class:`core.services.Services` (the main window adds it as a tab).
    ``catalog``: the app's catalog view-model (it outlives the panel: the daily refresh);
    without one the panel builds its own."""

    settings = services.workspace.settings
    executor = executor or SerialExecutor("sparklio-models")
    vm = ModelsViewModel(
        executor,
        host=settings.providers.ollama.host,
        lan_hosts=settings.providers.ollama.hosts,
        sd_folders=[Path(p) for p in settings.local.sd_weight_dirs],
        configured_gpu_gb=float(settings.gpu.vram_gb),
    )
    own_catalog = catalog is None
    if catalog is None:
        catalog = CatalogViewModel(executor, services.workspace)
        catalog.catalogChanged.connect(services.planner.invalidate)
    view = ModelsView(vm, parent, catalog=catalog)
    vm.setParent(view)
    if own_catalog:
        catalog.setParent(view)
    return view
