"""One ``ledgerChanged`` after any request, vote, star rating or settings change: the spend
panel, the status bar, the inspector's history and the leaderboard follow it.

Before it, only the composer's and the Images panel's requests refreshed what reads the
ledger: a compare run left the spend panel and the status bar on the old total, a new
monthly budget left both on the old cap, and a star given in the composer never reached
an open leaderboard.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from sparklio_desktop.app import build_window
from sparklio_desktop.ui.widgets.format import usd_text
from sparklio_desktop.ui.widgets.lazy_tab import LazyTab
from tests.ui.conftest import run, wait_until

GPT4, SONNET = "openai/gpt-4", "anthropic/claude-3-5-sonnet"
TASK = "copywriting_standard"


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Free earlier tests' Qt objects now, never in the middle of this test's event loop."""
    gc.collect()
    yield
    gc.collect()


def _window(qtbot, qloop, ctx):
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show()
    ctx.status.refresh()
    ctx.spend.load(ctx.spend.month)
    run(qloop, ctx.wait_idle())
    return window


def _open(window, name: str):
    """Switch to a panel's page (and tab), as a click on it does (a lazy panel is built and loads)."""
    page = {"leaderboard": "compare", "composer": "chat", "inspector": "chat"}.get(name, name)
    window.show_page(page)
    tab = window.views["arena" if name == "compare" else name]
    if page == "compare":
        window.views["compare"].setCurrentWidget(tab)
    return tab.ensure_built() if isinstance(tab, LazyTab) else tab


def _month_spend(ctx) -> Decimal:
    return ctx.ledger.spend_summary(ctx.spend.month).spent_usd


def _status_shows(window, spent: Decimal, budget: Decimal) -> bool:
    return f": {usd_text(spent)} of {usd_text(budget)} (" in window.spend_label.text()


def test_a_compare_run_and_its_vote_refresh_spend_status_and_leaderboard(
    qtbot, qloop, make_ctx, openai_server, anthropic_server
):
    for server in (openai_server, anthropic_server):
        server.usage = (100, 50)
    ctx = make_ctx()
    window = _window(qtbot, qloop, ctx)
    assert ctx.spend.figures.spent_usd == 0 and _status_shows(window, Decimal(0), Decimal(50))
    board = _open(window, "leaderboard")
    wait_until(qloop, lambda: board.vm.board is not None)
    assert board.vm.board.votes == 0
    compare = _open(window, "compare")

    for i in range(compare.model_list.count()):
        item = compare.model_list.item(i)
        item.setCheckState(
            Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in (GPT4, SONNET) else Qt.CheckState.Unchecked
        )
    compare.task_combo.setCurrentIndex(compare.task_combo.findData(TASK))
    compare.prompt.setPlainText("Three taglines for an autumn latte")
    compare.compare_button.click()
    wait_until(qloop, lambda: compare.vm.comparison is not None and not compare.vm.busy)

    spent = _month_spend(ctx)
    assert spent > 0  # both columns were paid for
    wait_until(qloop, lambda: ctx.spend.figures.spent_usd == spent, timeout=5)
    wait_until(qloop, lambda: _status_shows(window, spent, Decimal(50)), timeout=5)
    assert window.views["spend"].gauge.text().startswith(f"{usd_text(spent)} of $50")
    wait_until(qloop, lambda: window.views["inspector"].history.rowCount() == 2, timeout=5)  # one row per column

    compare.vote_buttons["a"].click()
    wait_until(qloop, lambda: board.vm.board is not None and board.vm.board.votes == 1, timeout=5)
    run(qloop, ctx.wait_idle())


def test_a_star_rating_in_the_composer_reaches_an_open_leaderboard(qtbot, qloop, make_ctx, openai_server):
    ctx = make_ctx()
    window = _window(qtbot, qloop, ctx)
    board = _open(window, "leaderboard")
    wait_until(qloop, lambda: board.vm.board is not None)
    assert board.vm.board.rows == []
    _open(window, "composer")

    ctx.composer.set_task("brief_questions")
    ctx.composer.forced_model = GPT4
    ctx.composer.explore = False
    ctx.composer.set_prompt("Who is the audience?")
    run(qloop, ctx.composer.send())
    run(qloop, ctx.composer.rate(4))

    def starred() -> bool:
        rows = board.vm.board.rows if board.vm.board is not None else []
        return [(r.model_id, r.stars_n) for r in rows] == [(GPT4, 1)]

    wait_until(qloop, starred, timeout=5)
    run(qloop, ctx.wait_idle())


def test_a_new_budget_in_settings_shows_in_the_spend_panel_and_status_bar(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, qloop, ctx)
    assert _status_shows(window, Decimal(0), Decimal(50))
    assert window.views["spend"].gauge.text() == "$0.00 of $50.00 (0.0%)"

    settings = window.views["settings"]
    run(qloop, ctx.settings.refresh())
    field = settings.fields["budget.monthly_usd"]
    field.setText("120")
    field.editingFinished.emit()  # what leaving the field does
    wait_until(qloop, lambda: ctx.budget.monthly_usd == Decimal(120))

    wait_until(qloop, lambda: _status_shows(window, Decimal(0), Decimal(120)), timeout=5)
    wait_until(
        qloop, lambda: window.views["spend"].gauge.text() == f"$0.00 of {usd_text(Decimal(120))} (0.0%)", timeout=5
    )
    assert "80% mark: $96.00" in window.views["spend"].mark_label.text()
    run(qloop, ctx.wait_idle())
