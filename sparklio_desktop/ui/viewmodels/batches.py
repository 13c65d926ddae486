"""The Batches view's view-model: the queue, a new batch (checked and priced before it
starts), the run with its progress, pause, resume and cancel (docs/batches.md).

Why the checks and the estimate run on every Start, not only when the form changes: the
batch is created from exactly the prompts that were priced, so the estimate the user
confirmed is the estimate of what runs (STYLE: "the preview disagreed with the run").
Why the confirmation is inline (a tick box the user must tick) rather than a modal
dialog: the estimate stays on screen beside the figure it asks about, and nothing blocks
the loop that the running batches share.

The store's own reads and writes from here (the queue, create, claim, cancel, recovery)
go through the serial executor. The runner (core/batches/runner.py) writes each row's
state itself, on the loop, as the CLI's does: its writes are a quarter of a millisecond
per row (docs/batches.md, Numbers). Pause is the runner's ``stop()``: no further row is
sent, the rows in flight finish, the batch is left ``paused`` and resumable. Finished rows
are announced on the app's ``ledgerChanged`` hub at most every :data:`LEDGER_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal
from qasync import asyncSlot

from sparklio_desktop.core.batches import (
    CONFIRM_ABOVE_USD,
    MAX_CONCURRENCY,
    Batch,
    BatchCounts,
    BatchEstimate,
    BatchRunner,
    BatchStore,
    ResultsFile,
    Template,
    check_out_path,
    estimate_batch,
    read_rows,
    route_for,
)
from sparklio_desktop.core.batches.runner import AttemptsByRequest, ledger_answer
from sparklio_desktop.core.batches.store import new_batch_id
from sparklio_desktop.core.dispatch import Dispatcher
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.naming import model_name, task_words
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.composer import OPTION_CHOICES
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches
    from sparklio_desktop.core.routing.decision import RoutingDecision

__all__ = [
    "LEDGER_EVERY_S",
    "BatchForm",
    "BatchItem",
    "BatchOutcome",
    "BatchProgress",
    "BatchServices",
    "BatchTemplateChoice",
    "BatchesViewModel",
    "EstimateInfo",
    "SourceInfo",
]

LEDGER_EVERY_S = 2.0  # finished rows tell the app's ledger hub at most this often
FOLLOW_MS = 3000  # a batch another process runs (the CLI): the queue re-reads it this often


class BatchServices(Protocol):
    """What the Batches view reads from the core's services (``core.services.Services``)."""

    @property
    def workspace(self) -> Workspace: ...

    @property
    def dispatcher(self) -> Dispatcher: ...

    @property
    def planner(self) -> RoutePlanner: ...

    @property
    def ledger(self) -> AttemptsByRequest: ...


# -- payloads -------------------------------------------------------------------------------
@dataclass(frozen=True)
class BatchItem:
    """One row of the queue (``batchesChanged``)."""

    id: str
    task: str  # in words
    source: str  # the input file's name
    status: str  # running, paused, stopped, cancelled, done
    done: int
    failed: int
    total: int
    cost: str  # display money
    out_path: str | None
    running_here: bool  # this window is running it now (Pause applies)
    waiting: str = ""  # rows waiting on provider batch jobs, in words ("" when none)

    @property
    def resumable(self) -> bool:
        return not self.running_here and (self.status in ("paused", "stopped") or bool(self.waiting))


@dataclass(frozen=True)
class SourceInfo:
    """The chosen input file (``sourceReady``): its columns, for the template's chips."""

    path: str
    name: str
    columns: tuple[str, ...]
    rows: int


@dataclass(frozen=True)
class EstimateInfo:
    """The estimate before starting (``estimateReady``)."""

    rows: int
    total_usd: Decimal
    text: str  # "~$0.42 for 1,000 rows"
    needs_confirm: bool  # above CONFIRM_ABOVE_USD: the user must confirm before it starts
    confirm_text: str


@dataclass(frozen=True)
class BatchProgress:
    """A running batch after a row finished (``progress``)."""

    batch_id: str
    done: int
    failed: int
    total: int
    cost_usd: Decimal
    cost: str
    rate: str  # "12 rows/min"

    @property
    def finished(self) -> int:
        return self.done + self.failed


@dataclass(frozen=True)
class BatchOutcome:
    """A run of a batch ended (``batchFinished``): done, paused or cancelled."""

    batch_id: str
    status: str
    summary: str  # one sentence
    out_path: str | None


@dataclass(frozen=True)
class BatchForm:
    """What the "New batch" form holds."""

    path: str
    task: str
    template: str
    concurrency: int = 4
    options: dict[str, Any] | None = None  # route options: complexity, budget, speed, quality, ...
    # A saved prompt template (docs/templates.md) instead of ``template``: its variables come
    # from the file's columns (or their defaults), its task and route options apply where the
    # form names none, and its system prompt and JSON output go with every row, as
    # ``sparklio batch run FILE --template NAME`` does.
    saved_template: str | None = None


@dataclass(frozen=True)
class BatchTemplateChoice:
    """A saved template as the batch form offers it."""

    name: str
    task: str
    description: str
    variables: tuple[str, ...]  # in the order the prompt uses them
    defaulted: tuple[str, ...]  # those with a default: a column of that name is not needed
    label: str  # how the picker lists it: its name and its task in words


@dataclass(frozen=True)
class _Prepared:
    """A checked and priced form: what the batch is created with."""

    prompts: list[str]
    info: EstimateInfo
    source: Path
    task: str
    template: str  # the batch's prompt in its brace syntax
    options: dict[str, Any]


class BatchesViewModel(ViewModel):
    """The queue of batches and the runs this window drives."""

    batchesChanged = Signal(object)  # list[BatchItem], newest first
    sourceReady = Signal(object)  # SourceInfo
    estimateReady = Signal(object)  # EstimateInfo
    formError = Signal(str)  # a one-line problem with the form, shown inline ("" clears it)
    started = Signal(str)  # batch id: a run began (new or resumed)
    progress = Signal(object)  # BatchProgress
    batchFinished = Signal(object)  # BatchOutcome
    busyChanged = Signal(bool)  # checking or pricing the form
    templatesChanged = Signal(list)  # [BatchTemplateChoice]: the saved templates a batch may use

    def __init__(
        self,
        workspace: Workspace,
        dispatcher: Dispatcher,
        planner: RoutePlanner,
        ledger: AttemptsByRequest,
        executor: SerialExecutor,
        parent: QObject | None = None,
        *,
        store_path: Path | None = None,
        events: LedgerEvents | None = None,
    ) -> None:
        """``store_path``: the batches file (default: the team database in team mode, else
        ``batches.sqlite`` in the data folder: ``BatchStore.open_default``);
        ``events``: the app's ledger hub, told as rows finish."""
        super().__init__(executor, parent)
        self._starting = False  # a Start being checked, priced and created
        self._workspace = workspace
        self._dispatcher = dispatcher
        self._planner = planner
        self._ledger = ledger
        self._store_path = store_path
        self._store: BatchStore | None = None
        self._events = events or LedgerEvents(self)
        self._runners: dict[str, BatchRunner] = {}
        self._run_tasks: dict[str, asyncio.Task[Any]] = {}
        self._last_ledger_emit = 0.0
        self._provider_jobs: ProviderBatches | None = None  # built on the first batch that runs
        self._picked_up = False  # batches waiting on provider jobs are polled from the first refresh
        # A batch run by another process (`sparklio batch run`) moves in the file, not here:
        # while one is active, the queue is read again every FOLLOW_MS.
        self._follow = QTimer(self)
        self._follow.setSingleShot(True)
        self._follow.setInterval(FOLLOW_MS)
        self._follow.timeout.connect(self.refresh)

    # -- the task table -----------------------------------------------------------------------
    def tasks(self) -> list[tuple[str, str]]:
        """(task id, its name in words) of the policy's tasks."""
        policy = self._workspace.policy
        return [(name, task_words(policy, name)) for name in policy.tasks]

    @staticmethod
    def option_choices() -> dict[str, tuple[str, ...]]:
        """The route options a batch takes (as the composer's Options), each with its choices."""
        return dict(OPTION_CHOICES)

    @staticmethod
    def max_concurrency() -> int:
        return MAX_CONCURRENCY

    def running(self) -> list[str]:
        return list(self._runners)

    async def _opened(self) -> BatchStore:
        if self._store is None:
            path = self._store_path
            if path is None:
                self._store = await self._executor.call(BatchStore.open_default)
            else:
                self._store = await self._executor.call(BatchStore, path)
        return self._store

    # -- the queue ----------------------------------------------------------------------------
    @asyncSlot()
    async def refresh(self) -> None:
        """Load the queue (newest first)."""
        self._track()
        await self._refresh()

    async def _refresh(self) -> None:
        from sparklio_desktop.core.batches.jobs import JobStore

        try:
            store = await self._opened()
            batches = await self._executor.call(store.batches)
            open_jobs = await self._executor.call(JobStore(store).open_jobs)
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        waiting: dict[str, list[str]] = {}
        for job in open_jobs:
            waiting.setdefault(job.batch_id, []).append(job.words())
        self.batchesChanged.emit([self._item(b, "; ".join(waiting.get(b.id, []))) for b in batches])
        if not self._picked_up:
            self._picked_up = True
            self._pick_up(batches, set(waiting))
        if any(b.active and b.id not in self._runners for b in batches):
            self._follow.start()

    def _pick_up(self, batches: list[Batch], waiting: set[str]) -> None:
        """Poll, in the background, the provider jobs batches left waiting when the app (or a
        CLI run with ``--no-wait``) last stopped; a batch another process runs is left to it."""
        for batch in batches:
            if batch.id in waiting and batch.id not in self._runners and not batch.active:
                self.resume(batch.id)

    def _item(self, batch: Batch, waiting: str = "") -> BatchItem:
        c = batch.counts
        here = batch.id in self._runners
        status = str(batch.status)
        if status == "running" and not here and not batch.active:
            status = "stopped"  # its process is gone: resumable
        if waiting and status != "cancelled":
            status = "waiting"
        return BatchItem(
            batch.id, task_words(self._workspace.policy, batch.task), Path(batch.source_path).name, status,
            c.done, c.failed, c.total, format_usd(c.cost_usd), batch.out_path, here, waiting,
        )  # fmt: skip

    # -- a new batch ----------------------------------------------------------------------------
    @asyncSlot(str)
    async def choose_file(self, path: str) -> None:
        """Read the file's columns for the template's chips; a bad file is a form error."""
        self._track()
        try:
            rows = await self._executor.call(read_rows, path)
        except SparklioError as err:
            self.formError.emit(_plain(str(err)))
            return
        self.formError.emit("")
        self.sourceReady.emit(SourceInfo(str(rows.path), rows.path.name, rows.columns, len(rows.rows)))

    @asyncSlot(object)
    async def estimate(self, form: BatchForm) -> None:
        """Check the form and show the estimate; nothing is created."""
        self._track()
        await self._prepare(form)

    @asyncSlot()
    async def load_templates(self) -> None:
        """Read the saved templates (shipped and yours) for the form's picker."""
        self._track()
        from sparklio_desktop.core.templates import load_templates

        book = await self._executor.call(load_templates, set(self._workspace.policy.tasks))
        choices = []
        for name, loaded in sorted(book.templates.items()):
            t = loaded.template
            names = tuple(t.variable_names())
            defaulted = tuple(v for v in names if t.variable(v).default is not None)
            label = f"{name} ({task_words(self._workspace.policy, t.task)})"
            choices.append(BatchTemplateChoice(name, t.task, t.description, names, defaulted, label))
        self.templatesChanged.emit(choices)

    async def _prepare(self, form: BatchForm) -> _Prepared | None:
        self.busyChanged.emit(True)
        try:
            if not form.path:
                raise SparklioError("choose a .csv or .jsonl file first")
            if not 1 <= form.concurrency <= MAX_CONCURRENCY:
                raise SparklioError(f"concurrency: expected 1 to {MAX_CONCURRENCY}, got {form.concurrency}")
            rows = await self._executor.call(read_rows, form.path)
            task, text, options = form.task, form.template, dict(form.options or {})
            if form.saved_template:
                task, text, options = await self._from_saved_template(form.saved_template, rows, options)
            if task not in self._workspace.policy.tasks:
                raise SparklioError(f"unknown task {task!r}")
            template = Template.parse(text)
            prompts = await self._executor.call(template.prompts, rows)
            await self._planner.aplan(route_for(task, {**options, "no_explore": True}, prompts[0]))
            found = estimate_batch(self._planner, task, options, prompts, self._at_batch_rates)
        except SparklioError as err:
            self.formError.emit(_plain(str(err)))
            return None
        finally:
            self.busyChanged.emit(False)
        info = self._estimate_info(found)
        self.formError.emit("")
        self.estimateReady.emit(info)
        return _Prepared(prompts, info, rows.path, task, text, options)

    async def _from_saved_template(
        self, name: str, rows: Any, options: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """The batch's task, prompt and options from the saved template ``name`` (as the CLI's
        ``--template``): the form's route options win over the template's suggestions."""
        from sparklio_desktop.core.batches.from_template import batch_prompt_from_template
        from sparklio_desktop.core.templates import find_template

        loaded, _skipped = await self._executor.call(find_template, name, set(self._workspace.policy.tasks))
        text, carried = batch_prompt_from_template(loaded.template, rows.columns, {}, rows.path.name)
        suggested = loaded.template.route.model_dump(mode="json", exclude_none=True)
        return loaded.template.task, text, {**suggested, **options, **carried}

    def _at_batch_rates(self, decision: RoutingDecision) -> Decimal | None:
        """A row's cost when it would go in a provider batch job (speed class batch)."""
        from sparklio_desktop.core.dispatch.provider_batch import batch_rate_cost

        return batch_rate_cost(self._workspace.catalog[decision.chain[0]], decision)

    def _estimate_info(self, found: BatchEstimate) -> EstimateInfo:
        how = "" if found.exact else f", from {found.sampled} sampled rows"
        names = ", ".join(model_name(self._workspace.catalog, m) for m in found.models)
        text = f"~{format_usd(found.total_usd)} for {found.rows:,} rows{how} · {names}"
        above = found.total_usd > CONFIRM_ABOVE_USD
        confirm = f"Start it although ~{format_usd(found.total_usd)} is above {format_usd(CONFIRM_ABOVE_USD)}"
        return EstimateInfo(found.rows, found.total_usd, text, above, confirm)

    @asyncSlot(object, bool)
    async def start(self, form: BatchForm, confirmed: bool = False) -> None:
        """Check and price the form, create the batch and run it to the end (or a pause).
        Above the threshold nothing starts until ``confirmed``. A second Start while one is
        being prepared is ignored (a double click made two batches)."""
        self._track()
        if self._starting:
            return
        self._starting = True
        try:
            await self._start(form, confirmed)
        finally:
            self._starting = False

    async def _start(self, form: BatchForm, confirmed: bool) -> None:
        prepared = await self._prepare(form)
        if prepared is None:
            return
        info = prepared.info
        if info.needs_confirm and not confirmed:
            above = f"~{format_usd(info.total_usd)} is above {format_usd(CONFIRM_ABOVE_USD)}"
            self.formError.emit(f"{above}: tick the box to confirm, then start")
            return
        options = {k: v for k, v in prepared.options.items() if v not in (None, False)}
        try:
            store = await self._opened()
            batch_id = new_batch_id()
            out = await self._executor.call(_default_out, batch_id)
            await self._executor.call(
                store.create, task=prepared.task, template=prepared.template, options=options,
                source_path=str(prepared.source.resolve()), out_path=str(out.resolve()),
                concurrency=form.concurrency, prompts=prepared.prompts, batch_id=batch_id,
            )  # fmt: skip
        except SparklioError as err:
            self.formError.emit(_plain(str(err)))
            return
        self._starting = False  # created: another batch may start beside this one
        await self._run(batch_id)

    # -- running --------------------------------------------------------------------------------
    @asyncSlot(str)
    async def resume(self, batch_id: str) -> None:
        """Send a paused or stopped batch's unfinished rows (finished rows are never sent again)."""
        self._track()
        if batch_id in self._runners:
            return
        await self._run(batch_id)

    def pause(self, batch_id: str) -> None:
        """Send no further row; the rows in flight finish and the batch is left paused."""
        runner = self._runners.get(batch_id)
        if runner is not None:
            runner.stop()

    @asyncSlot(str)
    async def cancel(self, batch_id: str) -> None:
        """No further row is sent; a cancelled batch cannot be resumed."""
        self._track()
        runner = self._runners.get(batch_id)
        try:
            store = await self._opened()
            batch = await self._executor.call(store.get, batch_id)
            if batch.status == "done":
                raise SparklioError(f"batch {batch.id} is already done")
            await self._executor.call(store.set_status, batch.id, "cancelled")
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        if runner is not None:
            runner.stop()  # the run's end refreshes the queue
        else:
            await self._refresh()

    async def _run(self, batch_id: str) -> None:
        from sparklio_desktop.core.batches.job_runner import poll_pauses
        from sparklio_desktop.core.batches.jobs import JobStore

        results: ResultsFile | None = None
        try:
            store = await self._opened()
            batch = await self._executor.call(store.get, batch_id)
            has_jobs = bool(await self._executor.call(JobStore(store).open_jobs, batch.id))
            if batch.status == "cancelled" and not has_jobs:  # with jobs: collect what they answered
                raise SparklioError(f"batch {batch.id} was cancelled; it cannot be resumed")
            if batch.status == "done":
                raise SparklioError(f"batch {batch.id} is already done")
            await self._executor.call(store.claim, batch.id)
            batch = await self._executor.call(store.get, batch.id)
            if batch.out_path:
                results = await self._executor.call(ResultsFile.open, Path(batch.out_path))
        except SparklioError as err:
            self.errorRaised.emit(str(err))
            return
        began = time.monotonic()
        first = batch.counts.done + batch.counts.failed

        def on_progress(counts: BatchCounts) -> None:
            self.progress.emit(_progress(batch_id, counts, first, began))
            now = time.monotonic()
            if now - self._last_ledger_emit >= LEDGER_EVERY_S:
                self._last_ledger_emit = now
                self._events.changed(LedgerChange("request"))

        runner = BatchRunner(store, self._dispatcher, batch, results, on_progress, jobs=self._jobs())
        try:
            runner.first_poll_s, runner.max_poll_s = poll_pauses()
        except SparklioError as err:  # a bad SPARKLIO_BATCH_POLL_S: said once, the defaults apply
            self.errorRaised.emit(str(err))
        self._runners[batch_id] = runner
        task = asyncio.current_task()
        if task is not None:
            self._run_tasks[batch_id] = task
        try:
            await self._executor.call(runner.recover, ledger_answer(self._ledger))
            self.started.emit(batch_id)
            await self._refresh()
            await runner.run()
        except SparklioError as err:  # the batches file failed mid-run: the batch stays resumable
            self.errorRaised.emit(str(err))
        except asyncio.CancelledError:
            # The app is closing (aclose): the rows in flight went back to pending and their
            # attempts are recorded as cancelled; the batch is left paused, resumable.
            return
        finally:
            del self._runners[batch_id]
            self._run_tasks.pop(batch_id, None)
            if results is not None:
                await asyncio.shield(self._executor.call(results.close))
        final = await self._executor.call(store.get, batch_id)
        self._events.changed(LedgerChange("request"))
        self.progress.emit(_progress(batch_id, final.counts, first, began))
        self.batchFinished.emit(_outcome(final))
        await self._refresh()

    def _jobs(self) -> ProviderBatches:
        from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches

        if self._provider_jobs is None:
            self._provider_jobs = ProviderBatches(self._dispatcher)
        return self._provider_jobs

    def shutdown(self) -> None:
        """The app is closing: send no further row."""
        for runner in self._runners.values():
            runner.stop()

    async def aclose(self) -> None:
        """Stop the runs without waiting for their rows in flight (a slow model would hold
        the window open): those rows go back to pending and the batches are left paused,
        resumable. Then close the batches file."""
        self.shutdown()
        self._follow.stop()
        for task in list(self._run_tasks.values()):
            task.cancel()
        await self.wait_idle()
        if self._provider_jobs is not None:
            jobs, self._provider_jobs = self._provider_jobs, None
            await jobs.aclose()
        if self._store is not None:
            store, self._store = self._store, None
            await self._executor.call(store.close)


def _default_out(batch_id: str) -> Path:
    folder = paths.data_dir() / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    return check_out_path(folder / f"{batch_id}.jsonl")


def _plain(message: str) -> str:
    """The core's errors name the CLI's option; the form's field is called Template."""
    return message.replace("--prompt-template: ", "Template: ").replace("--prompt-template", "The template")


def _progress(batch_id: str, counts: BatchCounts, first: int, began: float) -> BatchProgress:
    finished_now = counts.done + counts.failed - first
    elapsed = max(time.monotonic() - began, 1e-6)
    per_min = finished_now * 60 / elapsed
    rate = f"{per_min:,.0f} rows/min" if finished_now else "–"
    return BatchProgress(
        batch_id, counts.done, counts.failed, counts.total, counts.cost_usd, format_usd(counts.cost_usd), rate
    )


def _outcome(batch: Batch) -> BatchOutcome:
    c = batch.counts
    status = str(batch.status)
    words = {"done": "finished", "paused": "paused", "cancelled": "was cancelled"}.get(status, status)
    summary = (
        f"Batch {batch.id[:8]} {words}: {c.done:,} done, {c.failed:,} failed of {c.total:,}; {format_usd(c.cost_usd)}"
    )
    return BatchOutcome(batch.id, status, summary, batch.out_path)
