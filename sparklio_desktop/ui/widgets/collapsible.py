"""A section that folds away: a header button with an arrow, and the widget under it.

Why: the Images form has controls most creators never touch (hires fix, refiner,
LoRAs); folded by default they keep the page short without hiding that they exist.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QSizePolicy, QToolButton, QVBoxLayout, QWidget

__all__ = ["CollapsibleSection"]


class CollapsibleSection(QWidget):
    """``title`` as a toggle button over ``body``; folded unless ``expanded``."""

    def __init__(self, title: str, body: QWidget, *, expanded: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.body = body
        self.toggle = QToolButton()
        self.toggle.setText(title)
        self.toggle.setAccessibleName(title.replace("&", ""))
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.toggle.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.toggle.toggled.connect(self.set_expanded)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.toggle)
        layout.addWidget(body)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def set_expanded(self, expanded: bool) -> None:
        if self.toggle.isChecked() != expanded:
            self.toggle.setChecked(expanded)  # comes back here through toggled
            return
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)
