"""Running a recipe: its steps, each a normal request through the dispatcher.

Why each step is an ordinary :class:`RunRequest`: retries, fallback, the budget's
reservation, the cache and the ledger then apply to a recipe exactly as to a single run
(docs/dispatch.md). What this module adds is the order, the substitution of earlier
outputs, and the run's record (core/recipes/run_state.py), written after every step:

- a step starts once every step whose output its template reads (``{steps.<id>.output}``)
  has finished; steps that read none of each other's outputs run together, at most
  :data:`MAX_PARALLEL_STEPS` at once, started in the recipe's order;
- every attempt of a step carries the run's id in the ledger (``run_id``), and a step's
  request id starts with it too;
- a step that fails after its fallbacks (or is refused by the budget) stops the run: no
  further step starts, the steps already in flight finish and are kept, as are the
  finished steps and their files;
- :func:`execute` on a stopped or crashed run sends only the unfinished steps and never a
  finished one again;
- an ``unavailable`` step is skipped with its reason, and so is a step whose template
  only names optional inputs that were not given (nothing to send); a later step that
  reads a skipped one reads an empty text.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.catalog import Capability
from sparklio_desktop.core.recipes.inputs import InputValue, read_value
from sparklio_desktop.core.recipes.plan import (
    RouteOverrides,
    Voice,
    attached_images,
    capability,
    expected_output_tokens,
    route_request,
    step_prompt,
)
from sparklio_desktop.core.recipes.run_state import (
    RunState,
    StepState,
    new_run_id,
    run_lock,
    runs_dir,
    step_request_id,
)
from sparklio_desktop.core.recipes.schema import Recipe, RecipeStep
from sparklio_desktop.core.recipes.templates import steps_used
from sparklio_desktop.core.structured_output import JsonOutput

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch import RunRequest, RunResult
    from sparklio_desktop.core.policy.routing_policy import Policy

__all__ = ["StepDispatcher", "execute", "inputs_of", "new_run", "voice_of"]

MIN_OUTPUT_CAP = 1024
# Steps in flight at once at most: independent steps run together, within what a
# provider's rate limits and a laptop's connections comfortably take.
MAX_PARALLEL_STEPS = 4


class StepDispatcher(Protocol):
    async def run(self, request: RunRequest) -> RunResult: ...


def new_run(
    recipe: Recipe,
    inputs: Mapping[str, InputValue],
    overrides: RouteOverrides,
    voice: Voice | None,
    out_dir: Path | None,
) -> RunState:
    """A run's first record (saved), every step pending."""
    run_id = new_run_id()
    state = RunState(
        run_id=run_id,
        recipe_name=recipe.name,
        recipe=recipe.model_dump(mode="json"),
        inputs={name: value.source for name, value in inputs.items()},
        options=overrides.to_dict(),
        voice=None if voice is None else {"name": voice.name, "profile": voice.profile.model_dump(mode="json")},
        out_dir=str(out_dir if out_dir is not None else runs_dir() / run_id),
        steps=[StepState(step.id, step.task) for step in recipe.steps],
    )
    state.save()
    return state


def inputs_of(state: RunState) -> dict[str, InputValue]:
    """The run's inputs, read again (a file or image that is gone: RecipeInputError)."""
    recipe = Recipe.model_validate(state.recipe)
    return {name: read_value(recipe, name, source) for name, source in state.inputs.items()}


def voice_of(state: RunState) -> Voice | None:
    from sparklio_desktop.core.recipes.brand_voice import BrandVoice

    if state.voice is None:
        return None
    return Voice(state.voice["name"], BrandVoice.model_validate(state.voice["profile"]))


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _keep_outputs(step: RecipeStep, kind: str | None, result: RunResult, out: Path) -> tuple[str, list[str]]:
    """Write the step's outputs to ``out``; returns what later steps read and the files."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[str] = []
    if result.images:
        for index, data in enumerate(result.images, start=1):
            path = out / f"{step.id}-{index}.png"
            _write(path, data)
            files.append(str(path))
        return "\n".join(files), files
    if kind == Capability.EMBEDDING.value:
        path = out / f"{step.id}.json"
        _write(path, json.dumps([list(v) for v in result.vectors]).encode())
        dims = len(result.vectors[0]) if result.vectors else 0
        return f"{len(result.vectors)} vectors of {dims} dimensions", [str(path)]
    path = out / f"{step.id}.md"
    _write(path, result.output.encode("utf-8"))
    return result.output, [str(path)]


StepCallback = Callable[[StepState], None]


async def execute(
    state: RunState,
    dispatcher: StepDispatcher,
    policy: Policy,
    inputs: Mapping[str, InputValue],
    *,
    on_step: StepCallback | None = None,
    on_start: StepCallback | None = None,
) -> RunState:
    """Run (or resume) ``state``'s unfinished steps; returns the saved record.

    ``on_start`` is called when a step's request is about to be sent, ``on_step`` when a
    step ends (done, failed or skipped), on the caller's loop. Steps that run together end
    in any order; each is reported once at its start and once at its end.
    Raises ``RunBusyError`` when another process holds the run."""
    with run_lock(state.run_id):
        # The record as it is now: another process may have finished steps since it was read.
        return await _Schedule(RunState.load(state.run_id), dispatcher, policy, inputs, on_step, on_start).run()


async def _send(dispatcher: StepDispatcher, request: RunRequest) -> RunResult | str:
    """One step's request: its result, or why it was refused before any model answered."""
    try:
        return await dispatcher.run(request)
    except SparklioError as exc:  # e.g. the budget refused every model of the chain
        return str(exc)


class _Schedule:
    """One pass over a run's unfinished steps: starts each once the steps it reads are
    finished (at most :data:`MAX_PARALLEL_STEPS` at a time) and settles each as it ends.

    The run's record has one writer: this object, on the caller's loop. The step tasks
    only await the dispatcher; the record, the output files and the callbacks are written
    here, between awaits, so two steps ending together never interleave a save.
    """

    def __init__(
        self,
        state: RunState,
        dispatcher: StepDispatcher,
        policy: Policy,
        inputs: Mapping[str, InputValue],
        on_step: StepCallback | None,
        on_start: StepCallback | None,
    ) -> None:
        self.state, self.dispatcher, self.policy, self.inputs = state, dispatcher, policy, inputs
        self.on_step, self.on_start = on_step, on_start
        self.recipe = Recipe.model_validate(state.recipe)
        self.overrides = RouteOverrides(**state.options)
        self.voice = voice_of(state)
        self.out = Path(state.out_dir)
        # What later steps read: a done step's output; a skipped one reads as empty.
        self.outputs = {s.id: (s.output if s.status == "done" else "") for s in state.steps if s.finished}
        self.order = {step.id: index for index, step in enumerate(self.recipe.steps)}
        self.waiting = [
            (step, record) for step, record in zip(self.recipe.steps, state.steps, strict=True) if not record.finished
        ]
        for _, record in self.waiting:  # left "running" by a crash or a cancel: waiting again
            if record.status == "running":
                record.status = "pending"
        self.running: dict[asyncio.Task[RunResult | str], tuple[RecipeStep, StepState, str | None]] = {}
        self.stopped = False  # a step failed: no further step starts

    async def run(self) -> RunState:
        self.state.status = "running"
        self.state.save()
        try:
            while True:
                if not self.stopped:
                    self._start_ready()
                if not self.running:
                    break
                ended, _ = await asyncio.wait(self.running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(ended, key=lambda t: self.order[self.running[t][0].id]):
                    step, record, kind = self.running.pop(task)
                    self._settle(step, record, kind, task.result())
        finally:  # cancelled (or a bug): the steps in flight are cancelled with the run
            for task in self.running:
                task.cancel()
            if self.running:
                await asyncio.gather(*self.running, return_exceptions=True)
        self.state.status = "done" if all(r.finished for r in self.state.steps) else "stopped"
        self.state.save()
        return self.state

    def _report(self, callback: StepCallback | None, record: StepState) -> None:
        if callback is not None:
            callback(record)

    def _start_ready(self) -> None:
        """Start, in the recipe's order, every waiting step whose inputs are all finished;
        a skipped step finishes at once and may make later ones ready, hence the loop."""
        started = True
        while started and len(self.running) < MAX_PARALLEL_STEPS:
            started = False
            for item in list(self.waiting):
                step, record = item
                if len(self.running) >= MAX_PARALLEL_STEPS:
                    break
                if not steps_used(step.prompt) <= self.outputs.keys():
                    continue
                self.waiting.remove(item)
                started = True
                self._start(step, record)

    def _skip(self, step: RecipeStep, record: StepState, reason: str) -> None:
        record.status, record.reason, record.error = "skipped", reason, None
        self.outputs[step.id] = ""
        self.state.save()
        self._report(self.on_step, record)

    def _start(self, step: RecipeStep, record: StepState) -> None:
        from sparklio_desktop.core.dispatch import RunRequest  # the dispatcher's stack: only to run

        recipe, policy, inputs = self.recipe, self.policy, self.inputs
        if step.unavailable is not None:
            self._skip(step, record, step.unavailable)
            return
        if not step_prompt(recipe, step, policy, inputs, self.outputs, None).strip():
            self._skip(step, record, "nothing to send: the inputs it uses were not given")
            return
        kind = capability(policy, step)
        attachments = tuple(
            image for name in attached_images(step, inputs, recipe) if (image := inputs[name].image) is not None
        )
        route = route_request(
            recipe,
            step,
            policy,
            self.overrides,
            prompt=step_prompt(recipe, step, policy, inputs, self.outputs, self.voice),
            attachments=attachments,
        )
        cap = None
        if kind in (Capability.TEXT.value, Capability.VISION.value):
            cap = max(MIN_OUTPUT_CAP, 2 * expected_output_tokens(policy, step))
        request_id = step_request_id(self.state.run_id)
        json_output = None
        if step.output_schema is not None:  # a JSON template's step: asked for, and checked, as JSON
            json_output = JsonOutput(step.template or step.id, step.output_schema)
        request = RunRequest(
            route=route, max_output_tokens=cap, request_id=request_id, run_id=self.state.run_id, origin="recipe",
            json_output=json_output,
        )  # fmt: skip
        record.status, record.request_id, record.error = "running", request_id, None
        record.request_ids.append(request_id)
        self.state.save()  # a crash from here on: the step is unfinished and is sent again on resume
        self._report(self.on_start, record)
        self.running[asyncio.ensure_future(_send(self.dispatcher, request))] = (step, record, kind)

    def _settle(self, step: RecipeStep, record: StepState, kind: str | None, sent: RunResult | str) -> None:
        """Record how one step ended; a failure stops the run (steps in flight finish)."""
        error: str | None = sent if isinstance(sent, str) else None
        if not isinstance(sent, str):
            record.add_cost(sent.cost_usd)
            record.model = sent.model
            if not sent.ok:
                error = sent.error or "no model answered"
            else:
                try:
                    text, files = _keep_outputs(step, kind, sent, self.out)
                except OSError as exc:
                    error = f"cannot write the outputs to {self.out}: {exc.strerror or exc}"
                else:
                    record.status, record.output, record.files = "done", text, files
                    self.outputs[step.id] = text
        if error is not None:
            record.status, record.error = "failed", error
            self.stopped = True
        self.state.save()
        self._report(self.on_step, record)


def step_dict(record: StepState) -> dict[str, object]:
    """A step as ``recipe run --json`` shows it."""
    data = asdict(record)
    data["outcome"] = record.status
    return data
