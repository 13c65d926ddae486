"""The Recipes page's parts: a path field with Browse… (file and image inputs) and the
card of one step of a run (its status line, then its result or its error).

Why apart from recipes_view.py: the page is the layout and its view-model's signals; these
are self-contained widgets it places, and the page's file stays under the size we keep.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.recipe_payloads import InputField, StepProgress
from sparklio_desktop.ui.widgets.format import usd_text

THUMBNAIL = 128
OUTPUT_MAX_HEIGHT = 240
STATUS_WORDS = {
    "running": "running…",
    "done": "done",
    "failed": "failed",
    "skipped": "skipped",
    "cancelled": "cancelled",
    "pending": "waiting",
}
IMAGE_EXTENSIONS = ("*.png", "*.jpg", "*.jpeg", "*.webp", "*.gif")


class PathPicker(QWidget):
    """A path field and a Browse… button (file and image inputs)."""

    def __init__(self, field: InputField, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = field.kind
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("a PNG, JPEG, WebP or GIF file" if field.kind == "image" else "a text file")
        self.edit.setAccessibleName(field.name)
        self.browse = QPushButton("Browse…")
        self.browse.setAccessibleName(f"Browse for {field.name}")
        self.browse.clicked.connect(self._pick)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)

    def _pick(self) -> None:
        images = f"Images ({' '.join(IMAGE_EXTENSIONS)})"
        filters = images if self.kind == "image" else "Text files (*.txt *.md);;All (*)"
        path, _ = QFileDialog.getOpenFileName(self, "Choose a file", "", filters)
        if path:
            self.edit.setText(path)

    def text(self) -> str:
        return self.edit.text()


class StepCard(QFrame):
    """One step of a run: its status line, then its result or its error."""

    def __init__(self, progress: StepProgress, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(f"Step {progress.index}")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.PlainText)
        self.header.setWordWrap(True)
        self.output = QTextBrowser()
        self.output.setAccessibleName(f"Output of {progress.id}")
        self.output.setOpenExternalLinks(True)
        self.output.hide()
        self.thumbnails = QWidget()
        self.thumb_row = QHBoxLayout(self.thumbnails)
        self.thumb_row.setContentsMargins(0, 0, 0, 0)
        self.thumb_row.addStretch(1)
        self.thumbnails.hide()
        self.error = QLabel()
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setStyleSheet("color: #b3261e")
        self.error.hide()
        for widget in (self.header, self.output, self.thumbnails, self.error):
            layout.addWidget(widget)
        self.update_progress(progress)

    def _fit_output(self) -> None:
        """As tall as the text, up to a limit (then it scrolls): a one-line answer takes one line."""
        document = self.output.document()
        document.setTextWidth(max(200, self.output.viewport().width()))
        height = int(document.size().height()) + 2 * self.output.frameWidth() + 4
        self.output.setFixedHeight(max(32, min(height, OUTPUT_MAX_HEIGHT)))

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.output.isVisibleTo(self):
            self._fit_output()

    def update_progress(self, p: StepProgress) -> None:
        self.progress = p
        parts = [f"{p.index}/{p.total}  {p.title}", STATUS_WORDS.get(p.status, p.status)]
        if p.model_name:
            parts.append(p.model_name)
        if p.status in ("done", "failed") and (p.cost_usd or p.status == "done"):
            parts.append(usd_text(p.cost_usd))
        self.header.setText(" · ".join(parts))
        if p.status == "done" and p.output:
            self.output.setMarkdown(p.output)
            self.output.show()
            self._fit_output()
        images = [f for f in p.files if f.lower().endswith(".png")]
        if p.status == "done" and images and not p.output:
            for path in images:
                label = QLabel()
                label.setFrameShape(QFrame.Shape.Box)
                label.setMinimumSize(THUMBNAIL // 2, THUMBNAIL // 2)
                label.setAlignment(Qt.AlignmentFlag.AlignCenter)
                pixmap = QPixmap(path)
                if not pixmap.isNull():
                    label.setPixmap(
                        pixmap.scaled(
                            THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio,
                            Qt.TransformationMode.SmoothTransformation,
                        )
                    )  # fmt: skip
                else:
                    label.setText(Path(path).name)
                label.setToolTip(path)
                label.setAccessibleName(Path(path).name)
                self.thumb_row.insertWidget(self.thumb_row.count() - 1, label)
            self.thumbnails.show()
        problem = p.error if p.status in ("failed", "cancelled") else (p.reason if p.status == "skipped" else None)
        self.error.setText(problem or "")
        self.error.setStyleSheet("color: #b3261e" if p.status == "failed" else "color: palette(mid)")
        self.error.setVisible(bool(problem))
