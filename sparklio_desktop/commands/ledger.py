"""``sparklio ledger``: move a personal ledger into a team database, and back.

    sparklio ledger export [--out FILE] [--since YYYY-MM] [--force] [--json]
    sparklio ledger import FILE [--member NAME] [--dry-run] [--json]
    sparklio ledger import --from-sqlite PATH [--since YYYY-MM] [--member NAME] [--dry-run] [--json]
    sparklio ledger release-host HOST [--yes] [--json]

``export`` writes the ledger this install uses to a ``sparklio.ledger/1`` file (JSON Lines,
exact money), by default ``sparklio-ledger-YYYY-MM-DD.jsonl`` in the current folder, and
never replaces a file without ``--force``. ``import`` loads a file, or another ledger file
read directly, into the ledger this install uses (the team database when one is set),
keeping request ids; rows already there are skipped, so it can be run again. The rules
are in ``core/ledger/transfer.py`` and docs/team.md ("Moving a personal ledger").

``release-host`` (team mode): a machine that will never come back (stolen, reimaged,
renamed) leaves its in-flight attempts, its budget reservations and its claims on batches
and recipe runs on the team database, and only that machine could judge its own PIDs. Money
is never released on a guess (core/ledger/owners.py), so a person says it: without
``--yes`` it shows what would be released and writes nothing; with ``--yes`` it closes the
attempts as reclaiming closes orphans (``interrupted``, billed their input estimate),
deletes the reservations (a provider job's are left to its settlement) and clears the
claims, all in one transaction.

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
        dest="ledger_command", metavar="export|import|release-host", parser_class=type(parser), required=True
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

    gone = sub.add_parser(
        "release-host",
        help="team mode: release what a machine that is gone for good still holds (budget, batches, runs)",
    )
    gone.add_argument("host", metavar="HOST", help="the machine's name (its hostname, as the team database has it)")
    gone.add_argument("--yes", action="store_true", help="release it (without: show what would be released)")
    gone.add_argument("--json", action="store_true", help="print JSON")


class _UsageError(SparklioError):
    """Bad input on the command line: exit 2."""


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.ledger.transfer import TransferError

    try:
        if args.ledger_command == "release-host":
            return _release_host(args)
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


def _recorded_spelling(host: str, recorded: set[str]) -> str:
    """``host`` as the team database spells it: a person may type ``WS-3`` for ``ws-3``
    (a host name's case means nothing); the exact spelling wins, and a name that matches
    several spellings, or none, is kept as typed."""
    if host in recorded:
        return host
    matches = [name for name in recorded if name.casefold() == host.casefold()]
    return matches[0] if len(matches) == 1 else host


def _release_host(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.batches.store import BatchStore
    from sparklio_desktop.core.batches.team_database import open_team_database
    from sparklio_desktop.core.ledger import reservations
    from sparklio_desktop.core.ledger.location import database_url, is_database_url
    from sparklio_desktop.core.ledger.members import this_host
    from sparklio_desktop.core.recipes.team_runs import TeamRuns

    host = args.host.strip()
    if not host:
        raise _UsageError("give the HOST whose holds to release")
    url = database_url()
    if url is None or not is_database_url(url):
        raise _UsageError(
            "this install's ledger is a file: every owner in it is this machine's, reclaimed automatically"
        )
    here = this_host()
    if host.casefold() == here.casefold():  # a host name's case means nothing (DNS, NetBIOS)
        raise _UsageError(
            f"{host} is this machine: what its ended processes held is reclaimed automatically,"
            " and a live process here keeps its own"
        )
    dry_run = not args.yes
    db = open_team_database(url)
    try:
        with db.transaction("DEFERRED" if dry_run else "IMMEDIATE") as session:
            holding = (
                reservations.hosts_holding(session)
                | BatchStore.hosts_claiming(session)
                | TeamRuns.hosts_claiming(session)
            )
            host = _recorded_spelling(host, holding)
            others = sorted(name for name in holding if name != host and name.casefold() != here.casefold())
            if dry_run:
                ledger = reservations.find_orphans(session, gone_host=host)
            else:
                ledger = reservations.reclaim(session, gone_host=host)
            batches = BatchStore.release_host(session, host, dry_run=dry_run)
            runs = TeamRuns.release_host(session, host, dry_run=dry_run)
    finally:
        db.close()
    if args.json:
        print_json(
            {
                "host": host,
                "attempts_closed": ledger.attempts,
                "reservations_released": ledger.reservations,
                "released_usd": plain_decimal(ledger.reserved_usd),
                "batches_released": batches,
                "recipe_runs_released": runs,
                "dry_run": dry_run,
            }
        )
        return 0
    shown = safe_text(host)
    if not (ledger or batches or runs):
        print(f"nothing was held by {shown}: no attempt in flight, no reservation, no claimed batch or recipe run")
        if others:
            print(f"other machines holding something: {', '.join(safe_text(name) for name in others)}")
        return 0
    held = (
        f"{ledger.attempts} attempt(s) in flight, {ledger.reservations} reservation(s) holding"
        f" {format_usd(ledger.reserved_usd)} ({plain_decimal(ledger.reserved_usd)} USD exactly),"
        f" {batches} batch(es) and {runs} recipe run(s) claimed"
    )
    if dry_run:
        print(f"{shown} holds {held}")
        print(f"nothing was changed; add --yes to release them (`sparklio ledger release-host {shown} --yes`)")
        return 0
    print(f"released what {shown} held: {held}; attempts were closed as interrupted, billed their input estimate")
    return 0
