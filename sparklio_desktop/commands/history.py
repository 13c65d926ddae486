"""``sparklio history``: recent requests, newest first."""

from __future__ import annotations

import argparse

HELP = "recent requests with their model, outcome and cost"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=20, metavar="N")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.commands._output import print_json, table
    from sparklio_desktop.core.ledger import LedgerStore

    with LedgerStore.open() as ledger:
        rows = ledger.history(limit=max(1, args.limit))
    if args.json:
        print_json([r.__dict__ for r in rows])
        return 0
    print(table([(r.request_id, r.ts_utc.strftime("%Y-%m-%d %H:%M"), r.task_type, r.model_id, r.outcome,
                  f"${r.cost_usd:f}", (r.prompt_preview or "")[:40]) for r in rows],
                ("request", "time (UTC)", "task", "model", "outcome", "cost", "prompt")))
    return 0
