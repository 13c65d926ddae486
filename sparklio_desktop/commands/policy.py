"""``sparklio policy check [PATH]``: validate a routing policy file, and the user's catalog.

The user's ``catalog.yaml`` says in its header that ``policy check`` validates it. The
workspace keeps the last good catalog in force when that file is broken, so the policy
alone would still check out: the catalog's own error is printed and fails the check.
"""

from __future__ import annotations

import argparse
import sys

from sparklio_desktop.commands._output import safe_text
from sparklio_desktop.core.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", required=True, parser_class=type(parser))
    check = sub.add_parser("check", help="validate PATH (default: the policy in force)")
    check.add_argument("path", nargs="?", help="policy YAML file")


def run(args: argparse.Namespace) -> int:
    # the policy's and the catalog's models: pydantic, not for --help
    from sparklio_desktop.core.policy.routing_policy import load_policy
    from sparklio_desktop.core.workspace import Workspace

    workspace = Workspace()
    catalog_error = workspace.catalog_error
    if catalog_error is not None:
        print(safe_text(catalog_error, keep_newlines=True), file=sys.stderr)
        print("(the last good catalog stays in force until this file is fixed)", file=sys.stderr)
    path = args.path or str(workspace.policy_store.path)
    try:
        policy = load_policy(path, workspace.catalog)
    except ConfigError as exc:
        print(safe_text(exc, keep_newlines=True), file=sys.stderr)
        return 1
    which = " with the last good catalog" if catalog_error is not None else ""
    print(f"{safe_text(path)}: valid{which} ({len(policy.tasks)} tasks, {len(workspace.catalog)} catalog models)")
    return 0 if catalog_error is None else 1
