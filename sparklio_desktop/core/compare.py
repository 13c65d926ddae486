"""Compare-and-rate: one prompt to 2–4 models at once, columns streamed side by side.

A :class:`Comparison` runs every column concurrently through the shared
:class:`~sparklio_desktop.core.dispatch.Dispatcher` (one asyncio task per column, the
model forced, the response cache bypassed: a cached answer would measure nothing) and
merges their events into one stream of :data:`CompareEvent`, each tagged with the
column it belongs to, so a view can fill columns as chunks arrive.

Columns are numbered in the order they are *shown*. In blind mode that order is a
seeded shuffle of the requested models, and names stay hidden until the vote: events
carry ``model=None`` and :meth:`Comparison.label` answers "A", "B", ... — a view that
only reads what this module hands it cannot leak a name early. Once a vote is cast (or
:meth:`Comparison.reveal` is called) the models are known.

Everything goes to the ledger file: the comparison (prompt hash, task, models, order
shown, blind flag) when it starts, the vote when it is cast (see ``votes_store``), and
each column's attempt as the dispatcher records every attempt.
"""

from __future__ import annotations

import asyncio
import random
import string
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sparklio_desktop.core.dispatch import AttemptStarted, Dispatcher, Finished, RunRequest, RunResult, TextChunk
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger import utcnow
from sparklio_desktop.core.ratings import StarRating, Vote, VoteKind
from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import RouteRequest

MIN_COLUMNS = 2
MAX_COLUMNS = 4
LABELS = tuple(string.ascii_uppercase[:MAX_COLUMNS])


class CompareError(SparklioError):
    """A comparison that cannot be set up or voted on as asked."""


@dataclass(frozen=True)
class ColumnResult:
    """What one column produced and how fast: the numbers shown under each answer."""

    column: int
    label: str
    model: str | None  # None while the comparison is blind
    output: str
    ttft_s: float | None
    tokens_per_s: float | None
    latency_s: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    error: str | None
    request_id: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "label": self.label,
            "model": self.model,
            "output": self.output,
            "ttft_s": self.ttft_s,
            "tokens_per_s": self.tokens_per_s,
            "latency_s": self.latency_s,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "error": self.error,
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class ColumnChunk:
    """More text for one column."""

    column: int
    text: str


@dataclass(frozen=True)
class ColumnReset:
    """The column's model is being tried again (a transient error or broken stream): clear its text."""

    column: int
    attempt: int


@dataclass(frozen=True)
class ColumnFinished:
    column: int
    result: ColumnResult


CompareEvent = ColumnChunk | ColumnReset | ColumnFinished


def router_top_candidates(planner: RoutePlanner, task: str, n: int) -> list[str]:
    """The first ``n`` eligible candidates of the task's routing decision: chain first, then the best scores.

    Routed by the session's planner (its last probe, session failures and ratings) without
    exploration, so the proposal is what routing would actually do.
    """
    if not MIN_COLUMNS <= n <= MAX_COLUMNS:
        raise CompareError(f"compare {MIN_COLUMNS}-{MAX_COLUMNS} models, not {n}")
    decision = planner.plan(RouteRequest(task=task, explore=False))
    eligible = [c.id for c in decision.top_candidates(n) if c.excluded_by is None][:n]  # cheap at any catalog size
    if len(eligible) < MIN_COLUMNS:
        raise CompareError(f"only {len(eligible)} model(s) can serve {task} right now; a comparison needs 2")
    return eligible


def blind_order(models: Sequence[str], seed: int | None) -> tuple[str, ...]:
    """The models in a shuffled order; the same seed gives the same order."""
    order = list(models)
    random.Random(seed).shuffle(order)
    return tuple(order)


@dataclass
class _ColumnState:
    model: str
    result: ColumnResult | None = None
    text: list[str] = field(default_factory=list)


class Comparison:
    """One side-by-side comparison: run it with :meth:`stream`, then :meth:`vote`.

    ``route`` carries the task and its options (exploration is switched off: every
    column is forced anyway, and no column should be labelled an A/B pick). ``store``
    may be None for a comparison that is not kept (then it cannot be voted on).
    """

    def __init__(
        self,
        dispatcher: Dispatcher,
        route: RouteRequest,
        models: Sequence[str],
        prompt: str,
        *,
        images: tuple[Any, ...] = (),
        blind: bool = False,
        seed: int | None = None,
        store: VoteStore | None = None,
        max_output_tokens: int | None = None,
    ) -> None:
        models = tuple(models)
        if not MIN_COLUMNS <= len(models) <= MAX_COLUMNS:
            raise CompareError(f"compare {MIN_COLUMNS}-{MAX_COLUMNS} models, got {len(models)}")
        if len(set(models)) != len(models):
            raise CompareError(f"each model may appear once: {', '.join(models)}")
        catalog = dispatcher.workspace.catalog
        for model_id in models:
            catalog.get_model(model_id)  # unknown ids fail here, listing the valid ones
        if not prompt.strip():
            raise CompareError("the prompt is empty")
        self.dispatcher = dispatcher
        self.route = replace(route, explore=False)
        self.models = models
        self.prompt = prompt
        self.images = images
        self.blind = blind
        self.order_shown: tuple[str, ...] = blind_order(models, seed) if blind else models
        self.store = store
        self.max_output_tokens = max_output_tokens
        self.comparison_id: int | None = None
        self.cast: Vote | None = None
        self._revealed = not blind
        self._columns = [_ColumnState(m) for m in self.order_shown]

    # -- names ---------------------------------------------------------------------
    @property
    def revealed(self) -> bool:
        """Whether names may be shown: always when not blind, after the vote when blind."""
        return self._revealed

    def reveal(self) -> tuple[str, ...]:
        """Show the names without voting (the user gave up on a blind comparison)."""
        self._revealed = True
        return self.order_shown

    def label(self, column: int) -> str:
        """What a column is called on screen: "A", "B", ... while blind, else the model's name."""
        if not self._revealed:
            return LABELS[column]
        return self.dispatcher.workspace.catalog[self.order_shown[column]].name

    def model_of(self, column: int) -> str | None:
        """The column's model id, or None while the comparison is blind."""
        return self.order_shown[column] if self._revealed else None

    @property
    def results(self) -> list[ColumnResult | None]:
        """Each column's result so far (shown order), with names as :meth:`model_of` allows."""
        return [None if c.result is None else self._shown(i, c.result) for i, c in enumerate(self._columns)]

    def _shown(self, column: int, result: ColumnResult) -> ColumnResult:
        """The result as it may be shown now: while blind, no model id or name, even in an error."""
        error = result.error
        if not self._revealed and error:
            model = self.dispatcher.workspace.catalog[self.order_shown[column]]
            for name in sorted({model.id, model.name, model.api_name}, key=len, reverse=True):
                error = error.replace(name, f"model {LABELS[column]}")
        return replace(result, model=self.model_of(column), label=self.label(column), error=error)

    # -- running ---------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[CompareEvent]:
        """Run every column at once and yield their events as they arrive.

        Closing the generator early (or cancelling its consumer) cancels every column;
        the dispatcher records each cancelled attempt.
        """
        if self.store is not None and self.comparison_id is None:
            self.comparison_id = self.store.record_comparison(
                task_type=self.route.task,
                prompt=self.prompt,
                models=self.models,
                order_shown=self.order_shown,
                blind=self.blind,
            )
        queue: asyncio.Queue[CompareEvent] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._run_column(i, queue), name=f"compare-column-{i}")
            for i in range(len(self._columns))
        ]
        pending = len(tasks)
        try:
            while pending:
                event = await queue.get()
                if isinstance(event, ColumnFinished):
                    pending -= 1
                yield event
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def run(self) -> list[ColumnResult]:
        """Run to the end and return every column's result, in shown order."""
        async for _ in self.stream():
            pass
        return [r for r in self.results if r is not None]

    async def _run_column(self, column: int, queue: asyncio.Queue[CompareEvent]) -> None:
        state = self._columns[column]
        request = RunRequest(
            route=replace(self.route, prompt=self.prompt, attachments=tuple(self.images)),
            model=state.model,
            use_cache=False,
            max_output_tokens=self.max_output_tokens,
        )
        result: RunResult | None = None
        error: str | None = None
        try:
            async for event in self.dispatcher.stream(request):
                if isinstance(event, TextChunk):
                    state.text.append(event.text)
                    queue.put_nowait(ColumnChunk(column, event.text))
                elif isinstance(event, AttemptStarted) and event.attempt > 1:
                    state.text.clear()
                    queue.put_nowait(ColumnReset(column, event.attempt))
                elif isinstance(event, Finished):
                    result = event.result
        except SparklioError as exc:  # e.g. the model cannot do the task's capability
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a column must always finish, or stream() waits forever
            error = f"{type(exc).__name__}: {exc}"
        state.result = _column_result(column, LABELS[column], state.model, result, error)
        queue.put_nowait(ColumnFinished(column, self._shown(column, state.result)))

    # -- voting ------------------------------------------------------------------------
    def _column_of(self, ref: int | str) -> int:
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(self._columns):
            return ref
        if isinstance(ref, str):
            if ref.upper() in LABELS[: len(self._columns)] and ref not in self.order_shown:
                return LABELS.index(ref.upper())
            if ref in self.order_shown:
                return self.order_shown.index(ref)
        raise CompareError(f"no column {ref!r}; use {', '.join(LABELS[: len(self._columns)])} or a compared model id")

    def check_vote(
        self,
        kind: VoteKind,
        ranking: Sequence[int | str] | None = None,
        stars: Mapping[int | str, int] | None = None,
    ) -> tuple[tuple[str, ...] | None, dict[str, int]]:
        """Validate a vote before (or without) casting it; returns the ranking and stars by model id.

        Scripts check ``--vote`` before spending money on the run. Messages name columns
        by label only, so a blind comparison's models stay hidden.
        """
        ranked = None
        if ranking is not None:
            columns = [self._column_of(r) for r in ranking]
            if sorted(columns) != list(range(len(self._columns))):
                labels = ", ".join(LABELS[: len(self._columns)])
                raise CompareError(f"a ranking must name every column once ({labels}), best first")
            ranked = tuple(self.order_shown[c] for c in columns)
        star_map = {self.order_shown[self._column_of(k)]: v for k, v in (stars or {}).items()}
        try:
            Vote(self.route.task, self.order_shown, kind, ranked, _now())
            for value in star_map.values():
                StarRating(self.route.task, self.order_shown[0], value, _now())
        except ValueError as exc:
            raise CompareError(str(exc)) from None
        return ranked, star_map

    def vote(
        self,
        kind: VoteKind,
        ranking: Sequence[int | str] | None = None,
        stars: Mapping[int | str, int] | None = None,
    ) -> Vote:
        """Cast the vote, store it, and reveal the names.

        ``a``/``b``/``tie``/``both_bad`` for two columns (``tie``/``both_bad`` for any
        number); ``ranking`` (best first) for three or four. Columns are named by index,
        label ("A") or model id; ``stars`` gives 1–5 stars per column.
        """
        if self.cast is not None:
            raise CompareError("this comparison already has a vote")
        if any(c.result is None for c in self._columns):
            raise CompareError("vote once every column has finished")
        ranked, star_map = self.check_vote(kind, ranking, stars)
        if self.store is not None:
            if self.comparison_id is None:
                raise CompareError("the comparison was not started")
            vote = self.store.record_vote(self.comparison_id, kind, ranked, star_map)
        else:
            vote = Vote(self.route.task, self.order_shown, kind, ranked, _now())
        self.cast = vote
        self._revealed = True
        return vote


def _now() -> datetime:

    return utcnow()


def _column_result(column: int, label: str, model: str, result: RunResult | None, error: str | None) -> ColumnResult:
    """Measurements of the column's last attempt (the one that answered, or failed last)."""
    if result is None:
        return ColumnResult(
            column,
            label,
            model,
            "",
            None,
            None,
            None,
            0,
            0,
            Decimal(0),
            error or "the run ended without a result",
            None,
        )
    last = result.attempts[-1] if result.attempts else None
    tps = None
    if (
        last is not None
        and last.outcome == "ok"
        and last.latency_s
        and last.ttft_s is not None
        and last.output_tokens
        and last.latency_s > last.ttft_s
    ):
        tps = last.output_tokens / (last.latency_s - last.ttft_s)
    return ColumnResult(
        column=column,
        label=label,
        model=model,
        output=result.output,
        ttft_s=last.ttft_s if last else None,
        tokens_per_s=tps,
        latency_s=last.latency_s if last else None,
        input_tokens=last.input_tokens if last else 0,
        output_tokens=last.output_tokens if last else 0,
        cost_usd=result.cost_usd,
        error=result.error,
        request_id=result.request_id,
    )


def parse_vote(text: str, columns: int) -> tuple[VoteKind, list[str] | None]:
    """Read a vote as typed on the command line: ``a``, ``b``, ``tie``, ``both_bad``, ``rank:X,Y,...``.

    ``rank:`` takes labels or model ids, best first, and must name every column.
    """
    value = text.strip()
    lower = value.lower()
    if lower in ("a", "b", "tie", "both_bad"):
        if lower in ("a", "b") and columns != 2:
            raise CompareError(f"'{lower}' needs exactly 2 columns; rank {columns} columns with rank:A,B,...")
        return lower, None  # type: ignore[return-value]
    for prefix in ("rank:", "ranking:"):
        if lower.startswith(prefix):
            items = [p.strip() for p in value[len(prefix) :].split(",") if p.strip()]
            return "ranking", items
    raise CompareError(f"unknown vote {text!r}; use a, b, tie, both_bad or rank:A,B,...")
