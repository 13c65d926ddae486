"""``sparklio run --template NAME --var key=value``: a template turned into the run's prompt.

Kept apart from ``run.py`` so that the run command gains two options and three lines. The
template gives the task, the system prompt (instead of the task's), the route options and,
for JSON output, the schema; what the user gives on the line wins over the template's
(``--task``, ``--budget``, ``--speed``, ``--quality``, ``--complexity``). Every mistake (an
unknown template, a missing or unknown variable, ``--prompt`` beside ``--template``) is
one line before anything is routed or paid for (docs/templates.md).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from sparklio_desktop.commands._output import safe_text
from sparklio_desktop.core.errors import SparklioError

if TYPE_CHECKING:
    from sparklio_desktop.core.templates import RenderedPrompt

ROUTE_OPTIONS = ("complexity", "budget", "speed", "quality")


class TemplateUsageError(SparklioError):
    """The template or its variables were given wrongly: exit 2, nothing sent."""


def add_template_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        metavar="NAME",
        help="build the prompt from a template (see `sparklio templates list`); its task, system prompt "
        "and route options apply unless you give your own",
    )
    parser.add_argument(
        "--var", action="append", default=[], metavar="KEY=VALUE", help="a template variable (repeatable)"
    )


def template_pairs(pairs: list[str]) -> dict[str, str]:
    """``--var`` KEY=VALUE pairs (``run --template`` and ``batch run --template``)."""
    from sparklio_desktop.core.recipes.inputs import parse_pairs  # the recipes' own KEY=VALUE rules

    return parse_pairs(pairs, flag="--var", key="KEY", error=TemplateUsageError)


def apply_template(args: argparse.Namespace) -> RenderedPrompt | None:
    """The rendered template (its task and route options written into ``args`` where the
    user gave none), or None without ``--template``."""
    if args.template is None:
        if args.var:
            raise TemplateUsageError("--var needs --template NAME")
        if args.task is None:
            raise TemplateUsageError("give --task TASK or --template NAME")
        return None
    if args.prompt is not None or args.prompt_file is not None:
        raise TemplateUsageError("--template builds the prompt: give its variables with --var, not --prompt")
    from sparklio_desktop.core.errors import UnknownNameError
    from sparklio_desktop.core.templates import TemplateVariableError, find_template, render_template

    try:
        loaded, skipped = find_template(args.template)
        rendered = render_template(loaded.template, template_pairs(args.var))
    except (UnknownNameError, TemplateVariableError) as exc:
        raise TemplateUsageError(str(exc)) from None
    for error in skipped:
        print(f"sparklio: warning: skipped a template: {safe_text(str(error))}", file=sys.stderr)
    if args.task is None:
        args.task = loaded.template.task
    route = loaded.template.route
    for option in ROUTE_OPTIONS:
        if getattr(args, option) is None:
            value = getattr(route, option)
            setattr(args, option, value.value if value is not None else None)
    return rendered
