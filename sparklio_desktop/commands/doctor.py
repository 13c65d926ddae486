"""``sparklio doctor``: check the ledger, cache, conversations, settings, policy and catalog; repair on request.

Exit status: 0 when everything is healthy (after ``--repair``, when the repair left
everything healthy), 1 when a problem remains. ``--repair`` sets a damaged ledger
aside (``ledger.sqlite3.damaged-<time>``, never deleted) and salvages its readable rows
into a new one, sets a damaged response cache aside, and mends ``conversations.sqlite``
(a damaged search index is rebuilt in place; a damaged file is set aside and its readable
conversations and turns salvaged into a new one); it never edits settings,
policy or catalog files, whose problems are reported with the place to fix.
"""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._output import print_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--repair",
        action="store_true",
        help="set a damaged ledger or conversations file aside and salvage its rows into a new one; rebuild "
        "a damaged cache or search index (close the app first)",
    )
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    # the checks open the ledger and load the policy (SQLAlchemy, pydantic): not for --help
    from sparklio_desktop.core.doctor import repair as repair_files
    from sparklio_desktop.core.doctor import run_checks
    from sparklio_desktop.core.logs import log_path

    checks = run_checks()
    repairs = repair_files(checks) if args.repair else []
    after = run_checks() if repairs else checks
    healthy = all(check.ok for check in after)
    if args.json:
        print_json(
            {
                "healthy": healthy,
                "checks": [c.to_dict() for c in checks],
                "repairs": [r.to_dict() for r in repairs],
                "after_repair": [c.to_dict() for c in after] if repairs else None,
                "log_file": str(log_path()),
            }
        )
        return 0 if healthy else 1
    for check in checks:
        print(check.line())
    for done in repairs:
        for line in done.lines():
            print(line)
    if repairs:
        for check in after:
            if not check.ok:
                print("still: " + check.line())
    print(f"log file: {log_path()}")  # what to send with a report (docs/operations.md)
    print("healthy" if healthy else "problems found")
    return 0 if healthy else 1
