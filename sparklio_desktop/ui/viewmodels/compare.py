"""The compare view's view-model: one prompt to 2–4 models, columns streamed, a vote.

Why names go through :class:`~sparklio_desktop.core.compare.Comparison` only: in blind
mode the core hands out "A", "B", ... and ``model=None`` until the vote, so a view that
shows only what this object emits cannot leak a name early. The models the user ticked
are known here, of course, but are never emitted while the comparison is blind.

Why chunks are emitted one by one: appending is O(1) in the view, which renders each
column at most every 100 ms (``StreamingMarkdownView``); batching here as well would
only add latency. The vote is written through the serial executor (an SQLite write),
and the route planner's ratings are invalidated afterwards so the next route sees it.
The proposed models come from the same planner as the composer's preview and the runs
(core/routing/planner.py): its live state, this session's failures and the ratings.
A finished run (every column's attempts are in the ledger) and a stored vote are announced
on the app's ``ledgerChanged`` hub (ledger_events.py): the spend panel, the status bar, the
inspector and the leaderboard refresh from it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.compare import (
    MAX_COLUMNS,
    MIN_COLUMNS,
    ColumnChunk,
    ColumnFinished,
    ColumnReset,
    Comparison,
    router_top_candidates,
)
from sparklio_desktop.core.dispatch import Dispatcher
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.naming import model_name, task_words
from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange

__all__ = ["MAX_COLUMNS", "MIN_COLUMNS", "CompareViewModel"]


class CompareViewModel(ViewModel):
    """Runs comparisons and casts their votes."""

    candidatesReady = Signal(object)  # list[tuple[str, str]]: (model id, name) of the router's top candidates
    started = Signal(object)  # list[tuple[str, str]]: (label, model id) per column: ("A", "") while blind
    chunk = Signal(int, str)  # column, text
    columnReset = Signal(int)  # the column's model is tried again: clear its text
    columnFinished = Signal(object)  # payloads.ColumnResult (its model is None while blind)
    finished = Signal()  # every column is done
    busyChanged = Signal(bool)
    revealed = Signal(object)  # list[tuple[str, str]]: (label, model id) per column; the label is the name
    voted = Signal(object)  # the stored ratings.Vote
    continueWith = Signal(str, str, str)  # model id, prompt, answer: into the composer

    def __init__(
        self,
        workspace: Workspace,
        dispatcher: Dispatcher,
        votes: VoteStore,
        executor: SerialExecutor,
        *,
        planner: RoutePlanner | None = None,
        events: LedgerEvents | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``planner``: the session's route planner (default: the dispatcher's); ``events``:
        the app's ledger hub, told when a run ends and when a vote is stored."""
        super().__init__(executor, parent)
        self._events = events or LedgerEvents(self)
        self._workspace = workspace
        self._dispatcher = dispatcher
        self._votes = votes
        found = planner or dispatcher.planner  # the dispatcher types its planner by what it uses (a Protocol)
        if not isinstance(found, RoutePlanner):
            raise TypeError("compare proposes models with the session's RoutePlanner")
        self._planner: RoutePlanner = found
        self._running: asyncio.Task[Any] | None = None
        self.comparison: Comparison | None = None
        self.seed: int | None = None  # tests fix the blind shuffle; None: random

    # -- what can be compared ---------------------------------------------------------------
    def text_tasks(self) -> list[str]:
        """Task types whose answers are text: the ones a side-by-side reading makes sense for."""
        return [
            name
            for name, spec in self._workspace.policy.tasks.items()
            if str(getattr(spec.capability, "value", spec.capability)) == "text"
        ]

    def task_choices(self) -> list[tuple[str, str]]:
        """(words, id) of :meth:`text_tasks`: the task list shows "Copywriting", runs by id."""
        policy = self._workspace.policy
        return [(task_words(policy, t), t) for t in self.text_tasks()]

    def model_name(self, model_id: str) -> str:
        return model_name(self._workspace.catalog, model_id)

    def text_models(self) -> list[tuple[str, str]]:
        """(id, name) of every catalog model that writes text."""
        out = []
        for model_id, model in self._workspace.catalog.items():
            if any(str(getattr(c, "value", c)) == "text" for c in model.capabilities):
                out.append((model_id, model.name))
        return out

    @property
    def busy(self) -> bool:
        return self._running is not None

    @asyncSlot(str, int)
    async def propose(self, task: str, count: int = 2) -> None:
        """The router's top candidates for ``task`` (the live probe reads keys and Ollama: a worker thread)."""
        self._track()
        try:
            await self._planner.aplan(RouteRequest(task=task, explore=False))  # probes off the loop when stale
            found = router_top_candidates(self._planner, task, max(MIN_COLUMNS, min(MAX_COLUMNS, count)))
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        self.candidatesReady.emit([(m, self.model_name(m)) for m in found])

    # -- running ------------------------------------------------------------------------------
    @asyncSlot(object, str, str, bool)
    async def start(self, models: Sequence[str], prompt: str, task: str, blind: bool) -> None:
        """Start a comparison; one that is running is cancelled first."""
        self._track()
        if self._running is not None:
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
        try:
            comparison = Comparison(
                self._dispatcher,
                RouteRequest(task=task),
                list(models),
                prompt,
                blind=blind,
                seed=self.seed,
                store=self._votes,
            )
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        self.comparison = comparison
        self._running = asyncio.current_task()
        self.busyChanged.emit(True)
        columns = range(len(comparison.order_shown))
        self.started.emit([(comparison.label(i), comparison.model_of(i) or "") for i in columns])
        try:
            async for event in comparison.stream():
                if isinstance(event, ColumnChunk):
                    self.chunk.emit(event.column, event.text)
                elif isinstance(event, ColumnReset):
                    self.columnReset.emit(event.column)
                elif isinstance(event, ColumnFinished):
                    self.columnFinished.emit(event.result)
            self.finished.emit()
        except asyncio.CancelledError:
            pass  # stream()'s finally cancelled every column; the ledger records them
        except SparklioError as err:
            self.errorRaised.emit(str(err))
        finally:
            if self._running is asyncio.current_task():
                self._running = None
            self.busyChanged.emit(False)
            # Every column's attempts are recorded now, whatever the outcome (cancelled too).
            self._events.changed(LedgerChange("request"))

    def cancel(self) -> None:
        if self._running is not None:
            self._running.cancel()

    def shutdown(self) -> None:
        self.cancel()

    # -- voting -------------------------------------------------------------------------------
    @asyncSlot(str, object, object)
    async def vote(
        self, kind: str, ranking: Sequence[int] | None = None, stars: Mapping[int, int] | None = None
    ) -> None:
        """Store the vote (columns by index, best first), reveal the names, refresh ratings."""
        self._track()
        comparison = self.comparison
        if comparison is None:
            self.errorRaised.emit("run a comparison before voting")
            return
        given = {c: s for c, s in (stars or {}).items() if s}
        try:
            cast = await self._executor.call(comparison.vote, kind, list(ranking) if ranking else None, given or None)
        except (SparklioError, ValueError) as err:
            self.errorRaised.emit(str(err))
            return
        self._planner.ratings_changed()
        self.voted.emit(cast)
        self._events.changed(LedgerChange("vote"))
        self._emit_revealed()

    def reveal(self) -> None:
        """Show the names without a vote (the user gave up on this blind comparison)."""
        if self.comparison is not None and not self.comparison.revealed:
            self.comparison.reveal()
            self._emit_revealed()

    def _emit_revealed(self) -> None:
        c = self.comparison
        assert c is not None
        self.revealed.emit([(c.label(i), c.model_of(i) or "") for i in range(len(c.order_shown))])

    def continue_with(self, column: int) -> None:
        """Hand a column's answer and its model to the composer (names it: reveals a blind run)."""
        c = self.comparison
        if c is None or column >= len(c.order_shown):
            return
        result = c.results[column]
        if result is None:
            self.errorRaised.emit("wait until the answer has finished")
            return
        self.reveal()
        self.continueWith.emit(c.order_shown[column], c.prompt, result.output)
