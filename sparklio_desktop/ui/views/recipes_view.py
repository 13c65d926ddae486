"""The Recipes page: pick a recipe, fill its inputs, see each step's model and price and
the total before anything is sent, run it with per-step progress and results, resume a
stopped run, edit a copy.

Why the price sits above the Run button, large: a recipe is several paid calls, and the
design puts money at the point of decision ("This run: ~$0.0406 · at premium: ~$0.24").
The plan is asked for again (debounced) as inputs are typed, since a long brief or file
changes the steps' input tokens. Each step's result shows under its row as it ends: text
rendered as Markdown, images as thumbnails, an error in words under the step it concerns.
A run that ends while the window is not active is announced (widgets/notifier).

Why the route options sit on the page and not in a popup: they are what moves the price.
Budget, speed and quality (the composer's choices; "recipe's own" keeps each step's),
the brand voice and the output folder are one row each above the plan; a change plans
again at once, so the table and the total always show what Run would do. Every control
has a mnemonic or a place in the tab order.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QFont, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.recipe_payloads import (
    RecipeForm,
    RecipeListing,
    RecipePlanView,
    RunEnded,
    StepProgress,
    UnfinishedRun,
)
from sparklio_desktop.ui.viewmodels.recipes import RecipesViewModel
from sparklio_desktop.ui.viewmodels.seams import PanelServices
from sparklio_desktop.ui.views.recipe_parts import PathPicker, StepCard
from sparklio_desktop.ui.widgets.format import usd_text
from sparklio_desktop.ui.widgets.notifier import notify_done

PLAN_DEBOUNCE_MS = 400
PLAN_MAX_HEIGHT = 320
PLAN_COLUMNS = ("Step", "Task", "Model", "Tokens in", "Tokens out", "Images", "Cost")
OWN_CHOICE = "recipe's own"  # a route option left to each step
# The route options' labels: mnemonics clear of the menu bar (F, D, V, L, H) and the page's.
OPTION_LABELS = {"budget": "&Budget", "speed": "&Speed", "quality": "&Quality"}


def _usd(value: Decimal | None) -> str:
    return usd_text(value) if value is not None else "no fit"


def total_text(plan: RecipePlanView) -> str:
    """ "This run: ~$0.0406 · at premium: ~$0.24" (the premium tier when it differs)."""
    if plan.error is not None:
        return ""
    if plan.total_usd is None:
        return "This run: no model fits a step (see the plan)"
    text = f"This run: ~{usd_text(plan.total_usd)}"
    premium = plan.tiers.get("premium")
    if premium is not None and premium != plan.total_usd:
        text += f" · at premium: ~{usd_text(premium)}"
    elif plan.tiers.get("low") not in (None, plan.total_usd):
        text += f" · at low: ~{usd_text(plan.tiers['low'])}"
    return text


class RecipesView(QWidget):
    """The page; everything it shows comes from :class:`RecipesViewModel`'s signals."""

    def __init__(self, vm: RecipesViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setAccessibleName("Recipes")
        self._loaded = False
        self._fields: dict[str, QPlainTextEdit | QLineEdit | PathPicker] = {}
        self.cards: dict[str, StepCard] = {}
        self._form: RecipeForm | None = None

        # -- left: the recipes, load problems, edit a copy, unfinished runs --
        self.recipe_list = QListWidget()
        self.recipe_list.setAccessibleName("Recipe list")
        self.problems = QLabel()
        self.problems.setWordWrap(True)
        self.problems.setStyleSheet("color: #b3261e")
        self.problems.hide()
        self.copy_button = QPushButton("&Edit a copy")
        self.copy_button.setToolTip("Copy this recipe into your recipes folder and open it in your editor")
        self.copy_button.setEnabled(False)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read the recipe files again (after editing one)")
        self.unfinished = QComboBox()
        self.unfinished.setAccessibleName("Unfinished runs")
        self.resume_button = QPushButton("Resu&me")
        self.resume_button.setEnabled(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("Recipes"))
        left_layout.addWidget(self.recipe_list, 1)
        left_layout.addWidget(self.problems)
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.reload_button)
        left_layout.addLayout(buttons)
        self.unfinished_label = QLabel("Unfinished runs")
        left_layout.addWidget(self.unfinished_label)
        left_layout.addWidget(self.unfinished)
        left_layout.addWidget(self.resume_button)

        # -- right: header, inputs, plan, total, run bar, progress --
        self.title = QLabel("Pick a recipe")
        title_font = QFont(self.title.font())
        title_font.setPointSizeF(title_font.pointSizeF() * 1.3)
        title_font.setBold(True)
        self.title.setFont(title_font)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.inputs_box = QWidget()
        self.inputs_form = QFormLayout(self.inputs_box)
        self.inputs_form.setContentsMargins(0, 0, 0, 0)
        self.options_box = self._build_options()
        self.plan_table = QTableWidget(0, len(PLAN_COLUMNS))
        self.plan_table.setAccessibleName("Plan")
        self.plan_table.setHorizontalHeaderLabels(PLAN_COLUMNS)
        rows = self.plan_table.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        rows.setDefaultSectionSize(self.fontMetrics().height() + 10)
        self.plan_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.plan_table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.plan_table.setWordWrap(False)  # one line a step (elided; the tooltip has it all): a stable height
        header = self.plan_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.plan_error = QLabel()
        self.plan_error.setWordWrap(True)
        self.plan_error.setStyleSheet("color: #b3261e")
        self.plan_error.hide()
        self.total = QLabel()
        self.total.setAccessibleName("Total")
        total_font = QFont(self.total.font())
        total_font.setPointSizeF(total_font.pointSizeF() * 1.4)
        total_font.setBold(True)
        self.total.setFont(total_font)
        self.total_note = QLabel()
        self.total_note.setWordWrap(True)
        self.total_note.setStyleSheet("color: palette(mid)")
        self.run_button = QPushButton("&Run")
        self.run_button.setEnabled(False)
        self.cancel_button = QPushButton("Ca&ncel")
        self.cancel_button.setEnabled(False)
        self.run_error = QLabel()
        self.run_error.setWordWrap(True)
        self.run_error.setStyleSheet("color: #b3261e")
        self.run_error.hide()
        run_bar = QHBoxLayout()
        run_bar.addWidget(self.total, 1)
        run_bar.addWidget(self.run_button)
        run_bar.addWidget(self.cancel_button)

        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.setSpacing(8)
        top_layout.addWidget(self.title)
        top_layout.addWidget(self.description)
        top_layout.addWidget(self.inputs_box)
        top_layout.addWidget(self.options_box)
        top_layout.addWidget(self.plan_table)
        top_layout.addWidget(self.plan_error)
        top_layout.addLayout(run_bar)
        top_layout.addWidget(self.total_note)
        top_layout.addWidget(self.run_error)
        top_layout.addStretch(1)

        self.run_status = QLabel()
        self.run_status.setWordWrap(True)
        self.run_status.setOpenExternalLinks(True)
        self.run_status.setTextFormat(Qt.TextFormat.RichText)
        self.steps_box = QWidget()
        self.steps_layout = QVBoxLayout(self.steps_box)
        self.steps_layout.setContentsMargins(0, 0, 0, 0)
        self.empty = QLabel(
            "Fill the inputs and check the price above, then Run: each step's model, cost and "
            "result show here as it ends. A stopped run can be resumed from the list on the left."
        )
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet("color: palette(mid)")
        self.steps_layout.addWidget(self.empty)
        self.steps_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.steps_box)
        scroll.setAccessibleName("Run progress")
        bottom = QWidget()
        bottom_layout = QVBoxLayout(bottom)
        bottom_layout.setContentsMargins(0, 0, 0, 0)
        bottom_layout.addWidget(self.run_status)
        bottom_layout.addWidget(scroll, 1)

        self._top = top
        self._top_layout = top_layout
        right = QSplitter(Qt.Orientation.Vertical)
        right.setObjectName("recipes_right")
        right.setChildrenCollapsible(False)
        right.addWidget(top)
        right.addWidget(bottom)
        right.setStretchFactor(0, 0)
        right.setStretchFactor(1, 1)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("recipes")
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([240, 900])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 8, 8, 8)
        outer.addWidget(split)

        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(PLAN_DEBOUNCE_MS)
        self._plan_timer.timeout.connect(self.ask_plan)

        self.recipe_list.currentItemChanged.connect(self._on_pick)
        self.copy_button.clicked.connect(self._edit_copy)
        self.reload_button.clicked.connect(lambda: self.vm.reload())
        self.run_button.clicked.connect(self._run)
        self.cancel_button.clicked.connect(vm.cancel)
        self.resume_button.clicked.connect(self._resume)
        vm.listChanged.connect(self._on_list)
        vm.recipeSelected.connect(self._on_recipe)
        vm.planReady.connect(self._on_plan)
        vm.planning.connect(self._on_planning)
        vm.busyChanged.connect(self._on_busy)
        vm.runStarted.connect(self._on_run_started)
        vm.stepStarted.connect(self._on_step)
        vm.stepFinished.connect(self._on_step)
        vm.runEnded.connect(self._on_run_ended)
        vm.runError.connect(self._on_run_error)
        vm.unfinishedChanged.connect(self._on_unfinished)
        vm.copyReady.connect(self._open_copy)
        vm.voicesChanged.connect(self._on_voices)
        vm.voiceChosen.connect(self._on_voice_chosen)
        vm.outDirChanged.connect(self._on_out_dir)
        for option, combo in self.option_combos.items():
            combo.currentIndexChanged.connect(lambda _, o=option, c=combo: self._on_option(o, c))
        self.voice_combo.currentIndexChanged.connect(self._on_voice_picked)
        self.choose_folder.clicked.connect(self._choose_folder)
        self.default_folder.clicked.connect(lambda: self.vm.set_out_dir(""))
        self.open_folder.clicked.connect(self._open_folder)
        self._on_out_dir(vm.out_dir)
        self._on_unfinished([])

    def _build_options(self) -> QWidget:
        """Budget, speed, quality and brand voice on one row, each label beside its combo;
        the output folder on the next."""
        box = QWidget()
        box.setAccessibleName("Run options")
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(6)
        options_row = QHBoxLayout()
        options_row.setSpacing(6)
        self.option_combos: dict[str, QComboBox] = {}
        for option, choices in self.vm.option_choices().items():
            combo = QComboBox()
            combo.setAccessibleName(option.capitalize())
            combo.setToolTip(f"{option.capitalize()} for every step; {OWN_CHOICE}: each step's own")
            combo.addItem(OWN_CHOICE, None)
            for choice in choices:
                combo.addItem(choice, choice)
            label = QLabel(OPTION_LABELS[option])
            label.setBuddy(combo)
            options_row.addWidget(label)
            options_row.addWidget(combo)
            options_row.addSpacing(10)
            self.option_combos[option] = combo
        self.voice_combo = QComboBox()
        self.voice_combo.setAccessibleName("Brand voice")
        self.voice_combo.setToolTip("A profile of brand_voices.yaml, put before every text step's prompt")
        self.voice_combo.addItem("None", None)
        self.voice_combo.setMinimumContentsLength(10)
        self.voice_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        voice_label = QLabel("Brand v&oice")
        voice_label.setBuddy(self.voice_combo)
        options_row.addWidget(voice_label)
        options_row.addWidget(self.voice_combo)
        options_row.addStretch(1)

        self.out_edit = QLineEdit()
        self.out_edit.setReadOnly(True)
        self.out_edit.setAccessibleName("Output folder")
        self.choose_folder = QPushButton("&Choose…")
        self.choose_folder.setToolTip("Choose the folder the run's outputs are written to")
        self.default_folder = QPushButton("Default")
        self.default_folder.setToolTip("Each run's own folder, as `sparklio recipe run` without --out")
        self.open_folder = QPushButton("O&pen folder")
        self.open_folder.setToolTip("Open the last run's output folder")
        self.open_folder.setEnabled(False)  # once a run has written something
        out_label = QLabel("Ou&tput folder")
        out_label.setBuddy(self.out_edit)
        folder_row = QHBoxLayout()
        folder_row.setSpacing(6)
        folder_row.addWidget(out_label)
        folder_row.addWidget(self.out_edit, 1)
        for button in (self.choose_folder, self.default_folder, self.open_folder):
            folder_row.addWidget(button)
        column.addLayout(options_row)
        column.addLayout(folder_row)
        return box

    # -- loading -------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self.vm.reload()

    def _on_list(self, listing: RecipeListing) -> None:
        current = self.vm.selected
        self.recipe_list.blockSignals(True)
        self.recipe_list.clear()
        for entry in listing.recipes:
            item = QListWidgetItem(entry.title if entry.shipped else f"{entry.title} (yours)")
            item.setData(Qt.ItemDataRole.UserRole, entry.name)
            item.setToolTip(f"{entry.name} · {entry.steps} steps · {entry.path}")
            self.recipe_list.addItem(item)
            if entry.name == current:
                self.recipe_list.setCurrentItem(item)
        self.recipe_list.blockSignals(False)
        self.problems.setText("\n".join(f"Skipped: {p}" for p in listing.problems))
        self.problems.setVisible(bool(listing.problems))
        if current is None and self.recipe_list.count():
            self.recipe_list.setCurrentRow(0)

    def select(self, name: str) -> None:
        """Pick ``name`` in the list (tests, Ctrl+K)."""
        for row in range(self.recipe_list.count()):
            item = self.recipe_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == name:
                self.recipe_list.setCurrentItem(item)
                return

    def _on_pick(self, item: QListWidgetItem | None, _previous: QListWidgetItem | None = None) -> None:
        if item is not None:
            self.vm.select(str(item.data(Qt.ItemDataRole.UserRole)))

    # -- the inputs form -----------------------------------------------------------------
    def _on_recipe(self, form: RecipeForm) -> None:
        # The same recipe again (Reload, a copy written): what was typed stays.
        kept = self.values() if self._form is not None and self._form.name == form.name else {}
        self._form = form
        self.title.setText(form.title)
        self.description.setText(form.description)
        self.description.setVisible(bool(form.description))
        self.copy_button.setEnabled(True)
        while self.inputs_form.rowCount():
            self.inputs_form.removeRow(0)
        self._fields = {}
        for spec in form.inputs:
            field: QPlainTextEdit | QLineEdit | PathPicker
            if spec.kind in ("file", "image"):
                field = PathPicker(spec)
                field.edit.textChanged.connect(self._plan_timer.start)
            elif spec.long_text:
                field = QPlainTextEdit()
                field.setPlaceholderText(spec.description)
                field.setFixedHeight(64)
                field.setTabChangesFocus(True)
                field.textChanged.connect(self._plan_timer.start)
            else:
                field = QLineEdit()
                field.setPlaceholderText(spec.description)
                field.textChanged.connect(self._plan_timer.start)
            field.setAccessibleName(spec.name)
            field.setToolTip(spec.description)
            label = QLabel(spec.name.replace("_", " ").capitalize() + ("" if spec.required else " (optional)"))
            label.setBuddy(field.edit if isinstance(field, PathPicker) else field)
            self.inputs_form.addRow(label, field)
            self._fields[spec.name] = field
        for name, value in kept.items():
            if name in self._fields and value:
                self.set_value(name, value)
        self._update_run_button()
        self.run_error.hide()
        self._order_tabs()
        self.ask_plan()

    def _order_tabs(self) -> None:
        """Tab goes down the page as it reads: the list, the inputs (made per recipe, so
        last in Qt's own order), the options, the folder, Run."""
        chain: list[QWidget] = [self.recipe_list]
        for field in self._fields.values():
            chain.extend((field.edit, field.browse) if isinstance(field, PathPicker) else (field,))
        chain.extend(self.option_combos.values())
        chain.extend((self.voice_combo, self.out_edit, self.choose_folder, self.default_folder, self.open_folder))
        chain.extend((self.run_button, self.cancel_button))
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def values(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for name, field in self._fields.items():
            found[name] = field.toPlainText() if isinstance(field, QPlainTextEdit) else field.text()
        return found

    def set_value(self, name: str, value: str) -> None:
        field = self._fields[name]
        if isinstance(field, QPlainTextEdit):
            field.setPlainText(value)
        elif isinstance(field, PathPicker):
            field.edit.setText(value)
        else:
            field.setText(value)

    # -- the plan --------------------------------------------------------------------------
    def ask_plan(self) -> None:
        self._plan_timer.stop()
        self.vm.request_plan(self.values())

    def _on_planning(self, busy: bool) -> None:
        if busy and not self.total.text():
            self.total.setText("Pricing the steps…")

    def _on_plan(self, plan: RecipePlanView) -> None:
        self.plan_error.setText(plan.error or "")
        self.plan_error.setVisible(plan.error is not None)
        self.plan_table.setRowCount(len(plan.rows))
        for r, row in enumerate(plan.rows):
            if row.skipped:
                model = f"skipped: {row.skipped}"
            else:
                model = row.model_name or "no model fits"
            cost = _usd(row.cost_usd) if not row.skipped else ""
            if row.skipped and row.reference_cost_usd:
                cost = f"({usd_text(row.reference_cost_usd)} not included)"
            cells = (
                row.title,
                row.task_words,
                model,
                f"{row.input_tokens:,}",
                f"{row.output_tokens:,}",
                str(row.images or ""),
                cost,
            )
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 3:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c == 2:
                    item.setToolTip("\n".join(row.no_fit) or row.skipped or row.model or "")
                self.plan_table.setItem(r, c, item)
        self._fit_plan_table()
        self.total.setText(total_text(plan))
        lines = []
        if plan.unavailable_usd:
            skipped = usd_text(plan.unavailable_usd)
            lines.append(f"Not included: {skipped} for the skipped steps (reference estimate).")
        others = []
        if plan.tiers:
            others.append("by budget: " + ", ".join(f"{k} {_usd(v)}" for k, v in plan.tiers.items()))
        if plan.speeds:
            others.append("by speed: " + ", ".join(f"{k} {_usd(v)}" for k, v in plan.speeds.items()))
        if others:
            lines.append("Totals " + "; ".join(others))
        self.total_note.setText("\n".join(lines))
        self._fit_top()  # with the total and its note in: their lines count too
        self._update_run_button()

    def _update_run_button(self) -> None:
        """Run is there for a recipe whose every step fits a model at these options: a step
        with none would stop the run after the earlier ones were paid for."""
        plan = self.vm.plan_view
        same = plan is not None and self._form is not None and plan.recipe == self._form.name
        no_fit = same and plan is not None and plan.error is None and plan.total_usd is None
        self.run_button.setEnabled(self._form is not None and not self.vm.busy and not no_fit)
        self.run_button.setToolTip(
            "No model fits a step at these options: try another budget, speed or quality" if no_fit else ""
        )

    def _fit_plan_table(self) -> None:
        """As tall as its rows (up to a limit): the run's results below get the rest."""
        table = self.plan_table
        rows = table.verticalHeader().defaultSectionSize() * table.rowCount()
        header = table.horizontalHeader()
        height = max(header.height(), header.sizeHint().height()) + rows + 2 * table.frameWidth() + 6
        table.setFixedHeight(min(height, PLAN_MAX_HEIGHT))

    def _fit_top(self) -> None:
        """The splitter never squeezes the form, the plan and the total into each other: its
        minimum counts the wrapped description's lines at the current width."""
        layout = self._top_layout
        width = max(self._top.width(), 400)
        needed = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.sizeHint().height()
        self._top.setMinimumHeight(needed)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_top()

    # -- route options, brand voice, output folder ------------------------------------------
    def _on_option(self, option: str, combo: QComboBox) -> None:
        self.vm.set_option(option, combo.currentData())
        self.ask_plan()  # at once: the table and the total show the new models and prices

    def set_option(self, option: str, value: str | None) -> None:
        """Pick ``value`` (None: the recipe's own) in ``option``'s combo, as a click would."""
        combo = self.option_combos[option]
        combo.setCurrentIndex(combo.findData(value))

    def _on_voices(self, names: list[str]) -> None:
        self.voice_combo.blockSignals(True)
        self.voice_combo.clear()
        self.voice_combo.addItem("None", None)
        for name in names:
            self.voice_combo.addItem(name, name)
        self.voice_combo.setCurrentIndex(max(0, self.voice_combo.findData(self.vm.brand_voice)))
        self.voice_combo.blockSignals(False)
        self.voice_combo.setToolTip(
            "A profile of brand_voices.yaml, put before every text step's prompt"
            if names
            else "No brand voices yet: add profiles to brand_voices.yaml in the data folder"
        )

    def _on_voice_chosen(self, name: str | None) -> None:
        self.voice_combo.blockSignals(True)
        self.voice_combo.setCurrentIndex(max(0, self.voice_combo.findData(name)))
        self.voice_combo.blockSignals(False)

    def _on_voice_picked(self, _index: int) -> None:
        self.vm.set_brand_voice(self.voice_combo.currentData())
        self.ask_plan()  # the voice's paragraph is input on every text step

    def _on_out_dir(self, folder: str) -> None:
        shown = folder or self.vm.default_out_dir()
        self.out_edit.setText(shown)
        self.out_edit.setToolTip(shown if folder else f"Each run's own folder: {shown}")
        self.out_edit.setCursorPosition(len(shown))  # a narrow field shows the folder's own name
        self.default_folder.setEnabled(bool(folder))

    def _choose_folder(self) -> None:
        """A folder dialog (Qt's own, not the platform's: the same everywhere, and testable)."""
        dialog = QFileDialog(self, "Choose the output folder", self.vm.out_dir or str(Path.home()))
        dialog.setObjectName("recipes-out-dialog")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly)
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.fileSelected.connect(self.vm.set_out_dir)
        dialog.open()

    def _open_folder(self) -> None:
        ended = self.vm.last_run
        if ended is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(ended.out_dir))

    # -- running ---------------------------------------------------------------------------
    def _run(self) -> None:
        self.run_error.hide()
        self.vm.run(self.values())

    def _resume(self) -> None:
        run_id = self.unfinished.currentData()
        if run_id:
            self.run_error.hide()
            self.vm.resume(str(run_id))

    def _on_busy(self, busy: bool) -> None:
        self._update_run_button()
        self.cancel_button.setEnabled(busy)
        self.resume_button.setEnabled(not busy and self.unfinished.count() > 0)

    def _on_run_started(self, run_id: str, rows: list[StepProgress]) -> None:
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards = {}
        self.empty.hide()
        self.run_status.setText(f"Run {run_id}: {len(rows)} steps")
        for row in rows:  # every step, waiting (or as a resumed run left it)
            self._on_step(row)

    def _on_step(self, progress: StepProgress) -> None:
        card = self.cards.get(progress.id)
        if card is None:
            card = StepCard(progress)
            self.cards[progress.id] = card
            self.steps_layout.insertWidget(self.steps_layout.count() - 1, card)
        else:
            card.update_progress(progress)

    def _on_run_ended(self, ended: RunEnded) -> None:
        words = {"done": "finished", "stopped": "stopped", "cancelled": "cancelled"}.get(ended.status, ended.status)
        folder = QUrl.fromLocalFile(ended.out_dir).toString()
        text = f"Run {ended.run_id} {words}; {usd_text(ended.cost_usd)}. "
        text += f'Outputs: <a href="{folder}">{_html(ended.out_dir)}</a>'
        if ended.status != "done":
            text += "<br>Fix the cause, then Resume continues from the first unfinished step."
        self.run_status.setText(text)
        self.open_folder.setEnabled(True)
        self.open_folder.setToolTip(f"Open {ended.out_dir}")
        message = f"{ended.recipe}: {words}, {usd_text(ended.cost_usd)}"
        notify_done(self, "Recipe finished", message)

    def _on_run_error(self, message: str) -> None:
        self.run_error.setText(message)
        self.run_error.show()

    def _on_unfinished(self, runs: list[UnfinishedRun]) -> None:
        self.unfinished.clear()
        for run in runs:
            when = run.updated_utc[:16].replace("T", " ")
            self.unfinished.addItem(f"{run.recipe} · {run.done_steps}/{run.total_steps} · {when}", run.run_id)
        has = bool(runs)
        self.unfinished.setVisible(has)
        self.unfinished_label.setVisible(has)
        self.resume_button.setVisible(has)
        self.resume_button.setEnabled(has and not self.vm.busy)

    # -- edit a copy -----------------------------------------------------------------------
    def _edit_copy(self) -> None:
        if self._form is not None:
            self.vm.edit_copy(self._form.name)

    def _open_copy(self, path: str) -> None:
        self.run_status.setText(f"Copied to {_html(path)}; edit it, then Reload.")
        QDesktopServices.openUrl(QUrl.fromLocalFile(path))

    async def aclose(self) -> None:
        await self.vm.aclose()


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def create(
    services: PanelServices,
    parent: QWidget | None = None,
    executor: SerialExecutor | None = None,
    events: LedgerEvents | None = None,
) -> RecipesView:
    """The Recipes page over a :class:`core.services.Services`. ``events``: the app's
    ledger hub, told after each step of a run."""
    vm = RecipesViewModel(
        executor or SerialExecutor("sparklio-recipes"),
        services.workspace,
        services.dispatcher,
        services.planner,
        events=events,
    )
    view = RecipesView(vm, parent)
    vm.setParent(view)
    return view
