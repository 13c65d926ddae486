"""The main window: a menu bar, a compact navigation rail over the pages, a status bar,
non-modal notifications.

Why a rail and not eight tabs: the creator works in the Chat page (conversations, the
thread, the route panel); Images, Compare (arena and leaderboard), Recipes, Spend, Models
and Settings are one click or one key away (Ctrl+1…7, Ctrl+,) without taking a row of
tabs. The menu bar holds every command with its shortcut, and Help → Keyboard shortcuts
(F1) lists them all; mnemonics are chosen so that none clashes with the Chat page's.
The layout (geometry, page, splitter sizes, the route panel shown or hidden) is
remembered in an INI file under the data directory (not the platform registry), so tests
and portable installs stay contained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QColor, QDesktopServices, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMenu,
    QSplitter,
    QStackedWidget,
    QStyle,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.theme import LEVEL_COLOURS
from sparklio_desktop.ui.viewmodels.payloads import StatusFigures
from sparklio_desktop.ui.viewmodels.status import StatusViewModel
from sparklio_desktop.ui.views.about_dialog import AboutDialog
from sparklio_desktop.ui.widgets.format import usd_text

NOTIFICATION_MS = 12_000
# The rail's pages, in order: (name, label, shortcut).
PAGES = (
    ("chat", "Chat", "Ctrl+1"),
    ("images", "Images", "Ctrl+2"),
    ("compare", "Compare", "Ctrl+3"),
    ("recipes", "Recipes", "Ctrl+4"),
    ("spend", "Spend", "Ctrl+5"),
    ("models", "Models", "Ctrl+6"),
    ("settings", "Settings", "Ctrl+7"),
)
PAGE_NAMES = tuple(name for name, _label, _key in PAGES)


class ShortcutsDialog(QDialog):
    """Help → Keyboard shortcuts (F1): every command of the menus and what else has a key."""

    def __init__(self, rows: list[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.table = QTableWidget(len(rows), 2)
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setHorizontalHeaderLabels(["Command", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (command, keys) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(command))
            self.table.setItem(r, 1, QTableWidgetItem(keys))
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(1)
        QVBoxLayout(self).addWidget(self.table)
        self.resize(460, 520)
        self._rows = list(rows)

    def rows(self) -> list[tuple[str, str]]:
        return list(self._rows)


# What has a key but no menu entry: listed in the shortcuts dialog too.
OTHER_KEYS = (
    ("Send the prompt", "Ctrl+Enter"),
    ("Cancel the running request", "Esc"),
    ("Rename the selected conversation", "F2"),
    ("Delete the selected conversation", "Del"),
)


class MainWindow(QMainWindow):
    """Hosts the pages; shows notifications and the status bar."""

    newConversationRequested = Signal()
    exportRequested = Signal()
    findRequested = Signal()
    inspectorRequested = Signal()
    quickSwitchRequested = Signal()
    guideRequested = Signal()

    def __init__(
        self,
        views: Mapping[str, QWidget],
        status_vm: StatusViewModel,
        settings_path: str,
        parent: QWidget | None = None,
        *,
        route_panel: QWidget | None = None,
        data_folder: str = "",
        logs_folder: str = "",
    ) -> None:
        """``views``: the pages by name (see :data:`PAGES`; others are added after them);
        ``route_panel``: the Chat page's right-hand panel that Ctrl+I hides; ``data_folder``:
        where Sparklio keeps this user's data, shown in Help → About; ``logs_folder``: the
        log files' folder, which Help → Open logs folder opens."""
        super().__init__(parent)
        self.setWindowTitle("Sparklio")  # the app's display name: Qt adds nothing after it
        self.views = dict(views)
        self.status_vm = status_vm
        self.route_panel = route_panel
        self.data_folder = data_folder
        self.logs_folder = logs_folder
        self._settings = QSettings(settings_path, QSettings.Format.IniFormat)
        self.pages = QStackedWidget()
        self.pages.setAccessibleName("Pages")
        labels = {name: (label, key) for name, label, key in PAGES}
        self.page_names = [n for n in PAGE_NAMES if n in views] + [n for n in views if n not in PAGE_NAMES]
        self.rail = QToolBar("Navigation")
        self.rail.setObjectName("rail")
        self.rail.setAccessibleName("Navigation")
        self.rail.setOrientation(Qt.Orientation.Vertical)
        self.rail.setMovable(False)
        self.rail.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
        self._page_actions: dict[str, QAction] = {}
        group = QActionGroup(self)
        group.setExclusive(True)
        icons = {
            "chat": QStyle.StandardPixmap.SP_FileDialogDetailedView,
            "images": QStyle.StandardPixmap.SP_DirIcon,
            "compare": QStyle.StandardPixmap.SP_FileDialogContentsView,
            "recipes": QStyle.StandardPixmap.SP_FileDialogListView,
            "spend": QStyle.StandardPixmap.SP_DriveHDIcon,
            "models": QStyle.StandardPixmap.SP_ComputerIcon,
            "settings": QStyle.StandardPixmap.SP_FileDialogInfoView,
        }
        for name in self.page_names:
            self.pages.addWidget(self.views[name])
            label, key = labels.get(name, (name.title(), ""))
            action = QAction(self.style().standardIcon(icons.get(name, QStyle.StandardPixmap.SP_FileIcon)), label, self)
            action.setCheckable(True)
            if key:
                action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{label} ({key})" if key else label)
            action.triggered.connect(lambda _=False, n=name: self.show_page(n))
            group.addAction(action)
            self.rail.addAction(action)
            self._page_actions[name] = action
        self.addToolBar(Qt.ToolBarArea.LeftToolBarArea, self.rail)
        self.pages.currentChanged.connect(self._on_page)

        self._build_menus()
        self._build_notice()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.notice_bar)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.spend_label = QLabel()
        self.spend_label.setAccessibleName("Month spend")
        self.providers_label = QLabel()
        self.providers_label.setAccessibleName("Provider status")
        self.statusBar().addPermanentWidget(self.providers_label)
        self.statusBar().addPermanentWidget(self.spend_label)
        status_vm.statusChanged.connect(self._on_status)
        self.tray: QSystemTrayIcon | None = None
        self._on_page(self.pages.currentIndex())
        self._restore()

    # -- menus -------------------------------------------------------------------------
    def _action(self, text: str, key: str | QKeySequence.StandardKey | None = None, slot: object = None) -> QAction:
        action = QAction(text, self)
        if key is not None:
            action.setShortcut(QKeySequence(key))
        if slot is not None:
            action.triggered.connect(slot)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.new_action = self._action("&New conversation", "Ctrl+N", self.newConversationRequested.emit)
        self.export_action = self._action("&Export conversation…", "Ctrl+Shift+E", self.exportRequested.emit)
        self.quit_action = self._action("&Quit", "Ctrl+Q", self.close)
        file.addActions([self.new_action, self.export_action])
        file.addSeparator()
        file.addAction(self.quit_action)

        edit = bar.addMenu("E&dit")  # Alt+D: Alt+E is the composer's "Open Mod&els"
        self.find_action = self._action("&Find in conversations", "Ctrl+F", self._find)
        edit.addAction(self.find_action)

        view = bar.addMenu("&View")
        for name in self.page_names:
            view.addAction(self._page_actions[name])
        view.addSeparator()
        self.route_panel_action = self._action("&Route panel", "Ctrl+I")
        self.route_panel_action.setCheckable(True)
        self.route_panel_action.setChecked(True)
        self.route_panel_action.toggled.connect(self.set_route_panel_visible)
        view.addAction(self.route_panel_action)
        self.settings_action = self._action("&Settings", "Ctrl+,", lambda: self.show_page("settings"))
        if "settings" in self.views:
            view.addAction(self.settings_action)

        tools = bar.addMenu("Too&ls")  # Alt+L: Alt+T is the composer's Task, Alt+O the Models page's Ollama
        self.inspector_action = self._action("Routing &inspector", "Ctrl+Shift+I", self._open_inspector)
        tools.addAction(self.inspector_action)
        self.quick_action = self._action("&Go to…", "Ctrl+K", self.quickSwitchRequested.emit)
        tools.addAction(self.quick_action)
        for name, label in (("compare", "&Compare models"), ("models", "&Local models")):
            if name in self.views:
                tools.addAction(self._action(label, None, lambda _=False, n=name: self.show_page(n)))

        help_menu = bar.addMenu("&Help")
        self.shortcuts_action = self._action("&Keyboard shortcuts", "F1", self.show_shortcuts)
        help_menu.addAction(self.shortcuts_action)
        self.guide_action = self._action("First-run &guide…", None, self.guideRequested.emit)
        help_menu.addAction(self.guide_action)
        help_menu.addSeparator()
        self.logs_action = self._action("Open &logs folder", None, self.open_logs_folder)
        self.logs_action.setEnabled(bool(self.logs_folder))
        help_menu.addAction(self.logs_action)
        self.about_action = self._action("&About Sparklio", None, self.show_about)
        help_menu.addAction(self.about_action)
        self.about_dialog: AboutDialog | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.quick_switcher: QWidget | None = None  # the open Ctrl+K box (app.py builds it)

    def menu_actions(self) -> list[QAction]:
        """Every action of the menu bar (its menus' items), for the shortcuts list and the tests."""
        found: list[QAction] = []
        for top in self.menuBar().actions():
            menu = top.menu()
            if not isinstance(menu, QMenu):
                continue
            found += [a for a in menu.actions() if not a.isSeparator() and a not in found]
        return found

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = [
            (a.text().replace("&", ""), a.shortcut().toString(QKeySequence.SequenceFormat.NativeText))
            for a in self.menu_actions()
            if not a.shortcut().isEmpty()
        ]
        return rows + list(OTHER_KEYS)

    def show_shortcuts(self) -> ShortcutsDialog:
        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = ShortcutsDialog(self.shortcut_rows(), self)
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()
        return self.shortcuts_dialog

    def show_about(self) -> AboutDialog:
        if self.about_dialog is None:
            self.about_dialog = AboutDialog(self.data_folder, self)
        self.about_dialog.show()
        self.about_dialog.raise_()
        return self.about_dialog

    def open_logs_folder(self) -> QUrl | None:
        """Open the logs folder in the system's file manager (made first: the log is
        written on the first warning, so a calm session has none yet); returns its URL."""
        if not self.logs_folder:
            return None
        with suppress(OSError):  # the file manager then says what is wrong with the path
            Path(self.logs_folder).mkdir(parents=True, exist_ok=True)
        url = QUrl.fromLocalFile(self.logs_folder)
        QDesktopServices.openUrl(url)
        return url

    def _find(self) -> None:
        self.show_page("chat")
        self.findRequested.emit()

    def _open_inspector(self) -> None:
        self.show_page("chat")
        self.set_route_panel_visible(True)
        self.inspectorRequested.emit()

    # -- pages ---------------------------------------------------------------------------
    def show_page(self, name: str) -> None:
        if name in self.views:
            self.pages.setCurrentWidget(self.views[name])

    def current_page(self) -> str:
        return self.page_names[self.pages.currentIndex()]

    def _on_page(self, index: int) -> None:
        if 0 <= index < len(self.page_names):
            self._page_actions[self.page_names[index]].setChecked(True)

    def set_route_panel_visible(self, visible: bool) -> None:
        """Ctrl+I: the Chat page's route panel (preview and inspector) shown or hidden."""
        if self.route_panel is not None:
            self.route_panel.setVisible(visible)
        if self.route_panel_action.isChecked() != visible:
            self.route_panel_action.setChecked(visible)

    # -- notifications ------------------------------------------------------------------
    def _build_notice(self) -> None:
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
        # spend_text never shows the two figures equal by rounding, and the percent is rounded
        # down so it reads 100% only at the cap (where the level turns red).
        spend = status.spend_text or f"{usd_text(status.spent_usd)} of {usd_text(status.budget_usd)}"
        self.spend_label.setText(f"{status.month}: {spend} ({math.floor(status.percent)}%)")
        self._set_spend_level(status.level)
        parts = [f"{name}: {state}" for name, state in status.providers.items()]
        parts += [text for text in (status.cache_text, status.team_text) if text]
        self.providers_label.setText("  ".join(parts))

    def _set_spend_level(self, level: str) -> None:
        """The month's spend in the gauge's colour (core.budget.gauge_level, the spend
        panel's rule): amber near the budget, red at it, the palette's text when all is
        well; the level is in the accessible description, as colour alone is not read out."""
        self.spend_label.setProperty("level", level)
        palette = QPalette()
        if level in LEVEL_COLOURS:
            palette.setColor(QPalette.ColorRole.WindowText, QColor(LEVEL_COLOURS[level]))
        self.spend_label.setPalette(palette)
        self.spend_label.setAccessibleDescription(
            {"amber": "Near the budget", "red": "Budget reached"}.get(level, "Within the budget")
        )

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
        page = str(self._settings.value("window/page", "chat"))
        self.show_page(page if page in self.views else "chat")
        self.set_route_panel_visible(str(self._settings.value("window/route_panel", "true")).lower() != "false")

    def save_layout(self) -> None:
        self._settings.setValue("window/geometry", self.saveGeometry())
        self._settings.setValue("window/page", self.current_page())
        self._settings.setValue("window/route_panel", self.route_panel_action.isChecked())
        for splitter in self._named_splitters():
            self._settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        self._settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.save_layout()
        super().closeEvent(event)
