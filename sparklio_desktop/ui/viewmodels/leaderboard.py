"""The leaderboard's view-model: stored votes → Bradley–Terry rows with intervals, and
the policy suggestion for the chosen task (preview its diff, apply it, undo it).

Why a worker thread: a fit with 100 bootstrap rounds over thousands of votes takes up
to a second (issue 6's budget), far past what the event loop may stall; reading the
votes is an SQLite query. Both run in ``asyncio.to_thread`` and only finished rows come
back. A new filter cancels the load it replaces (its result would be stale), although
the thread itself finishes its fit in the background.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.naming import model_name, task_words
from sparklio_desktop.core.policy.versions import PolicyChange, PolicyVersions
from sparklio_desktop.core.ratings import DEFAULT_ROUNDS, LeaderboardRow, Suggestion, leaderboard
from sparklio_desktop.core.ratings.state import task_suggestion
from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.routing.router import Router
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange

__all__ = ["Board", "BoardFilter", "LeaderboardRow", "LeaderboardViewModel", "Suggestion", "SuggestionLine"]


@dataclass(frozen=True)
class BoardFilter:
    """What the board is computed over: a task (None pools every task) and a window."""

    task: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    half_life_days: float | None = None


@dataclass(frozen=True)
class Board:
    """A computed board and the votes behind it.

    ``names``: each row's model by its catalog name (rows carry ids, the contract of the
    ledger); ``task_name``: the filter's task in words. The view shows these and keeps
    the ids for tooltips.
    """

    filter: BoardFilter
    rows: list[LeaderboardRow]
    votes: int
    names: Mapping[str, str] = field(default_factory=dict)
    task_name: str | None = None

    def name(self, model_id: str) -> str:
        """The model's name as shown (a model the catalog no longer lists reads as its id's tail)."""
        return self.names.get(model_id) or model_name({}, model_id)


@dataclass(frozen=True)
class SuggestionLine:
    """The suggestion as the panel shows it: ``text`` names the task in words and the
    models by name; ``suggestion`` keeps the ids (what Apply writes)."""

    suggestion: Suggestion
    task_name: str
    text: str


class LeaderboardViewModel(ViewModel):
    """Computes the leaderboard and manages policy suggestions."""

    boardChanged = Signal(object)  # Board
    suggestionChanged = Signal(object)  # Suggestion | None (None also when no task is chosen)
    diffReady = Signal(str)  # what Apply would write
    policyChanged = Signal(str)  # the diff applied or undone; the policy was reloaded
    busyChanged = Signal(bool)

    def __init__(
        self,
        workspace: Workspace,
        votes: VoteStore,
        executor: SerialExecutor,
        *,
        versions: PolicyVersions | None = None,
        rounds: int = DEFAULT_ROUNDS,
        seed: int = 0,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._votes = votes
        self._versions = versions
        self.rounds = rounds
        self.seed = seed
        self.filter = BoardFilter()
        self.board: Board | None = None
        self.suggestion: Suggestion | None = None
        self._loading: asyncio.Task[Any] | None = None

    def tasks(self) -> list[str]:
        return sorted(self._workspace.policy.tasks)

    def task_choices(self) -> list[tuple[str, str]]:
        """(words, id) of every task, by words: the filter shows "Copywriting", filters by id."""
        policy = self._workspace.policy
        return sorted(((task_words(policy, t), t) for t in policy.tasks), key=lambda c: c[0].casefold())

    def task_name(self, task: str) -> str:
        return task_words(self._workspace.policy, task)

    def suggestion_line(self, suggestion: Suggestion | None) -> SuggestionLine | None:
        """The suggestion in words: "Translation: GPT-3.5 Turbo beats Gemini 2.0 Pro on translation …".

        The sentence is the core's (it already names the models); only the task is put in words,
        in the lead and where the sentence names it.
        """
        if suggestion is None or suggestion.task_type is None:
            return None
        task = suggestion.task_type
        words = self.task_name(task)
        sentence = suggestion.sentence.replace(f" on {task}", f" on {words[:1].lower() + words[1:]}", 1)
        return SuggestionLine(suggestion, words, f"{words}: {sentence}")

    def _policy_versions(self) -> PolicyVersions:
        if self._versions is None:
            store = self._workspace.policy_store
            self._versions = PolicyVersions(self._workspace.catalog, store.explicit_path or paths.user_policy_path())
        return self._versions

    # -- the board ---------------------------------------------------------------------------
    def _compute(self, f: BoardFilter) -> tuple[Board, Suggestion | None]:
        """Read and fit (worker thread); the suggestion too, when a task is chosen."""
        votes = self._votes.votes(f.task, f.since, f.until)
        stars = self._votes.star_ratings(f.task, f.since, f.until)
        policy = self._workspace.policy
        rows = leaderboard(
            votes,
            stars,
            task_type=f.task,
            since=f.since,
            until=f.until,
            half_life_days=f.half_life_days,
            rounds=self.rounds,
            min_votes=policy.ratings.min_votes,
            seed=self.seed,
        )
        suggestion = None
        if f.task is not None and f.task in policy.tasks:
            router = Router(self._workspace.catalog, policy)
            suggestion = task_suggestion(
                router, self._votes.votes(f.task), self._votes.star_ratings(f.task), f.task, seed=self.seed
            )
        catalog = self._workspace.catalog
        names = {r.model_id: model_name(catalog, r.model_id) for r in rows}
        task_name = task_words(policy, f.task) if f.task is not None else None
        return Board(f, rows, len(votes), names, task_name), suggestion

    @asyncSlot(object)
    async def load(self, board_filter: BoardFilter | None = None) -> None:
        """Compute the board for ``board_filter`` (else the current one); a newer load wins."""
        self._track()
        if board_filter is not None:
            self.filter = board_filter
        if self._loading is not None:
            self._loading.cancel()
        self._loading = me = asyncio.current_task()
        self.busyChanged.emit(True)
        try:
            board, suggestion = await asyncio.to_thread(self._compute, self.filter)
        except asyncio.CancelledError:
            return  # a newer filter replaced this one
        except (SparklioError, ValueError) as err:
            self.errorRaised.emit(str(err))
            return
        finally:
            if self._loading is me:
                self._loading = None
                self.busyChanged.emit(False)
        self.board, self.suggestion = board, suggestion
        self.boardChanged.emit(board)
        self.suggestionChanged.emit(suggestion)

    def ledger_changed(self, change: LedgerChange) -> None:
        """The app's ``ledgerChanged``: votes and star ratings feed the board, so reload it."""
        if change.kind in ("vote", "rating"):
            self.load()

    # -- suggestions ---------------------------------------------------------------------------
    async def _policy_call(self, fn: Callable[[], PolicyChange]) -> PolicyChange | None:
        try:
            return await self._executor.call(fn)
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return None

    @asyncSlot()
    async def preview(self) -> None:
        """The diff Apply would write, without writing anything."""
        self._track()
        s = self.suggestion
        if s is None or s.task_type is None:
            self.errorRaised.emit("no suggestion to preview")
            return
        task, candidate = s.task_type, s.candidate
        change = await self._policy_call(lambda: self._policy_versions().preview(task, candidate))
        if change is not None:
            self.diffReady.emit(change.diff)

    @asyncSlot()
    async def apply(self) -> None:
        """Write a new policy version (the old one is kept), reload it, refresh the board."""
        self._track()
        s = self.suggestion
        if s is None or s.task_type is None:
            self.errorRaised.emit("no suggestion to apply")
            return
        task, candidate = s.task_type, s.candidate
        await self._changed(lambda: self._policy_versions().apply(task, candidate))

    @asyncSlot()
    async def undo(self) -> None:
        """Put the version before the last Apply back, byte for byte."""
        self._track()
        await self._changed(lambda: self._policy_versions().undo())

    async def _changed(self, fn: Callable[[], PolicyChange]) -> None:
        def work() -> PolicyChange:
            change = fn()
            self._workspace.policy_store.reload()
            return change

        change = await self._policy_call(work)
        if change is None:
            return
        self.policyChanged.emit(change.diff)
        await self.load()

    def can_undo(self) -> bool:
        try:
            return bool(self._policy_versions().versions())
        except OSError:
            return False
