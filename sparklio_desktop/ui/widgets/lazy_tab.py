"""A tab whose panel is built the first time it is shown.

The compare, leaderboard and local-model panels are not needed to start working;
building them (and their first loads) only when opened keeps launch-to-window short.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyTab(QWidget):
    def __init__(
        self,
        build: Callable[[], QWidget],
        on_built: Callable[[QWidget], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._build = build
        self._on_built = on_built
        self.panel: QWidget | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def ensure_built(self) -> QWidget:
        if self.panel is None:
            self.panel = self._build()
            self._layout.addWidget(self.panel)
            if self._on_built is not None:
                self._on_built(self.panel)
        return self.panel

    def showEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.ensure_built()
        super().showEvent(event)
