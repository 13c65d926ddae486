"""The leaderboard panel: strengths with 95% intervals as a table and a chart, filters,
and the policy suggestion for the chosen task (preview the diff, apply, undo).

pyqtgraph costs ~0.3 s to import, so the chart is built the first time the panel is
shown (as the spend panel does). Each model gets its own ``ErrorBarItem`` so a model's
interval is one item in the chart, which keeps hovering and tests simple. The chart
recolours on every theme change (``theme.is_theme_change``), light or dark, live.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from PySide6.QtCore import QDate, QEvent, Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.theme import chart_colours, is_theme_change, style_plot
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.leaderboard import Board, BoardFilter, LeaderboardViewModel, Suggestion
from sparklio_desktop.ui.viewmodels.seams import PanelServices

CHART_TITLE = "Strength (0–10) with 95% intervals"
COLUMNS = ("Rank", "Model", "Strength", "95% interval", "Votes", "Provisional", "Stars")


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _day(edit: QDateEdit, end: bool = False) -> datetime:
    """The start of the chosen UTC day (the day after, for an inclusive "to" date)."""
    d = edit.date()
    start = datetime(d.year(), d.month(), d.day(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


class LeaderboardView(QWidget):
    """Your models ranked by your own votes, with honest intervals."""

    def __init__(self, vm: LeaderboardViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.chart: Any = None  # pyqtgraph PlotWidget, built on first show (pyqtgraph has no types)
        self.error_bars: list[Any] = []
        self._board: Board | None = None
        self._loaded = False
        self._build()
        vm.boardChanged.connect(self._on_board)
        vm.suggestionChanged.connect(self._on_suggestion)
        vm.diffReady.connect(self.diff.setPlainText)
        vm.policyChanged.connect(self._on_policy_changed)
        vm.errorRaised.connect(self.status.setText)
        vm.busyChanged.connect(lambda busy: self.status.setText("Fitting…") if busy else None)

    def _build(self) -> None:
        self.task_combo = QComboBox()
        self.task_combo.setAccessibleName("Task type filter")
        self.task_combo.addItem("All tasks", None)
        for words, task in self.vm.task_choices():
            self.task_combo.addItem(words, task)
            self.task_combo.setItemData(self.task_combo.count() - 1, task, Qt.ItemDataRole.ToolTipRole)
        self.since_check = QCheckBox("&From")
        self.since_check.setAccessibleName("Only votes from a date on")
        self.since_edit = QDateEdit(QDate.currentDate().addMonths(-1))
        self.since_edit.setAccessibleName("From date (UTC)")
        self.until_check = QCheckBox("T&o")
        self.until_check.setAccessibleName("Only votes up to a date")
        self.until_edit = QDateEdit(QDate.currentDate())
        self.until_edit.setAccessibleName("To date (UTC, inclusive)")
        for edit in (self.since_edit, self.until_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        self.decay_check = QCheckBox("Time &decay, half-life")
        self.decay_check.setAccessibleName("Weigh old votes less")
        self.half_life = QDoubleSpinBox()
        self.half_life.setAccessibleName("Half-life in days")
        self.half_life.setRange(1, 3650)
        self.half_life.setValue(30)
        self.half_life.setSuffix(" days")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setAccessibleName("Recompute the leaderboard")
        self.refresh_button.clicked.connect(self.reload)
        self.task_combo.currentIndexChanged.connect(self.reload)
        for check in (self.since_check, self.until_check, self.decay_check):
            check.toggled.connect(self.reload)
        self.since_edit.dateChanged.connect(lambda _d: self._reload_if(self.since_check))
        self.until_edit.dateChanged.connect(lambda _d: self._reload_if(self.until_check))
        self.half_life.editingFinished.connect(lambda: self._reload_if(self.decay_check))
        filters = QHBoxLayout()
        for widget in (
            QLabel("Task"),
            self.task_combo,
            self.since_check,
            self.since_edit,
            self.until_check,
            self.until_edit,
            self.decay_check,
            self.half_life,
            self.refresh_button,
        ):
            filters.addWidget(widget)
        filters.addStretch(1)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setAccessibleName("Leaderboard")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.chart_holder = QVBoxLayout()
        self.summary = QLabel()
        self.summary.setAccessibleName("Votes behind the board")

        self.suggestion_label = QLabel("Choose a task type to see a suggestion.")
        self.suggestion_label.setAccessibleName("Policy suggestion")
        self.suggestion_label.setWordWrap(True)
        self.preview_button = QPushButton("Pre&view diff")
        self.preview_button.setAccessibleName("Preview the policy change")
        self.preview_button.clicked.connect(self.vm.preview)
        self.apply_button = QPushButton("&Apply")
        self.apply_button.setAccessibleName("Apply the suggestion to your policy")
        self.apply_button.clicked.connect(self.vm.apply)
        self.undo_button = QPushButton("&Undo")
        self.undo_button.setAccessibleName("Undo the last applied suggestion")
        self.undo_button.clicked.connect(self.vm.undo)
        self.diff = QPlainTextEdit()
        self.diff.setReadOnly(True)
        self.diff.setAccessibleName("Policy diff")
        self.diff.setMaximumHeight(160)
        self.status = QLabel()
        self.status.setAccessibleName("Leaderboard status")
        suggestions = QGroupBox("Suggestion")
        s_layout = QVBoxLayout(suggestions)
        s_layout.addWidget(self.suggestion_label)
        buttons = QHBoxLayout()
        for b in (self.preview_button, self.apply_button, self.undo_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        s_layout.addLayout(buttons)
        s_layout.addWidget(self.diff)
        self._on_suggestion(None)

        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.table, 2)
        layout.addLayout(self.chart_holder, 2)
        layout.addWidget(self.summary)
        layout.addWidget(suggestions)
        layout.addWidget(self.status)

    def current_filter(self) -> BoardFilter:
        return BoardFilter(
            task=self.task_combo.currentData(),
            since=_day(self.since_edit) if self.since_check.isChecked() else None,
            until=_day(self.until_edit, end=True) if self.until_check.isChecked() else None,
            half_life_days=self.half_life.value() if self.decay_check.isChecked() else None,
        )

    def _reload_if(self, check: QCheckBox) -> None:
        if check.isChecked():
            self.reload()

    def reload(self) -> None:
        self.vm.load(self.current_filter())

    # -- the chart, built lazily -------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.chart is None:
            self._build_chart()
            if self._board is not None:
                self._draw(self._board)
        if not self._loaded:
            self._loaded = True
            self.reload()

    def _build_chart(self) -> None:
        import pyqtgraph as pg

        self._pg = pg
        self.chart = pg.PlotWidget(title=CHART_TITLE)
        self.chart.setAccessibleName("Leaderboard chart")
        self.chart.setYRange(0, 10)
        self.chart_holder.addWidget(self.chart)
        self._recolour()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if self.chart is not None and is_theme_change(event):
            self._recolour()
            if self._board is not None:
                self._draw(self._board)  # the error bars take the new colours

    def _recolour(self) -> None:
        self.colours = chart_colours(self.palette())
        self.chart.setBackground(self.colours.background)
        style_plot(self.chart.getPlotItem(), self.colours, CHART_TITLE)

    def _draw(self, board: Board) -> None:
        import numpy as np

        pg = self._pg
        plot = self.chart.getPlotItem()
        plot.clear()
        self.error_bars = []
        # A model with votes has a strength and its interval (stars alone give none of the three).
        rated = [
            (r, r.strength, r.low, r.high)
            for r in board.rows
            if r.strength is not None and r.low is not None and r.high is not None
        ]
        for x, (row, strength, low, high) in enumerate(rated):
            bar = pg.ErrorBarItem(
                x=np.array([x]),
                y=np.array([strength]),  # arrays: it subtracts them
                top=np.array([high - strength]),
                bottom=np.array([strength - low]),
                beam=0.25,
                pen=pg.mkPen(self.colours.muted if row.provisional else self.colours.series, width=2),
            )
            bar.setToolTip(
                f"{board.name(row.model_id)} ({row.model_id}): {strength:.1f} ({low:.1f}–{high:.1f}), {row.votes} votes"
            )
            plot.addItem(bar)
            self.error_bars.append(bar)
        plot.plot(
            list(range(len(rated))),
            [strength for _, strength, _, _ in rated],
            pen=None,
            symbol="o",
            symbolBrush=self.colours.series,
        )
        plot.getAxis("bottom").setTicks([[(x, board.name(r.model_id)) for x, (r, *_) in enumerate(rated)]])
        plot.setXRange(-0.5, max(len(rated), 1) - 0.5)
        plot.setYRange(0, 10)

    # -- results ----------------------------------------------------------------------------
    def _on_board(self, board: Board) -> None:
        self._board = board
        self.table.setRowCount(len(board.rows))
        for r, row in enumerate(board.rows):
            stars = (
                "–"
                if row.stars_mean is None
                else (f"{row.stars_mean:.1f} ({_num(row.stars_low)}–{_num(row.stars_high)}), {row.stars_n} rated")
            )
            values = (
                "–" if row.rank is None else str(row.rank),
                board.name(row.model_id),
                _num(row.strength),
                "–" if row.low is None else f"{row.low:.1f} – {row.high:.1f}",
                str(row.votes),
                "provisional" if row.provisional else "",
                stars,
            )
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row.model_id)  # the id: what a sort or filter keys on
                item.setToolTip(row.model_id)
                if c != 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(r, c, item)
        f = board.filter
        self.summary.setText(
            f"{board.votes} vote{'s' if board.votes != 1 else ''}"
            + (f" on {board.task_name or f.task}" if f.task else " over every task")
            + (f", half-life {f.half_life_days:g} days" if f.half_life_days else "")
        )
        self.status.setText("" if board.rows else "No votes yet: compare some answers first.")
        if self.chart is not None:
            self._draw(board)

    def _on_suggestion(self, suggestion: Suggestion | None) -> None:
        if suggestion is None:
            task = self.task_combo.currentData()
            self.suggestion_label.setText(
                "Choose a task type to see a suggestion."
                if task is None
                else f"No suggestion for {self.vm.task_name(task)}: the primary holds up (or too few votes)."
            )
            self.suggestion_label.setToolTip("")
        else:
            line = self.vm.suggestion_line(suggestion)
            self.suggestion_label.setText(line.text if line else suggestion.sentence)
            self.suggestion_label.setToolTip(
                f"{suggestion.task_type}: {suggestion.candidate} instead of {suggestion.current_primary}"
            )
        self.preview_button.setEnabled(suggestion is not None)
        self.apply_button.setEnabled(suggestion is not None)
        self.undo_button.setEnabled(self.vm.can_undo())

    def _on_policy_changed(self, diff: str) -> None:
        self.diff.setPlainText(diff)
        self.status.setText("Policy updated; the earlier version is kept." if diff else "Policy unchanged.")
        self.undo_button.setEnabled(self.vm.can_undo())


def create(
    services: PanelServices, parent: QWidget | None = None, executor: SerialExecutor | None = None
) -> LeaderboardView:
    """The leaderboard over a :class:`core.services.Services` (the main window adds it as a tab)."""

    vm = LeaderboardViewModel(services.workspace, services.votes, executor or SerialExecutor("sparklio-ratings"))
    view = LeaderboardView(vm, parent)
    vm.setParent(view)
    return view
