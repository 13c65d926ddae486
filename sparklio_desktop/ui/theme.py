"""Light and dark: follow the OS unless the user chose, with a fallback palette.

Why Fusion: it honours the colour scheme the same way on every platform, so a choice
made in Settings looks the same on Linux, macOS and Windows.

Charts follow the theme live. The one hook is Qt's own: a theme change reaches every
widget as a palette change event (``is_theme_change``), whether the OS switched schemes
or ``apply_theme`` set the fallback palette. A chart widget reacts in ``changeEvent`` and
recolours its plots from ``chart_colours(widget.palette())``, so pyqtgraph (imported
lazily by the chart's owner) never needs a restart to go dark.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class ChartColours:
    """Colours of one chart for the palette it sits on (hex strings pyqtgraph accepts)."""

    dark: bool
    background: str
    foreground: str  # axes, ticks, titles and legend text
    series: str  # bars, points: the accent
    line: str  # the cumulative line
    budget: str
    mark: str  # the alert threshold (80%) line
    muted: str  # provisional entries


_LIGHT_SERIES = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#999999")
_DARK_SERIES = ("#7fb0e6", "#ff8a8c", "#8fd483", "#ffb259", "#8a8a8a")
LEVEL_COLOURS = {"amber": "#d97706", "red": "#c62828"}  # the budget gauge; "ok" keeps the accent


def chart_colours(palette: Any) -> ChartColours:
    """The chart colours for ``palette`` (a QPalette): dark when its window is darker than its text."""
    from PySide6.QtGui import QPalette

    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    dark = window.lightness() < text.lightness()
    series, line, budget, mark, muted = _DARK_SERIES if dark else _LIGHT_SERIES
    return ChartColours(dark, window.name(), text.name(), series, line, budget, mark, muted)


def is_theme_change(event: Any) -> bool:
    """True for the events a light/dark switch sends every widget (``changeEvent``)."""
    from PySide6.QtCore import QEvent

    return event.type() in (
        QEvent.Type.PaletteChange,
        QEvent.Type.ApplicationPaletteChange,
        QEvent.Type.StyleChange,
        QEvent.Type.ThemeChange,
    )


def style_plot(plot: Any, colours: ChartColours, title: str | None = None) -> None:
    """Axes, ticks, title and legend of one pyqtgraph ``PlotItem`` in ``colours``."""
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(colours.foreground)
        axis.setTextPen(colours.foreground)
    if title is not None:
        plot.setTitle(title, color=colours.foreground)
    legend = plot.legend
    if legend is not None:
        legend.setLabelTextColor(colours.foreground)
        legend.setBrush(colours.background)
        legend.setPen(colours.foreground)
