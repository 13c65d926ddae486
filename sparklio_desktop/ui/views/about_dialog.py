"""Help → About Sparklio: the name, the version, where the data lives, the license.

Why a dialog of its own: a creator reporting a problem is asked for the version (the same
``sparklio_desktop.__version__`` that ``sparklio --version`` prints and the wheel is built
with) and for the data folder (ledger, settings, logs), which a portable or installed copy
puts in different places. Both are selectable text, to paste into a message. The app's
icon (the window icon app.py sets from ``resources/icons``) heads it when there is one.
"""

from __future__ import annotations

import platform

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from sparklio_desktop import __version__

LICENSE_LINE = "Proprietary software: all rights reserved."
ICON_SIZE = 64  # pixels: resources/icons has a PNG of this size


class AboutDialog(QDialog):
    """Name, version, data folder and license line; Close closes it."""

    def __init__(self, data_folder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("About Sparklio")
        self.icon_label = QLabel()
        self.icon_label.setAccessibleName("Sparklio icon")
        icon = QApplication.windowIcon()
        if not icon.isNull():
            self.icon_label.setPixmap(icon.pixmap(ICON_SIZE, ICON_SIZE))
        self.icon_label.setVisible(not icon.isNull())
        self.title_label = QLabel(f"<b>Sparklio Desktop</b> {__version__}")
        self.version_label = QLabel(
            f"Version {__version__} · Python {platform.python_version()} · Qt for Python {pyside_version}"
        )
        self.data_label = QLabel(f"Data folder: {data_folder}")
        self.data_label.setAccessibleName("Data folder")
        self.license_label = QLabel(LICENSE_LINE)
        for label in (self.version_label, self.data_label):
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.Close).setAccessibleName("Close")
        layout = QVBoxLayout(self)
        layout.addWidget(self.icon_label, alignment=Qt.AlignmentFlag.AlignHCenter)
        for label in (self.title_label, self.version_label, self.data_label, self.license_label):
            layout.addWidget(label)
        layout.addWidget(buttons)
