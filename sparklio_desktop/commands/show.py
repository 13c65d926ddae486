"""``sparklio show REQUEST_ID``: a past request's routing trace and attempts."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._output import print_json, safe_text, table
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request_id")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.ledger import LedgerStore  # SQLAlchemy

    with LedgerStore.open() as ledger:
        decision = ledger.decision(args.request_id)
        attempts = ledger.attempts(args.request_id)
    if decision is None and not attempts:
        raise SparklioError(f"no request {args.request_id} in the ledger (see `sparklio history`)")
    if args.json:
        print_json(
            {
                "request_id": args.request_id,
                "decision": decision.trace if decision else None,
                "final_model": decision.final_model_id if decision else None,
                "attempts": [a.__dict__ for a in attempts],
            }
        )
        return 0
    if decision is not None:
        print(f"{decision.task_type}, {decision.ts_utc:%Y-%m-%d %H:%M} UTC: {safe_text(repr(decision.prompt_preview))}")
        print("chain: " + " -> ".join(safe_text(m) for m in decision.trace.get("chain", [])))
        print(safe_text(decision.trace.get("explanation", ""), keep_newlines=True))
    print(
        table(
            [
                (
                    a.attempt,
                    a.model_id,
                    a.outcome,
                    a.error_class or "",
                    a.input_tokens,
                    a.output_tokens,
                    format_usd(a.cost_usd),
                    f"{a.waited_s:g}",
                )
                for a in attempts
            ],
            ("#", "model", "outcome", "error", "in", "out", "cost", "waited s"),
        )
    )
    return 0
