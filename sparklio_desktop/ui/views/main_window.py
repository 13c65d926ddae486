"""The main window: four panels in tabs, a status bar, non-modal notifications.

Why tabs: every panel is one keystroke away (Ctrl+1..4, Ctrl+Tab) and screen readers
announce them as a tab list. The layout is remembered in an INI file under the data
directory (not the platform registry), so tests and portable installs stay contained.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.payloads import StatusFigures
from sparklio_desktop.ui.viewmodels.status import StatusViewModel
from sparklio_desktop.ui.widgets.format import usd_text

NOTIFICATION_MS = 12_000
VIEW_NAMES = ("composer", "inspector", "spend", "settings")


class MainWindow(QMainWindow):
    """Hosts the panels; shows notifications and the status bar."""

    def __init__(
        self, views: dict[str, QWidget], status_vm: StatusViewModel, settings_path: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sparklio Desktop")
        self.views = views
        self.status_vm = status_vm
        self._settings = QSettings(settings_path, QSettings.Format.IniFormat)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Panels")
        titles = {
            "composer": "&Composer",
            "inspector": "&Inspector",
            "spend": "S&pend",
            "settings": "Se&ttings",
            "images": "Ima&ges",
            "compare": "Co&mpare",
            "leaderboard": "&Leaderboard",
            "models": "Mo&dels",
        }
        # The four main panels first, in their order; further panels (images, compare,
        # leaderboard, local models) follow in the order given.
        names = [n for n in VIEW_NAMES if n in views] + [n for n in views if n not in VIEW_NAMES]
        for index, name in enumerate(names):
            self.tabs.addTab(views[name], titles.get(name, name.title()))
            shortcut = QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self)
            shortcut.activated.connect(lambda i=index: self.tabs.setCurrentIndex(i))

        self.notification = QLabel()
        self.notification.setAccessibleName("Notification")
        self.notification.setWordWrap(True)
        self.notification.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dismiss = QToolButton()
        self.dismiss.setText("✕")
        self.dismiss.setAccessibleName("Dismiss notification")
        self.notice_bar = QWidget()
        self.notice_bar.setStyleSheet("background: #f8d7da; color: #58151c; border-radius: 4px")
        bar = QHBoxLayout(self.notice_bar)
        bar.setContentsMargins(8, 4, 8, 4)
        bar.addWidget(self.notification, 1)
        bar.addWidget(self.dismiss)
        self.notice_bar.hide()
        self.dismiss.clicked.connect(self.notice_bar.hide)
        self._notice_timer = QTimer(self)
        self._notice_timer.setSingleShot(True)
        self._notice_timer.timeout.connect(self.notice_bar.hide)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice_bar)
        layout.addWidget(self.tabs)
        self.setCentralWidget(central)

        self.spend_label = QLabel()
        self.spend_label.setAccessibleName("Month spend")
        self.providers_label = QLabel()
        self.providers_label.setAccessibleName("Provider status")
        self.statusBar().addPermanentWidget(self.providers_label)
        self.statusBar().addPermanentWidget(self.spend_label)
        status_vm.statusChanged.connect(self._on_status)
        self.tray: QSystemTrayIcon | None = None
        self._restore()

    # -- notifications ------------------------------------------------------------------
    def notify(self, message: str) -> None:
        """Show an error without blocking: a dismissable bar that hides itself."""
        self.notification.setText(message)
        self.notice_bar.show()
        self._notice_timer.start(NOTIFICATION_MS)

    def alert(self, message: str) -> None:
        """The budget alert: a status message and, where there is a tray, a tray balloon."""
        self.statusBar().showMessage(message, NOTIFICATION_MS)
        if QSystemTrayIcon.isSystemTrayAvailable():
            if self.tray is None:
                self.tray = QSystemTrayIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning), self)
                self.tray.show()
            self.tray.showMessage("Sparklio budget", message, QSystemTrayIcon.MessageIcon.Warning)

    def _on_status(self, status: StatusFigures) -> None:
        self.spend_label.setText(
            f"{status.month}: {usd_text(status.spent_usd)} of {usd_text(status.budget_usd)} ({status.percent:.0f}%)"
        )
        self.providers_label.setText("  ".join(f"{name}: {state}" for name, state in status.providers.items()))

    # -- layout memory ---------------------------------------------------------------
    def _named_splitters(self) -> list[QSplitter]:
        return [s for s in self.findChildren(QSplitter) if s.objectName()]

    def _restore(self) -> None:
        geometry = self._settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 800)
        for splitter in self._named_splitters():
            state = self._settings.value(f"splitters/{splitter.objectName()}")
            if isinstance(state, QByteArray) and not state.isEmpty():
                splitter.restoreState(state)
        tab = self._settings.value("window/tab", 0)
        try:
            self.tabs.setCurrentIndex(int(str(tab)))  # QSettings gives a str (ini) or the int default
        except (TypeError, ValueError):
            pass

    def save_layout(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/tab", self.tabs.currentIndex())
        for splitter in self._named_splitters():
            self._settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        self._settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        super().closeEvent(event)
