"""The OS shows the app as "Sparklio": its name, display name and desktop-file name."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from sparklio_desktop.app import _set_identity


def test_the_app_names_itself_sparklio(qapp: QApplication) -> None:
    _set_identity(qapp)
    assert qapp.applicationName() == "Sparklio"
    assert qapp.applicationDisplayName() == "Sparklio"
    assert QGuiApplication.desktopFileName() == "sparklio"


def test_the_window_icon_comes_from_the_shipped_icons_and_about_shows_it(qapp: QApplication, qtbot) -> None:
    from sparklio_desktop.ui.views.about_dialog import ICON_SIZE, AboutDialog

    _set_identity(qapp)
    icon = qapp.windowIcon()
    assert not icon.isNull()
    # Every shipped PNG size is there, so the task bar and the dock pick a sharp one.
    assert {16, 24, 32, 48, 64, 128, 256, 512} <= {size.width() for size in icon.availableSizes()}
    about = AboutDialog("/tmp/data")
    qtbot.addWidget(about)
    pixmap = about.icon_label.pixmap()
    assert not pixmap.isNull() and pixmap.width() == ICON_SIZE
    # The mark's blue tile, not an empty image: the centre is the white spark, the corner transparent.
    image = pixmap.toImage()
    assert image.pixelColor(ICON_SIZE // 2 - 5, ICON_SIZE // 2 - 5).lightness() > 200
    assert image.pixelColor(0, 0).alpha() == 0
