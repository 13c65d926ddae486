"""``sparklio templates``: list the prompt templates and show one (docs/templates.md).

``list`` names every template with its task, output and the size of its system prompt,
and says where a template of yours replaces a shipped one; ``show NAME`` prints its
variables (with defaults), the system prompt and its token count, the prompt and the
output schema. A broken file is named on standard error and skipped. To run one:
``sparklio run --template NAME --var key=value``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparklio_desktop.commands._output import print_json, safe_text, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="templates_command", metavar="list|show", parser_class=type(parser), required=True)
    listing = sub.add_parser("list", help="the shipped templates and your own (in the data folder's templates/)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = sub.add_parser("show", help="a template's variables, system prompt (with its token count) and prompt")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")


def _tasks() -> set[str] | None:
    """The policy's task names, to refuse a template for a task that does not exist."""
    from sparklio_desktop.core.workspace import Workspace

    return set(Workspace().policy.tasks)


def _warn(errors: list[Any]) -> None:
    for error in errors:  # a broken file is skipped; say which and why
        for line in str(error).splitlines():
            print(f"sparklio: warning: skipped a template: {safe_text(line)}", file=sys.stderr)


def _source(loaded: Any) -> str:
    if loaded.shipped:
        return "shipped"
    return "yours (replaces shipped)" if loaded.overrides is not None else "yours"


def _list(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.templates import load_templates, system_tokens

    book = load_templates(_tasks())
    _warn(book.errors)
    items = sorted(book.templates.items())
    if args.json:
        print_json(
            {
                "templates": [
                    {
                        "name": name,
                        "task": loaded.template.task,
                        "description": loaded.template.description,
                        "output": loaded.template.output.format,
                        "system_tokens": system_tokens(loaded.template),
                        "source": "shipped" if loaded.shipped else "user",
                        "overrides_shipped": loaded.overrides is not None,
                        "path": str(loaded.path),
                    }
                    for name, loaded in items
                ],
                "errors": [str(e) for e in book.errors],
            }
        )
        return 0
    rows = [
        (
            name,
            loaded.template.task,
            loaded.template.output.format,
            system_tokens(loaded.template),
            _source(loaded),
            safe_text(loaded.template.description),
        )
        for name, loaded in items
    ]
    print(table(rows, ("template", "task", "output", "system tokens", "source", "description")))
    return 0


def _show(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.templates import find_template, system_tokens

    loaded, errors = find_template(args.name, _tasks())
    _warn(errors)
    t = loaded.template
    variables = [
        {
            "name": name,
            "description": t.variable(name).description,
            "default": t.variable(name).default,
            "required": t.variable(name).default is None,
        }
        for name in t.variable_names()
    ]
    if args.json:
        print_json(
            {
                "name": t.name,
                "task": t.task,
                "description": t.description,
                "system": t.system,
                "system_tokens": system_tokens(t),
                "prompt": t.prompt,
                "variables": variables,
                "route": t.route.model_dump(mode="json", exclude_none=True),
                "output": {"format": t.output.format, "schema": t.output.json_schema},
                "path": str(loaded.path),
                "source": "shipped" if loaded.shipped else "user",
                "overrides_shipped": loaded.overrides is not None,
            }
        )
        return 0
    print(f"{t.name} [{t.task}], {_source(loaded)}: {safe_text(loaded.path)}")
    if t.description:
        print(safe_text(t.description))
    print(f"\nsystem prompt ({system_tokens(t)} tokens): {safe_text(t.system) if t.system else '(none)'}")
    print("\nprompt:")
    for line in t.prompt.splitlines():
        print(f"  {safe_text(line)}")
    print("\nvariables:")
    for v in variables:
        need = "required" if v["required"] else f"default {v['default']!r}"
        print(f"  {v['name']} ({safe_text(need)}){': ' + safe_text(v['description']) if v['description'] else ''}")
    route = t.route.model_dump(mode="json", exclude_none=True)
    if route:
        print("\nroute: " + ", ".join(f"{k} {v}" for k, v in route.items()))
    print(f"\noutput: {t.output.format}")
    if t.output.json_schema is not None:
        print_json(t.output.json_schema)
    return 0


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.errors import UnknownNameError

    try:
        return _list(args) if args.templates_command == "list" else _show(args)
    except UnknownNameError as exc:
        print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
