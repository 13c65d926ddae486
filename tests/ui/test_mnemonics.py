"""No two mnemonics (Alt+letter) clash within a page of the window together with the menu
bar: before issue 12, Alt+T, Alt+I, Alt+C, Alt+M, Alt+P and Alt+G each opened two things."""

from __future__ import annotations

import asyncio
import re

from PySide6.QtWidgets import QAbstractButton, QGroupBox, QLabel, QPushButton, QTabBar, QWidget

from sparklio_desktop.app import build_window
from sparklio_desktop.ui.widgets.lazy_tab import LazyTab
from tests.ui.conftest import run

_MNEMONIC = re.compile(r"(?<!&)&([^&\s])")


def mnemonics(text: str) -> list[str]:
    return [m.lower() for m in _MNEMONIC.findall(text)]


def page_mnemonics(window, page: QWidget) -> dict[str, list[str]]:
    """Letter -> the texts that use it, over the menu bar and the page's widgets that show
    when the page does (visibility is read against the page, so a page that is built but
    never shown, like Images below, is read the same way as one on screen)."""
    found: dict[str, list[str]] = {}

    def add(text: str) -> None:
        for letter in mnemonics(text):
            found.setdefault(letter, []).append(text)

    for action in window.menuBar().actions():
        add(action.text())
    for lazy in page.findChildren(LazyTab):
        if lazy.isVisibleTo(page):
            lazy.ensure_built()
    for widget in page.findChildren(QWidget):
        if not widget.isVisibleTo(page):
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


def clashes_of(window, page: QWidget) -> dict[str, list[str]]:
    return {k: v for k, v in page_mnemonics(window, page).items() if len(v) > 1}


def build_images_unshown(window) -> QWidget:
    """The Images panel built but never shown: showing it checks the GPU by importing torch
    in a worker thread (ImagesViewModel.check_device), and a test process that did so
    crashed later in Qt's timer dispatch. Its mnemonics are read from the widget tree."""
    panel = window.views["image_studio"].ensure_built()
    assert panel._device_asked is False  # the probe did not start
    return window.views["images"]


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
    read = {}
    try:
        for page in window.page_names:
            if page == "images":
                widget = build_images_unshown(window)
                # The Gallery tab, read as the Images page shows it when chosen (not shown either).
                gallery = window.views["gallery"]
                gallery.ensure_built()
                widget.setCurrentWidget(gallery)
                run(qloop, shown())
                read["gallery"] = page_mnemonics(window, widget)
                if clashes := clashes_of(window, widget):
                    found["gallery"] = clashes
                widget.setCurrentWidget(window.views["image_studio"])
            else:
                window.show_page(page)
                run(qloop, shown())
                widget = window.views[page]
            read[page] = page_mnemonics(window, widget)
            if clashes := clashes_of(window, widget):
                found[page] = clashes
    finally:
        window.show_page("chat")
        run(qloop, shown())
    assert found == {}
    # The pages were read, not skipped: each page's own letters are there.
    assert "&Generate" in read["images"]["g"] and "G&uidance" in read["images"]["u"]
    gallery = read["gallery"]  # the Gallery tab's own letters, without the form's
    assert "&Use these settings" in gallery["u"] and "D&elete…" in gallery["e"] and "Sea&rch" in gallery["r"]
    assert "g" not in gallery
    assert "B&oth bad" in read["compare"]["o"] and "&Stable Diffusion" in read["models"]["s"]
    assert "&Run" in read["recipes"]["r"] and "&Edit a copy" in read["recipes"]["e"]
    recipes = read["recipes"]  # the run options: budget, speed, quality, voice, the folder
    assert "&Budget" in recipes["b"] and "&Quality" in recipes["q"] and "Brand v&oice" in recipes["o"]
    assert "&Choose…" in recipes["c"] and "O&pen folder" in recipes["p"] and "Ou&tput folder" in recipes["t"]


def test_a_clash_is_found(qtbot, make_ctx):
    """The check above can fail: a button on the Images panel taking the Help menu's letter
    is reported, against the menu."""
    window = build_window(make_ctx())
    qtbot.addWidget(window)
    page = build_images_unshown(window)
    assert clashes_of(window, page) == {}
    window.views["image_studio"].panel.layout().addWidget(QPushButton("&Hints"))
    assert clashes_of(window, page) == {"h": ["&Help", "&Hints"]}
