"""The Models panel's Catalog tab: families and their members, and the Refresh button.

Why a tree: the policy names families ("Claude Sonnet") and the router resolves each to
its newest usable member, so a family row says which member it resolves to and its
members sit under it, newest first. Retired models stay listed, greyed with the date they
vanished (the ledger's history still names them); where the catalog's price differs from
genai-prices' current list price, the cell shows both on a warm background. The view
only draws what :class:`CatalogViewModel` emits.
"""

from __future__ import annotations

import re

from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.catalog import CatalogViewModel
from sparklio_desktop.ui.viewmodels.payloads import CatalogListing, MemberRow, RefreshOutcome

# Status third: a retired model's date must show without scrolling sideways.
COLUMNS = ("Family / model", "API name", "Status", "Released", "Price (USD)", "Price source", "Speed")
STATUS_COLUMN = COLUMNS.index("Status")
PRICE_COLUMN = COLUMNS.index("Price (USD)")
SOURCE_COLUMN = COLUMNS.index("Price source")
RETIRED_GREY = QColor("#8a8a8a")
DIFFERS_BACKGROUND = QColor("#ffe8b3")  # warm: the catalog and genai-prices disagree
DIFFERS_TEXT = QColor("#3d2a00")
FAILURE_COLOR = "#b02a37"


def _member_cells(m: MemberRow) -> list[str]:
    price = m.price + (f" (genai-prices: {m.list_price})" if m.list_price else "")
    # The cell names the source; its parenthesised detail ("(OpenAI pricing page, ...)") is in the tooltip.
    source = re.split(r" \(|; ", m.price_source or ("–" if m.unpriced else "catalog"))[0]
    if m.price_as_of is not None:
        source += f", as of {m.price_as_of.isoformat()}"
    if m.retired:
        status = f"retired {m.retired_since.isoformat()}" if m.retired_since else "retired"
    elif m.unpriced:
        status = "unpriced: never routed"
    else:
        status = "local" if m.local else ""
    return [
        m.name,
        m.api_name,
        status,
        m.released.isoformat() if m.released else "–",
        price,
        source,
        m.measured or "",
    ]


class CatalogTab(QWidget):
    """The tree of families and members, a Refresh button with progress, and the change line."""

    def __init__(self, vm: CatalogViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._loaded = False
        self.tree = QTreeWidget()
        self.tree.setAccessibleName("Catalog")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        header = self.tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.refresh_button = QPushButton("Re&fresh from providers")
        self.refresh_button.setAccessibleName("Refresh the catalog")
        self.refresh_button.setToolTip(
            "Ask each provider with a key (and Ollama) which models it serves: new family members "
            "are added, models that vanished are marked retired."
        )
        self.refresh_button.clicked.connect(vm.refresh)
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: the providers answer all at once, no steps to count
        self.progress.setMaximumWidth(160)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.progress_label = QLabel()
        self.progress_label.setAccessibleName("Refresh progress")
        self.change_label = QLabel()
        self.change_label.setAccessibleName("What the last refresh changed")
        self.change_label.setWordWrap(True)
        self.failure_label = QLabel()
        self.failure_label.setAccessibleName("Providers that could not be asked")
        self.failure_label.setWordWrap(True)
        self.failure_label.setStyleSheet(f"color: {FAILURE_COLOR}")
        self.failure_label.hide()
        row = QHBoxLayout()
        row.addWidget(self.refresh_button)
        row.addWidget(self.progress)
        row.addWidget(self.progress_label, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.change_label)
        layout.addWidget(self.failure_label)
        layout.addWidget(self.tree, 1)
        vm.rowsChanged.connect(self._on_rows)
        vm.refreshingChanged.connect(self._on_refreshing)
        vm.refreshed.connect(self._on_refreshed)
        vm.errorRaised.connect(self._on_error)
        # A view built during or after the daily background refresh shows it.
        self._on_refreshing(vm.refreshing, "Asking OpenAI, Anthropic, Gemini, Ollama…" if vm.refreshing else "")
        if vm.last_outcome is not None:
            self._on_refreshed(vm.last_outcome)
        if vm.listing is not None:
            self._on_rows(vm.listing)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self.tree.setHeaderLabels([*COLUMNS[:-1], f"{COLUMNS[-1]} (loading prices…)"])
            self.vm.load()

    # -- drawing -----------------------------------------------------------------------------
    def _on_rows(self, listing: CatalogListing) -> None:
        self.tree.setHeaderLabels(list(COLUMNS))
        if self.vm.last_outcome is None:  # no refresh this session: say when the last one was
            self.change_label.setText(listing.last_refresh)
        tops = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        expanded = {item.text(0) for item in tops if item is not None and item.isExpanded()}
        first = self.tree.topLevelItemCount() == 0
        self.tree.setUpdatesEnabled(False)
        try:
            self.tree.clear()
            for family in listing.families:
                by_id = {m.id: m for m in family.members}
                resolved = by_id.get(family.resolved or "")
                item = QTreeWidgetItem([family.name, f"→ {resolved.api_name}" if resolved else "", "", "", "", "", ""])
                font = QFont(item.font(0))
                font.setBold(True)
                item.setFont(0, font)
                why = listing.resolved_why.get(family.id, "")
                for c in range(len(COLUMNS)):
                    item.setToolTip(c, why or family.name)
                live = sum(1 for m in family.members if not m.retired)
                item.setText(STATUS_COLUMN, f"{live} of {len(family.members)} current")
                self.tree.addTopLevelItem(item)
                for member in family.members:
                    item.addChild(self._member_item(member, member.id == family.resolved))
                item.setExpanded(first or family.name in expanded)
        finally:
            self.tree.setUpdatesEnabled(True)

    def _member_item(self, m: MemberRow, resolved: bool) -> QTreeWidgetItem:
        cells = _member_cells(m)
        child = QTreeWidgetItem(cells)
        for c, text in enumerate(cells):
            child.setToolTip(c, f"{m.id}: {text}" if c == 0 else text)
        if m.price_source:
            child.setToolTip(SOURCE_COLUMN, m.price_source)
        if resolved:
            font = QFont(child.font(0))
            font.setBold(True)
            child.setFont(0, font)
        if m.retired:
            grey = QBrush(RETIRED_GREY)
            for c in range(len(COLUMNS)):
                child.setForeground(c, grey)
            why = f"Retired {m.retired_since.isoformat() if m.retired_since else ''}: never routed"
            if m.retired_reason:
                why += f" ({m.retired_reason})"
            child.setToolTip(STATUS_COLUMN, why)
        if m.list_price:
            child.setBackground(PRICE_COLUMN, QBrush(DIFFERS_BACKGROUND))
            child.setForeground(PRICE_COLUMN, QBrush(DIFFERS_TEXT))
            as_of = f" (as of {m.list_price_as_of.isoformat()})" if m.list_price_as_of else ""
            child.setToolTip(
                PRICE_COLUMN, f"genai-prices lists {m.list_price}{as_of}; the catalog's price, {m.price}, is used"
            )
        return child

    def _on_refreshing(self, running: bool, text: str) -> None:
        self.refresh_button.setEnabled(not running)
        self.progress.setVisible(running)
        self.progress_label.setText(text if running else "")

    def _on_refreshed(self, outcome: RefreshOutcome) -> None:
        lines = outcome.lines()
        self.change_label.setText("\n".join(line for line in lines if not line.startswith("Could not ask")))
        failures = [line for line in lines if line.startswith("Could not ask")]
        self.failure_label.setText("\n".join(failures))
        self.failure_label.setVisible(bool(failures))
        # The lines name the models; the tooltip keeps their ids (and who was not asked).
        by_id = [line for line in outcome.lines(ids=True) if not line.startswith("Could not ask")]
        skipped = ["Not asked: " + "; ".join(outcome.skipped)] if outcome.skipped else []
        self.change_label.setToolTip("\n".join(by_id + skipped))

    def _on_error(self, message: str) -> None:
        self.failure_label.setText(message)
        self.failure_label.setVisible(True)
