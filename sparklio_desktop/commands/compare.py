"""``sparklio compare``: one prompt to 2–4 models at once, with their measurements and a vote."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparklio_desktop.commands._args import MAX_OUTPUT_TOKENS, int_in
from sparklio_desktop.commands._output import answer_text, print_json, safe_text
from sparklio_desktop.commands._route_options import add_route_options
from sparklio_desktop.commands.route import request_from_args
from sparklio_desktop.commands.run import _images, _prompt
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_route_options(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--models", metavar="ID,ID[,ID,ID]", help="2-4 catalog model ids, comma-separated")
    which.add_argument("--top", type=int_in(2, 4), metavar="N", help="the router's first N eligible candidates (2-4)")
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT")
    prompt.add_argument("--prompt-file", metavar="PATH")
    parser.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    parser.add_argument("--blind", action="store_true", help="shuffle the columns and hide the names until the vote")
    parser.add_argument(
        "--vote",
        metavar="VOTE",
        help="record a vote: a, b, tie, both_bad or rank:X,Y,... (labels A-D or model ids, best first)",
    )
    parser.add_argument("--stars", metavar="X=N,...", help="1-5 stars per answer, e.g. A=5,B=3")
    parser.add_argument("--no-vote", action="store_true", help="never ask for a vote")
    parser.add_argument("--max-output-tokens", type=int_in(1, MAX_OUTPUT_TOKENS), metavar="N")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")


def _stars(text: str | None) -> dict[int | str, int]:
    out: dict[int | str, int] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise SparklioError(f"--stars {text}: write X=N pairs, e.g. A=5,B=3")
        out[key.strip()] = int(value)
    return out


def _print_column(result: Any) -> None:
    ttft = f"{result.ttft_s:.2f} s to first token" if result.ttft_s is not None else "no first token"
    tps = f"{result.tokens_per_s:.0f} tokens/s" if result.tokens_per_s is not None else "- tokens/s"
    print(
        f"== {result.label}"
        + (f" ({safe_text(result.model)})" if result.model else "")
        + f": {ttft}, {tps}, {result.input_tokens}+{result.output_tokens} tokens, {format_usd(result.cost_usd)}"
    )
    print(result.error and f"[error: {safe_text(result.error)}]" or answer_text(result.output.rstrip("\n")))
    print()


def _ask_vote(comparison: Any, stars: dict[int | str, int]) -> None:
    """Ask for a vote until one is cast or the user presses Enter; a typo asks again."""
    from sparklio_desktop.core.compare import CompareError, parse_vote  # asyncio, the dispatcher

    columns = len(comparison.order_shown)
    choices = "a, b, tie, both_bad" if columns == 2 else "tie, both_bad, rank:" + ",".join("ABCD"[:columns])
    while True:
        try:
            answer = input(f"Your vote ({choices}; Enter to skip): ").strip()
        except EOFError:
            return
        if not answer:
            return
        try:
            kind, ranking = parse_vote(answer, columns)
            comparison.vote(kind, ranking, stars)
            return
        except CompareError as exc:
            print(safe_text(exc))


def run(args: argparse.Namespace) -> int:
    # asyncio, the dispatcher and the services (pydantic, SQLAlchemy): only for a comparison, not --help
    import asyncio

    from sparklio_desktop.core.compare import ColumnFinished, Comparison, parse_vote, router_top_candidates
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.services import open_services

    prompt = _prompt(args)
    images = _images(args.image)
    stars = _stars(args.stars)
    route = request_from_args(
        argparse.Namespace(**{**vars(args), "input_tokens": None, "output_tokens": None, "images": None, "size": None}),
        None,
    )
    services = open_services()
    store = VoteStore.open(services.ledger.target)
    try:
        if args.models:
            models = [m.strip() for m in args.models.split(",") if m.strip()]
        else:
            models = router_top_candidates(services.planner, args.task, args.top)
        vote_kind = parse_vote(args.vote, len(models)) if args.vote else None
        comparison = Comparison(
            services.dispatcher,
            route,
            models,
            prompt,
            images=images,
            blind=args.blind,
            seed=args.seed,
            store=store,
            max_output_tokens=args.max_output_tokens,
        )
        interactive = not args.json and sys.stdout.isatty() and sys.stdin.isatty() and not args.no_vote
        if stars and vote_kind is None and not interactive:
            raise SparklioError("--stars are recorded with a vote; add --vote")
        if vote_kind is not None:
            comparison.check_vote(vote_kind[0], vote_kind[1], stars)  # before any money is spent

        async def go() -> None:
            try:
                async for event in comparison.stream():
                    if isinstance(event, ColumnFinished) and not args.json:
                        _print_column(event.result)
            finally:
                await services.dispatcher.aclose()

        asyncio.run(go())
        if vote_kind is not None:
            kind, ranking = vote_kind
            comparison.vote(kind, ranking, stars)
        elif interactive:
            _ask_vote(comparison, stars)
        results = comparison.results
        if args.json:
            print_json(
                {
                    "comparison_id": comparison.comparison_id,
                    "task": args.task,
                    "blind": comparison.blind,
                    "revealed": comparison.revealed,
                    "order_shown": list(comparison.order_shown) if comparison.revealed else None,
                    "vote": None
                    if comparison.cast is None
                    else {
                        "kind": comparison.cast.kind,
                        "ranking": list(comparison.cast.ranking) if comparison.cast.ranking else None,
                    },
                    "columns": [r.to_dict() for r in results if r is not None],
                }
            )
        elif comparison.blind and comparison.revealed:
            print(
                "Revealed: "
                + ", ".join(f"{chr(65 + i)} = {safe_text(m)}" for i, m in enumerate(comparison.order_shown))
            )
        failed = [r for r in results if r is None or not r.ok]
        return 1 if len(failed) == len(results) else 0
    finally:
        store.close()
        services.close()
