"""Ctrl+K: one box to reach a conversation or a command by typing a few letters.

Why: the menus and the rail reach every page, but a creator with fifty conversations
and a dozen commands finds one faster by name. The list holds the menu bar's commands
and the conversations the sidebar has loaded (newest first, pinned on top); typing
filters both by every word; Enter runs the first match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDialog, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from sparklio_desktop.ui.viewmodels.conversation_payloads import ConversationRow


class QuickSwitcher(QDialog):
    """Commands and conversations, filtered as you type."""

    def __init__(
        self,
        actions: Sequence[QAction],
        conversations: Sequence[ConversationRow],
        open_conversation: Callable[[str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Go to…")
        self._open = open_conversation
        self.query = QLineEdit()
        self.query.setPlaceholderText("Type a conversation or a command…")
        self.query.setAccessibleName("Quick switcher")
        self.results = QListWidget()
        self.results.setAccessibleName("Matches")
        layout = QVBoxLayout(self)
        layout.addWidget(self.query)
        layout.addWidget(self.results)
        self.resize(480, 360)
        for action in actions:
            if action.isEnabled() and action.text():
                label = action.text().replace("&", "")
                keys = action.shortcut().toString()
                item = QListWidgetItem(f"{label}  ({keys})" if keys else label)
                item.setData(Qt.ItemDataRole.UserRole, action)
                self.results.addItem(item)
        for row in conversations:
            item = QListWidgetItem(("★ " if row.pinned else "") + row.title)
            item.setData(Qt.ItemDataRole.UserRole, row.id)
            self.results.addItem(item)
        self.query.textChanged.connect(self._filter)
        self.query.returnPressed.connect(self._run_first)
        self.results.itemActivated.connect(self._run)
        self._filter("")

    def visible_texts(self) -> list[str]:
        return [self.results.item(i).text() for i in range(self.results.count()) if not self.results.item(i).isHidden()]

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        first = None
        for i in range(self.results.count()):
            item = self.results.item(i)
            hit = all(word in item.text().lower() for word in words)
            item.setHidden(not hit)
            if hit and first is None:
                first = item
        if first is not None:
            self.results.setCurrentItem(first)

    def _run_first(self) -> None:
        item = self.results.currentItem()
        if item is not None and not item.isHidden():
            self._run(item)

    def _run(self, item: QListWidgetItem) -> None:
        target = item.data(Qt.ItemDataRole.UserRole)
        self.accept()
        if isinstance(target, QAction):
            target.trigger()
        elif isinstance(target, str):
            self._open(target)
