"""The compare panel against the loopback Anthropic and OpenAI servers: columns stream
side by side, blind mode hides names until the vote, votes are stored and reveal names."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from itertools import pairwise

import pytest
from keyring.backends import null
from PySide6.QtCore import Qt

from sparklio_desktop.core.compare import blind_order
from sparklio_desktop.core.dispatch import Dispatcher
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ratings.state import TaskRatings
from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.compare import CompareViewModel
from sparklio_desktop.ui.views.compare_view import CompareView
from tests.core.test_compare import ANSWER, GPT4, GPT35, PROMPT, SONNET, Anthropic, OpenAI
from tests.ui.conftest import ANTHROPIC_KEY, OPENAI_KEY, run

TASK = "copywriting_standard"


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Free earlier tests' Qt objects now, never in the middle of this test's event loop."""
    gc.collect()
    yield
    gc.collect()


class CountingRatings:
    """Stands in for RatingQualities (no votes): the view-model must invalidate it after a vote."""

    def __init__(self) -> None:
        self.invalidated = 0

    def ratings_for(self, task_type: str) -> TaskRatings:
        return TaskRatings({}, {})

    def is_cached(self, task_type: str) -> bool:
        return True

    def invalidate(self) -> None:
        self.invalidated += 1


@pytest.fixture
def compare(qtbot, qloop, tmp_path, monkeypatch):
    with Anthropic() as anthropic, OpenAI() as openai:
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        for server in (anthropic, openai):
            server.usage = (100, 50)
            server.chunk_interval_s = 0.01
        workspace = Workspace(policy_path=shipped_policy_path())
        # Only the two loopback providers can answer: Google and Ollama are marked unavailable.
        live = LiveState(
            unavailable={
                m: (Rule.NO_API_KEY, "test")
                for m, spec in workspace.catalog.items()
                if spec.provider in ("google", "ollama", "local")
            }
        )
        ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
        votes = VoteStore.open(tmp_path / "ledger.sqlite3")
        ratings = CountingRatings()
        planner = RoutePlanner(workspace, probe=lambda: live, ratings=ratings)
        dispatcher = Dispatcher(workspace, ledger=ledger, keys=KeyStore(backend=null.Keyring()), planner=planner)
        executor = SerialExecutor()
        vm = CompareViewModel(workspace, dispatcher, votes, executor)
        view = CompareView(vm)
        qtbot.addWidget(view)
        yield vm, view, votes, ratings
        vm.shutdown()
        run(qloop, vm.wait_idle())
        run(qloop, dispatcher.aclose())
        executor.shutdown()
        votes.close()
        ledger.close()


def _check(view: CompareView, models: list[str]) -> None:
    from PySide6.QtCore import Qt

    for i in range(view.model_list.count()):
        item = view.model_list.item(i)
        item.setCheckState(
            Qt.CheckState.Checked if item.data(Qt.ItemDataRole.UserRole) in models else Qt.CheckState.Unchecked
        )


def _start(view: CompareView, models: list[str], blind: bool) -> None:
    _check(view, models)
    view.task_combo.setCurrentIndex(view.task_combo.findData(TASK))
    view.prompt.setPlainText(PROMPT)
    view.blind_check.setChecked(blind)
    view.compare_button.click()


def test_two_columns_stream_side_by_side(qloop, settle, compare):
    vm, view, votes, _ = compare
    chunks: list[tuple[int, str]] = []
    vm.chunk.connect(lambda c, t: chunks.append((c, t)))
    _start(view, [SONNET, GPT4], blind=False)
    settle(vm, lambda: not vm.busy and len(view.columns) == 2)
    assert {c for c, _ in chunks} == {0, 1}
    switches = sum(1 for a, b in pairwise(chunks) if a[0] != b[0])
    assert switches >= 2  # interleaved, not one column after the other
    assert view.checked_models() == [GPT4, SONNET]  # columns follow the list (catalog) order
    assert [c.answer.text() for c in view.columns] == [ANSWER[GPT4], ANSWER[SONNET]]
    # Names only on screen; the ids in the tooltips.
    assert [c.title.text() for c in view.columns] == ["<b>GPT-4</b>", "<b>Claude 3.5 Sonnet</b>"]
    assert [c.title.toolTip() for c in view.columns] == [GPT4, SONNET]
    figures = view.columns[0].figures.text()
    assert "TTFT" in figures and "tok/s" in figures and "50 tokens" in figures and "$0.006" in figures
    assert view.columns[0].answer.renders < len([c for c in chunks if c[0] == 0])  # throttled rendering
    assert votes.votes(TASK) == []  # nothing voted yet


IDENTIFYING = ("Claude", "Sonnet", "GPT", "gpt-", "claude-", "anthropic", "openai", "$", "tok/s", "tokens", "TTFT")


def _visible_text(view: CompareView) -> str:
    """Every string a user (or a screen reader) can see in the panel, answers aside (their
    text is the models' own words)."""
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLabel, QListWidget, QTextBrowser, QWidget

    parts: list[str] = []
    for widget in view.findChildren(QWidget):
        if not widget.isVisibleTo(view) or isinstance(widget, QTextBrowser):
            continue
        parts += [widget.toolTip(), widget.accessibleName(), widget.accessibleDescription()]
        if isinstance(widget, QLabel | QAbstractButton):
            parts.append(widget.text())
        if isinstance(widget, QComboBox):
            parts.append(widget.currentText())
        if isinstance(widget, QListWidget):
            parts += [widget.item(i).text() for i in range(widget.count())]
    return "\n".join(parts)


def test_blind_mode_hides_names_until_the_vote(qtbot, qloop, settle, compare):
    vm, view, votes, ratings = compare
    view.show()
    vm.seed = next(s for s in range(100) if blind_order([GPT4, SONNET], s)[0] == SONNET)  # not the list order
    assert "Claude 3.5 Sonnet" in _visible_text(view)  # the list names them before a blind run: the scan sees it
    _start(view, [SONNET, GPT4], blind=True)
    settle(vm, lambda: not vm.busy and len(view.columns) == 2)
    titles = [c.title.text() for c in view.columns]
    assert titles == ["<b>A</b>", "<b>B</b>"]
    shown = _visible_text(view)
    leaked = [word for word in IDENTIFYING if word in shown]
    assert leaked == [], shown
    assert not view.model_list.isVisibleTo(view) and "2 models, hidden until your vote" in shown
    assert "Names show after your vote" in view.status.text()
    assert view.vote_buttons["a"].isEnabled()

    qtbot.mouseClick(
        view.columns[1].stars, Qt.MouseButton.LeftButton, pos=view.columns[1].stars.star_rect(4).center().toPoint()
    )
    assert view.columns[1].stars.rating() == 4
    view.vote_buttons["a"].click()  # A: the left answer, which is Sonnet in this shuffle
    settle(vm, lambda: vm.comparison.cast is not None)
    [stored] = votes.votes(TASK)
    assert stored.kind == "a" and stored.models == (SONNET, GPT4)
    [comparison] = votes.comparisons(TASK)
    assert comparison.blind and comparison.models == (GPT4, SONNET) and dict(comparison.stars) == {GPT4: 4}
    assert ratings.invalidated == 1
    assert view.columns[0].title.text() == "<b>Claude 3.5 Sonnet</b>" and view.columns[0].title.toolTip() == SONNET
    assert view.columns[1].title.text() == "<b>GPT-4</b>" and view.columns[1].title.toolTip() == GPT4
    assert not view.vote_buttons["a"].isEnabled()  # one vote per comparison
    revealed = _visible_text(view)
    assert "tok/s" in revealed and "50 tokens" in revealed and "$0.006" in revealed and "TTFT" in revealed
    assert view.model_list.isVisibleTo(view) and "Claude 3.5 Sonnet" in revealed

    handed: list[tuple[str, str, str]] = []
    view.continueWith.connect(lambda m, p, a: handed.append((m, p, a)))
    view.columns[1].continue_button.click()
    assert handed == [(GPT4, PROMPT, ANSWER[GPT4])]


def test_show_names_gives_up_the_blind_vote(qloop, settle, compare):
    vm, view, _, _ = compare
    view.show()
    _start(view, [SONNET, GPT4], blind=True)
    settle(vm, lambda: not vm.busy and len(view.columns) == 2)
    assert "$" not in _visible_text(view)
    view.show_names_button.click()
    shown = _visible_text(view)
    assert "$0.006" in shown and "Claude 3.5 Sonnet" in shown and view.model_list.isVisibleTo(view)


def test_router_candidates_and_a_three_column_ranking(qloop, settle, compare):
    vm, view, votes, ratings = compare
    assert view.top_count_label.buddy() is view.top_count and view.top_count_label.text() == "Column&s"
    view.task_combo.setCurrentIndex(view.task_combo.findData(TASK))
    view.top_count.setValue(2)
    view.propose_button.click()
    settle(vm, lambda: bool(view.checked_models()))
    assert sorted(view.checked_models()) == sorted([SONNET, GPT4])  # the task's chain, Google being unavailable
    status = view.status.text()
    assert "Claude 3.5 Sonnet" in status and "GPT-4" in status and "/" not in status  # names, not ids

    _start(view, [SONNET, GPT4, GPT35], blind=False)
    settle(vm, lambda: not vm.busy and len(view.columns) == 3)
    assert not view.vote_buttons["a"].isVisible() and view.columns[0].rank_button.isVisibleTo(view)
    order = view.checked_models()
    assert order == [GPT4, GPT35, SONNET]
    view.columns[1].rank_button.click()  # GPT-3.5 best
    assert votes.votes(TASK) == [] and view.columns[1].rank_button.text() == "1st"
    view.columns[2].rank_button.click()  # then Sonnet; GPT-4 last is implied, and the vote is cast
    settle(vm, lambda: vm.comparison.cast is not None)
    [stored] = votes.votes(TASK)
    assert stored.kind == "ranking" and stored.ranking == (GPT35, SONNET, GPT4)
    assert ratings.invalidated == 1


def test_too_few_models_is_refused_without_a_run(qloop, settle, compare):
    vm, view, votes, _ = compare
    _start(view, [SONNET], blind=False)
    settle(vm)
    assert "Check 2 to 4 models (1 checked)" in view.status.text() and view.columns == []
    assert votes.comparisons() == []


def test_models_and_tasks_by_name_with_ids_in_tooltips(compare):
    """The model list reads "Claude 3.5 Sonnet", not "Claude 3.5 Sonnet (anthropic/…)"; the task
    list reads "Copywriting". The ids stay in the tooltips and in the data a run uses."""
    _, view, _, _ = compare
    listed = [view.model_list.item(i) for i in range(view.model_list.count())]
    items = {item.data(Qt.ItemDataRole.UserRole): item for item in listed}
    assert items[SONNET].text() == "Claude 3.5 Sonnet" and items[SONNET].toolTip() == SONNET
    assert items[GPT4].text() == "GPT-4" and items[GPT4].toolTip() == GPT4
    assert all("/" not in item.text() for item in items.values())
    index = view.task_combo.findData(TASK)
    assert view.task_combo.itemText(index) == "Copywriting"
    assert view.task_combo.itemData(index, Qt.ItemDataRole.ToolTipRole) == TASK
