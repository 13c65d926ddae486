"""``sparklio config get|set KEY [VALUE]``: settings (never secrets)."""

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
