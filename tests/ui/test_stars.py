"""The five-star widget: a click sets the rating and emits, the keyboard reaches every value."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from sparklio_desktop.ui.widgets.stars import MAX_STARS, StarRating


def _centre(stars: StarRating, index: int) -> QPoint:
    return stars.star_rect(index).center().toPoint()


def test_click_sets_the_rating_and_emits(qtbot):
    stars = StarRating(name="Answer stars")
    qtbot.addWidget(stars)
    stars.show()
    got: list[int] = []
    stars.ratingChanged.connect(got.append)
    assert stars.rating() == 0 and stars.accessibleName() == "Answer stars"
    qtbot.mouseClick(stars, Qt.MouseButton.LeftButton, pos=_centre(stars, 4))
    assert stars.rating() == 4 and got == [4]
    assert stars.accessibleDescription() == "4 of 5 stars"
    qtbot.mouseClick(stars, Qt.MouseButton.LeftButton, pos=_centre(stars, 2))
    assert stars.rating() == 2 and got == [4, 2]
    qtbot.mouseClick(stars, Qt.MouseButton.LeftButton, pos=_centre(stars, 2))  # the same star clears
    assert stars.rating() == 0 and got == [4, 2, 0] and stars.accessibleDescription() == "no stars"
    qtbot.mouseClick(stars, Qt.MouseButton.RightButton, pos=_centre(stars, 5))
    assert stars.rating() == 0 and got == [4, 2, 0]


def test_keyboard_sets_steps_and_clears(qtbot):
    stars = StarRating()
    qtbot.addWidget(stars)
    stars.show()
    got: list[int] = []
    stars.ratingChanged.connect(got.append)
    assert stars.focusPolicy() == Qt.FocusPolicy.StrongFocus  # Tab reaches it
    qtbot.keyClick(stars, Qt.Key.Key_3)
    assert stars.rating() == 3
    qtbot.keyClick(stars, Qt.Key.Key_Right)
    qtbot.keyClick(stars, Qt.Key.Key_Right)
    qtbot.keyClick(stars, Qt.Key.Key_Right)  # clamped at five
    assert stars.rating() == MAX_STARS
    qtbot.keyClick(stars, Qt.Key.Key_Left)
    assert stars.rating() == 4
    qtbot.keyClick(stars, Qt.Key.Key_Delete)
    assert stars.rating() == 0
    qtbot.keyClick(stars, Qt.Key.Key_Left)  # clamped at none: no signal
    assert got == [3, 4, 5, 4, 0]
    stars.setRating(9)
    assert stars.rating() == MAX_STARS and stars.value() == MAX_STARS
