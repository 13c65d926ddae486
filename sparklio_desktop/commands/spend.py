"""``sparklio spend``: the month's spend against the budget, from the ledger's SQL sums.

The ledger is read through ``sqlite3`` (core/ledger/reader.py): SQLAlchemy's import was
about 40% of this command's time.
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from sparklio_desktop.commands._args import month
from sparklio_desktop.commands._output import print_json, table
from sparklio_desktop.core.ledger.months import current_month
from sparklio_desktop.core.ledger.reader import open_for_reading
from sparklio_desktop.core.money import format_usd, format_usd_distinct
from sparklio_desktop.core.provider_table import LOCAL_PROVIDERS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--month", type=month, metavar="YYYY-MM", help="default: the current month (UTC)")
    parser.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    # the settings and the policy (pydantic): only to report, not for --help
    from sparklio_desktop.core.budget import checked_terms, member_limit, month_status
    from sparklio_desktop.core.services import budget_terms, team_member
    from sparklio_desktop.core.team_budget import terms_in_force
    from sparklio_desktop.core.workspace import Workspace

    month = args.month or current_month()
    workspace = Workspace()
    me = team_member(workspace)
    my_limit = member_limit(workspace.settings.team.member_limits, me)
    with open_for_reading() as ledger:  # sqlite3 alone, unless the store must create, migrate or reclaim
        terms = terms_in_force(workspace.settings, checked_terms(*budget_terms(workspace)))  # team mode: the team's
        status = month_status(month, terms.monthly_usd, terms.alert_threshold, *ledger.budget_snapshot(month))
        summary = ledger.spend_summary(month, local_providers=LOCAL_PROVIDERS)
    limits = workspace.settings.team.member_limits
    mine = summary.by_member.get(me)
    my_spent = mine.spent_usd if mine else Decimal(0)
    payload = {
        "month": month,
        "budget_usd": status.budget_usd,
        "spent_usd": summary.spent_usd,
        "percent": status.percent,
        "alert": status.alert,
        "at_cap": terms.at_cap,
        "by_model": summary.by_model,
        "by_task": summary.by_task,
        "by_provider": summary.by_provider,
        "requests": summary.requests,
        "cache_hits": summary.cache_hits,
        "saved_usd": summary.saved_usd,
        "fallback_rate": summary.fallback_rate,
        # Per team member (m008): spend, requests and attempts; the spent sums add up to spent_usd.
        "by_member": {
            name: {
                "spent_usd": part.spent_usd,
                "requests": part.requests,
                "attempts": part.attempts,
                "limit_usd": member_limit(limits, name),
            }
            for name, part in summary.by_member.items()
        },
        "member": me,
        "member_spent_usd": my_spent,
        "member_limit_usd": my_limit,
        # Conversation history trimming (docs/conversations.md): saved tokens at the answering
        # models' input rates; the summarising calls are in the spend, and taken off in net.
        "history": {
            "tokens_sent": summary.history.tokens_sent,
            "tokens_saved": summary.history.tokens_saved,
            "saved_usd": summary.history.saved_usd,
            "summary_calls": summary.history.summary_calls,
            "summary_cost_usd": summary.history.summary_cost_usd,
            "net_saved_usd": summary.history.net_saved_usd,
            "error": summary.history.error,
        },
    }
    if args.json:
        print_json(payload)
        return 0
    spent, budget = format_usd_distinct(summary.spent_usd, status.budget_usd)  # never "$0.02 of $0.02"
    print(f"{month}: {spent} of {budget} ({status.percent}%)" + ("  ALERT: past the threshold" if status.alert else ""))
    print(
        f"requests {summary.requests}, cache hits {summary.cache_hits} (saved {format_usd(summary.saved_usd)}), "
        f"fallback rate {summary.fallback_rate:.0%}"
    )
    if my_limit is not None:
        mine_t, limit_t = format_usd_distinct(my_spent, my_limit)
        print(f"you ({me}): {mine_t} of your {limit_t} monthly limit")
    if len(summary.by_member) > 1:
        print(
            table(
                [
                    (
                        name,
                        format_usd(part.spent_usd),
                        part.requests,
                        "-" if member_limit(limits, name) is None else format_usd(limits[name]),
                    )
                    for name, part in summary.by_member.items()
                ],
                ("member", "spent", "requests", "limit"),
            )
        )
    history = summary.history
    if history.tokens_saved or history.summary_calls:
        print(
            f"history trimmed: {history.tokens_saved:,} tokens, saved ~{format_usd(history.saved_usd)}"
            f" ({history.summary_calls} summar{'y' if history.summary_calls == 1 else 'ies'}"
            f" cost {format_usd(history.summary_cost_usd)})"
        )
    if summary.by_model:
        print(
            table(
                sorted(((m, format_usd(v)) for m, v in summary.by_model.items()), key=lambda r: r[0]),
                ("model", "spent"),
            )
        )
    return 0
