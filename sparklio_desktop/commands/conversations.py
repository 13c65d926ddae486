"""``sparklio conversations``: list, show, search, export, delete and restore conversations.

    sparklio conversations [list] [--json] [--limit N] [--offset N]
    sparklio conversations show ID [--json]
    sparklio conversations search QUERY [--json] [--limit N]
    sparklio conversations export ID --format md|json|html [--out PATH] [--force]
    sparklio conversations rm ID [--purge] [--json]
    sparklio conversations restore ID [--json]
    sparklio conversations import [--from-sqlite PATH] [--dry-run] [--json]

An ID may be a unique prefix of at least 4 characters. A bad id, format or output path is
one ``sparklio: error:`` line and exit 2, like any other usage error; a file that cannot be
used (damaged, read-only folder) is exit 1, as for the ledger. ``export`` writes standard
output unless ``--out`` is given; it refuses to replace an existing file without
``--force`` (an export is often named after a conversation, and a second export of
another one must not silently overwrite the first). ``rm`` is a soft delete that
``restore`` undoes; ``rm --purge`` removes the conversation for good. ``import`` copies a
conversations file (default: this data folder's ``conversations.sqlite``) into the store
in use, the team database in team mode, so a creator who joins a team keeps their
conversations (core/conversations/copy_in.py; a second import adds nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.commands._args import int_in
from sparklio_desktop.commands._output import answer_text, print_json, safe_text, table
from sparklio_desktop.core.errors import SparklioError

if TYPE_CHECKING:
    from sparklio_desktop.core.conversations import ConversationSummary, Turn

MAX_LIMIT = 100_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The bare command lists: `sparklio conversations` reads like `sparklio history`.
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--limit", type=int_in(1, MAX_LIMIT), default=50, metavar="N", help="how many (default 50)")
    parser.add_argument("--offset", type=int_in(0, MAX_LIMIT), default=0, metavar="N", help="skip the first N")
    sub = parser.add_subparsers(dest="conversations_command", parser_class=type(parser))

    def json_flag(p: argparse.ArgumentParser) -> None:
        # SUPPRESS: `conversations --json show ID` keeps the --json given before the word.
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")

    listing = sub.add_parser("list", help="conversations, pinned first, then the latest")
    json_flag(listing)
    listing.add_argument("--limit", type=int_in(1, MAX_LIMIT), default=argparse.SUPPRESS, metavar="N")
    listing.add_argument("--offset", type=int_in(0, MAX_LIMIT), default=argparse.SUPPRESS, metavar="N")

    show = sub.add_parser("show", help="a conversation's current thread, turn by turn")
    show.add_argument("id", metavar="ID")
    json_flag(show)

    search = sub.add_parser("search", help="full-text search over every turn and title")
    search.add_argument("query", metavar="QUERY")
    json_flag(search)
    search.add_argument("--limit", type=int_in(1, 1000), default=argparse.SUPPRESS, metavar="N")

    export = sub.add_parser("export", help="write a conversation as Markdown, JSON or a standalone HTML page")
    export.add_argument("id", metavar="ID")
    export.add_argument("--format", required=True, choices=("md", "json", "html"), help="md, json or html")
    export.add_argument("--out", metavar="PATH", help="write to this file (default: standard output)")
    export.add_argument("--force", action="store_true", help="replace PATH if it exists")

    rm = sub.add_parser("rm", help="delete a conversation (restore brings it back; --purge removes it for good)")
    rm.add_argument("id", metavar="ID")
    rm.add_argument("--purge", action="store_true", help="remove it for good, now")
    json_flag(rm)

    restore = sub.add_parser("restore", help="bring back a deleted conversation")
    restore.add_argument("id", metavar="ID")
    json_flag(restore)

    copy = sub.add_parser(
        "import", help="copy a conversations file into the store in use (the team database in team mode)"
    )
    copy.add_argument(
        "--from-sqlite", metavar="PATH", help="the file to copy (default: this data folder's conversations.sqlite)"
    )
    copy.add_argument("--dry-run", action="store_true", help="count what would be copied, write nothing")
    json_flag(copy)


class _UsageError(SparklioError):
    """Bad input on the command line: exit 2 (the store's own errors about the file stay 1)."""


def run(args: argparse.Namespace) -> int:
    from sparklio_desktop.core.conversations import ConversationNotFound, ConversationStore

    command = args.conversations_command or "list"
    try:
        with ConversationStore.open_default() as store:
            return int(_COMMANDS[command](store, args))
    except (ConversationNotFound, _UsageError) as exc:
        # Named like argparse's own usage errors, so a script can tell which command refused.
        print(f"sparklio conversations {command}: error: {safe_text(str(exc))}", file=sys.stderr)
        return 2


def _summary_dict(summary: ConversationSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "task": summary.task,
        "pinned": summary.pinned,
        "created_at": summary.created_at,
        "updated_at": summary.updated_at,
        "turns": summary.turns,
    }


def _list(store: Any, args: argparse.Namespace) -> int:
    rows = store.list(limit=args.limit, offset=args.offset)
    if args.json:
        print_json([_summary_dict(s) for s in rows])
        return 0
    if not rows:
        print("no conversations yet (`sparklio run --conversation new ...` starts one)")
        return 0
    print(
        table(
            [
                (
                    s.id,
                    ("* " if s.pinned else "") + (s.title or "(untitled)")[:60],
                    s.task,
                    s.turns,
                    s.updated_at.strftime("%Y-%m-%d %H:%M"),
                )
                for s in rows
            ],  # fmt: skip
            ("id", "title", "task", "turns", "updated (UTC)"),
        )
    )
    return 0


def _model_names(turns: Iterable[Turn]) -> dict[str, str]:
    """Display names of the models in ``turns`` from the workspace catalog; ids where the
    catalog cannot be read (a broken user catalog must not stop an export)."""
    wanted = {t.model for t in turns if t.model}
    if not wanted:
        return {}
    try:
        from sparklio_desktop.core.workspace import Workspace

        catalog = Workspace().catalog
        return {mid: catalog[mid].name for mid in wanted if mid in catalog}
    except (SparklioError, OSError):
        return {}


def _show(store: Any, args: argparse.Namespace) -> int:
    from sparklio_desktop.core.conversations.export import to_json_value
    from sparklio_desktop.core.money import format_usd

    conversation = store.get(args.id)
    turns = store.thread(conversation.id)
    context = store.context(conversation.id)
    # How the thread's history is sent (docs/conversations.md): every turn (the opt-out), or
    # the recent turns within the task's budget plus the running summary of the older ones.
    summary = context.summary
    history = {
        "send_everything": context.send_everything,
        "summary": None if summary is None else {"text": summary.text, "turns": summary.turns},
    }
    if args.json:
        print_json({**to_json_value(conversation, turns), "history": history})
        return 0
    names = _model_names(turns)
    print(safe_text(f"{conversation.title or '(untitled)'}  [{conversation.id}, task {conversation.task}]"))
    if context.send_everything:
        print("history: every turn is sent (send everything is on)")
    elif summary is not None:
        print(safe_text(f"history: the first {summary.turns} turns are sent as their summary: {summary.text}"))
    for turn in turns:
        if turn.role == "user":
            who = "You"
        else:
            who = names.get(turn.model or "", turn.model or "assistant")
            if turn.cost_usd is not None:
                who += f" · {format_usd(turn.cost_usd)}"
        if turn.versions > 1:
            who += f" · version {turn.version} of {turn.versions}"
        print()
        print(safe_text(f"── {who} ──"))
        print(safe_text(turn.content, keep_newlines=True))
        if turn.attachments:
            print(safe_text("attachments: " + ", ".join(turn.attachments)))
    return 0


def _search(store: Any, args: argparse.Namespace) -> int:
    hits = store.search(args.query, limit=args.limit)
    if args.json:
        print_json(
            [{"conversation": _summary_dict(h.conversation), "snippet": h.snippet, "turn_id": h.turn_id} for h in hits]
        )
        return 0
    if not hits:
        print("no conversation matches")
        return 0
    print(
        table(
            [
                (h.conversation.id, (h.conversation.title or "(untitled)")[:40], " ".join(h.snippet.split())[:80])
                for h in hits
            ],  # fmt: skip
            ("id", "title", "match"),
        )
    )
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    from sparklio_desktop.core.conversations import export_conversation

    conversation = store.get(args.id)
    turns = store.thread(conversation.id)
    text = export_conversation(conversation, turns, args.format, model_names=_model_names(turns))
    if args.out is None:
        sys.stdout.write(answer_text(text))  # exact to a pipe; escapes shown on a terminal
        return 0
    target = Path(args.out).expanduser()
    if target.is_dir():
        raise _UsageError(f"--out {target} is a folder; give a file name")
    if not target.parent.is_dir():
        raise _UsageError(f"--out {target}: the folder {target.parent} does not exist")
    if target.exists() and not args.force:
        raise _UsageError(f"--out {target} exists; add --force to replace it")
    _write_atomically(target, text)
    print(f"wrote {safe_text(target)}", file=sys.stderr)
    return 0


def _write_atomically(target: Path, text: str) -> None:
    """Write beside ``target`` and rename: an interrupted export never leaves half a file."""
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temp, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise


def _rm(store: Any, args: argparse.Namespace) -> int:
    if args.purge:
        full_id = store.purge(args.id)
    else:
        full_id = store.delete(args.id)
    if args.json:
        print_json({"id": full_id, "deleted": True, "purged": bool(args.purge)})
    elif args.purge:
        print(f"removed conversation {full_id} for good")
    else:
        print(f"deleted conversation {full_id}; `sparklio conversations restore {full_id}` brings it back")
    return 0


def _restore(store: Any, args: argparse.Namespace) -> int:
    full_id = store.restore(args.id)
    if args.json:
        print_json({"id": full_id, "deleted": False})
    else:
        print(f"restored conversation {full_id}")
    return 0


def _import(store: Any, args: argparse.Namespace) -> int:
    from sparklio_desktop.core.conversations import FILENAME, ConversationStore
    from sparklio_desktop.core.conversations.copy_in import copy_conversations
    from sparklio_desktop.core.settings import paths

    source_path = Path(args.from_sqlite).expanduser() if args.from_sqlite else paths.data_dir() / FILENAME
    if not source_path.is_file():
        raise _UsageError(f"no conversations file at {source_path}")
    if getattr(store, "path", None) is not None and source_path.resolve() == Path(store.path).resolve():
        raise _UsageError(
            f"{source_path} is the store in use: set the team database (storage.database_url) to copy it there"
        )
    with ConversationStore(source_path) as source:
        done = copy_conversations(source, store, dry_run=args.dry_run)
    if getattr(args, "json", False):
        print_json(
            {
                "source": str(source_path),
                "conversations_added": done.conversations_added,
                "conversations_skipped": done.conversations_skipped,
                "turns_added": done.turns_added,
                "feedback_added": done.feedback_added,
                "dry_run": args.dry_run,
            }
        )
        return 0
    verb = "would copy" if args.dry_run else "copied"
    print(
        safe_text(
            f"{verb} {done.conversations_added} conversation(s) with {done.turns_added} turn(s) from {source_path}"
            f" to {store.target}; {done.conversations_skipped} already there were left as they are"
        )
    )
    if args.dry_run:
        print("nothing was changed; run it again without --dry-run to copy them")
    return 0


_COMMANDS = {
    "list": _list, "show": _show, "search": _search, "export": _export, "rm": _rm, "restore": _restore,
    "import": _import,
}  # fmt: skip
