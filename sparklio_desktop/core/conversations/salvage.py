"""Checking a conversations file's search indexes, and salvaging its rows into a new file.

Why here and not in core/doctor.py: what a readable turn needs to stay usable (its
conversation, its parent, its depth, the conversation's leaf) is this schema's knowledge.
The doctor (core/doctor.py) opens the damaged copy and hands its rows in through a
reader that skips unreadable stretches, so this module never imports the doctor (no
import cycle).

The salvage keeps every readable row and never invents text:

* a conversation whose row was lost but whose turns were read is made again from them
  (its title from its first readable turn, its task from the turn's task or ``chat``);
* a turn whose earlier turn (its parent) was lost starts the thread instead (its depth,
  and its descendants', are renumbered), so what follows a lost turn stays readable;
  siblings keep their ids, so the versions of a turn keep their order;
* a leaf that was lost becomes the conversation's newest readable turn;
* the FTS indexes are filled by the new file's triggers as the rows go in, so they are
  exact; feedback on a lost turn is refused (counted).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sparklio_desktop.core.conversations.records import ROLES
from sparklio_desktop.core.conversations.store import derive_title
from sparklio_desktop.core.ledger.sqlite_file import classify_sqlite_error

__all__ = ["FTS_TABLES", "RowReader", "SalvageCount", "fts_problems", "rebuild_fts", "salvage_rows"]

FTS_TABLES = ("turns_fts", "titles_fts")
# The rows handed in for ``table`` and ``columns``, in rowid order; None marks a stretch skipped.
RowReader = Callable[[str, list[str]], Iterator[tuple[Any, ...] | None]]

_CONVERSATION_COLUMNS = [
    "seq", "id", "title", "task", "options_json", "pinned", "created_at", "updated_at", "deleted_at", "current_leaf",
]  # fmt: skip
_TURN_COLUMNS = [
    "id", "conversation_id", "parent_id", "role", "content", "model", "request_id", "task", "cost_usd",
    "meta_json", "attachments_json", "created_at",
]  # fmt: skip
_FEEDBACK_COLUMNS = ["id", "turn_id", "request_id", "kind", "at"]
RECOVERED_TITLE = "Recovered conversation"


@dataclass(frozen=True)
class SalvageCount:
    """One table's salvage: rows now in the new file, rows read but refused, stretches skipped."""

    table: str
    salvaged: int
    refused: int = 0
    damaged_ranges: int = 0
    readable: bool = True
    recreated: int = 0  # conversations made again from their turns
    rerooted: int = 0  # turns whose parent was lost, now starting the thread


def fts_problems(conn: sqlite3.Connection) -> list[str]:
    """What FTS5's ``integrity-check`` (against the content tables too) finds wrong with
    each index; empty when both are exact. Run in a transaction that is rolled back: the
    command is an INSERT, though it changes nothing."""
    found: list[str] = []
    for table in FTS_TABLES:
        began = False
        try:
            conn.execute("BEGIN")
            began = True
            conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            _raise_unless_index_problem(exc)
            found.append(f"{table}: {exc}")
        finally:
            if began and conn.in_transaction:
                conn.execute("ROLLBACK")
    return found


def rebuild_fts(conn: sqlite3.Connection) -> list[str]:
    """Rebuild both indexes from their content tables in one transaction; what is still
    wrong afterwards (empty: rebuilt). A missing shadow table cannot be rebuilt this way."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        for table in FTS_TABLES:
            conn.execute(f"INSERT INTO {table} ({table}) VALUES ('rebuild')")
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        _raise_unless_index_problem(exc)
        return [str(exc)]
    return fts_problems(conn)


def _raise_unless_index_problem(exc: sqlite3.DatabaseError) -> None:
    """A locked, read-only or full file says nothing about the index: let it through, so
    a busy file is never taken for a damaged one (and never set aside)."""
    found = classify_sqlite_error(exc)
    if found is not None and found[0] != "damaged":
        raise exc


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [str(row[1]) for row in conn.execute(f'PRAGMA table_info("{table}")')]
    except sqlite3.DatabaseError:
        return []


def _time(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _json(value: Any, kind: type, default: str) -> str:
    """A JSON column as the store reads it: valid and of the right shape, else its default."""
    try:
        return value if isinstance(value, str) and isinstance(json.loads(value), kind) else default
    except ValueError:
        return default


def _insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int | None:
    names = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))
    return cursor.lastrowid


def _read(old: sqlite3.Connection, table: str, wanted: list[str]) -> tuple[list[str], bool]:
    """The wanted columns the old table has, and whether it can be salvaged at all (it has ids)."""
    present = _columns(old, table)
    columns = [c for c in wanted if c in present]
    return columns, "id" in columns


def salvage_rows(old: sqlite3.Connection, new: sqlite3.Connection, read: RowReader) -> list[SalvageCount]:
    """Copy every usable row of ``old`` (read through ``read``) into the new, migrated
    file ``new``, in one transaction; one count per table."""
    new.execute("PRAGMA foreign_keys=ON")
    new.execute("BEGIN IMMEDIATE")
    try:
        counts = _salvage(old, new, read)
        new.execute("COMMIT")
    except BaseException:
        if new.in_transaction:
            new.execute("ROLLBACK")
        raise
    return counts


def _salvage(old: sqlite3.Connection, new: sqlite3.Connection, read: RowReader) -> list[SalvageCount]:
    leaf_wanted: dict[str, Any] = {}  # conversation id -> the leaf it had
    recreated: set[str] = set()
    depth: dict[int, int] = {}
    owner: dict[int, str] = {}
    newest: dict[str, tuple[int, str]] = {}  # conversation id -> (newest turn id, its time)

    columns, usable = _read(old, "conversations", _CONVERSATION_COLUMNS)
    done = refused = skipped = 0
    if usable:
        for raw in read("conversations", columns):
            if raw is None:
                skipped += 1
                continue
            rec = dict(zip(columns, raw, strict=True))
            leaf = rec.pop("current_leaf", None)
            created = _time(rec.get("created_at"))
            row = {
                "id": rec.get("id"),
                "title": rec.get("title") if isinstance(rec.get("title"), str) else "",
                "task": rec.get("task"),
                "options_json": _json(rec.get("options_json"), dict, "{}"),
                "pinned": 1 if rec.get("pinned") == 1 else 0,
                "created_at": created,
                "updated_at": _time(rec.get("updated_at")) or created,
                "deleted_at": _time(rec.get("deleted_at")),
            }
            if "seq" in rec and isinstance(rec["seq"], int):
                row["seq"] = rec["seq"]
            if not (isinstance(row["id"], str) and isinstance(row["task"], str) and created):
                refused += 1
                continue
            try:
                _insert(new, "conversations", row)
            except sqlite3.IntegrityError:
                refused += 1
                continue
            leaf_wanted[row["id"]] = leaf
            done += 1
    conversations = SalvageCount("conversations", done, refused, skipped, readable=usable)

    columns, usable = _read(old, "turns", _TURN_COLUMNS)
    done = refused = skipped = rerooted = 0
    if usable:
        for raw in read("turns", columns):
            if raw is None:
                skipped += 1
                continue
            rec = dict(zip(columns, raw, strict=True))
            turn_id, cid, content = rec.get("id"), rec.get("conversation_id"), rec.get("content")
            created = _time(rec.get("created_at"))
            if (
                not (isinstance(turn_id, int) and isinstance(cid, str) and isinstance(content, str) and created)
                or rec.get("role") not in ROLES
            ):
                refused += 1
                continue
            if cid not in leaf_wanted:
                try:
                    _recreate(new, cid, rec, created)
                except sqlite3.IntegrityError:
                    refused += 1
                    continue
                leaf_wanted[cid] = None
                recreated.add(cid)
            parent = rec.get("parent_id")
            if parent is not None and owner.get(parent) != cid:
                parent = None
                rerooted += 1
            task = rec.get("task")
            cost = rec.get("cost_usd")
            turn_depth = depth[parent] + 1 if parent is not None else 1
            row = {
                "id": turn_id,
                "conversation_id": cid,
                "parent_id": parent,
                "depth": turn_depth,
                "role": rec["role"],
                "content": content,
                "model": rec.get("model") if isinstance(rec.get("model"), str) else None,
                "request_id": rec.get("request_id") if isinstance(rec.get("request_id"), str) else None,
                "task": task if isinstance(task, str) else None,
                "cost_usd": cost if isinstance(cost, int) and cost >= 0 else None,
                "meta_json": _json(rec.get("meta_json"), dict, "{}"),
                "attachments_json": _json(rec.get("attachments_json"), list, "[]"),
                "created_at": created,
            }
            try:
                _insert(new, "turns", row)
            except sqlite3.IntegrityError:
                refused += 1
                continue
            depth[turn_id], owner[turn_id] = turn_depth, cid
            if cid not in newest or turn_id > newest[cid][0]:
                newest[cid] = (turn_id, created)
            done += 1
    turns = SalvageCount("turns", done, refused, skipped, readable=usable, rerooted=rerooted)
    conversations = SalvageCount(
        "conversations",
        conversations.salvaged + len(recreated),
        conversations.refused,
        conversations.damaged_ranges,
        conversations.readable,
        recreated=len(recreated),
    )

    for cid, leaf in leaf_wanted.items():
        if leaf is None and cid not in recreated and cid not in newest:
            continue  # an empty conversation stays empty
        keep = leaf if isinstance(leaf, int) and owner.get(leaf) == cid else newest.get(cid, (None, ""))[0]
        new.execute("UPDATE conversations SET current_leaf = ? WHERE id = ?", (keep, cid))
        if cid in recreated:
            new.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (newest[cid][1], cid))

    columns, usable = _read(old, "feedback", _FEEDBACK_COLUMNS)
    done = refused = skipped = 0
    if usable:
        for raw in read("feedback", columns):
            if raw is None:
                skipped += 1
                continue
            try:
                _insert(new, "feedback", dict(zip(columns, raw, strict=True)))
                done += 1
            except sqlite3.IntegrityError:
                refused += 1
    return [conversations, turns, SalvageCount("feedback", done, refused, skipped, readable=usable)]


def _recreate(new: sqlite3.Connection, cid: str, turn: dict[str, Any], created: str) -> None:
    """A conversation row for turns whose conversation row was lost."""
    task = turn.get("task") if isinstance(turn.get("task"), str) and turn.get("task") else "chat"
    title = derive_title(str(turn.get("content") or "")) or RECOVERED_TITLE
    _insert(
        new,
        "conversations",
        {"id": cid, "title": title, "task": task, "created_at": created, "updated_at": created},
    )
