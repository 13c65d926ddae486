"""``sparklio history``: recent requests, newest first; ``--run ID``: one recipe run's or batch's."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._args import int_in
from sparklio_desktop.commands._output import print_json, table
from sparklio_desktop.core.ledger.reader import open_for_reading
from sparklio_desktop.core.ledger.records import RUN_ID_LIMIT, is_run_id
from sparklio_desktop.core.money import format_usd

MAX_LIMIT = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--limit",
        type=int_in(1, MAX_LIMIT),
        default=20,
        metavar="N",
        help=f"how many requests, 1 to {MAX_LIMIT:,} (default 20)",
    )
    parser.add_argument(
        "--run",
        type=_run_id,
        metavar="ID",
        help="only the requests of this recipe run or batch (the id `recipe run` or `batch run` printed)",
    )
    parser.add_argument("--json", action="store_true")


def _run_id(text: str) -> str:
    if not is_run_id(text):
        raise argparse.ArgumentTypeError(f"a run id is 1 to {RUN_ID_LIMIT} printable characters without spaces")
    return text


def run(args: argparse.Namespace) -> int:
    with open_for_reading() as ledger:  # sqlite3 alone, unless the store must create, migrate or reclaim
        rows = ledger.history(limit=args.limit, run_id=args.run)
    if args.json:
        print_json([r.__dict__ for r in rows])
        return 0
    # The member column appears once the rows are a team's (more than one member).
    team = len({r.member for r in rows}) > 1
    print(
        table(
            [
                (
                    r.request_id,
                    r.ts_utc.strftime("%Y-%m-%d %H:%M"),
                    r.task_type,
                    r.model_id,
                    r.outcome,
                    format_usd(r.cost_usd),
                    *((r.member or "",) if team else ()),
                    (r.prompt_preview or "")[:40],
                )
                for r in rows
            ],
            ("request", "time (UTC)", "task", "model", "outcome", "cost", *(("member",) if team else ()), "prompt"),
        )
    )
    return 0
