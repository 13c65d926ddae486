"""Running a recipe: its steps in order, each a normal request through the dispatcher.

Why each step is an ordinary :class:`RunRequest`: retries, fallback, the budget's
reservation, the cache and the ledger then apply to a recipe exactly as to a single run
(docs/dispatch.md). What this module adds is the order, the substitution of earlier
outputs, and the run's record (core/recipes/run_state.py), written after every step:

- a step's request id starts with the run's id, so the ledger's rows of one run share it;
- a step that fails after its fallbacks (or is refused by the budget) stops the run; the
  finished steps and their files are kept;
- :func:`execute` on a stopped or crashed run continues from the first unfinished step and
  never sends a finished one again;
- an ``unavailable`` step is skipped with its reason, and so is a step whose template
  only names optional inputs that were not given (nothing to send).
"""

from __future__ import annotations

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

if TYPE_CHECKING:
    from sparklio_desktop.core.dispatch import RunRequest, RunResult
    from sparklio_desktop.core.policy.routing_policy import Policy

__all__ = ["StepDispatcher", "execute", "inputs_of", "new_run", "voice_of"]

MIN_OUTPUT_CAP = 1024


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


def _fail(state: RunState, record: StepState, error: str, on_step: Callable[[StepState], None] | None) -> RunState:
    record.status = "failed"
    record.error = error
    state.status = "stopped"
    state.save()
    if on_step is not None:
        on_step(record)
    return state


async def execute(
    state: RunState,
    dispatcher: StepDispatcher,
    policy: Policy,
    inputs: Mapping[str, InputValue],
    *,
    on_step: Callable[[StepState], None] | None = None,
) -> RunState:
    """Run (or resume) ``state``'s unfinished steps in order; returns the saved record.
    Raises ``RunBusyError`` when another process holds the run."""
    with run_lock(state.folder):
        # The record as it is now: another process may have finished steps since it was read.
        return await _execute(RunState.load(state.run_id), dispatcher, policy, inputs, on_step)


async def _execute(
    state: RunState,
    dispatcher: StepDispatcher,
    policy: Policy,
    inputs: Mapping[str, InputValue],
    on_step: Callable[[StepState], None] | None,
) -> RunState:
    from sparklio_desktop.core.dispatch import RunRequest  # the dispatcher's stack: only to run

    recipe = Recipe.model_validate(state.recipe)
    overrides = RouteOverrides(**state.options)
    voice = voice_of(state)
    out = Path(state.out_dir)
    outputs = {s.id: s.output for s in state.steps if s.status == "done"}
    state.status = "running"
    state.save()
    for step, record in zip(recipe.steps, state.steps, strict=True):
        if record.finished:
            continue
        record.error = None
        if step.unavailable is not None:
            record.status, record.reason = "skipped", step.unavailable
            state.save()
            if on_step is not None:
                on_step(record)
            continue
        bare = step_prompt(recipe, step, policy, inputs, outputs, None)
        if not bare.strip():
            record.status, record.reason = "skipped", "nothing to send: the inputs it uses were not given"
            state.save()
            if on_step is not None:
                on_step(record)
            continue
        kind = capability(policy, step)
        attachments = tuple(
            image for name in attached_images(step, inputs, recipe) if (image := inputs[name].image) is not None
        )
        route = route_request(
            recipe,
            step,
            policy,
            overrides,
            prompt=step_prompt(recipe, step, policy, inputs, outputs, voice),
            attachments=attachments,
        )
        cap = None
        if kind in (Capability.TEXT.value, Capability.VISION.value):
            cap = max(MIN_OUTPUT_CAP, 2 * expected_output_tokens(policy, step))
        request_id = step_request_id(state.run_id)
        record.status, record.request_id = "running", request_id
        record.request_ids.append(request_id)
        state.save()  # a crash from here on: the step is unfinished and is sent again on resume
        try:
            result = await dispatcher.run(RunRequest(route=route, max_output_tokens=cap, request_id=request_id))
        except SparklioError as exc:  # e.g. the budget refused every model of the chain
            return _fail(state, record, str(exc), on_step)
        record.add_cost(result.cost_usd)
        record.model = result.model
        if not result.ok:
            return _fail(state, record, result.error or "no model answered", on_step)
        try:
            text, files = _keep_outputs(step, kind, result, out)
        except OSError as exc:
            return _fail(state, record, f"cannot write the outputs to {out}: {exc.strerror or exc}", on_step)
        record.status, record.output, record.files = "done", text, files
        outputs[step.id] = text
        state.save()
        if on_step is not None:
            on_step(record)
    state.status = "done"
    state.save()
    return state


def step_dict(record: StepState) -> dict[str, object]:
    """A step as ``recipe run --json`` shows it."""
    data = asdict(record)
    data["outcome"] = record.status
    return data
