"""The spend panel: the budget gauge, daily bars and the cumulative line, breakdowns.

pyqtgraph takes about 0.3 s to import, so the chart is built the first time the
panel is shown, never on the start-up path. Every figure comes from the view-model's
:class:`SpendFigures`, which are the ledger's SQL sums.

The gauge takes its colour from ``SpendFigures.level`` (amber at the alert mark or when
the month-end projection passes the budget, red at the cap), the chart recolours on
every theme change (``theme.is_theme_change``), the budget and alert lines have a
legend, and the cumulative line stops at today: the days ahead have no spend yet.

For a team, a "Team / Me" choice shows everyone's figures or this install's member's
(measured against their own monthly limit when they have one); a line always gives both
totals, and a by-member table appears once more than one member has spent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QSignalBlocker, Qt
from PySide6.QtGui import QColor, QPalette, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.theme import LEVEL_COLOURS, ChartColours, chart_colours, is_theme_change, style_plot
from sparklio_desktop.ui.viewmodels.spend import SpendFigures, SpendViewModel
from sparklio_desktop.ui.widgets.format import usd_text

GAUGE_STEPS = 1000
BANNER_STYLE = {  # dark text on a light tint: AA contrast in light and dark themes alike
    "amber": "background: #fff3cd; color: #664d03; padding: 6px; border-radius: 4px",
    "red": "background: #f8d7da; color: #58151c; padding: 6px; border-radius: 4px",
}
DAILY_TITLE = "Daily spend (USD)"
TOTAL_TITLE = "Cumulative spend against the budget (USD)"


def _breakdown_table(title: str) -> QTableWidget:
    table = QTableWidget(0, 3)
    table.setHorizontalHeaderLabels([title, "Spent", "Share"])
    table.setAccessibleName(f"Spend by {title.lower()}")
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return table


class SpendView(QWidget):
    """Where the month's money goes."""

    def __init__(self, vm: SpendViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.chart: Any = None  # pyqtgraph's GraphicsLayoutWidget, built on first show
        self._figures: SpendFigures | None = None
        self._build()
        vm.figuresChanged.connect(self._on_figures)
        vm.exported.connect(lambda path, rows: self.export_label.setText(f"Exported {rows:,} rows to {path}"))

    def _build(self) -> None:
        self.month = QComboBox()
        self.month.setAccessibleName("Month")
        for month in self.vm.months():
            self.month.addItem(month, month)
        self.month.currentIndexChanged.connect(lambda _: self.vm.load(self.month.currentData()))
        self.export_button = QPushButton("Export &CSV…")
        self.export_button.setAccessibleName("Export the month as CSV")
        self.export_button.clicked.connect(self._export)
        self.export_label = QLabel()
        self.scope = QComboBox()
        self.scope.setAccessibleName("Whose spend: the team or me")
        self.scope.addItem("Team", "team")
        self.scope.addItem(f"Me ({self.vm.member})", "me")
        self.scope.currentIndexChanged.connect(lambda _: self.vm.set_scope(self.scope.currentData()))
        self.team_label = QLabel()
        self.team_label.setAccessibleName("Team and my spend")
        top = QHBoxLayout()
        top.addWidget(QLabel("Month"))
        top.addWidget(self.month)
        self.scope_label = QLabel("Show")
        top.addWidget(self.scope_label)
        top.addWidget(self.scope)
        top.addWidget(self.team_label)
        top.addStretch(1)
        top.addWidget(self.export_label)
        top.addWidget(self.export_button)

        self.banner = QLabel()
        self.banner.setAccessibleName("Budget alert")
        self.banner.setWordWrap(True)
        self.banner.hide()
        self.gauge = QProgressBar()
        self.gauge.setAccessibleName("Budget gauge")
        self.gauge.setRange(0, GAUGE_STEPS)
        self.mark_label = QLabel()
        self.mark_label.setAccessibleName("Alert mark and projection")
        self.anomaly_label = QLabel()
        self.anomaly_label.setWordWrap(True)
        self.anomaly_label.setStyleSheet("color: #b02a37")
        self.anomaly_label.setAccessibleName("Spend anomalies")
        self.anomaly_label.hide()
        self.stats = QLabel()
        self.stats.setAccessibleName("Cache and fallback figures")
        self.stats.setWordWrap(True)
        self.chart_holder = QVBoxLayout()
        self.tables = {name: _breakdown_table(name) for name in ("Model", "Task", "Provider")}
        self.member_table = _breakdown_table("Member")
        self.member_table.hide()  # until more than one member has spent
        grid = QGridLayout()
        for col, table in enumerate(self.tables.values()):
            grid.addWidget(table, 0, col)
        grid.addWidget(self.member_table, 0, len(self.tables))

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.banner)
        layout.addWidget(self.gauge)
        layout.addWidget(self.mark_label)
        layout.addWidget(self.anomaly_label)
        layout.addLayout(self.chart_holder, 3)
        layout.addWidget(self.stats)
        layout.addLayout(grid, 2)

    # -- the chart, built lazily ----------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.chart is None:
            self._build_chart()
            if self._figures is not None:
                self._draw(self._figures)

    def _build_chart(self) -> None:
        import pyqtgraph as pg

        self._pg = pg
        self.chart = pg.GraphicsLayoutWidget()
        self.chart.setAccessibleName("Daily and cumulative spend chart")
        self.daily_plot = self.chart.addPlot(row=0, col=0, title=DAILY_TITLE)
        self.total_plot = self.chart.addPlot(row=1, col=0, title=TOTAL_TITLE)
        self.total_plot.setXLink(self.daily_plot)
        # Bottom right: the budget lines run along the top, the spend line starts at the bottom left.
        self.legend = self.total_plot.addLegend(offset=(-10, -10))
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        self.daily_plot.addItem(self.bars)
        self.line = self.total_plot.plot([], [], name="Spent so far")
        self.budget_line = pg.InfiniteLine(angle=0)
        self.mark_line = pg.InfiniteLine(angle=0)
        self.total_plot.addItem(self.budget_line)
        self.total_plot.addItem(self.mark_line)
        # InfiniteLines have no legend sample of their own: an empty curve with the same pen stands in.
        self.budget_key = pg.PlotDataItem()
        self.mark_key = pg.PlotDataItem()
        self.legend.addItem(self.budget_key, "Budget")
        self.legend.addItem(self.mark_key, "Alert mark")
        self.chart.scene().sigMouseMoved.connect(self._on_hover)
        self.chart_holder.addWidget(self.chart)
        self._recolour()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        if self.chart is not None and is_theme_change(event):
            self._recolour()

    def _recolour(self) -> None:
        """Paint the chart in the current palette's colours (light or dark, live)."""
        pg = self._pg
        c: ChartColours = chart_colours(self.palette())
        self.colours = c
        self.chart.setBackground(c.background)
        style_plot(self.daily_plot, c, DAILY_TITLE)
        style_plot(self.total_plot, c, TOTAL_TITLE)
        self.bars.setOpts(brush=c.series, pen=c.series)
        self.line.setPen(pg.mkPen(c.line, width=2))
        budget_pen = pg.mkPen(c.budget, width=2, style=Qt.PenStyle.DashLine)
        mark_pen = pg.mkPen(c.mark, width=2, style=Qt.PenStyle.DotLine)
        self.budget_line.setPen(budget_pen)
        self.mark_line.setPen(mark_pen)
        self.budget_key.setPen(budget_pen)
        self.mark_key.setPen(mark_pen)
        self.legend.update()

    def _draw(self, f: SpendFigures) -> None:
        days = list(range(1, len(f.daily) + 1))
        self.bars.setOpts(x=days, height=[float(a) for _, a in f.daily], width=0.8)
        elapsed = f.elapsed_cumulative
        self.line.setData(days[: len(elapsed)], [float(c) for c in elapsed])
        self.budget_line.setValue(float(f.budget_usd))
        self.mark_line.setValue(float(f.alert_mark_usd))
        top = max([float(f.budget_usd), *(float(c) for c in f.cumulative[-1:])]) * 1.1 or 1.0
        self.total_plot.setYRange(0, top)
        self.daily_plot.setXRange(0.5, len(days) + 0.5, padding=0)

    def _on_hover(self, position: Any) -> None:
        f = self._figures
        if f is None:
            return
        for plot in (self.daily_plot, self.total_plot):
            if plot.sceneBoundingRect().contains(position):
                day = round(plot.vb.mapSceneToView(position).x())
                if 1 <= day <= len(f.daily):
                    date, amount = f.daily[day - 1]
                    QToolTip.showText(
                        self.chart.mapToGlobal(position.toPoint()),
                        f"{date.isoformat()}: {usd_text(amount)} spent, "
                        f"{usd_text(f.cumulative[day - 1])} so far this month",
                        self.chart,
                    )
                return

    # -- figures --------------------------------------------------------------------------
    def _on_figures(self, f: SpendFigures) -> None:
        self._figures = f
        with QSignalBlocker(self.month):
            self.month.setCurrentIndex(max(0, self.month.findData(f.month)))
        with QSignalBlocker(self.scope):
            self.scope.setCurrentIndex(max(0, self.scope.findData(f.scope)))
        self.team_label.setText(f.team_and_me_text)
        self._fill(self.member_table, f.by_member, str, f.team_spent_usd)
        team = len(f.by_member) > 1
        self.member_table.setVisible(team)
        # A creator on their own has no team to tell apart from themselves: the choice and
        # the two totals appear once a second member has spent (or while "Me" is chosen).
        for widget in (self.scope_label, self.scope, self.team_label):
            widget.setVisible(team or f.scope == "me")
        self.gauge.setValue(min(GAUGE_STEPS, int(f.percent * GAUGE_STEPS / 100)))
        self.gauge.setFormat(f"{f.spent_of_budget} ({f.percent:.1f}%)")
        self._set_level(f.level)
        self.mark_label.setText(
            f"{f.alert_threshold:.0%} mark: {usd_text(f.alert_mark_usd)} · month-end projection at this pace: "
            f"{usd_text(f.projection_usd)}"
        )
        self.banner.setText(f.banner_text)
        self.banner.setStyleSheet(BANNER_STYLE["red" if f.level == "red" else "amber"])
        self.banner.setVisible(f.level != "ok")
        self.anomaly_label.setText(
            "\n".join(
                f"Unusual spend on {day.isoformat()}: {usd_text(amount)}, over "
                f"{usd_text(median)} typical (trailing median)"
                for day, amount, median in f.anomalies
            )
        )
        self.anomaly_label.setVisible(bool(f.anomalies))
        local_total = f.local_answers + f.cloud_answers
        self.stats.setText(
            f"{f.requests:,} request{'s' if f.requests != 1 else ''}, "
            f"{f.attempts:,} attempt{'s' if f.attempts != 1 else ''} · cache hit rate {f.cache_hit_rate:.1%}, "
            f"saved {usd_text(f.saved_usd)}" + (f" · {f.history_text}" if f.history_text else "") + " · "
            f"fallback rate {f.fallback_rate:.1%} · "
            f"local {f.local_share:.0%} of {local_total:,} answers ({usd_text(f.local_usd)}), "
            f"cloud {usd_text(f.cloud_usd)}"
        )
        # Models by name, tasks in words; the ids stay in each cell's tooltip and data.
        labels: tuple[Callable[[str], str], ...] = (f.model_label, f.task_label, str)
        for table, rows, label in zip(
            self.tables.values(), (f.by_model, f.by_task, f.by_provider), labels, strict=True
        ):
            self._fill(table, rows, label, f.spent_usd)
        if self.chart is not None:
            self._draw(f)

    @staticmethod
    def _fill(table: QTableWidget, rows: list[tuple[str, Any]], label: Callable[[str], str], total: Any) -> None:
        """One breakdown: each key by its label, its spend, and its share of ``total``."""
        table.setRowCount(len(rows))
        for r, (key, amount) in enumerate(rows):
            share = float(amount / total) if total else 0.0
            for c, text in enumerate((label(key), usd_text(amount), f"{share:.1%}")):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(Qt.ItemDataRole.UserRole, key)
                item.setToolTip(f"{key}: {amount} USD")
                table.setItem(r, c, item)

    def _set_level(self, level: str) -> None:
        """The gauge's colour: the accent when all is well, amber near the budget, red at it."""
        self.gauge.setProperty("level", level)
        palette = QPalette()
        if level in LEVEL_COLOURS:
            palette.setColor(QPalette.ColorRole.Highlight, QColor(LEVEL_COLOURS[level]))
        self.gauge.setPalette(palette)
        self.gauge.setAccessibleDescription({"ok": "", "amber": "Near the budget", "red": "Budget reached"}[level])

    def _export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export month", f"sparklio-{self.vm.month}.csv", "CSV (*.csv)")
        if path:
            self.vm.export_csv(path)
