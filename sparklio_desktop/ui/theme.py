"""Light and dark: follow the OS unless the user chose, with a fallback palette.

Why Fusion: it honours the colour scheme the same way on every platform, so a choice
made in Settings looks the same on Linux, macOS and Windows.
"""

from __future__ import annotations

from typing import Any

_theme_state: dict[str, Any] = {}


def _dark_palette() -> Any:
    """Fusion's colours for a dark window, for platforms that cannot switch schemes."""
    from PySide6.QtGui import QColor, QPalette

    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in (
        (roles.Window, "#2b2b2b"),
        (roles.WindowText, "#e6e6e6"),
        (roles.Base, "#1e1e1e"),
        (roles.AlternateBase, "#2f2f2f"),
        (roles.Text, "#e6e6e6"),
        (roles.Button, "#353535"),
        (roles.ButtonText, "#e6e6e6"),
        (roles.Highlight, "#3d6fb4"),
        (roles.HighlightedText, "#ffffff"),
        (roles.ToolTipBase, "#2b2b2b"),
        (roles.ToolTipText, "#e6e6e6"),
        (roles.PlaceholderText, "#8a8a8a"),
        (roles.Link, "#6ea8fe"),
    ):
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.ColorGroup.Disabled, roles.Text, QColor("#7a7a7a"))
    palette.setColor(QPalette.ColorGroup.Disabled, roles.ButtonText, QColor("#7a7a7a"))
    return palette


def apply_theme(theme: str) -> None:
    """Follow the OS colour scheme unless the user chose light or dark.

    Where the platform cannot switch schemes (some Linux desktops, offscreen), "dark"
    falls back to a dark Fusion palette, undone when the user switches back.
    """
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")  # a style that honours the colour scheme on every platform
    hints = app.styleHints()
    wanted = {"dark": Qt.ColorScheme.Dark, "light": Qt.ColorScheme.Light}.get(theme, Qt.ColorScheme.Unknown)
    if hasattr(hints, "setColorScheme"):
        hints.setColorScheme(wanted)  # Unknown = the OS decides
    manual = theme == "dark" and hints.colorScheme() != Qt.ColorScheme.Dark
    if manual and "palette" not in _theme_state:
        _theme_state["palette"] = app.palette()
        app.setPalette(_dark_palette())
    elif not manual and "palette" in _theme_state:
        app.setPalette(_theme_state.pop("palette"))
