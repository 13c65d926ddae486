"""No two mnemonics (Alt+letter) clash within a page of the window together with the menu
bar: before issue 12, Alt+T, Alt+I, Alt+C, Alt+M, Alt+P and Alt+G each opened two things."""

from __future__ import annotations

import asyncio
import re

from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QTabBar, QWidget

from sparklio_desktop.app import build_window
from sparklio_desktop.ui.widgets.lazy_tab import LazyTab
from tests.ui.conftest import run

_MNEMONIC = re.compile(r"(?<!&)&([^&\s])")


def mnemonics(text: str) -> list[str]:
    return [m.lower() for m in _MNEMONIC.findall(text)]


def page_mnemonics(window, page: QWidget) -> dict[str, list[str]]:
    """Letter -> the texts that use it, over the menu bar and the page's visible widgets."""
    found: dict[str, list[str]] = {}

    def add(text: str) -> None:
        for letter in mnemonics(text):
            found.setdefault(letter, []).append(text)

    for action in window.menuBar().actions():
        add(action.text())
    for lazy in page.findChildren(LazyTab):
        if lazy.isVisibleTo(window):
            lazy.ensure_built()
    for widget in page.findChildren(QWidget):
        if not widget.isVisibleTo(window):
            continue
        if isinstance(widget, QAbstractButton):
            add(widget.text())
        elif isinstance(widget, QLabel) and widget.buddy() is not None:
            add(widget.text())
        elif isinstance(widget, QGroupBox):
            add(widget.title())
        elif isinstance(widget, QTabBar):
            for i in range(widget.count()):
                add(widget.tabText(i))
    return found


def test_the_menu_bar_has_no_clash(qtbot, make_ctx):
    window = build_window(make_ctx())
    qtbot.addWidget(window)
    letters = [m for a in window.menuBar().actions() for m in mnemonics(a.text())]
    assert sorted(letters) == sorted(set(letters)) and len(letters) == 5
    for action in window.menuBar().actions():  # nor inside each menu
        inner = [m for a in action.menu().actions() for m in mnemonics(a.text())]
        assert len(inner) == len(set(inner)), action.text()


# Clashes inside panels other helpers own (reported to them; this file does not edit them).
# The test fails when one is fixed (take it out here) or a new one appears.
# The Images page is left out: showing it checks the GPU by importing torch in a worker
# thread (ImagesViewModel.check_device), and a test process that did so crashed later in
# Qt's timer dispatch. Its clashes, read by hand: &Guidance vs &Generate, Sa&ve… vs &View.
SKIPPED = ("images",)
KNOWN = {
    "compare": {"d": ["E&dit", "Both ba&d"], "h": ["&Help", "Blind (&hide names until the vote)"]},
    "models": {"d": ["E&dit", "Stable &Diffusion"]},
}


def test_no_mnemonic_clash_on_any_page(qtbot, qloop, make_ctx):
    """One window, every page in turn (the Chat page, with the menu bar, has none)."""
    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show()

    async def shown() -> None:  # lazily built panels are shown by a queued call
        await asyncio.sleep(0.05)
        await ctx.wait_idle()

    found = {}
    try:
        for page in [p for p in window.page_names if p not in SKIPPED]:
            window.show_page(page)
            run(qloop, shown())
            clashes = {k: v for k, v in page_mnemonics(window, window.views[page]).items() if len(v) > 1}
            if clashes:
                found[page] = clashes
    finally:
        window.show_page("chat")
        run(qloop, shown())
    assert found == KNOWN
