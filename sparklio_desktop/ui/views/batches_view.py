"""The Batches view: the queue, a "New batch" form with its estimate, and the run's
progress with Pause, Resume and Cancel (docs/batches.md).

Why a table over a model: a queue of hundreds of batches is one ``QTableView`` and one
``QAbstractTableModel`` whose rows change in place as progress arrives, not a widget per
batch. Why the file's columns are chips that insert ``{column}``: the template's commonest
mistake is a column spelled differently from the file's header, which the core refuses
before anything is sent; a chip cannot misspell it. The estimate is shown before Start, and
above the core's threshold Start waits for the confirmation box to be ticked.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.batches import (
    BatchesViewModel,
    BatchForm,
    BatchItem,
    BatchOutcome,
    BatchProgress,
    BatchServices,
    BatchTemplateChoice,
    EstimateInfo,
    SourceInfo,
)
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.widgets.notifier import notify_done

__all__ = ["BatchQueueModel", "BatchesView", "create"]

_COLUMNS = ("Batch", "Task", "File", "Status", "Done", "Failed", "Total", "Cost")
_ROLE_ITEM = Qt.ItemDataRole.UserRole + 1


class BatchQueueModel(QAbstractTableModel):
    """The queue: one row per batch, updated in place as its rows finish."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._items: list[BatchItem] = []

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return _COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == _ROLE_ITEM:
            return item
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 4:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        values = (item.id[:8], item.task, item.source, item.status, item.done, item.failed, item.total, item.cost)
        value = values[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.id if index.column() == 0 else None
        return f"{value:,}" if isinstance(value, int) else value

    def set_items(self, items: list[BatchItem]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def item(self, row: int) -> BatchItem | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, batch_id: str) -> int:
        return next((i for i, item in enumerate(self._items) if item.id == batch_id), -1)

    def update_progress(self, p: BatchProgress) -> None:
        row = self.row_of(p.batch_id)
        if row < 0:
            return
        old = self._items[row]
        self._items[row] = BatchItem(
            old.id,
            old.task,
            old.source,
            old.status,
            p.done,
            p.failed,
            p.total,
            p.cost,
            old.out_path,
            old.running_here,
            old.waiting,
        )
        self.dataChanged.emit(self.index(row, 4), self.index(row, len(_COLUMNS) - 1))


class _Chip(QPushButton):
    """A column of the chosen file; a click inserts ``{column}`` into the template."""

    def __init__(self, column: str, parent: QWidget | None = None) -> None:
        super().__init__(column.replace("&", "&&"), parent)
        self.column = column
        self.setFlat(False)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.setToolTip(f"Insert {{{column}}} into the template")
        self.setStyleSheet(
            "QPushButton { border: 1px solid palette(mid); border-radius: 10px; padding: 2px 10px;"
            " background: palette(button); }"
            "QPushButton:hover, QPushButton:focus { border-color: palette(highlight); }"
        )


class BatchesView(QWidget):
    """The queue above, the new batch's form and the selected batch's progress below."""

    notified = Signal(str)  # the message of a "Batch finished" notification (tests)

    def __init__(self, vm: BatchesViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._estimate: EstimateInfo | None = None
        self._selected: str | None = None
        self._watching: str | None = None  # the batch the progress bar shows
        self._build()
        vm.batchesChanged.connect(self._on_batches)
        vm.sourceReady.connect(self._on_source)
        vm.estimateReady.connect(self._on_estimate)
        vm.formError.connect(self._on_form_error)
        vm.started.connect(self._on_started)
        vm.progress.connect(self._on_progress)
        vm.batchFinished.connect(self._on_finished)
        vm.templatesChanged.connect(self._on_templates)
        self._estimate_timer = QTimer(self)
        self._estimate_timer.setSingleShot(True)
        self._estimate_timer.setInterval(400)
        self._estimate_timer.timeout.connect(self.request_estimate)
        self._loaded = False

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded:  # the queue loads the first time the view shows
            self._loaded = True
            self.vm.refresh()
            self.vm.load_templates()

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.model = BatchQueueModel(self)
        self.table = QTableView()
        self.table.setAccessibleName("Batches")
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_selected)
        self.empty = QLabel("No batches yet: choose a CSV or JSONL file below; each row becomes one routed request.")
        self.empty.setWordWrap(True)

        # the selected batch: progress and actions
        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName("Batch progress")
        self.progress_bar.setTextVisible(True)
        self.progress_label = QLabel("")
        self.results_link = QLabel("")
        self.results_link.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.results_link.linkActivated.connect(self._on_open_results)
        self.pause_button = QPushButton("&Pause")
        self.resume_button = QPushButton("&Resume")
        self.cancel_button = QPushButton("&Cancel batch")
        self.open_button = QPushButton("Open res&ults")
        self.pause_button.clicked.connect(self._on_pause)
        self.resume_button.clicked.connect(self._on_resume)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.open_button.clicked.connect(lambda: self._on_open_results(""))
        actions = QHBoxLayout()
        for button in (self.pause_button, self.resume_button, self.cancel_button, self.open_button):
            actions.addWidget(button)
        actions.addStretch(1)
        run_box = QGroupBox("Selected batch")
        run_layout = QVBoxLayout(run_box)
        run_layout.addWidget(self.progress_bar)
        run_layout.addWidget(self.progress_label)
        run_layout.addWidget(self.results_link)
        run_layout.addLayout(actions)

        # the new batch's form
        self.file_edit = QLineEdit()
        self.file_edit.setPlaceholderText("A .csv file with a header row, or a .jsonl file")
        self.file_edit.editingFinished.connect(self._on_file_edited)
        self.browse_button = QPushButton("Ch&oose…")
        self.browse_button.clicked.connect(self._on_browse)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        self.task_combo = QComboBox()
        for task, words in self.vm.tasks():
            self.task_combo.addItem(words, task)
        self.task_combo.currentIndexChanged.connect(self._schedule_estimate)
        self.template_edit = QLineEdit()
        self.template_edit.setPlaceholderText("Write one caption about {topic} for {name}")
        self.template_edit.textChanged.connect(self._schedule_estimate)
        # A saved prompt template instead of the line above (docs/templates.md): it brings its
        # task, system prompt and JSON output; its variables are filled from the columns.
        self.saved_combo = QComboBox()
        self.saved_combo.setAccessibleName("Saved template")
        self.saved_combo.addItem("None: write the prompt below", None)
        self.saved_combo.currentIndexChanged.connect(self._on_saved_template)
        self.saved_hint = QLabel("")
        self.saved_hint.setWordWrap(True)
        self.saved_hint.setAccessibleName("Saved template variables")
        self.saved_hint.hide()
        self._saved: dict[str, BatchTemplateChoice] = {}
        self._columns: tuple[str, ...] = ()
        self.chips = QWidget()
        self.chips_layout = QHBoxLayout(self.chips)
        self.chips_layout.setContentsMargins(0, 0, 0, 0)
        self.chips_hint = QLabel("Columns appear here once a file is chosen.")
        self.chips_layout.addWidget(self.chips_hint)
        self.chips_layout.addStretch(1)
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, self.vm.max_concurrency())
        self.concurrency.setValue(4)
        self.concurrency.setToolTip("Rows in flight at once")
        self.concurrency.setMaximumWidth(96)
        self.concurrency.valueChanged.connect(self._schedule_estimate)
        self.option_combos: dict[str, QComboBox] = {}
        options_row = QHBoxLayout()
        for option, choices in self.vm.option_choices().items():
            combo = QComboBox()
            combo.setAccessibleName(option.capitalize())
            combo.addItem(f"{option.capitalize()}: task's", None)
            for choice in choices:
                combo.addItem(f"{option.capitalize()}: {choice}", choice)
            combo.currentIndexChanged.connect(self._schedule_estimate)
            self.option_combos[option] = combo
            options_row.addWidget(combo)
        options_row.addStretch(1)
        self.explore = True  # exploration as the router's policy says (tests turn it off)
        self.error_label = QLabel("")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.setAccessibleName("Batch form error")
        self.error_label.hide()
        self.estimate_label = QLabel("The estimate shows here before you start.")
        self.estimate_label.setAccessibleName("Batch estimate")
        self.confirm_box = QCheckBox("")
        self.confirm_box.hide()
        self.start_button = QPushButton("&Start batch")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self._on_start)
        start_row = QHBoxLayout()
        start_row.addWidget(self.estimate_label, 1)
        start_row.addWidget(self.start_button)

        form = QFormLayout()
        file_label = QLabel("F&ile:")  # Alt+F is the File menu
        file_label.setBuddy(self.file_edit)
        task_label = QLabel("T&ask:")
        task_label.setBuddy(self.task_combo)
        template_label = QLabel("&Template:")
        template_label.setBuddy(self.template_edit)
        saved_label = QLabel("Saved te&mplate:")
        saved_label.setBuddy(self.saved_combo)
        concurrency_label = QLabel("Co&ncurrency:")
        concurrency_label.setBuddy(self.concurrency)
        form.addRow(file_label, file_row)
        form.addRow(task_label, self.task_combo)
        form.addRow(saved_label, self.saved_combo)
        form.addRow("", self.saved_hint)
        form.addRow(template_label, self.template_edit)
        form.addRow("", self.chips)
        form.addRow("Route:", options_row)
        form.addRow(concurrency_label, self.concurrency)
        new_box = QGroupBox("New batch")
        new_layout = QVBoxLayout(new_box)
        new_layout.addLayout(form)
        new_layout.addWidget(self.error_label)
        new_layout.addWidget(self.confirm_box)
        new_layout.addLayout(start_row)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.empty)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(run_box)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(top)
        splitter.addWidget(new_box)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(splitter)
        self._update_actions()

    # -- the form ----------------------------------------------------------------------------
    def form(self) -> BatchForm:
        options: dict[str, Any] = {k: c.currentData() for k, c in self.option_combos.items() if c.currentData()}
        if not self.explore:
            options["no_explore"] = True
        return BatchForm(
            self.file_edit.text().strip(),
            str(self.task_combo.currentData() or ""),
            self.template_edit.text(),
            self.concurrency.value(),
            options,
            self.saved_combo.currentData(),
        )

    def choose_file(self, path: str) -> None:
        """Use ``path`` as the input file (the picker and tests)."""
        self.file_edit.setText(path)
        self.vm.choose_file(path)
        self._schedule_estimate()

    def _on_browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Rows for the batch", "", "Rows (*.csv *.jsonl *.ndjson)")
        if path:
            self.choose_file(path)

    def _on_file_edited(self) -> None:
        if self.file_edit.text().strip():
            self.vm.choose_file(self.file_edit.text().strip())
            self._schedule_estimate()

    def _on_source(self, info: SourceInfo) -> None:
        while self.chips_layout.count():
            taken = self.chips_layout.takeAt(0)
            widget = taken.widget() if taken is not None else None
            if widget is not None and widget is not self.chips_hint:
                widget.deleteLater()
        self._columns = tuple(info.columns)
        self._show_saved_hint()
        self.chips_hint.setText(f"{info.rows:,} rows · columns:")
        self.chips_layout.addWidget(self.chips_hint)
        for column in info.columns:
            chip = _Chip(column, self.chips)
            chip.clicked.connect(lambda _=False, c=column: self.insert_column(c))
            self.chips_layout.addWidget(chip)
        self.chips_layout.addStretch(1)

    # -- a saved template ----------------------------------------------------------------------
    def _on_templates(self, choices: list[BatchTemplateChoice]) -> None:
        current = self.saved_combo.currentData()
        self._saved = {c.name: c for c in choices}
        self.saved_combo.blockSignals(True)
        try:
            while self.saved_combo.count() > 1:
                self.saved_combo.removeItem(1)
            for choice in choices:
                self.saved_combo.addItem(choice.label, choice.name)
                self.saved_combo.setItemData(
                    self.saved_combo.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole
                )
            self.saved_combo.setCurrentIndex(max(0, self.saved_combo.findData(current)))
        finally:
            self.saved_combo.blockSignals(False)
        self._on_saved_template()

    def choose_saved_template(self, name: str | None) -> None:
        """Use the saved template ``name`` (None: the prompt typed in the form)."""
        self.saved_combo.setCurrentIndex(max(0, self.saved_combo.findData(name)))

    def _on_saved_template(self, *_: Any) -> None:
        choice = self._saved.get(self.saved_combo.currentData() or "")
        typed = choice is None
        # The template's own task and prompt are used: the typed ones would be ignored.
        self.template_edit.setEnabled(typed)
        self.chips.setEnabled(typed)
        self.task_combo.setEnabled(typed)
        if choice is not None:
            self.task_combo.setCurrentIndex(max(0, self.task_combo.findData(choice.task)))
        self._show_saved_hint()
        self._schedule_estimate()

    def _show_saved_hint(self) -> None:
        choice = self._saved.get(self.saved_combo.currentData() or "")
        if choice is None:
            self.saved_hint.hide()
            return
        parts = []
        for name in choice.variables:
            if name in self._columns:
                parts.append(f"{name} ← column")
            elif name in choice.defaulted:
                parts.append(f"{name}: its default")
            else:
                parts.append(f"{name}: needs a column")
        text = choice.description + (" · Variables: " + ", ".join(parts) if parts else "")
        self.saved_hint.setText(text)
        self.saved_hint.show()

    def column_chips(self) -> list[_Chip]:
        return self.chips.findChildren(_Chip)

    def insert_column(self, column: str) -> None:
        self.template_edit.insert(f"{{{column}}}")
        self.template_edit.setFocus()

    def _schedule_estimate(self, *_: Any) -> None:
        self._estimate = None
        self._estimate_timer.start()

    def request_estimate(self) -> None:
        self._estimate_timer.stop()
        form = self.form()
        if form.path and (form.template.strip() or form.saved_template):
            self.vm.estimate(form)

    def _on_estimate(self, info: EstimateInfo) -> None:
        self._estimate = info
        self.estimate_label.setText(info.text)
        self.confirm_box.setText(info.confirm_text)
        self.confirm_box.setChecked(False)
        self.confirm_box.setVisible(info.needs_confirm)

    def _on_form_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        if message:
            self.estimate_label.setText("No estimate until the form is right.")

    def _on_start(self) -> None:
        self._estimate_timer.stop()
        self.vm.start(self.form(), self.confirm_box.isVisible() and self.confirm_box.isChecked())

    # -- the queue and the selected batch ----------------------------------------------------------
    def _on_batches(self, items: list[BatchItem]) -> None:
        keep = self._selected
        self.model.set_items(items)
        self.empty.setVisible(not items)
        row = self.model.row_of(keep) if keep else -1
        if row < 0 and items:
            row = 0
        if row >= 0:
            self.table.selectRow(row)
        self._update_actions()

    def _on_row_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        item = self.model.item(current.row())
        self._selected = item.id if item is not None else None
        self._show_item(item)
        self._update_actions()

    def selected(self) -> BatchItem | None:
        return self.model.item(self.model.row_of(self._selected)) if self._selected else None

    def select_batch(self, batch_id: str) -> None:
        row = self.model.row_of(batch_id)
        if row >= 0:
            self.table.selectRow(row)

    def _show_item(self, item: BatchItem | None) -> None:
        if item is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_label.setText("")
            self.results_link.setText("")
            return
        self.progress_bar.setRange(0, max(item.total, 1))
        self.progress_bar.setValue(item.done + item.failed)
        self.progress_bar.setFormat(f"{item.done + item.failed:,} of {item.total:,} rows")
        waiting = f" · {item.waiting}" if item.waiting else ""
        self.progress_label.setText(
            f"{item.status.capitalize()}{waiting} · {item.done:,} done, {item.failed:,} failed · {item.cost}"
        )
        if item.out_path:
            name = item.out_path.replace("\\", "/").rsplit("/", 1)[-1]
            self.results_link.setText(f'Results: <a href="{QUrl.fromLocalFile(item.out_path).toString()}">{name}</a>')
        else:
            self.results_link.setText("")

    def _update_actions(self) -> None:
        item = self.selected()
        self.pause_button.setEnabled(item is not None and item.running_here)
        self.resume_button.setEnabled(item is not None and item.resumable)
        self.cancel_button.setEnabled(item is not None and item.status in ("running", "paused", "stopped", "waiting"))
        self.open_button.setEnabled(item is not None and bool(item.out_path))

    def _on_started(self, batch_id: str) -> None:
        self._selected = batch_id
        self._watching = batch_id
        self.select_batch(batch_id)

    def _on_progress(self, p: BatchProgress) -> None:
        self.model.update_progress(p)
        if p.batch_id != self._selected:
            return
        self.progress_bar.setRange(0, max(p.total, 1))
        self.progress_bar.setValue(p.finished)
        self.progress_bar.setFormat(f"{p.finished:,} of {p.total:,} rows")
        self.progress_label.setText(f"{p.done:,} done, {p.failed:,} failed · {p.cost} so far · {p.rate}")

    def _on_finished(self, outcome: BatchOutcome) -> None:
        if outcome.batch_id == self._selected:
            self.progress_label.setText(outcome.summary)
        if outcome.status == "done":
            notify_done(self, "Batch finished", outcome.summary)
            self.notified.emit(outcome.summary)

    def _on_pause(self) -> None:
        if self._selected:
            self.vm.pause(self._selected)
            self.pause_button.setEnabled(False)
            self.progress_label.setText("Pausing: the rows in flight finish, no new row is sent…")

    def _on_resume(self) -> None:
        if self._selected:
            self.vm.resume(self._selected)

    def _on_cancel(self) -> None:
        if self._selected:
            self.vm.cancel(self._selected)

    def _on_open_results(self, link: str) -> None:
        item = self.selected()
        target = QUrl(link) if link else (QUrl.fromLocalFile(item.out_path) if item and item.out_path else None)
        if target is not None:
            QDesktopServices.openUrl(target)


def create(
    services: BatchServices,
    parent: QWidget | None = None,
    *,
    executor: SerialExecutor | None = None,
    events: LedgerEvents | None = None,
) -> BatchesView:
    """The Batches view over a :class:`core.services.Services`. ``events``: the app's ledger
    hub, told as rows finish (at most every 2 s)."""
    vm = BatchesViewModel(
        services.workspace,
        services.dispatcher,
        services.planner,
        services.ledger,
        executor or SerialExecutor("sparklio-batches"),
        events=events,
    )
    view = BatchesView(vm, parent)
    vm.setParent(view)
    return view
