"""The Models panel's Catalog tab with real widgets: families and members, retired models
greyed with their date, price differences highlighted, and Refresh against a loopback
OpenAI server (the key and base URL from the environment, as a creator sets them)."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QTreeWidgetItem

from sparklio_desktop.core.policy import user_catalog
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.catalog import BACKGROUND_ENV, CatalogViewModel
from sparklio_desktop.ui.viewmodels.models import ModelsViewModel
from sparklio_desktop.ui.views.catalog_tab import DIFFERS_BACKGROUND, PRICE_COLUMN, RETIRED_GREY, STATUS_COLUMN
from sparklio_desktop.ui.views.models_view import ModelsView
from tests.fakes.loopback import Fault
from tests.ui.conftest import OPENAI_KEY, run

STATUS = STATUS_COLUMN


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    gc.collect()  # see test_models_view: free a finished test's QObjects outside Qt's dispatch
    yield
    gc.collect()


@pytest.fixture
def panel(qtbot, qloop):
    """The Models panel with its Catalog tab, over the workspace of this test's SPARKLIO_HOME."""
    executor = SerialExecutor()
    workspace = Workspace()
    models = ModelsViewModel(executor, host="http://127.0.0.1:9")
    catalog = CatalogViewModel(executor, workspace, timeout_s=5.0)
    view = ModelsView(models, catalog=catalog)
    qtbot.addWidget(view)

    async def open_catalog_tab() -> None:  # showing starts the panels' loads: on the running loop
        view.show()
        view.tabs.setCurrentWidget(view.catalog_tab)
        await models.wait_idle()  # Ollama (unreachable here) answers before the loop stops

    run(qloop, open_catalog_tab())
    yield catalog, view.catalog_tab, workspace
    run(qloop, models.aclose())
    run(qloop, catalog.wait_idle())
    executor.shutdown()


def _families(tab) -> dict[str, QTreeWidgetItem]:
    items = (tab.tree.topLevelItem(i) for i in range(tab.tree.topLevelItemCount()))
    return {item.text(0): item for item in items if item is not None}


def _member(tab, api_name: str) -> QTreeWidgetItem:
    for family in _families(tab).values():
        for i in range(family.childCount()):
            child = family.child(i)
            if child.text(1) == api_name:
                return child
    raise AssertionError(f"{api_name} is not in the tree")


def test_lists_families_members_retired_greyed_and_price_differences(settle, panel):
    user_catalog.retire("google/gemini-2.0-pro", "model not found", since=dt.date(2025, 11, 3))
    catalog, tab, workspace = panel
    settle(catalog, lambda: tab.tree.topLevelItemCount() > 0)
    workspace.reload_catalog()
    catalog.load()  # what a refresh does after rewriting the user's catalog
    settle(catalog, lambda: _member(tab, "gemini-2.0-pro-exp-02-05").text(STATUS) != "")

    families = _families(tab)
    assert {"Claude Sonnet", "GPT-4", "Gemini Pro", "Gemini Flash"} <= set(families)
    sonnet = families["Claude Sonnet"]
    assert sonnet.text(1).startswith("→ claude-")  # the member the family resolves to
    assert "Claude Sonnet →" in sonnet.toolTip(1)
    assert sonnet.childCount() >= 1

    gone = _member(tab, "gemini-2.0-pro-exp-02-05")
    assert gone.text(STATUS) == "retired 2025-11-03"  # shown, not hidden
    assert gone.foreground(0).color() == RETIRED_GREY
    assert "model not found" in gone.toolTip(STATUS)

    # The seed prices Gemini 2.0 Flash at $0.075/$0.30; genai-prices lists $0.10/$0.40.
    flash = _member(tab, "gemini-2.0-flash")
    assert flash.background(PRICE_COLUMN).color() == DIFFERS_BACKGROUND
    assert "genai-prices: $0.10/$0.40 per 1M" in flash.text(PRICE_COLUMN)
    assert flash.toolTip(PRICE_COLUMN).startswith("genai-prices lists $0.10/$0.40 per 1M")
    # A price both agree on is not highlighted.
    same = [_member(tab, n) for n in ("gpt-4o", "gpt-4-turbo", "claude-3-opus-latest") if _exists(tab, n)]
    assert any(m.background(PRICE_COLUMN).style().name == "NoBrush" for m in same)


def _exists(tab, api_name: str) -> bool:
    try:
        _member(tab, api_name)
    except AssertionError:
        return False
    return True


def test_refresh_adds_and_retires_and_shows_the_change_line(settle, panel, openai_server):
    catalog, tab, workspace = panel
    settle(catalog, lambda: tab.tree.topLevelItemCount() > 0)
    assert not _exists(tab, "gpt-4o")

    busy: list[tuple[bool, bool, str]] = []  # (refreshing, button enabled, progress text) as the view saw it
    catalog.refreshingChanged.connect(
        lambda running, _: busy.append((running, tab.refresh_button.isEnabled(), tab.progress_label.text()))
    )
    tab.refresh_button.click()
    settle(catalog, lambda: "Added" in tab.change_label.text() and _exists(tab, "gpt-4o"))
    assert busy == [(True, False, "Asking OpenAI, Anthropic, Gemini, Ollama…"), (False, True, "")]

    assert tab.refresh_button.isEnabled() and not tab.progress.isVisible()
    first, *rest = tab.change_label.text().splitlines()
    assert first.startswith("Added 2, retired ")  # gpt-4o and gpt-4o-mini
    # The lines name the models (a new one by the name the refresh gave it); the ids are in the tooltip.
    assert "Added: gpt-4o, gpt-4o-mini" in rest
    assert any(line.startswith("Retired: GPT-4 Turbo, ") for line in rest)
    assert "openai/" not in tab.change_label.text()
    tip = tab.change_label.toolTip().splitlines()
    assert "Added: openai/gpt-4o, openai/gpt-4o-mini" in tip
    assert any(line.startswith("Retired: ") and "openai/gpt-4-turbo" in line for line in tip)
    assert "openai/gpt-4o" in workspace.catalog  # the workspace reloaded the user's catalog
    assert _member(tab, "gpt-4-turbo").text(STATUS).startswith("retired ")
    assert not tab.failure_label.isVisible()


def test_a_refused_key_is_one_plain_line_without_the_key(settle, panel, openai_server):
    catalog, tab, _ = panel
    openai_server.script(Fault(status=401, message=f"Incorrect API key provided: {OPENAI_KEY}"))
    settle(catalog, lambda: tab.tree.topLevelItemCount() > 0)
    tab.refresh_button.click()
    settle(catalog, lambda: tab.failure_label.isVisible())
    text = tab.failure_label.text()
    assert text.startswith("Could not ask openai: ") and "401" in text
    assert OPENAI_KEY not in text and "Traceback" not in text
    assert tab.change_label.text().startswith("Added 0, retired 0, repriced 0, unpriced 0")


def test_the_daily_refresh_runs_once_when_a_key_is_set_and_never_when_turned_off(
    settle, panel, openai_server, monkeypatch
):
    catalog, tab, _ = panel
    settle(catalog, lambda: tab.tree.topLevelItemCount() > 0)
    catalog.refresh_if_due()  # the test suite turns it off
    settle(catalog)
    assert catalog.last_outcome is None

    monkeypatch.setenv(BACKGROUND_ENV, "1")
    catalog.refresh_if_due()
    settle(catalog, lambda: catalog.last_outcome is not None)
    assert catalog.last_outcome is not None and catalog.last_outcome.background
    assert tab.change_label.text().startswith("Daily refresh: Added 2")
    assert _exists(tab, "gpt-4o")

    shown = catalog.last_outcome
    catalog.refresh_if_due()  # refreshed today: not due
    settle(catalog)
    assert catalog.last_outcome is shown
