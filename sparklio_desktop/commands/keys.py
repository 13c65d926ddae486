"""``sparklio keys set|list|delete PROVIDER``: API keys in the OS keyring.

A key is read from a hidden prompt or standard input, never from the command line,
where it would land in the shell history and the process list.
"""

from __future__ import annotations

import argparse
import sys

from sparklio_desktop.commands._output import safe_text, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", required=True, parser_class=type(parser))
    set_ = sub.add_parser("set", help="store a key (hidden prompt or standard input)")
    set_.add_argument("provider")
    sub.add_parser("list", help="which providers have a key, masked, and where it comes from")
    delete = sub.add_parser("delete", help="remove a key from the keyring")
    delete.add_argument("provider")


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.settings.secrets import KeyStore  # keyring and its backends

    keys = KeyStore()
    if args.keys_command == "set":
        if sys.stdin is not None and sys.stdin.isatty():
            import getpass

            key = getpass.getpass(f"API key for {args.provider} (hidden): ")
        else:
            key = sys.stdin.readline()
        keys.set(args.provider, key)
        print(f"stored the {safe_text(args.provider)} key in the OS keyring")
        return 0
    if args.keys_command == "delete":
        deleted = keys.delete(args.provider)
        name = safe_text(args.provider)
        print(f"deleted the {name} key" if deleted else f"no {name} key in the keyring")
        return 0
    rows = [(k.provider, k.masked or "-", k.source or "not set") for k in keys.list()]
    print(table(rows, ("provider", "key", "from")))
    return 0
