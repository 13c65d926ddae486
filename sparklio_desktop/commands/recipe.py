"""``sparklio recipe``: list, show, estimate, run and resume multi-step recipes.

``estimate`` routes every step with the same planner ``sparklio route`` uses and sends
nothing; ``run`` sends each step through the dispatcher once the steps it reads have finished
(independent steps together) and keeps the run's record in the data folder's
``recipe-runs/<run_id>/``; ``resume RUN_ID`` sends a stopped run's unfinished steps only
(docs/recipes.md). Everything the user gives
(the recipe's name, each ``--input NAME=VALUE``, the files and images they name, the
brand voice, ``--out``) is checked before the first paid call; a mistake there is one
line on standard error and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparklio_desktop.commands._output import print_json, safe_text, table, warn_fallbacks
from sparklio_desktop.commands._route_options import BUDGETS, QUALITIES, SPEEDS
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(
        dest="recipe_command", metavar="list|show|estimate|run|resume", parser_class=type(parser), required=True
    )

    def json_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--json", action="store_true", help="print JSON (money as exact decimal strings)")

    def inputs_and_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--input", action="append", default=[], metavar="NAME=VALUE", help="a recipe input (repeatable)")
        p.add_argument("--budget", choices=BUDGETS, help="budget tier for every step")
        p.add_argument("--speed", choices=SPEEDS, help="speed class for every step")
        p.add_argument("--quality", choices=QUALITIES, help="quality target for every step")
        p.add_argument("--brand-voice", metavar="NAME", help="a profile from brand_voices.yaml (default: the recipe's)")

    json_flag(sub.add_parser("list", help="the shipped recipes and your own"))
    show = sub.add_parser("show", help="a recipe's inputs and steps")
    show.add_argument("name")
    json_flag(show)
    estimate = sub.add_parser("estimate", help="each step's model, tokens and cost, and the total (nothing is sent)")
    estimate.add_argument("name")
    inputs_and_options(estimate)
    estimate.add_argument(
        "--all-available", action="store_true", help="plan as if every key were set and every local model installed"
    )
    json_flag(estimate)
    run = sub.add_parser(
        "run", help="run a recipe's steps (independent ones together); outputs go to --out or the run's folder"
    )
    run.add_argument("name")
    inputs_and_options(run)
    run.add_argument("--out", metavar="DIR", help="folder for the outputs (default: recipe-runs/<run_id>/)")
    json_flag(run)
    resume = sub.add_parser("resume", help="continue a stopped run: send only its unfinished steps")
    resume.add_argument("run_id")
    json_flag(resume)


class _BadInput(SparklioError):
    """What the user typed is wrong: exit 2, nothing sent."""


def _book(workspace: Any) -> Any:
    from sparklio_desktop.core.recipes import load_recipes

    book = load_recipes(set(workspace.policy.tasks))
    for error in book.errors:  # a broken file is skipped; say which and why
        for line in str(error).splitlines():
            print(f"sparklio: warning: skipped a recipe: {safe_text(line)}", file=sys.stderr)
    return book


def _recipe(book: Any, name: str) -> Any:
    from sparklio_desktop.core.errors import UnknownNameError

    try:
        return book.get(name)
    except UnknownNameError as exc:
        raise _BadInput(str(exc)) from None


def _voice(recipe: Any, name: str | None) -> Any:
    from sparklio_desktop.core.errors import UnknownNameError
    from sparklio_desktop.core.recipes import Voice, load_brand_voices
    from sparklio_desktop.core.recipes.brand_voice import find_voice

    wanted = name or recipe.brand_voice
    if wanted is None:
        return None
    try:
        return Voice(wanted, find_voice(wanted, load_brand_voices()))
    except UnknownNameError as exc:
        raise _BadInput(str(exc)) from None


def _prepared(args: argparse.Namespace, workspace: Any, *, require: bool) -> tuple[Any, Any, Any, Any]:
    """(recipe, inputs, voice, overrides), every value checked: nothing is sent before this."""
    from sparklio_desktop.core.recipes import RecipeInputError, RouteOverrides, parse_pairs, resolve_inputs

    recipe = _recipe(_book(workspace), args.name).recipe
    try:
        inputs = resolve_inputs(recipe, parse_pairs(args.input), require=require)
    except RecipeInputError as exc:
        raise _BadInput(str(exc)) from None
    overrides = RouteOverrides(budget=args.budget, speed=args.speed, quality=args.quality)
    return recipe, inputs, _voice(recipe, args.brand_voice), overrides


def _list(args: argparse.Namespace, workspace: Any) -> int:
    book = _book(workspace)
    rows = [
        (name, loaded.recipe.title, len(loaded.recipe.steps), "shipped" if loaded.shipped else "yours")
        for name, loaded in sorted(book.recipes.items())
    ]
    if args.json:
        print_json(
            {
                "recipes": [
                    {"name": n, "title": t, "steps": s, "source": src, "path": str(book.recipes[n].path)}
                    for n, t, s, src in rows
                ],
                "errors": [str(e) for e in book.errors],
            }
        )
    else:
        print(table(rows, ("recipe", "title", "steps", "source")))
    return 0


def _show(args: argparse.Namespace, workspace: Any) -> int:
    loaded = _recipe(_book(workspace), args.name)
    recipe = loaded.recipe
    if args.json:
        print_json({**recipe.model_dump(mode="json"), "path": str(loaded.path), "shipped": loaded.shipped})
        return 0
    print(f"{safe_text(recipe.title)} ({recipe.name}): {safe_text(loaded.path)}")
    if recipe.description:
        print(safe_text(recipe.description.strip()))
    print("\ninputs:")
    for item in recipe.inputs:
        need = "required" if item.required else "optional"
        print(f"  {item.name} ({item.kind}, {need}): {safe_text(item.description)}")
    print("\nsteps:")
    for index, step in enumerate(recipe.steps, start=1):
        extra = f", {step.images} images {step.size or ''}".rstrip() if step.images else ""
        line = f"  {index}. {step.id} [{step.task}{extra}] {safe_text(step.title)}"
        if step.unavailable:
            line += f" (unavailable: {safe_text(step.unavailable)})"
        print(line)
    return 0


def _estimate(args: argparse.Namespace, workspace: Any) -> int:
    import asyncio

    from sparklio_desktop.core.naming import model_name
    from sparklio_desktop.core.recipes import plan_recipe
    from sparklio_desktop.core.services import route_planner

    recipe, inputs, voice, overrides = _prepared(args, workspace, require=False)
    planner = route_planner(workspace, all_available=args.all_available)
    plan = asyncio.run(plan_recipe(recipe, planner, workspace.policy, inputs, voice, overrides))
    warn_fallbacks(workspace)
    if args.json:
        print_json(plan.to_dict())
        return 0 if plan.fits else 3
    rows = []
    for step in plan.steps:
        if step.skipped:
            model = f"skipped: {step.skipped}"
        else:
            model = model_name(workspace.catalog, step.model) if step.model else "no model fits"
        rows.append(
            (
                step.id,
                step.task,
                model,
                f"{step.input_tokens:,}",
                f"{step.output_tokens:,}",
                step.images or "",
                format_usd(step.cost_usd) if not step.skipped else "",
            )
        )
    print(table(rows, ("step", "task", "model", "in", "out", "images", "cost")))
    print(f"total: {format_usd(plan.total_usd) if plan.total_usd is not None else 'no model fits a step'}")
    if plan.unavailable_usd:
        print(f"not included: {format_usd(plan.unavailable_usd)} for the skipped steps (reference estimate)")
    for axis, totals in plan.alternatives.items():
        parts = [f"{value} {format_usd(total) if total is not None else 'no fit'}" for value, total in totals.items()]
        print(f"by {axis}: " + ", ".join(parts))
    for step in plan.steps:
        for reason in step.no_fit:
            print(f"  {step.id}: {safe_text(reason)}", file=sys.stderr)
    return 0 if plan.fits else 3


def _report(state: Any, as_json: bool) -> int:
    from sparklio_desktop.core.recipes.runner import step_dict

    if as_json:
        print_json(
            {
                "run_id": state.run_id,
                "recipe": state.recipe_name,
                "status": state.status,
                "out_dir": state.out_dir,
                "cost_usd": state.cost_usd,
                "steps": [step_dict(s) for s in state.steps],
            }
        )
    else:
        for record in state.steps:
            for path in record.files:
                print(safe_text(path))
        print(f"[run {state.run_id}: {state.status}; {format_usd(state.cost_usd)}]", file=sys.stderr)
        if state.status != "done":
            print(f"sparklio: error: the run stopped; fix the cause, then `sparklio recipe resume {state.run_id}`",
                  file=sys.stderr)  # fmt: skip
    return 0 if state.status == "done" else 1


def _go(state: Any, inputs: Any, workspace: Any, as_json: bool) -> int:
    import asyncio
    from decimal import Decimal

    from sparklio_desktop.core.naming import model_name
    from sparklio_desktop.core.recipes import execute
    from sparklio_desktop.core.services import open_services

    services = open_services(workspace)
    warn_fallbacks(workspace)
    total = len(state.steps)

    def progress(record: Any) -> None:
        index = next(i for i, s in enumerate(state.steps, start=1) if s.id == record.id)
        if record.status == "skipped":
            what = record.reason or ""
        else:
            what = record.error or (model_name(workspace.catalog, record.model) if record.model else "")
            what += f", {format_usd(Decimal(record.cost_usd))}" if record.status == "done" else ""
        print(f"[step {index}/{total} {record.id}: {record.status}; {safe_text(what)}]", file=sys.stderr)

    async def go() -> Any:
        from sparklio_desktop.core.dispatch import interrupts

        interrupts.install()  # SIGTERM/SIGHUP: the attempt in flight is recorded; the step stays unfinished
        try:
            return await execute(state, services.dispatcher, workspace.policy, inputs, on_step=progress)
        finally:
            await services.dispatcher.aclose()

    try:
        print(f"[run {state.run_id}]", file=sys.stderr)
        finished = asyncio.run(go())
    finally:
        services.close()
    return _report(finished, as_json)


def _run(args: argparse.Namespace, workspace: Any) -> int:
    from sparklio_desktop.commands.run import check_out_dir
    from sparklio_desktop.core.recipes import new_run

    recipe, inputs, voice, overrides = _prepared(args, workspace, require=True)
    try:
        out = check_out_dir(args.out) if args.out else None
    except SparklioError as exc:
        raise _BadInput(str(exc)) from None
    state = new_run(recipe, inputs, overrides, voice, out)
    return _go(state, inputs, workspace, args.json)


def _resume(args: argparse.Namespace, workspace: Any) -> int:
    from sparklio_desktop.core.recipes import RecipeInputError, RunState, UnknownRunError, inputs_of

    try:
        state = RunState.load(args.run_id)
        inputs = inputs_of(state)
    except (UnknownRunError, RecipeInputError) as exc:
        raise _BadInput(str(exc)) from None
    if state.status == "done":
        print(f"[run {state.run_id} is already done: nothing is sent]", file=sys.stderr)
        return _report(state, args.json)
    return _go(state, inputs, workspace, args.json)


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.workspace import Workspace

    handlers = {"list": _list, "show": _show, "estimate": _estimate, "run": _run, "resume": _resume}
    try:
        return handlers[args.recipe_command](args, Workspace())
    except _BadInput as exc:
        print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
