"""A clickable five-star rating, for answers in the composer and columns in compare.

Why a widget of its own rather than a spin box: a rating is picked at a glance and with
one click, as everywhere else users rate things. It stays keyboard accessible: Tab
reaches it, the arrow keys (and +/-) step the rating, 1-5 set it, 0, Delete or Backspace
clear it; screen readers get an accessible name and the value as its description.
Clicking the star already chosen clears the rating, so "no stars" is always reachable.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPainterPath, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

MAX_STARS = 5
STAR_SIZE = 20  # px per star, at least the 16 px a pointer needs; the 8 px grid
GOLD = "#e8a317"


def _star_path(box: QRectF) -> QPainterPath:
    """A five-pointed star inscribed in ``box``."""
    centre = box.center()
    outer = min(box.width(), box.height()) / 2
    inner = outer * 0.45
    path = QPainterPath()
    for i in range(10):
        radius = outer if i % 2 == 0 else inner
        angle = math.pi / 2 + i * math.pi / 5
        point = QPointF(centre.x() + radius * math.cos(angle), centre.y() - radius * math.sin(angle))
        if i == 0:
            path.moveTo(point)
        else:
            path.lineTo(point)
    path.closeSubpath()
    return path


class StarRating(QWidget):
    """0 (no rating) to 5 stars; ``ratingChanged(int)`` on every change, by click or key."""

    ratingChanged = Signal(int)

    def __init__(self, rating: int = 0, parent: QWidget | None = None, *, name: str = "Stars") -> None:
        super().__init__(parent)
        self._rating = 0
        self._hover = 0
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAccessibleName(name)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setRating(rating)

    # -- value ----------------------------------------------------------------------------
    def rating(self) -> int:
        return self._rating

    def value(self) -> int:
        """The rating, under the name a spin box used (callers read ``.value()``)."""
        return self._rating

    def setRating(self, rating: int) -> None:  # noqa: N802 - Qt naming
        rating = max(0, min(MAX_STARS, int(rating)))
        if rating == self._rating and self.accessibleDescription():
            return
        changed = rating != self._rating
        self._rating = rating
        text = "no stars" if rating == 0 else f"{rating} of {MAX_STARS} stars"
        self.setAccessibleDescription(text)
        self.setToolTip(f"{text} (click a star, or press 1-{MAX_STARS}; 0 clears)")
        self.update()
        if changed:
            self.ratingChanged.emit(rating)

    setValue = setRating

    def star_rect(self, index: int) -> QRectF:
        """Where star ``index`` (1-based) is drawn: what a click on it hits."""
        return QRectF((index - 1) * STAR_SIZE + 2, 2, STAR_SIZE - 4, STAR_SIZE - 4)

    def star_at(self, x: float) -> int:
        return max(1, min(MAX_STARS, int(x // STAR_SIZE) + 1))

    # -- Qt -------------------------------------------------------------------------------
    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(STAR_SIZE * MAX_STARS + 4, STAR_SIZE + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return self.sizeHint()

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        outline = self.palette().color(QPalette.ColorRole.WindowText)
        shown = self._hover or self._rating
        for i in range(1, MAX_STARS + 1):
            path = _star_path(self.star_rect(i))
            painter.setPen(outline if i > shown else QColor(GOLD).darker(130))
            painter.setBrush(QColor(GOLD) if i <= shown else Qt.BrushStyle.NoBrush)
            painter.drawPath(path)
        if self.hasFocus():
            painter.setPen(self.palette().color(QPalette.ColorRole.Highlight))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(self.rect().adjusted(0, 0, -1, -1))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() != Qt.MouseButton.LeftButton:
            super().mousePressEvent(event)
            return
        star = self.star_at(event.position().x())
        self.setRating(0 if star == self._rating else star)  # the chosen star again clears
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        self._hover = self.star_at(event.position().x())
        self.update()

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        self._hover = 0
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        key = event.key()
        text = event.text()
        if text in {str(n) for n in range(MAX_STARS + 1)}:
            self.setRating(int(text))
        elif key in (Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Plus):
            self.setRating(self._rating + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Down, Qt.Key.Key_Minus):
            self.setRating(self._rating - 1)
        elif key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.setRating(0)
        elif key == Qt.Key.Key_Home:
            self.setRating(1)
        elif key == Qt.Key.Key_End:
            self.setRating(MAX_STARS)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
