"""The init image, shown small, with a mask the creator paints over it for inpainting.

Why the mask is kept at the init image's own size (not the widget's): the pipeline
needs a mask that lines up pixel for pixel with the image it repaints, whatever size
the widget is drawn at. Strokes are mapped from widget to image coordinates and drawn
into an 8-bit grey image without anti-aliasing (white = repaint, black = keep), which
is exported as a PNG as it is. The painted area shows as a red veil over the image.

A file dropped on the widget is handed on (``imageDropped``): reading it is the
view-model's work, off the loop.
"""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QImage,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from sparklio_desktop.ui.viewmodels.image_studio import png_bytes

__all__ = ["MaskPainter", "dropped_image_path"]

DROP_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def dropped_image_path(mime: QMimeData) -> str | None:
    """The first local PNG, JPEG or WebP file a drag carries, or None."""
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(DROP_SUFFIXES):
            return str(url.toLocalFile())
    return None


class MaskPainter(QWidget):
    """Shows the init image; with painting on, a drag paints (or erases) the mask."""

    maskChanged = Signal()
    imageDropped = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = QImage()
        self.mask_image = QImage()
        self.painting = False  # strokes paint only when the creator turned inpainting on
        self.erasing = False
        self.brush = 24  # diameter on screen, in widget pixels
        self.from_file: str | None = None  # the mask file loaded and not painted over since
        self._last: QPointF | None = None
        self._veil: QImage | None = None
        self._has_mask: bool | None = None
        self._shown: QPixmap | None = None  # the image at the size it is drawn
        self.setAcceptDrops(True)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setAccessibleName("Init image and mask")

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(256, 256)

    # -- the image and the mask ---------------------------------------------------------------
    def set_image(self, image: QImage | None) -> None:
        """Show ``image`` (None: nothing) with a fresh, empty mask at its size."""
        self.image = QImage() if image is None else image
        self._shown = None
        self.mask_image = QImage()
        if not self.image.isNull():
            self.mask_image = QImage(self.image.size(), QImage.Format.Format_Grayscale8)
            self.mask_image.fill(0)
        self.from_file = None
        self._changed()

    def clear_mask(self) -> None:
        if not self.mask_image.isNull():
            self.mask_image.fill(0)
            self.from_file = None
            self._changed()
            self._has_mask = False

    def invert_mask(self) -> None:
        if not self.mask_image.isNull():
            self.mask_image.invertPixels()
            self.from_file = None
            self._changed()

    def load_mask(self, data: bytes, path: str | None = None) -> bool:
        """Take a mask image (white = repaint), scaled to the init image; False when it is
        not an image or there is no init image to lay it over."""
        loaded = QImage()
        if self.image.isNull() or not loaded.loadFromData(data):
            return False
        if loaded.size() != self.image.size():
            loaded = loaded.scaled(
                self.image.size(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation
            )
        self.mask_image = loaded.convertToFormat(QImage.Format.Format_Grayscale8)
        self.from_file = path
        self._changed()
        return True

    def has_mask(self) -> bool:
        """Whether any pixel is marked to repaint (worked out once per change: a scan of
        each row's pixels in C, not of the padding at the end of each row)."""
        if self._has_mask is None:
            mask = self.mask_image
            if mask.isNull():
                self._has_mask = False
            else:
                data, stride, width = bytes(mask.constBits()), mask.bytesPerLine(), mask.width()
                self._has_mask = any(
                    data[row * stride : row * stride + width].strip(b"\0") for row in range(mask.height())
                )
        return self._has_mask

    def mask_png(self) -> bytes | None:
        """The mask as a white-on-black PNG at the init image's size; None when nothing is painted."""
        return png_bytes(self.mask_image) if self.has_mask() else None

    def painted(self) -> QImage | None:
        """A copy of the mask to encode elsewhere (off the loop); None when nothing is painted."""
        return self.mask_image.copy() if self.has_mask() else None

    def _changed(self) -> None:
        self._veil = None
        self._has_mask = None
        self.update()
        self.maskChanged.emit()

    # -- drawing ------------------------------------------------------------------------------
    def target(self) -> QRect:
        """Where the image is drawn: fitted in the widget, centred, its aspect kept."""
        if self.image.isNull():
            return QRect()
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect(QPoint((self.width() - size.width()) // 2, (self.height() - size.height()) // 2), size)

    def _veil_image(self, size: QSize) -> QImage:
        """The red veil at the size it is drawn (a 2048 px mask veiled whole cost 25 ms a
        stroke; scaled to the widget first, about 1 ms)."""
        if self._veil is None or self._veil.size() != size:
            alpha = self.mask_image.scaled(
                size, Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.FastTransformation
            )
            veil = QImage(size, QImage.Format.Format_ARGB32)
            veil.fill(QColor(220, 38, 38))
            veil.setAlphaChannel(alpha)
            self._veil = veil
        return self._veil

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        frame = self.rect().adjusted(0, 0, -1, -1)
        painter.setPen(QPen(self.palette().color(QPalette.ColorRole.Mid), 1, Qt.PenStyle.DashLine))
        if self.image.isNull():
            painter.drawRect(frame)
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            painter.drawText(
                frame, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, "Drop an image here\nor choose a file"
            )
            return
        target = self.target()
        if self._shown is None or self._shown.size() != target.size():  # scaled once per size, not per stroke
            self._shown = QPixmap.fromImage(
                self.image.scaled(
                    target.size(), Qt.AspectRatioMode.IgnoreAspectRatio, Qt.TransformationMode.SmoothTransformation
                )
            )
        painter.drawPixmap(target, self._shown)
        if self.has_mask():
            painter.setOpacity(0.55)
            painter.drawImage(target, self._veil_image(target.size()))

    # -- painting -----------------------------------------------------------------------------
    def _to_image(self, pos: QPointF) -> QPointF:
        target = self.target()
        scale = self.image.width() / max(1, target.width())
        return QPointF((pos.x() - target.x()) * scale, (pos.y() - target.y()) * scale)

    def _stroke(self, start: QPointF, end: QPointF) -> None:
        target = self.target()
        width = max(1.0, self.brush * self.image.width() / max(1, target.width()))
        painter = QPainter(self.mask_image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)  # a mask is black or white
        colour = QColor(0, 0, 0) if self.erasing else QColor(255, 255, 255)
        painter.setPen(QPen(colour, width, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        if start == end:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colour)
            painter.drawEllipse(end, width / 2, width / 2)
        else:
            painter.drawLine(start, end)
        painter.end()
        self.from_file = None
        self._changed()
        if not self.erasing:
            self._has_mask = True  # paint just went on: no need to look (an erase may have left none)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if not self.painting or self.mask_image.isNull() or event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        point = self._to_image(event.position())
        self._last = point
        self._stroke(point, point)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if self._last is None:
            super().mouseMoveEvent(event)
            return
        point = self._to_image(event.position())
        self._stroke(self._last, point)
        self._last = point

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._last = None
        super().mouseReleaseEvent(event)

    # -- a file dropped on it -------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_image_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = dropped_image_path(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.imageDropped.emit(path)
