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
