"""The ``sparklio`` command line: a thin layer that parses arguments and calls the core.

Each subcommand lives in ``sparklio_desktop/commands/<name>.py``, which defines
``add_arguments(parser)`` and ``run(args)``. A command line is a whole process, and a
quick command is mostly start-up, so only what the given command needs is loaded: its
module alone (``sparklio route`` never pays for the GUI, the SDKs, torch or the other
commands' modules), and only its arguments are added to the parser. The other commands
are still listed, with their one-line help from :data:`COMMANDS`, so ``sparklio --help``
and a mistyped command read as they would with every command built. With no
subcommand, ``sparklio`` opens the desktop app.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import os
import sys
from collections.abc import Collection, Sequence
from typing import NoReturn

from sparklio_desktop import __version__
from sparklio_desktop.commands._datadir import check_data_dir
from sparklio_desktop.commands._output import safe_text
from sparklio_desktop.core import logs
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.settings import paths

# subcommand (the module under sparklio_desktop.commands) -> its one-line help
COMMANDS = {
    "catalog": "list the model catalog (shipped models plus your own)",
    "route": "show which model a task would go to, with every candidate's scores and the reasons",
    "estimate": "price a model call (USD, exact)",
    "policy": "validate a routing policy file",
    "run": "run a task: the answer goes to standard output, what happened to standard error; every attempt is recorded",
    "spend": "this month's spend: budget, by model and task, cache savings, fallback rate",
    "history": "recent requests with their model, outcome and cost",
    "show": "explain a past request again: its routing decision and every attempt",
    "conversations": "list, show, search, export (md, json, html) or delete stored conversations",
    "images": "the gallery of every generated image: list (search, checkpoint), show, rm, import A1111/ComfyUI PNGs",
    "keys": "store, list or delete provider API keys (OS keyring)",
    "config": "read or change a setting, e.g. budget.monthly_usd or budget.at_cap",
    "compare": "send one prompt to 2-4 models at once; show each answer with its speed and cost, then vote",
    "leaderboard": "rank models by your compare votes: strength 0-10 with a 95% interval, votes, rank, stars",
    "suggest": "suggest policy changes from your ratings; --apply TASK writes a new policy version, --undo reverts it",
    "models": "manage local models: Ollama (list, pull, rm, ps, show) and Stable Diffusion checkpoints",
    "templates": "prompt templates: list, show NAME (variables, system prompt, its tokens); run one: run --template",
    "recipe": "multi-step recipes: list, show, estimate (every step's model and cost), run, resume RUN_ID",
    "batch": "one routed request per row of a CSV or JSONL file, priced first and resumable (run, status, resume, ...)",
    "ledger": "move a ledger into a team database and back: export to a file, import a file or another ledger",
    "doctor": "check the ledger, cache, settings, policy and catalog; --repair sets a damaged ledger or cache aside",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, but bad arguments give one line that lists the valid values."""

    def error(self, message: str) -> None:  # type: ignore[override]
        if message.startswith("unrecognized arguments"):
            options = sorted({o for a in self._actions for o in a.option_strings if o.startswith("--")})
            message += f"; valid options: {', '.join(options)}"
        elif "invalid choice" in message:
            message = message.replace("\n", " ")
        self.exit(2, f"{self.prog}: error: {safe_text(message)}\n")  # the message quotes what was typed


def build_parser(commands: Collection[str] | None = None) -> OneLineParser:
    """The ``sparklio`` parser. Every subcommand is listed; those in ``commands`` (default:
    all) get their arguments, which imports their modules."""
    parser = OneLineParser(prog="sparklio", description="Route content tasks to the best model, and see why.")
    parser.add_argument("--version", action="version", version=f"sparklio {__version__}")
    parser.add_argument("--screenshot", metavar="DIR", help="render each main view to PNG files in DIR and exit")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    for name, help_text in COMMANDS.items():
        # argparse %-formats every help string: a literal "%" (as in "95% interval") must be doubled.
        sub_parser = sub.add_parser(name, help=help_text.replace("%", "%%"), description=help_text)
        if commands is None or name in commands:
            importlib.import_module(f"sparklio_desktop.commands.{name}").add_arguments(sub_parser)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def _warn_about_settings() -> None:
    """A settings file with invalid values (edited by hand) is named on standard error;
    the command goes on with those fields at their defaults."""
    if not paths.settings_path().is_file():
        return
    from sparklio_desktop.core.settings.config import load_settings_lenient  # pydantic: only with a file to check

    error = load_settings_lenient()[1]
    if error is not None:
        for line in str(error).splitlines():
            print(f"sparklio: warning: {safe_text(line)}", file=sys.stderr)
        print(
            "sparklio: warning: using the defaults for those settings; fix them with `sparklio config set`",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a reader that closes the pipe early (``sparklio history | head``)
    ends the command quietly with 141 (128 + SIGPIPE), as other command-line tools do."""
    # Sparklio uses no pydantic plugins; looking for them reads the metadata of every
    # installed distribution (tens of milliseconds per process). A user's own setting wins.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
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
    finally:
        logs.shutdown_logging()


def entry() -> NoReturn:
    """The process's entry point (the ``sparklio`` script, ``python -m sparklio_desktop``):
    :func:`main`, then exit with its status."""
    code = main()
    # The process ends here. Without this, the collector's last passes at exit walk every
    # object still alive (tens of thousands after pydantic and the catalog), about 8% of
    # a quick command, to free memory the process hands back anyway. Objects are still
    # freed as their modules are cleared; like any object alive at exit, an unreachable
    # cycle may be left unfinalised (Python never promised otherwise).
    gc.freeze()
    raise SystemExit(code)


def _main(argv: Sequence[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Only a command named on the line can run (or have its help shown): only those get arguments.
    parser = build_parser({word for word in argv if word in COMMANDS})
    args, extras = parser.parse_known_args(argv)
    if extras:
        # Report unknown options against the subcommand that was given, listing its options.
        target = _subparser(parser, args.command) if args.command else None
        (target or parser).error(f"unrecognized arguments: {' '.join(extras)}")
    try:
        check_data_dir()
    except SparklioError as exc:
        print(f"sparklio: error: {safe_text(str(exc), keep_newlines=True)}", file=sys.stderr)
        return 1
    logs.setup_logging()  # <data folder>/logs/sparklio.log, redacted (docs/operations.md); main() closes it
    if args.command != "config":  # `config` reports the settings file's problems as errors
        _warn_about_settings()
    if args.command is None:
        from sparklio_desktop.app import run_app  # Qt: only for the window

        return run_app(screenshot_dir=args.screenshot)
    module = importlib.import_module(f"sparklio_desktop.commands.{args.command}")
    try:
        return int(module.run(args) or 0)
    except SparklioError as exc:
        logging.getLogger("sparklio_desktop.cli").warning(
            "sparklio %s: %s",
            args.command,
            safe_text(str(exc)),
            extra={"file_only": True},  # stderr gets the line below
        )
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
    except Exception:
        # A bug: the traceback goes to the log file (standard error gets Python's own, as before).
        logging.getLogger("sparklio_desktop.cli").exception(
            "sparklio %s failed", args.command, extra={"file_only": True}
        )
        raise


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
