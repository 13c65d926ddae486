"""Long jobs announce their end only when the user is looking elsewhere."""

from __future__ import annotations

from PySide6.QtWidgets import QSystemTrayIcon, QWidget

from sparklio_desktop.ui.widgets.notifier import notification_route, notify_done


def test_the_route_depends_on_the_window_and_the_tray() -> None:
    assert notification_route(window_active=True, tray_available=True, messages_supported=True) == "none"
    assert notification_route(window_active=True, tray_available=False, messages_supported=False) == "none"
    assert notification_route(window_active=False, tray_available=True, messages_supported=True) == "tray"
    assert notification_route(window_active=False, tray_available=True, messages_supported=False) == "alert"
    assert notification_route(window_active=False, tray_available=False, messages_supported=True) == "alert"


def test_an_inactive_window_is_told(qtbot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)  # never shown: not the active window
    assert not widget.window().isActiveWindow()
    expected = "tray" if QSystemTrayIcon.isSystemTrayAvailable() and QSystemTrayIcon.supportsMessages() else "alert"
    assert notify_done(widget, "Model pull finished", "qwen2.5:7b") == expected


def test_the_active_window_is_left_alone(qtbot) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    widget.show()
    widget.activateWindow()
    qtbot.waitUntil(widget.isActiveWindow)
    assert notify_done(widget, "Images ready", "2 images generated") == "none"
