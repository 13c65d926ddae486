"""``sparklio show REQUEST_ID``: a past request's routing trace and attempts.

The text names models (from the trace's own candidates, so no catalog is loaded) and ends
with what happened in words (core/naming.py); ``--json`` keeps the stored ids and fields."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._output import print_json, safe_text, table
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.naming import Try, outcome_sentence, readable_id


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
    trace = decision.trace if decision is not None else {}
    names = {str(c.get("id")): str(c.get("name")) for c in trace.get("candidates", []) if c.get("name")}

    def name(model_id: str) -> str:
        return names.get(model_id) or readable_id(model_id)

    if decision is not None:
        print(f"{decision.task_type}, {decision.ts_utc:%Y-%m-%d %H:%M} UTC: {safe_text(repr(decision.prompt_preview))}")
        print("chain: " + " -> ".join(safe_text(name(m)) for m in trace.get("chain", [])))
        print(safe_text(trace.get("explanation", ""), keep_newlines=True))
    print(
        table(
            [
                (
                    a.attempt,
                    safe_text(name(a.model_id)),
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
    if attempts:
        first = attempts[0]
        if first.member is not None:  # who sent it, and from where (unknown before the ledger kept hosts)
            print(safe_text(f"sent by {first.member} on {first.host or 'an unrecorded host'}"))
        chain = trace.get("chain", [])
        explored = bool(trace.get("exploration"))
        tries = [Try(a.model_id, a.outcome, a.error_class, a.error_message) for a in attempts]
        usual = chain[1] if explored and len(chain) > 1 else None
        print(safe_text(outcome_sentence(tries, name, exploration=explored, usual=usual)))
    return 0
