"""Copy a personal conversations file into another store: a creator who joins a team keeps
their conversations (``sparklio conversations import``, docs/team.md).

In team mode the sidebar reads the team database (core/conversations/postgres_store.py),
so the conversations of ``conversations.sqlite`` would otherwise stay behind on the
workstation, out of sight. This copies every conversation of a file (the deleted ones
too, still deleted, so the trash comes along) with its whole turn tree (every version of
an edited or regenerated turn), its running summary and its implicit feedback, into the
target as the target's member: the ledger's ``ledger import`` does the same for the
attempts, and a conversation's turns keep their ``request_id``, so both stay joined.

* **Idempotent**: a conversation is matched by its id (48 random bits, the same in both
  stores); one the target already holds is skipped, whoever's it is, so a second import
  adds nothing and an import interrupted half-way is simply run again.
* **One transaction** on the target: all or nothing (on a team database, under the
  member's write lock, as every conversation write).
* **Ids are the target's**: turns and feedback get new ids; each turn's parent, the
  conversation's current leaf and the summary's last turn are mapped to them. Turns are
  copied in id order, and a turn's parent is always older (it had to exist first).
* The source is only read (opening it brings an older file's schema up to date, as any
  open does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sparklio_desktop.core.conversations.postgres_store import PostgresConversationStore
from sparklio_desktop.core.conversations.store import ConversationStore

__all__ = ["CopyResult", "copy_conversations"]

_CONVERSATION_COLUMNS = (
    "id", "title", "task", "options_json", "pinned", "created_at", "updated_at", "deleted_at",
    "send_everything", "summary_text", "summary_turns", "summary_model", "summary_request_id", "summary_at",
)  # fmt: skip
_TURN_COLUMNS = (
    "conversation_id", "parent_id", "depth", "role", "content", "model", "request_id", "task", "cost_usd",
    "meta_json", "attachments_json", "created_at",
)  # fmt: skip


@dataclass(frozen=True)
class CopyResult:
    """What a copy added (or, with ``dry_run``, would add) and what it left as it was."""

    conversations_added: int
    conversations_skipped: int  # already in the target (a second import, or another member's)
    turns_added: int
    feedback_added: int


def _read_source(
    source: ConversationStore,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every conversation (with ``current_leaf`` and ``summary_through`` last), turn (id
    first) and feedback row of the file, oldest first."""
    with source._tx() as conn:
        conversations = conn.execute(
            f"SELECT {', '.join(_CONVERSATION_COLUMNS)}, current_leaf, summary_through FROM conversations ORDER BY seq"
        ).fetchall()
        turns = conn.execute(f"SELECT id, {', '.join(_TURN_COLUMNS)} FROM turns ORDER BY id").fetchall()
        feedback = conn.execute("SELECT turn_id, request_id, kind, at FROM feedback ORDER BY id").fetchall()
    return [tuple(r) for r in conversations], [tuple(r) for r in turns], [tuple(r) for r in feedback]


def copy_conversations(source: ConversationStore, target: ConversationStore, *, dry_run: bool = False) -> CopyResult:
    """Copy what ``source`` (a conversations file) holds into ``target``; see the module."""
    conversations, turns, feedback = _read_source(source)
    # A team database's rows name their member and host; a file is one person's.
    owner = {"member": target.member, "host": target.host} if isinstance(target, PostgresConversationStore) else {}
    columns = (*_CONVERSATION_COLUMNS, *owner)
    insert_conversation = f"INSERT INTO conversations ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    insert_turn = f"INSERT INTO turns ({', '.join(_TURN_COLUMNS)}) VALUES ({', '.join('?' for _ in _TURN_COLUMNS)})"
    with target._tx(write=not dry_run) as conn:
        # Every id in the table, whoever's: ids are unique across members, so one another
        # member holds cannot be added either.
        present = {row[0] for row in conn.execute("SELECT id FROM conversations").fetchall()}
        wanted = {c[0] for c in conversations} - present
        new_turns = [t for t in turns if t[1] in wanted]
        new_turn_ids = {t[0] for t in new_turns}
        new_feedback = sum(1 for f in feedback if f[0] in new_turn_ids)
        result = CopyResult(len(wanted), len(conversations) - len(wanted), len(new_turns), new_feedback)
        if dry_run or not wanted:
            return result
        for row in conversations:
            if row[0] in wanted:
                conn.execute(insert_conversation, (*row[: len(_CONVERSATION_COLUMNS)], *owner.values()))
        ids: dict[int, int] = {}
        for old_id, *values in new_turns:
            parent = values[1]
            values[1] = None if parent is None else ids[parent]
            ids[old_id] = target._insert_id(conn, insert_turn, tuple(values))
        for row in conversations:
            if row[0] in wanted:
                leaf, through = row[len(_CONVERSATION_COLUMNS) :]
                conn.execute(
                    "UPDATE conversations SET current_leaf = ?, summary_through = ? WHERE id = ?",
                    (ids.get(leaf) if leaf is not None else None, ids.get(through) if through is not None else None,
                     row[0]),
                )  # fmt: skip
        for turn_id, request_id, kind, at in feedback:
            if turn_id in ids:
                conn.execute(
                    "INSERT INTO feedback (turn_id, request_id, kind, at) VALUES (?, ?, ?, ?)",
                    (ids[turn_id], request_id, kind, at),
                )
    return result
