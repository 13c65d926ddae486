"""``sparklio ledger``: move a personal ledger into a team database, and back.

    sparklio ledger export [--out FILE] [--since YYYY-MM] [--force] [--json]
    sparklio ledger import FILE [--member NAME] [--dry-run] [--json]
    sparklio ledger import --from-sqlite PATH [--since YYYY-MM] [--member NAME] [--dry-run] [--json]

``export`` writes the ledger this install uses to a ``sparklio.ledger/1`` file (JSON Lines,
exact money), by default ``sparklio-ledger-YYYY-MM-DD.jsonl`` in the current folder, and
never replaces a file without ``--force``. ``import`` loads a file, or another ledger file
read directly, into the ledger this install uses (the team database when one is set),
keeping request ids; rows already there are skipped, so it can be run again. The rules
are in ``core/ledger/transfer.py`` and docs/team.md ("Moving a personal ledger").

A bad file, option or path is one ``sparklio: error:`` line and exit 2, with nothing
written; a ledger that cannot be opened is exit 1, as for every command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.commands._args import month
from sparklio_desktop.commands._output import print_json, safe_text
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd, plain_decimal

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.transfer import ImportSummary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(
        dest="ledger_command", metavar="export|import", parser_class=type(parser), required=True
    )

    export = sub.add_parser("export", help="write the ledger to a portable file (JSON Lines, exact money)")
    export.add_argument("--out", metavar="FILE", help="default: sparklio-ledger-YYYY-MM-DD.jsonl in this folder")
    export.add_argument("--since", type=month, metavar="YYYY-MM", help="only rows from this UTC month on")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.add_argument("--json", action="store_true", help="print JSON")

    imp = sub.add_parser("import", help="load an export file (or another ledger file) into this install's ledger")
    imp.add_argument("file", nargs="?", metavar="FILE", help="a sparklio.ledger/1 file")
    imp.add_argument("--from-sqlite", metavar="PATH", help="read another ledger file directly, read-only")
    imp.add_argument("--since", type=month, metavar="YYYY-MM", help="with --from-sqlite: only rows from this month on")
    imp.add_argument("--member", metavar="NAME", help="the member of rows that name none (default: their user)")
    imp.add_argument("--dry-run", action="store_true", help="check and count; write nothing")
    imp.add_argument("--json", action="store_true", help="print JSON")


class _UsageError(SparklioError):
    """Bad input on the command line: exit 2."""


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.ledger.transfer import TransferError

    try:
        return _export(args) if args.ledger_command == "export" else _import(args)
    except _UsageError as exc:  # named like argparse's own usage errors: the command, then what is missing
        print(f"sparklio ledger {args.ledger_command}: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2
    except TransferError as exc:
        print(f"sparklio: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ledger.transfer import NOT_MOVED, default_export_name, export_ledger

    target = Path(args.out).expanduser() if args.out else Path.cwd() / default_export_name()
    if target.is_dir():
        raise _UsageError(f"--out {target} is a folder; give a file name")
    if not target.parent.is_dir():
        raise _UsageError(f"--out {target}: the folder {target.parent} does not exist")
    if target.exists() and not args.force:
        raise _UsageError(f"{target} exists; add --force to replace it")
    with LedgerStore.open(None) as store:
        done = export_ledger(store, target, since=args.since)
    if args.json:
        print_json(
            {
                "out": str(done.path),
                "schema": done.schema,
                "since": done.since,
                "rows": done.rows,
                "in_flight_left": done.in_flight_left,
                "note": NOT_MOVED,
            }
        )
        return 0
    parts = ", ".join(f"{n} {name}" for name, n in done.rows.items())
    print(f"wrote {safe_text(done.path)}: {parts}")
    if done.in_flight_left:
        print(f"{done.in_flight_left} attempt(s) still in flight were left out (their cost is not known yet)")
    print("budget reservations and alerts are not moved; the spend rollups are rebuilt on import")
    return 0


def _import(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ledger.members import member_name_problem
    from sparklio_desktop.core.ledger.transfer import import_into, read_export, read_sqlite_ledger

    if (args.file is None) == (args.from_sqlite is None):
        raise _UsageError("give an export FILE or --from-sqlite PATH (one of them)")
    if args.since and args.file is not None:
        raise _UsageError("--since goes with --from-sqlite; an export file was cut when it was written")
    if args.member is not None and (problem := member_name_problem(args.member)) is not None:
        raise _UsageError(f"--member {args.member!r}: {problem}")
    if args.file is not None:
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise _UsageError(f"{path}: no such file")
        loaded = read_export(path)
    else:
        loaded = read_sqlite_ledger(Path(args.from_sqlite).expanduser(), since=args.since)
    with LedgerStore.open(None) as store:
        done = import_into(store, loaded, member=args.member, dry_run=args.dry_run)
    if args.json:
        print_json(_summary_json(done))
        return 0
    verb = "would import" if done.dry_run else "imported"
    parts = ", ".join(f"{done.imported[name]} {name}" for name in done.imported)
    skipped = sum(done.skipped.values())
    print(f"{verb} {parts} from {safe_text(done.source)}" + (f"; {skipped} already there, skipped" if skipped else ""))
    for month_name, spent in done.spend_added_usd.items():
        print(f"  {month_name}: {format_usd(spent)} of spend ({plain_decimal(spent)} USD exactly)")
    if done.member_filled:
        print(f"{done.member_filled} attempt(s) named no member: recorded as {safe_text(args.member or 'their user')}")
    return 0


def _summary_json(done: ImportSummary) -> dict[str, Any]:
    return {
        "source": done.source,
        "schema": done.schema,
        "dry_run": done.dry_run,
        "imported": done.imported,
        "skipped": done.skipped,
        "member_filled": done.member_filled,
        "spend_added_usd": done.spend_added_usd,
    }
