"""The routing inspector: a searchable history and the full story of one request.

Plain words first, numbers one click away: a request leads with one sentence of why its
model was chosen (in larger text), then what actually happened, the estimate against the
actual, and the chain in words ("If it fails: GPT-4 → Qwen 2.5"). "N models excluded ▸"
opens the numbers: the candidates with each factor score, the weights and the total
(sortable; excluded models greyed with the rule that excluded them) and how many models
each rule excluded. The attempts timeline and the full explanation follow. Models and
tasks are named everywhere; a model's id is in its tooltip.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QBrush, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.inspector import PERIODS, InspectorViewModel
from sparklio_desktop.ui.widgets.format import seconds_text, usd_text

CANDIDATE_COLUMNS = (
    "Model",
    "Role",
    "Complexity",
    "Cost",
    "Speed",
    "Quality",
    "Total",
    "Est. cost",
    "Est. latency",
    "Excluded by",
)
HISTORY_COLUMNS = ("When (UTC)", "Task", "Model", "Outcome", "Cost", "Prompt")
ATTEMPT_COLUMNS = ("#", "Model", "Outcome", "Waited", "Latency", "Cost", "Then", "Error")


class _NumberItem(QTableWidgetItem):
    """Sorts by its numeric value, not its text."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self._value = -1.0 if value is None else float(value)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        if isinstance(other, _NumberItem):
            return self._value < other._value
        return super().__lt__(other)


def _table(columns: tuple[str, ...], name: str) -> QTableWidget:
    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setAccessibleName(name)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.verticalHeader().hide()
    # Sized once after each fill: ResizeToContents would re-measure on every setItem.
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class InspectorView(QWidget):
    """Why a request went where it went."""

    def __init__(self, vm: InspectorViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._history: list[dict[str, Any]] = []
        self._excluded = 0
        self._build()
        self._connect()

    def _build(self) -> None:
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search prompts and models…")
        self.search.setAccessibleName("Search history")
        self.task_filter = QComboBox()
        self.task_filter.setAccessibleName("Filter by task")
        self.task_filter.addItem("All tasks", None)
        for words, task, description in self.vm.task_choices():
            self.task_filter.addItem(words, task)
            self.task_filter.setItemData(self.task_filter.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        self.model_filter = QComboBox()
        self.model_filter.setAccessibleName("Filter by model")
        self.model_filter.addItem("All models", None)
        for name, model_id in self.vm.model_choices():
            self.model_filter.addItem(name, model_id)
            self.model_filter.setItemData(self.model_filter.count() - 1, model_id, Qt.ItemDataRole.ToolTipRole)
        self.period_filter = QComboBox()
        self.period_filter.setAccessibleName("Filter by date")
        for key, label in PERIODS.items():
            self.period_filter.addItem(label, key)
        # Model names can be long ("OpenAI text-embedding-3-large"): the combos stay narrow
        # and the search box keeps room to type.
        for combo in (self.task_filter, self.model_filter, self.period_filter):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        self.search.setMinimumWidth(160)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 2)
        filters.addWidget(self.task_filter, 1)
        filters.addWidget(self.model_filter, 1)
        filters.addWidget(self.period_filter, 1)
        self.history = _table(HISTORY_COLUMNS, "Request history")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.addLayout(filters)
        left_layout.addWidget(self.history)

        self.lead = QLabel("Pick a request from the history, or send one from the composer.")
        self.lead.setWordWrap(True)
        self.lead.setAccessibleName("Why this model")
        self.lead.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.lead.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        font.setBold(True)
        self.lead.setFont(font)
        self.outcome = QLabel()
        self.outcome.setWordWrap(True)
        self.outcome.setAccessibleName("What happened")
        self.outcome.hide()
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setAccessibleName("Request summary")
        self.exploration = QLabel()
        self.exploration.setAccessibleName("Exploration")
        self.weights = QLabel()
        self.chain = QLabel()
        self.chain.setWordWrap(True)
        self.chain.setAccessibleName("Chain")
        self.estimate = QLabel()
        self.estimate.setAccessibleName("Estimated against actual")
        self.candidates = _table(CANDIDATE_COLUMNS, "Candidates")
        self.candidates.setSortingEnabled(True)
        self.rules = QLabel()
        self.rules.setWordWrap(True)
        self.rules.setAccessibleName("Models excluded by each rule")
        # The numbers, one click away: the candidates table, the weights and the rule counts.
        self.details_toggle = QToolButton()
        self.details_toggle.setCheckable(True)
        self.details_toggle.setAutoRaise(True)
        self.details_toggle.setAccessibleName("Show the candidates")
        self.details_toggle.setText("Candidates ▸")
        self.details = QWidget()
        details_layout = QVBoxLayout(self.details)
        details_layout.setContentsMargins(0, 0, 0, 0)
        details_layout.addWidget(self.rules)
        details_layout.addWidget(self.weights)
        details_layout.addWidget(self.candidates)
        self.details.hide()
        self.attempts = _table(ATTEMPT_COLUMNS, "Attempts timeline")
        self.explanation = QTextBrowser()
        self.explanation.setAccessibleName("Explanation")
        right = QWidget()
        right_layout = QVBoxLayout(right)
        for widget in (self.lead, self.outcome, self.estimate, self.chain, self.header, self.exploration):
            right_layout.addWidget(widget)
        right_layout.addWidget(self.details_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        right_layout.addWidget(self.details, 3)
        right_layout.addWidget(QLabel("Attempts"))
        right_layout.addWidget(self.attempts, 2)
        right_layout.addWidget(QLabel("Explanation"))
        right_layout.addWidget(self.explanation, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setObjectName("inspector-history-detail")
        # The detail scrolls as one page: in the Chat page's narrow right panel its wrapped
        # sentences need more height than the pane has, and were cut off mid-line.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(right)
        split.addWidget(left)
        split.addWidget(scroll)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([480, 720])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(250)

    def _connect(self) -> None:
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self._search_timer.timeout.connect(self._apply_filters)
        self.task_filter.currentIndexChanged.connect(lambda _: self._apply_filters())
        self.model_filter.currentIndexChanged.connect(lambda _: self._apply_filters())
        self.period_filter.currentIndexChanged.connect(lambda _: self._apply_filters())
        self.history.currentCellChanged.connect(lambda row, *_: self._open_row(row))
        self.details_toggle.toggled.connect(self._on_details_toggled)
        self.vm.historyChanged.connect(self._on_history)
        self.vm.detailChanged.connect(self._on_detail)

    def _apply_filters(self) -> None:
        self.vm.search = self.search.text().strip()
        self.vm.task_filter = self.task_filter.currentData()
        self.vm.model_filter = self.model_filter.currentData()
        self.vm.set_period(self.period_filter.currentData())
        self.vm.refresh_history()

    def _open_row(self, row: int) -> None:
        if 0 <= row < len(self._history):
            self.vm.open_request(self._history[row]["request_id"])

    def _on_details_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
        self._update_details_toggle()

    def _update_details_toggle(self) -> None:
        excluded = self._excluded
        words = (
            "1 model excluded"
            if excluded == 1
            else (f"{excluded} models excluded" if excluded else "No model excluded: the candidates")
        )
        self.details_toggle.setText(f"{words} {'▾' if self.details_toggle.isChecked() else '▸'}")

    # -- view-model signals -----------------------------------------------------------
    def _on_history(self, rows: list[dict[str, Any]]) -> None:
        self._history = rows
        with QSignalBlocker(self.history):
            self.history.setRowCount(len(rows))
            for r, row in enumerate(rows):
                values = (
                    row["ts_utc"].strftime("%Y-%m-%d %H:%M"),
                    row["task_words"],
                    row["model_name"],
                    row["outcome_words"],
                    usd_text(row["cost_usd"]),
                    row["prompt"],
                )
                tips = ("", row["task"], row["model"], row["outcome"], "", "")
                for c, text in enumerate(values):
                    item = QTableWidgetItem(text)
                    if tips[c]:
                        item.setToolTip(tips[c])
                    self.history.setItem(r, c, item)
        self.history.resizeColumnsToContents()

    def _on_detail(self, detail: dict[str, Any]) -> None:
        options = detail.get("options", {})
        request = detail["request_id"]
        what = f"Request {request[:12]}" if request else "Current route preview"
        self.lead.setText(detail["summary"] or "No routing decision was stored for this request.")
        self.outcome.setText(detail["outcome"])
        self.outcome.setVisible(bool(detail["outcome"]))
        self.header.setText(
            f"{what} · {detail['task_words'] or options.get('task', '')} · "
            f"complexity {options.get('complexity') or '–'}, "
            f"budget {options.get('budget')}, speed {options.get('speed')}, "
            f"quality {options.get('quality')}" + (f"\n{detail['prompt']}" if detail["prompt"] else "")
        )
        self.header.setToolTip(detail["task_description"])
        self.exploration.setText(
            "A/B exploration pick: an alternative went first on purpose."
            if detail["exploration"]
            else "Not an exploration pick."
        )
        names = detail["chain_names"]
        chain = f"{names[0]} first." if names else "No model fits."
        if detail["fallbacks"]:
            chain += " " + detail["fallbacks"]
        self.chain.setText(chain)
        self.chain.setToolTip(" → ".join(detail["chain"]))
        self._excluded = detail["excluded_count"]
        self._update_details_toggle()
        counts = detail["excluded_counts"]
        self.rules.setText(
            "Excluded: " + "; ".join(f"{rule}: {n}" for rule, n in counts.items())
            if counts
            else "No rule excluded a model."
        )
        actual = (
            ""
            if not detail["attempts"]
            else (f"; actual {usd_text(detail['actual_cost_usd'])}, {seconds_text(detail['actual_latency_s'])}")
        )
        self.estimate.setText(
            f"Estimated {usd_text(detail['estimated_cost_usd'])}, {seconds_text(detail['estimated_latency_s'])}{actual}"
        )
        w = detail["weights"]
        self.weights.setText("Weights: " + ", ".join(f"{k} {v:g}" for k, v in w.items()))
        self._fill_candidates(detail["candidates"])
        self._fill_attempts(detail["attempts"])
        self.explanation.setPlainText(
            detail["explanation"] + ("\n\n" + "\n".join(detail["notes"]) if detail["notes"] else "")
        )

    def _fill_candidates(self, candidates: list[dict[str, Any]]) -> None:
        table = self.candidates
        table.setSortingEnabled(False)
        table.setRowCount(len(candidates))
        grey = QBrush(self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text))
        for r, c in enumerate(candidates):
            s = c["scores"]
            items = [QTableWidgetItem(c["name"]), QTableWidgetItem(c.get("role") or "")]
            items += [_NumberItem(s[k], f"{s[k]:.3f}") for k in ("complexity", "cost", "speed", "quality", "total")]
            items.append(_NumberItem(c["cost_usd"], usd_text(c["cost_usd"])))
            items.append(_NumberItem(c["latency_s"], seconds_text(c["latency_s"])))
            detail = c.get("exclusion_detail") or ""
            items.append(QTableWidgetItem(c["excluded_text"] + (f" ({detail})" if detail else "")))
            for col, item in enumerate(items):
                item.setToolTip(c["id"])
                if c.get("excluded_by"):
                    item.setForeground(grey)
                table.setItem(r, col, item)
        table.setSortingEnabled(True)
        table.sortItems(6, Qt.SortOrder.DescendingOrder)
        table.resizeColumnsToContents()

    def _fill_attempts(self, attempts: list[dict[str, Any]]) -> None:
        table = self.attempts
        table.setRowCount(len(attempts))
        for r, a in enumerate(attempts):
            error = f"{a['error_class']}: {a['error']}" if a["error_class"] else (a["error"] or "")
            values = (
                str(a["attempt"]),
                a["model_name"],
                a["outcome_words"],
                f"{a['waited_s']:g} s",
                seconds_text(a["latency_s"]),
                usd_text(a["cost_usd"]),
                a["then"],
                error,
            )
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                if c in (1, 2):
                    item.setToolTip(a["model"] if c == 1 else a["outcome"])
                table.setItem(r, c, item)
        table.resizeColumnsToContents()
