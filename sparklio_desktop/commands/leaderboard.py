"""``sparklio leaderboard``: your models ranked by your own votes, with honest intervals."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from sparklio_desktop.commands._args import float_in
from sparklio_desktop.commands._output import print_json, table
from sparklio_desktop.commands._route_options import TASKS
from sparklio_desktop.core.errors import SparklioError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TASKS, metavar="TASK", help="one task type (default: all pooled)")
    parser.add_argument("--since", metavar="YYYY-MM-DD", help="only votes from this UTC day on")
    parser.add_argument(
        "--half-life-days",
        type=float_in(0, 36_500, low_open=True),
        metavar="N",
        help="weigh a vote N days old half as much",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def parse_day(text: str | None, option: str) -> datetime | None:
    """A ``YYYY-MM-DD`` option as the start of that UTC day."""

    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise SparklioError(f"{option} {text}: use YYYY-MM-DD") from None


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def row_dict(row: Any) -> dict[str, Any]:
    return {
        "model": row.model_id,
        "strength": _round(row.strength),
        "low": _round(row.low),
        "high": _round(row.high),
        "votes": row.votes,
        "wins": row.wins,
        "losses": row.losses,
        "ties": row.ties,
        "both_bad": row.both_bad,
        "rank": row.rank,
        "provisional": row.provisional,
        "stars_mean": _round(row.stars_mean),
        "stars_low": _round(row.stars_low),
        "stars_high": _round(row.stars_high),
        "stars_n": row.stars_n,
    }


def run(args: argparse.Namespace) -> int:
    # the fits (numpy), the votes (SQLAlchemy) and the policy (pydantic): not for --help
    from sparklio_desktop.core.ratings import leaderboard
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.workspace import Workspace

    since = parse_day(args.since, "--since")
    if args.half_life_days is not None and not args.half_life_days > 0:
        raise SparklioError("--half-life-days must be positive")
    policy = Workspace().policy
    with VoteStore.open() as store:
        votes = store.votes(args.task, since)
        stars = store.star_ratings(args.task, since)
    rows = leaderboard(
        votes,
        stars,
        task_type=args.task,
        since=since,
        half_life_days=args.half_life_days,
        min_votes=policy.ratings.min_votes,
    )
    if args.json:
        print_json(
            {
                "task": args.task,
                "since": args.since,
                "half_life_days": args.half_life_days,
                "votes": len(votes),
                "rows": [row_dict(r) for r in rows],
            }
        )
        return 0
    if not rows:
        print("No votes yet" + (f" for {args.task}" if args.task else "") + ": run `sparklio compare ... --vote`.")
        return 0

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    print(
        table(
            [
                (
                    r.rank or "-",
                    r.model_id,
                    num(r.strength),
                    f"{num(r.low)}-{num(r.high)}",
                    r.votes,
                    "yes" if r.provisional else "",
                    f"{num(r.stars_mean)} ({r.stars_n})" if r.stars_n else "",
                )
                for r in rows
            ],
            ("rank", "model", "strength", "95% interval", "votes", "provisional", "stars"),
        )
    )
    return 0
