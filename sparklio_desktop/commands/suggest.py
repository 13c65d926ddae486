"""``sparklio suggest``: per task, a better primary by your ratings, cost and speed; apply or undo it."""

from __future__ import annotations

import argparse
from typing import Any

from sparklio_desktop.commands._output import print_json, safe_text
from sparklio_desktop.commands._route_options import TASKS
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.settings import paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--apply", choices=TASKS, metavar="TASK", help="apply the suggestion for TASK")
    action.add_argument("--undo", action="store_true", help="restore the policy version before the last apply")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _suggestion_dict(s: Any) -> dict[str, Any]:
    return {
        "task": s.task_type,
        "current_primary": s.current_primary,
        "candidate": s.candidate,
        "significantly_better": s.significantly_better,
        "intervals_overlap": s.intervals_overlap,
        "cheaper": s.cheaper,
        "faster": s.faster,
        "cost_ratio": s.cost_ratio,
        "latency_ratio": None if s.latency_ratio is None else round(s.latency_ratio, 3),
        "candidate_votes": s.candidate_votes,
        "primary_votes": s.primary_votes,
        "confidence": s.confidence,
        "sentence": s.sentence,
    }


def _policy_path(workspace: Any) -> Any:
    return workspace.policy_store.explicit_path or paths.user_policy_path()


def run(args: argparse.Namespace) -> int:
    # the policy (pydantic), the votes (SQLAlchemy) and their fits (numpy): not for --help
    from sparklio_desktop.core.policy.versions import PolicyVersions
    from sparklio_desktop.core.ratings.state import task_suggestion
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.routing.router import Router
    from sparklio_desktop.core.workspace import Workspace

    workspace = Workspace()
    versions = PolicyVersions(workspace.catalog, _policy_path(workspace))
    if args.undo:
        change = versions.undo()
        if args.json:
            print_json({"undone": True, "path": str(change.path), "version": str(change.version), "diff": change.diff})
        else:
            print(
                safe_text(change.diff, keep_newlines=True) or "(no change)",
                end="" if change.diff.endswith("\n") else "\n",
            )
            print(
                f"Restored {safe_text(change.path)}"
                + (" (removed: the shipped policy is in force)" if change.after is None else "")
            )
        return 0

    router = Router(workspace.catalog, workspace.policy)
    tasks = [args.apply] if args.apply else sorted(workspace.policy.tasks)
    found = []
    with VoteStore.open() as store:
        for task in tasks:
            suggestion = task_suggestion(router, store.votes(task), store.star_ratings(task), task)
            if suggestion is not None:
                found.append(suggestion)
    if args.apply:
        if not found:
            raise SparklioError(f"no suggestion for {args.apply}: not enough votes, or the primary is best")
        change = versions.apply(args.apply, found[0].candidate)
        if args.json:
            print_json(
                {
                    "applied": _suggestion_dict(found[0]),
                    "path": str(change.path),
                    "version": str(change.version),
                    "diff": change.diff,
                }
            )
        else:
            print(safe_text(found[0].sentence))
            print(safe_text(change.diff, keep_newlines=True), end="")
            assert change.version is not None  # apply always keeps the previous version
            print(
                f"Wrote {safe_text(change.path)}; the previous version is kept ({change.version.name}); "
                "`sparklio suggest --undo` reverts it."
            )
        return 0
    if args.json:
        print_json([_suggestion_dict(s) for s in found])
    elif not found:
        print("No suggestions: every primary holds up against your ratings (or there are too few votes).")
    else:
        for s in found:
            print(f"{s.task_type}: {safe_text(s.sentence)}")
    return 0
