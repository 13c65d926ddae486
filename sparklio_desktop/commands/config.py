"""``sparklio config get|set KEY [VALUE]``: settings (never secrets).

In team mode the budget's keys (``budget.monthly_usd``, ``budget.alert_threshold``,
``budget.at_cap``) and the members' limits (``team.member_limits``) are the team's: set and
read in the shared database (core/team_budget.py), not in this install's settings.json."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._output import safe_text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_command", required=True, parser_class=type(parser))
    get = sub.add_parser("get", help="print a setting (or a whole section)")
    get.add_argument("key")
    set_ = sub.add_parser("set", help="change a setting; 'none' restores the default")
    set_.add_argument("key")
    set_.add_argument("value")
    sub.add_parser("list", help="every setting key")


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.settings.config import format_value, get_setting, set_setting, setting_keys  # pydantic

    if args.config_command in ("get", "set"):
        from sparklio_desktop.core.team_budget import TEAM_SETTING_KEYS, team_database_url

        if args.key in TEAM_SETTING_KEYS:
            url = team_database_url()
            if url is not None:  # team mode: the budget is the team's, in the shared database
                return _run_team(args, url)
    if args.config_command == "list":
        for key in setting_keys():
            print(key)
        return 0
    if args.config_command == "get":
        print(safe_text(format_value(get_setting(args.key)), keep_newlines=True))
        return 0
    set_setting(args.key, args.value)
    print(f"{args.key} = {safe_text(format_value(get_setting(args.key)), keep_newlines=True)}")
    return 0


def _run_team(args: argparse.Namespace, url: str) -> int:
    """``config get|set`` of a team key (the budget's terms, the members' limits) in team mode (core/team_budget.py)."""
    from sparklio_desktop.core.ledger.members import resolve_member
    from sparklio_desktop.core.settings.config import format_value, get_setting, load_settings_lenient
    from sparklio_desktop.core.team_budget import get_team_setting, set_team_setting

    if args.config_command == "get":
        value = get_team_setting(url, args.key)
        print(safe_text(value if value is not None else format_value(get_setting(args.key)), keep_newlines=True))
        return 0
    settings, _problem = load_settings_lenient()
    stored = set_team_setting(url, args.key, args.value, resolve_member(settings.team.member))
    if stored is None:
        own = format_value(get_setting(args.key))
        print(f"{args.key}: the team's value is removed; each install uses its own setting ({own} here)")
    else:
        print(f"{args.key} = {safe_text(stored)} (set for the whole team, in the team database)")
    return 0
