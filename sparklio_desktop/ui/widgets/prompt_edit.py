"""The prompt editor: plain text, plus image files dropped onto it become attachments."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QMimeData, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QPlainTextEdit, QWidget

from sparklio_desktop.ui.viewmodels.composer import IMAGE_TYPES


class PromptEdit(QPlainTextEdit):
    """A ``QPlainTextEdit`` that turns dropped image files into ``imagesDropped``."""

    imagesDropped = Signal(list)
    submitRequested = Signal()  # Ctrl+Enter: the editor would otherwise insert a newline
    cancelRequested = Signal()  # Esc, handled here too so it works however shortcuts resolve

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)  # Tab moves on, as keyboard users expect in a form

    @staticmethod
    def _is_submit(event: QKeyEvent) -> bool:
        return event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and bool(
            event.modifiers() & Qt.KeyboardModifier.ControlModifier
        )

    @staticmethod
    def _is_cancel(event: QKeyEvent) -> bool:
        return event.key() == Qt.Key.Key_Escape and not event.modifiers()

    def event(self, event: QEvent) -> bool:
        # Claim Ctrl+Enter and Esc before the window's shortcuts see them, so one key
        # press sends (or cancels) exactly once.
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            if self._is_submit(event) or self._is_cancel(event):
                event.accept()
                return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if self._is_submit(event):
            self.submitRequested.emit()
            return
        if self._is_cancel(event):
            self.cancelRequested.emit()
            return
        super().keyPressEvent(event)

    @staticmethod
    def _image_paths(source: QMimeData) -> list[str]:
        if not source.hasUrls():
            return []
        return [
            url.toLocalFile()
            for url in source.urls()
            if url.isLocalFile() and Path(url.toLocalFile()).suffix.lower() in IMAGE_TYPES
        ]

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802 - Qt override
        return bool(self._image_paths(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt override
        paths = self._image_paths(source)
        if paths:
            self.imagesDropped.emit(paths)
        else:
            super().insertFromMimeData(source)
