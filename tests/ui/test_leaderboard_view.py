"""The leaderboard panel over stored votes: rows with intervals, one chart item per model,
filters; the policy suggestion previewed, applied and undone byte for byte; and the
``create(services)`` functions the main window uses to add each new panel."""

from __future__ import annotations

import gc
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt

from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.leaderboard import LeaderboardViewModel
from sparklio_desktop.ui.views.leaderboard_view import LeaderboardView
from tests.ui.conftest import run

SONNET, GPT4, GPT35, GEMINI = (
    "anthropic/claude-3-5-sonnet",
    "openai/gpt-4",
    "openai/gpt-3.5-turbo",
    "google/gemini-2.0-pro",
)
STRENGTHS = {SONNET: 1.5, GPT4: 0.5, GPT35: -1.0}
NAMES = ["Claude 3.5 Sonnet", "GPT-4", "GPT-3.5 Turbo"]  # the catalog's names, in STRENGTHS' order


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Free earlier tests' Qt objects now, never in the middle of this test's event loop."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def policy_copy(tmp_path):
    path = tmp_path / "policy.yaml"
    shutil.copyfile(shipped_policy_path(), path)
    return path


@pytest.fixture
def board(qtbot, qloop, tmp_path, policy_copy):
    votes = VoteStore.open(tmp_path / "ledger.sqlite3")
    workspace = Workspace(policy_path=policy_copy)
    executor = SerialExecutor()
    vm = LeaderboardViewModel(workspace, votes, executor, rounds=30)
    view = LeaderboardView(vm)
    qtbot.addWidget(view)
    yield vm, view, votes, workspace
    run(qloop, vm.wait_idle())
    executor.shutdown()
    votes.close()


def _record(
    votes: VoteStore, task: str, n: int, strengths: dict[str, float], start: datetime, stars_for: str | None = None
) -> None:
    rng = random.Random(3)
    for i in range(n):
        pair = rng.sample(sorted(strengths), 2)
        when = start + timedelta(minutes=i)
        cid = votes.record_comparison(
            task_type=task, prompt=f"p{i}", models=pair, order_shown=pair, blind=True, ts=when
        )
        p_first = 1 / (1 + 2.718281828 ** (strengths[pair[1]] - strengths[pair[0]]))
        stars = {stars_for: 4 + i % 2} if stars_for in pair else None
        votes.record_vote(cid, "a" if rng.random() < p_first else "b", stars=stars, ts=when + timedelta(seconds=5))


def _cells(view: LeaderboardView, column: int) -> list[str]:
    return [view.table.item(r, column).text() for r in range(view.table.rowCount())]


def test_rows_with_intervals_and_a_chart_item_per_model(qtbot, qloop, settle, board):
    import pyqtgraph as pg

    vm, view, votes, _ = board
    _record(votes, "copywriting_standard", 90, STRENGTHS, datetime.now(UTC) - timedelta(days=2), stars_for=GPT4)
    view.show()  # builds the chart and loads the board
    settle(vm, lambda: vm.board is not None)
    assert _cells(view, 1) == NAMES  # recovered the known order, by name
    # The ids stay behind the names: in each row's tooltip and data (what a sort or filter keys on).
    ids = [SONNET, GPT4, GPT35]
    assert [view.table.item(r, 1).toolTip() for r in range(3)] == ids
    assert [view.table.item(r, c).data(Qt.ItemDataRole.UserRole) for r in range(3) for c in (0, 4)] == [
        m for m in ids for _ in (0, 4)
    ]
    rows = vm.board.rows
    assert all(r.low <= r.strength <= r.high for r in rows) and not rows[0].provisional
    assert _cells(view, 3) == [f"{r.low:.1f} – {r.high:.1f}" for r in rows]
    assert _cells(view, 4) == [str(r.votes) for r in rows] and sum(r.votes for r in rows) == 2 * 90
    assert _cells(view, 0)[0] == "1"
    assert _cells(view, 6)[1].startswith(("4.4", "4.5", "4.6")) and _cells(view, 6)[0] == "–"
    assert view.summary.text() == "90 votes over every task"

    items = [i for i in view.chart.getPlotItem().items if isinstance(i, pg.ErrorBarItem)]
    assert len(items) == len(view.error_bars) == 3
    ticks = view.chart.getPlotItem().getAxis("bottom")._tickLevels[0]
    assert [label for _, label in ticks] == NAMES
    assert items[0].toolTip().startswith(f"Claude 3.5 Sonnet ({SONNET}): ")
    top = items[0].opts
    assert top["y"][0] == pytest.approx(rows[0].strength)
    assert top["top"][0] == pytest.approx(rows[0].high - rows[0].strength)

    # The chart follows the theme live: background, axes and bars recolour without a restart.
    from sparklio_desktop.ui.theme import apply_theme

    light_bg = view.chart.backgroundBrush().color()
    light_bar = view.error_bars[0].opts["pen"].color()
    assert light_bg.lightness() > 128
    try:
        apply_theme("dark")
        qtbot.waitUntil(lambda: view.chart.backgroundBrush().color().lightness() < 128)
        assert view.error_bars[0].opts["pen"].color() != light_bar and len(view.error_bars) == 3
        assert view.chart.getPlotItem().getAxis("bottom").textPen().color().lightness() > 128
    finally:
        apply_theme("light")
    qtbot.waitUntil(lambda: view.chart.backgroundBrush().color() == light_bg)

    # Filters: another task has no votes; a window after every vote is empty; decay keeps the order.
    view.task_combo.setCurrentIndex(view.task_combo.findData("translation"))
    settle(vm, lambda: vm.board.filter.task == "translation")
    assert view.table.rowCount() == 0 and "No votes yet" in view.status.text()
    assert "No suggestion for Translation" in view.suggestion_label.text()
    assert view.summary.text() == "0 votes on Translation"
    view.task_combo.setCurrentIndex(0)
    view.since_edit.setDate(view.since_edit.date().currentDate().addDays(1))
    view.since_check.setChecked(True)
    settle(vm, lambda: vm.board.filter.since is not None)
    assert view.table.rowCount() == 0
    view.since_check.setChecked(False)
    view.half_life.setValue(7)
    view.decay_check.setChecked(True)
    settle(vm, lambda: vm.board.filter.half_life_days == 7)
    assert _cells(view, 1) == NAMES and "half-life 7 days" in view.summary.text()
    assert len(view.error_bars) == 3


def test_suggestion_preview_apply_and_undo(qloop, settle, board, policy_copy):
    vm, view, votes, workspace = board
    original = policy_copy.read_bytes()
    # GPT-3.5 beats the translation primary (Gemini 2.0 Pro) most of the time.
    _record(votes, "translation", 60, {GPT35: 1.5, GEMINI: -1.5}, datetime.now(UTC) - timedelta(days=1))
    view.task_combo.setCurrentIndex(view.task_combo.findData("translation"))
    settle(vm, lambda: vm.board is not None and vm.suggestion is not None)
    assert vm.suggestion.candidate == GPT35 and vm.suggestion.current_primary == GEMINI
    text = view.suggestion_label.text()
    assert text.startswith("Translation: GPT-3.5 Turbo beats Gemini 2.0 Pro on translation")
    assert view.apply_button.isEnabled()
    assert "openai/" not in text and "google/" not in text
    assert view.suggestion_label.toolTip() == f"translation: {GPT35} instead of {GEMINI}"
    assert not view.undo_button.isEnabled()

    view.preview_button.click()
    settle(vm, lambda: bool(view.diff.toPlainText()))
    assert f"+    primary: {GPT35}" in view.diff.toPlainText()
    assert policy_copy.read_bytes() == original  # a preview writes nothing

    changed: list[str] = []
    vm.policyChanged.connect(changed.append)
    view.apply_button.click()
    settle(vm, lambda: bool(changed))
    assert workspace.policy.tasks["translation"].primary == GPT35  # reloaded
    assert policy_copy.read_bytes() != original and view.undo_button.isEnabled()

    view.undo_button.click()
    settle(vm, lambda: len(changed) == 2)
    assert policy_copy.read_bytes() == original
    assert workspace.policy.tasks["translation"].primary == "family/gemini-pro"  # as the shipped file names it


def test_create_builds_each_panel_from_services(qtbot, qloop, tmp_path):
    """The one-line wiring the main window uses: ``create(services)`` for each new panel."""
    from sparklio_desktop.core.routing.live_state import LiveState
    from sparklio_desktop.core.routing.planner import RoutePlanner
    from sparklio_desktop.ui.views import compare_view, leaderboard_view, models_view

    votes = VoteStore.open(tmp_path / "ledger.sqlite3")
    workspace = Workspace(policy_path=shipped_policy_path())
    services = SimpleNamespace(
        workspace=workspace, votes=votes, dispatcher=SimpleNamespace(), planner=RoutePlanner(workspace, probe=LiveState)
    )
    built = [models_view.create(services), compare_view.create(services), leaderboard_view.create(services)]
    for view in built:
        qtbot.addWidget(view)
    assert [type(v).__name__ for v in built] == ["ModelsView", "CompareView", "LeaderboardView"]
    assert built[1].model_list.count() >= 8 and built[1].task_combo.findData("translation") >= 0
    assert built[2].task_combo.count() == len(services.workspace.policy.tasks) + 1
    combo = built[2].task_combo  # tasks in words, filtered by id
    index = combo.findData("copywriting_standard")
    assert combo.itemText(index) == "Copywriting" and combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == (
        "copywriting_standard"
    )
    assert all("_" not in combo.itemText(i) for i in range(combo.count()))
    assert all(v.vm.parent() is v for v in built)  # the view owns its view-model
    for view in built:
        run(qloop, view.vm.wait_idle())
    votes.close()
