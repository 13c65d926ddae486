"""A non-modal, zoomable view of one generated image: fit to the window, 100%, save, copy.

Why a QGraphicsView: it zooms and pans smoothly with the wheel and the keyboard
(+, -, 0 for fit, 1 for 100%) without rescaling the image by hand. The image opens
fitted to the window and stays fitted as the window is resized, until the user zooms:
a 1024 px image in a 640 px dialog must show whole, not its top-left corner.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import (
    QGuiApplication,
    QImage,
    QKeySequence,
    QPixmap,
    QResizeEvent,
    QShortcut,
    QShowEvent,
    QWheelEvent,
)
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
SCREEN_SHARE = 0.8  # the viewer opens at most this share of the screen


class _ZoomView(QGraphicsView):
    def __init__(self, scene: QGraphicsScene, viewer: ImageViewer) -> None:
        super().__init__(scene)
        self._viewer = viewer

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        self._viewer.zoom(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._viewer.fitted:
            self._viewer.fit()


class ImageViewer(QDialog):
    """Shows ``image`` fitted to the window; the wheel or +/- zoom, 0 fits, 1 is 100%,
    Copy puts it on the clipboard, Save writes a PNG."""

    def __init__(self, image: QImage, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(False)
        self.image = image
        self.fitted = True  # follow the window's size until the user zooms
        self.scene = QGraphicsScene(self)
        self.scene.addItem(QGraphicsPixmapItem(QPixmap.fromImage(image)))
        self.view = _ZoomView(self.scene, self)
        self.view.setAccessibleName("Image")
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.view.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        buttons = QHBoxLayout()
        for text, name, action in (
            ("−", "Zoom out", lambda: self.zoom(1 / ZOOM_STEP)),
            ("+", "Zoom in", lambda: self.zoom(ZOOM_STEP)),
            ("&Fit", "Fit to window", self.fit),
            ("100%", "Actual size", self.actual_size),
            ("&Copy", "Copy image", self.copy),
            ("&Save…", "Save image", self.save),
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
            ("1", self.actual_size),
            (QKeySequence.StandardKey.Copy, self.copy),
            (QKeySequence.StandardKey.Save, self.save),
        ):
            QShortcut(QKeySequence(key), self).activated.connect(action)
        self.resize(self._opening_size(image))

    def _opening_size(self, image: QImage) -> QSize:
        """Big enough for the image (plus the buttons), within most of the screen."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        room = screen.availableSize() * SCREEN_SHARE if screen is not None else QSize(1024, 768)
        wanted = QSize(max(480, image.width() + 40), max(480, image.height() + 90))
        return wanted.boundedTo(room)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self.fitted:
            self.fit()

    def zoom(self, factor: float) -> None:
        self.fitted = False
        self.view.scale(factor, factor)

    def scale_factor(self) -> float:
        """How many screen pixels one image pixel takes now (1.0 is 100%)."""
        return float(self.view.transform().m11())

    def fit(self) -> None:
        self.fitted = True
        self.view.fitInView(self.scene.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def actual_size(self) -> None:
        self.fitted = False
        self.view.resetTransform()

    def copy(self) -> None:
        QGuiApplication.clipboard().setImage(self.image)

    def save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG (*.png)")
        if path:
            self.image.save(path, "PNG")  # type: ignore[call-overload]  # runtime takes str; the stub says bytes
