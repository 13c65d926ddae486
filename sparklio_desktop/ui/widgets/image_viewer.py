"""A non-modal, zoomable view of one generated image, with save.

Why a QGraphicsView: it zooms and pans smoothly with the wheel and the keyboard
(+, -, 0 for fit) without rescaling the image by hand.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut, QWheelEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

ZOOM_STEP = 1.25


class _ZoomView(QGraphicsView):
    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        factor = ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP
        self.scale(factor, factor)


class ImageViewer(QDialog):
    """Shows ``image``; the wheel or +/- zoom, 0 fits, Save writes a PNG."""

    def __init__(self, image: QImage, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.image = image
        self.scene = QGraphicsScene(self)
        self.scene.addItem(QGraphicsPixmapItem(QPixmap.fromImage(image)))
        self.view = _ZoomView(self.scene)
        self.view.setAccessibleName("Image")
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        buttons = QHBoxLayout()
        for text, name, action in (
            ("−", "Zoom out", lambda: self.zoom(1 / ZOOM_STEP)),
            ("+", "Zoom in", lambda: self.zoom(ZOOM_STEP)),
            ("Fit", "Fit to window", self.fit),
            ("Save…", "Save image", self.save),
        ):
            button = QPushButton(text)
            button.setAccessibleName(name)
            button.clicked.connect(action)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        for key, action in (
            ("+", lambda: self.zoom(ZOOM_STEP)),
            ("=", lambda: self.zoom(ZOOM_STEP)),
            ("-", lambda: self.zoom(1 / ZOOM_STEP)),
            ("0", self.fit),
        ):
            QShortcut(QKeySequence(key), self).activated.connect(action)
        self.resize(640, 640)

    def zoom(self, factor: float) -> None:
        self.view.scale(factor, factor)

    def fit(self) -> None:
        self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG (*.png)")
        if path:
            self.image.save(path, "PNG")  # type: ignore[call-overload]  # runtime takes str; the stub says bytes
