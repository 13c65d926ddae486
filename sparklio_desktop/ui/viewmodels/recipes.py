"""The Recipes page's view-model: pick a recipe, fill its inputs, see the plan and its
price, run it step by step, resume a stopped run, edit a copy.

Why the CLI's own functions and not a second implementation: the plan is
``core.recipes.plan_recipe`` over the session's route planner (the one the run routes
with, so the run takes the models the plan showed), and a run is ``core.recipes.execute``
through the session's dispatcher with the same run record (``recipe-runs/<id>/state.json``)
as ``sparklio recipe run``; a run started here can be resumed with ``sparklio recipe
resume`` and the other way round.

The page's route options (budget, speed, quality: the composer's choices, "None" meaning
each step's own), its brand voice and its output folder live here, set by the view and
used by both the plan and the run: one value carries them (``overrides``), so the run
routes with the options its plan was priced at.

Reading files (the recipes, brand_voices.yaml, input files, run records) goes through the
serial executor; planning and running are awaited on the loop. ``execute`` reports a step
when it starts and when it ends (independent steps run together, so several may be running
at once); a thin wrapper around the dispatcher tells the app's ledger hub after each step
(its rows are in the ledger), as the composer does after a request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.naming import model_name, task_words
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.composer import OPTION_CHOICES
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange
from sparklio_desktop.ui.viewmodels.recipe_payloads import (
    InputField,
    PlanRow,
    RecipeEntry,
    RecipeForm,
    RecipeListing,
    RecipePlanView,
    RunEnded,
    StepProgress,
    UnfinishedRun,
)

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch import Dispatcher, RunRequest, RunResult
    from sparklio_desktop.core.recipes import (
        InputValue,
        LoadedRecipe,
        RecipeBook,
        RouteOverrides,
        RunState,
        StepState,
        Voice,
    )
    from sparklio_desktop.core.recipes.brand_voice import BrandVoice
    from sparklio_desktop.core.routing.planner import RoutePlanner
    from sparklio_desktop.core.workspace import Workspace

PREVIEW_CHARS = 600
# The route options a whole run takes (core.recipes.RouteOverrides), with the composer's choices.
ROUTE_OPTIONS = ("budget", "speed", "quality")
_NAME_RE = re.compile(r"[A-Za-z0-9_]+")


class RecipesViewModel(ViewModel):
    """Everything the Recipes page does; the view only shows what this emits."""

    listChanged = Signal(object)  # RecipeListing
    recipeSelected = Signal(object)  # RecipeForm
    planReady = Signal(object)  # RecipePlanView
    planning = Signal(bool)
    busyChanged = Signal(bool)  # a run in flight
    runStarted = Signal(str, list)  # run id, [StepProgress] of every step (pending, or as a resumed run left it)
    stepStarted = Signal(object)  # StepProgress (status "running")
    stepFinished = Signal(object)  # StepProgress (done, failed, skipped, cancelled)
    runEnded = Signal(object)  # RunEnded
    runError = Signal(str)  # a run could not start (a wrong input): shown by the Run button
    unfinishedChanged = Signal(list)  # [UnfinishedRun], newest first
    copyReady = Signal(str)  # the path of the user's copy of a recipe
    voicesChanged = Signal(list)  # the brand voices' names (brand_voices.yaml); then voiceChosen
    voiceChosen = Signal(object)  # the brand voice applied to the run's text steps (None: none)
    outDirChanged = Signal(str)  # the chosen output folder ("" : the run's own folder, as the CLI)

    def __init__(
        self,
        executor: SerialExecutor,
        workspace: Workspace,
        dispatcher: Dispatcher,
        planner: RoutePlanner,
        *,
        events: LedgerEvents | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``events``: the app's ledger hub, told after each step of a run."""
        super().__init__(executor, parent)
        self._workspace = workspace
        self._dispatcher = dispatcher
        self._planner = planner
        self._events = events or LedgerEvents(self)
        self._book: RecipeBook | None = None
        self._selected: str | None = None
        self._plan_generation = 0
        self._running: asyncio.Task[Any] | None = None
        self.listing = RecipeListing(())
        self.plan_view: RecipePlanView | None = None
        self.unfinished: list[UnfinishedRun] = []
        self.last_run: RunEnded | None = None
        self.steps: dict[str, StepProgress] = {}  # the current run's steps by id, latest state
        self.options: dict[str, str | None] = dict.fromkeys(ROUTE_OPTIONS)  # None: each step's own
        self._voices: dict[str, BrandVoice] = {}
        self.brand_voice: str | None = None  # a profile of brand_voices.yaml, for every text step
        self.out_dir = ""  # "" : recipe-runs/<run id>/, the CLI's default for --out

    @staticmethod
    def option_choices() -> dict[str, tuple[str, ...]]:
        """Budget, speed and quality with the composer's choices (its Options popup)."""
        return {name: OPTION_CHOICES[name] for name in ROUTE_OPTIONS}

    @property
    def voices(self) -> list[str]:
        return sorted(self._voices)

    @property
    def busy(self) -> bool:
        return self._running is not None

    @property
    def selected(self) -> str | None:
        return self._selected

    # -- the list ----------------------------------------------------------------------
    @asyncSlot()
    async def reload(self) -> None:
        """Read the shipped and the user's recipes again (after an edit of a copy)."""
        self._track()
        await self.load()

    async def load(self) -> RecipeListing:
        from sparklio_desktop.core.recipes import load_recipes

        tasks = set(self._workspace.policy.tasks)
        book = await self._executor.call(load_recipes, tasks)
        self._book = book
        entries = tuple(
            RecipeEntry(
                name,
                loaded.recipe.title or name,
                (loaded.recipe.description or "").strip(),
                len(loaded.recipe.steps),
                loaded.shipped,
                str(loaded.path),
            )
            for name, loaded in sorted(book.recipes.items(), key=lambda kv: kv[1].recipe.title or kv[0])
        )
        problems = tuple(str(error).splitlines()[0] for error in book.errors)
        self.listing = RecipeListing(entries, problems)
        self.listChanged.emit(self.listing)
        await self.load_voices()
        await self.load_unfinished()
        if self._selected is not None and self._selected in book.recipes:
            self.select(self._selected)
        return self.listing

    def _loaded(self, name: str) -> LoadedRecipe | None:
        if self._book is None:
            return None
        return self._book.recipes.get(name)

    def select(self, name: str) -> RecipeForm | None:
        """Show ``name``'s inputs (the view then asks for its plan)."""
        loaded = self._loaded(name)
        if loaded is None:
            return None
        self._selected = name
        recipe = loaded.recipe
        if recipe.brand_voice is not None and recipe.brand_voice in self._voices:
            self._choose_voice(recipe.brand_voice)  # the recipe's own, as `sparklio recipe run` without --brand-voice
        form = RecipeForm(
            name,
            recipe.title or name,
            (recipe.description or "").strip(),
            loaded.shipped,
            str(loaded.path),
            tuple(
                InputField(i.name, i.kind, i.required, i.description, i.kind == "text" and i.estimate_tokens >= 100)
                for i in recipe.inputs
            ),
        )
        self.recipeSelected.emit(form)
        return form

    # -- the plan ----------------------------------------------------------------------
    @asyncSlot()
    async def request_plan(self, values: Mapping[str, str]) -> None:
        self._track()
        await self.plan(values)

    async def plan(self, values: Mapping[str, str]) -> RecipePlanView | None:
        """Route every step of the selected recipe for ``values`` (name -> text or path;
        empty ones left out, their sizes assumed); nothing is sent. A newer call wins."""
        from sparklio_desktop.core.recipes import RecipeInputError, plan_recipe, resolve_inputs

        name = self._selected
        loaded = self._loaded(name) if name is not None else None
        if name is None or loaded is None:
            return None
        self._plan_generation += 1
        generation = self._plan_generation
        self.planning.emit(True)
        recipe = loaded.recipe
        given = {k: v for k, v in values.items() if v.strip()}
        try:
            inputs = await self._executor.call(resolve_inputs, recipe, given, require=False)
            self._check_own_voice(recipe)
            voice = self._voice()
            plan = await plan_recipe(recipe, self._planner, self._workspace.policy, inputs, voice, self.overrides())
        except (RecipeInputError, SparklioError) as exc:
            view = RecipePlanView(name, error=str(exc))
        else:
            view = self._plan_view(plan)
        if generation != self._plan_generation or name != self._selected:
            return view  # a newer plan is on its way
        self.plan_view = view
        self.planning.emit(False)
        self.planReady.emit(view)
        return view

    def _plan_view(self, plan: Any) -> RecipePlanView:
        catalog = self._workspace.catalog
        policy = self._workspace.policy
        rows = tuple(
            PlanRow(
                s.id,
                s.title or s.id,
                s.task,
                task_words(policy, s.task),
                s.model,
                model_name(catalog, s.model) if s.model else "",
                s.input_tokens,
                s.output_tokens,
                s.images,
                s.cost_usd,
                s.skipped,
                s.reference_cost_usd,
                tuple(s.no_fit),
            )
            for s in plan.steps
        )
        return RecipePlanView(
            plan.recipe,
            rows,
            plan.total_usd,
            plan.unavailable_usd,
            dict(plan.alternatives.get("budget", {})),
            dict(plan.alternatives.get("speed", {})),
        )

    # -- route options, brand voice, output folder ------------------------------------
    def set_option(self, option: str, value: str | None) -> None:
        """Budget, speed or quality for every step (None: each step's own); the view asks
        for the plan again."""
        if option not in self.options:
            raise KeyError(option)
        if value is not None and value not in OPTION_CHOICES[option]:
            raise ValueError(f"{option}: {value!r} is not one of {', '.join(OPTION_CHOICES[option])}")
        self.options[option] = value

    def overrides(self) -> RouteOverrides:
        from sparklio_desktop.core.recipes import RouteOverrides

        return RouteOverrides(**self.options)

    async def load_voices(self) -> list[str]:
        """Read brand_voices.yaml (off the loop), as the composer's Options do; a broken file
        is one error and no voices (a run must not go out in a voice it did not ask for)."""
        from sparklio_desktop.core.recipes import load_brand_voices

        try:
            self._voices = await self._executor.call(load_brand_voices)
        except SparklioError as exc:
            self._voices = {}
            self.errorRaised.emit(str(exc))
        self.voicesChanged.emit(self.voices)
        if self.brand_voice not in self._voices:
            self._choose_voice(None)
        else:
            self.voiceChosen.emit(self.brand_voice)
        return self.voices

    def set_brand_voice(self, name: str | None) -> None:
        """Apply a brand voice to every text step of the plan and the run (None: none)."""
        if name is not None and name not in self._voices:
            raise KeyError(name)
        self._choose_voice(name)

    def _choose_voice(self, name: str | None) -> None:
        changed = name != self.brand_voice
        self.brand_voice = name
        if changed:
            self.voiceChosen.emit(name)

    def _check_own_voice(self, recipe: Any) -> None:
        """A recipe that names a voice brand_voices.yaml lacks is an error, as on the
        command line: it must not run quietly without the voice it was written for."""
        from sparklio_desktop.core.recipes.brand_voice import find_voice

        if recipe.brand_voice is not None:
            find_voice(recipe.brand_voice, self._voices)

    def _voice(self) -> Voice | None:
        from sparklio_desktop.core.recipes import Voice

        if self.brand_voice is None or self.brand_voice not in self._voices:
            return None
        return Voice(self.brand_voice, self._voices[self.brand_voice])

    def default_out_dir(self) -> str:
        """Where a run's outputs go when no folder is chosen: recipe-runs/<run id>/."""
        from sparklio_desktop.core.recipes.run_state import runs_dir

        return str(runs_dir() / "<run id>")

    def set_out_dir(self, folder: str) -> None:
        """The folder the next runs write to ("" : each run's own folder)."""
        folder = folder.strip()
        if folder != self.out_dir:
            self.out_dir = folder
            self.outDirChanged.emit(folder)

    # -- running -----------------------------------------------------------------------
    @asyncSlot()
    async def run(self, values: Mapping[str, str], out_dir: str | None = None) -> None:
        """Run the selected recipe with ``values``, the page's route options and brand
        voice, into ``out_dir`` (default: the chosen folder, else the run's own); every input
        and the folder are checked first (a wrong one: ``runError``, nothing sent)."""
        task = self._track()
        from sparklio_desktop.core.recipes import RecipeInputError, new_run, resolve_inputs

        loaded = self._loaded(self._selected) if self._selected is not None else None
        if loaded is None:
            self.runError.emit("Pick a recipe first.")
            return
        if self._running is not None:
            self.runError.emit("A recipe is running: cancel it first.")
            return
        recipe = loaded.recipe
        given = {k: v for k, v in values.items() if v.strip()}
        try:
            inputs = await self._executor.call(resolve_inputs, recipe, given, require=True)
            self._check_own_voice(recipe)
            folder = self.out_dir if out_dir is None else out_dir
            out = await self._executor.call(_writable_folder, folder) if folder.strip() else None
        except (RecipeInputError, SparklioError) as exc:
            self.runError.emit(str(exc))
            return
        state = await self._executor.call(new_run, recipe, inputs, self.overrides(), self._voice(), out)
        await self._go(task, state, inputs)

    @asyncSlot()
    async def resume(self, run_id: str) -> None:
        """Continue a stopped run: only its unfinished steps are sent."""
        task = self._track()
        from sparklio_desktop.core.recipes import RecipeInputError, RunState, UnknownRunError, inputs_of

        if self._running is not None:
            self.runError.emit("A recipe is running: cancel it first.")
            return
        try:
            state = await self._executor.call(RunState.load, run_id)
            inputs = await self._executor.call(inputs_of, state)
        except (UnknownRunError, RecipeInputError, SparklioError) as exc:
            self.runError.emit(str(exc))
            return
        await self._go(task, state, inputs)

    async def _go(self, task: asyncio.Task[Any] | None, state: RunState, inputs: Mapping[str, InputValue]) -> None:
        from sparklio_desktop.core.recipes import execute

        self._running = task
        self.busyChanged.emit(True)
        titles = {s["id"]: (s.get("title") or s["id"]) for s in state.recipe.get("steps", [])}
        order = [s.id for s in state.steps]
        total = len(order)
        rows = [self._progress(state.run_id, order, titles, record) for record in state.steps]
        # A step left "running" by a cancel or a crash is sent again: it is waiting, not running.
        rows = [replace(row, status="pending") if row.status == "running" else row for row in rows]
        self.steps = {row.id: row for row in rows}
        self.runStarted.emit(state.run_id, rows)

        plan = self.plan_view
        same = plan is not None and plan.recipe == state.recipe_name
        planned = {r.id: r.model_name for r in plan.rows} if plan is not None and same else {}

        def on_step(record: StepState) -> None:
            self._on_step(state.run_id, order, titles, record)

        def on_start(record: StepState) -> None:
            progress = StepProgress(
                state.run_id,
                order.index(record.id) + 1,
                total,
                record.id,
                titles.get(record.id, record.id),
                "running",
                planned.get(record.id, ""),  # the plan's model; the step's end names the one that answered
            )
            self.steps[record.id] = progress
            self.stepStarted.emit(progress)

        dispatcher = _Announcing(self._dispatcher, self._events)
        ended: RunEnded
        try:
            result = await execute(
                state, dispatcher, self._workspace.policy, inputs, on_step=on_step, on_start=on_start
            )
            failed = next((s.error for s in result.steps if s.status == "failed"), None)
            ended = RunEnded(result.run_id, result.recipe_name, result.status, result.cost_usd, result.out_dir, failed)
        except asyncio.CancelledError:
            for row in [r for r in self.steps.values() if r.status == "running"]:
                stopped = replace(row, status="cancelled", error="Cancelled: Resume sends this step again.")
                self.steps[row.id] = stopped
                self.stepFinished.emit(stopped)
            done = await self._executor.call(_reload_state, state.run_id)
            cost = done.cost_usd if done is not None else Decimal(0)
            ended = RunEnded(state.run_id, state.recipe_name, "cancelled", cost, state.out_dir, "Cancelled.")
        except SparklioError as exc:  # another process holds the run
            ended = RunEnded(state.run_id, state.recipe_name, "stopped", Decimal(0), state.out_dir, str(exc))
        finally:
            if self._running is task:
                self._running = None
        self.last_run = ended
        self.busyChanged.emit(False)
        self.runEnded.emit(ended)
        await self.load_unfinished()

    def _on_step(self, run_id: str, order: list[str], titles: dict[str, str], record: StepState) -> None:
        progress = self._progress(run_id, order, titles, record)
        self.steps[record.id] = progress
        self.stepFinished.emit(progress)

    def _progress(self, run_id: str, order: list[str], titles: dict[str, str], record: StepState) -> StepProgress:
        output = record.output if record.status == "done" and not _is_image_output(record) else ""
        return StepProgress(
            run_id,
            order.index(record.id) + 1,
            len(order),
            record.id,
            titles.get(record.id, record.id),
            record.status,
            model_name(self._workspace.catalog, record.model) if record.model else "",
            Decimal(record.cost_usd),
            output[:PREVIEW_CHARS],
            output,
            tuple(record.files),
            record.error,
            record.reason,
        )

    def cancel(self) -> None:
        """Stop the run; the step in flight stays unfinished and is sent again on resume."""
        if self._running is not None:
            self._running.cancel()

    # -- unfinished runs ---------------------------------------------------------------
    async def load_unfinished(self) -> list[UnfinishedRun]:
        self.unfinished = await self._executor.call(_unfinished_runs)
        self.unfinishedChanged.emit(list(self.unfinished))
        return self.unfinished

    # -- editing a copy ----------------------------------------------------------------
    @asyncSlot()
    async def edit_copy(self, name: str, new_name: str = "") -> None:
        self._track()
        await self.make_copy(name, new_name)

    async def make_copy(self, name: str, new_name: str = "") -> str | None:
        """Copy ``name``'s file into the user's recipes folder as ``new_name`` (default
        ``<name>_copy``, numbered when taken) and return its path; the view opens it."""
        loaded = self._loaded(name)
        if loaded is None:
            self.errorRaised.emit(f"No recipe '{name}' to copy.")
            return None
        if new_name and not _NAME_RE.fullmatch(new_name):
            self.errorRaised.emit(f"'{new_name}': a recipe's name is letters, digits and _ only.")
            return None
        try:
            path = await self._executor.call(_copy_recipe, loaded.path, name, new_name)
        except OSError as exc:
            self.errorRaised.emit(f"Could not write the copy: {exc.strerror or exc}")
            return None
        self.copyReady.emit(str(path))
        await self.load()
        return str(path)

    async def aclose(self) -> None:
        self.cancel()
        await self.wait_idle()


class _Announcing:
    """The dispatcher as the runner sees it: tells the ledger hub after each step (the
    step's rows are in the ledger then, whatever its outcome)."""

    def __init__(self, inner: Dispatcher, events: LedgerEvents) -> None:
        self._inner = inner
        self._events = events

    async def run(self, request: RunRequest) -> RunResult:
        try:
            return await self._inner.run(request)
        finally:
            self._events.changed(LedgerChange("request", request.request_id))


def _writable_folder(folder: str) -> Path:
    """The output folder made if needed and checked to take files, before anything is paid for."""
    from sparklio_desktop.core.folders import writable_folder

    return writable_folder(folder, f"Output folder {folder}")


def _is_image_output(record: StepState) -> bool:
    return bool(record.files) and all(f.lower().endswith(".png") for f in record.files)


def _reload_state(run_id: str) -> RunState | None:
    from sparklio_desktop.core.recipes import RunState

    try:
        return RunState.load(run_id)
    except SparklioError:
        return None


def _unfinished_runs() -> list[UnfinishedRun]:
    """The runs whose record is not done, newest first (a record that cannot be read is left
    out): the data folder's, or the member's on the team database (core/recipes/run_state.py)."""
    from sparklio_desktop.core.recipes.run_state import unfinished_records

    try:
        records = unfinished_records()
    except SparklioError:  # the team database is not there now: the panel lists none
        return []
    found: list[UnfinishedRun] = []
    for raw in records:
        try:
            steps = raw.get("steps", [])
            done = sum(1 for s in steps if s.get("status") in ("done", "skipped"))
            found.append(
                UnfinishedRun(
                    str(raw["run_id"]),
                    str(raw["recipe_name"]),
                    str(raw.get("status", "")),
                    str(raw.get("updated_utc", "")),
                    done,
                    len(steps),
                )
            )
        except (KeyError, TypeError, AttributeError):
            continue
    return found


def _copy_recipe(source: Path, name: str, new_name: str) -> Path:
    """Write the copy with its ``name:`` changed to match its file (the loader's rule)."""
    from sparklio_desktop.core.recipes.loader import user_recipes_dir

    folder = user_recipes_dir()
    folder.mkdir(parents=True, exist_ok=True)
    if not new_name:
        new_name = f"{name}_copy"
        number = 2
        while (folder / f"{new_name}.yaml").exists():
            new_name = f"{name}_copy{number}"
            number += 1
    target = folder / f"{new_name}.yaml"
    if target.exists():
        raise FileExistsError(17, f"{target} exists already", str(target))
    text = source.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^name:\s*\S+", f"name: {new_name}", text, count=1)
    if count == 0:
        text = f"name: {new_name}\n" + text
    target.write_text(text, encoding="utf-8")
    return target
