"""The ``sparklio`` command line: a thin layer that parses arguments and calls the core.

Each subcommand lives in ``sparklio_desktop/commands/<name>.py`` and is imported only
when it runs, so ``sparklio route`` never pays for the GUI, the SDKs or torch.
With no subcommand, ``sparklio`` opens the desktop app.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from sparklio_desktop.core.errors import SparklioError

# subcommand -> module under sparklio_desktop.commands that defines add_arguments() and run()
COMMANDS = {
    "catalog": "catalog",
    "route": "route",
    "estimate": "estimate",
    "policy": "policy",
    "run": "run",
    "spend": "spend",
    "history": "history",
    "show": "show",
    "keys": "keys",
    "config": "config",
    "compare": "compare",
    "leaderboard": "leaderboard",
    "suggest": "suggest",
    "models": "models",
    "doctor": "doctor",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but bad arguments give one line that lists the valid values."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments"):
            options = sorted({o for a in self._actions for o in a.option_strings if o.startswith("--")})
            message += f"; valid options: {', '.join(options)}"
        elif "invalid choice" in message:
            message = message.replace("\n", " ")
        from sparklio_desktop.commands._output import safe_text  # the message quotes what was typed

        self.exit(2, f"{self.prog}: error: {safe_text(message)}\n")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="sparklio", description="Route content tasks to the best model, and see why.")
    parser.add_argument("--screenshot", metavar="DIR", help="render each main view to PNG files in DIR and exit")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(f"sparklio_desktop.commands.{module_name}")
        # argparse %-formats every help string: a literal "%" (as in "95% interval") must be doubled.
        sub_parser = sub.add_parser(name, help=module.HELP.replace("%", "%%"), description=module.HELP)
        module.add_arguments(sub_parser)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def _warn_about_settings() -> None:
    """A settings file with invalid values (edited by hand) is named on standard error;
    the command goes on with those fields at their defaults."""
    from sparklio_desktop.core.settings.config import settings_path

    if not settings_path().is_file():
        return
    from sparklio_desktop.commands._output import safe_text
    from sparklio_desktop.core.settings.config import load_settings_lenient

    error = load_settings_lenient()[1]
    if error is not None:
        for line in str(error).splitlines():
            print(f"sparklio: warning: {safe_text(line)}", file=sys.stderr)
        print("sparklio: warning: using the defaults for those settings; fix them with `sparklio config set`",
              file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closes the pipe early (``sparklio history | head``)
    ends the command quietly with 141 (128 + SIGPIPE), as other command-line tools do."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # a pipe closed after the last write is found here, not at exit
        return code
    except BrokenPipeError:
        # Point standard output at the null device so that the interpreter's own flush at
        # exit does not raise again and print a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # Report unknown options against the subcommand that was given, listing its options.
        target = _subparser(parser, args.command) if args.command else None
        (target or parser).error(f"unrecognized arguments: {' '.join(extras)}")
    from sparklio_desktop.commands._datadir import check_data_dir
    from sparklio_desktop.commands._output import safe_text

    try:
        check_data_dir()
    except SparklioError as exc:
        print(f"sparklio: error: {safe_text(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    if args.command != "config":  # `config` reports the settings file's problems as errors
        _warn_about_settings()
    if args.command is None:
        from sparklio_desktop.app import run_app

        return run_app(screenshot_dir=args.screenshot)
    module = importlib.import_module(f"sparklio_desktop.commands.{COMMANDS[args.command]}")
    try:
        return int(module.run(args) or 0)
    except SparklioError as exc:
        # Errors quote names (a model, a file, a setting) that may hold terminal escapes.
        print(f"sparklio: error: {safe_text(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        raise  # main() ends quietly
    except OSError as exc:
        # A file the command needed could not be read or written: say which and why.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"sparklio: error: {safe_text(where + (exc.strerror or str(exc)))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sparklio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
