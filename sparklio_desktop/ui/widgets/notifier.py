"""Tell the user a long job finished (a model pull, an image batch, a recipe) when they
are looking elsewhere.

Why only when the window is not active: a balloon for something the user is watching is
noise. Where the desktop has a system tray, a tray icon appears just for the message
(no permanent icon) and goes away when the message is clicked or after it times out;
where it has none, the taskbar entry flashes (``QApplication.alert``) instead.

``notification_route`` is the decision alone, a pure function, so it is tested without
a desktop; ``notify_done`` acts on it.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QStyle, QSystemTrayIcon, QWidget

Route = Literal["none", "tray", "alert"]
MESSAGE_MS = 8000  # how long the balloon shows; the tray icon leaves a little after

_tray: dict[str, QSystemTrayIcon] = {}  # the one icon while a message is pending


def notification_route(window_active: bool, tray_available: bool, messages_supported: bool) -> Route:
    """What to do when a job ends: nothing when the user is in the window, a tray balloon
    where the tray can show one, otherwise a flash of the taskbar entry."""
    if window_active:
        return "none"
    if tray_available and messages_supported:
        return "tray"
    return "alert"


def notify_done(widget: QWidget, title: str, message: str) -> Route:
    """Announce a finished job unless ``widget``'s window is the active one; returns what it did."""
    window = widget.window()
    route = notification_route(
        window.isActiveWindow(),
        QSystemTrayIcon.isSystemTrayAvailable(),
        QSystemTrayIcon.supportsMessages(),
    )
    if route == "tray":
        _show_tray_message(window, title, message)
    elif route == "alert":
        QApplication.alert(window)  # flashes the taskbar entry until the window is activated
    return route


def _show_tray_message(window: QWidget, title: str, message: str) -> None:
    tray = _tray.get("icon")
    if tray is None:
        icon = window.windowIcon()
        if icon.isNull():
            icon = window.style().standardIcon(QStyle.StandardPixmap.SP_DialogApplyButton)
        tray = QSystemTrayIcon(icon, QApplication.instance())

        def bring_back() -> None:
            window.activateWindow()
            window.raise_()
            _hide_tray()

        tray.messageClicked.connect(bring_back)
        timer = QTimer(tray)
        timer.setSingleShot(True)
        timer.setInterval(MESSAGE_MS + 2000)
        timer.timeout.connect(_hide_tray)
        _tray["icon"] = tray
    tray.show()
    tray.showMessage(title, message, QSystemTrayIcon.MessageIcon.Information, MESSAGE_MS)
    pending = tray.findChild(QTimer)
    if pending is not None:
        pending.start()  # the icon stays only while a message is pending; a new one restarts it


def _hide_tray() -> None:
    tray = _tray.pop("icon", None)
    if tray is not None:
        tray.hide()
        tray.deleteLater()
