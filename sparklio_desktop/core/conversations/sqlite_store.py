"""The conversations of one person: ``conversations.sqlite`` in the data folder.

Why a file of its own (not the ledger): the ledger is money and is never replaced behind
the user's back; conversations are text the user may want to delete, export or move
aside, and their full-text index grows with them. Why plain ``sqlite3``: FTS5 virtual
tables, triggers and ``snippet()`` are SQL SQLite alone understands, and the sidebar's
reads stay in microseconds without an ORM (benchmarks/bench_conversations.py).

This module is the SQLite half of the backend split (store.py holds the shared logic):
FTS5 matching and ``snippet()``, ``lastrowid``, ``GLOB`` for an id prefix, ``json_each``
for a list of ids. The file is one person's, so nothing is filtered by member.

Opening checks the file as the ledger does (core/ledger/sqlite_file.py): a read-only
folder, a damaged file or a file some other program wrote is one located line
(:class:`ConversationsFileError`), never a traceback. A lock makes two threads sharing a
store safe rather than corrupting.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sparklio_desktop.core.conversations.fts_query import fts_query
from sparklio_desktop.core.conversations.records import ConversationsFileError
from sparklio_desktop.core.conversations.schema import MIGRATIONS
from sparklio_desktop.core.conversations.store import _CONVERSATION_COLUMNS, ConversationStore, _now_text
from sparklio_desktop.core.ledger.plain_migrations import PlainStore, open_migrated
from sparklio_desktop.core.ledger.sqlite_file import file_error

__all__ = ["LABEL", "SqliteConversationStore"]

LABEL = "conversations file"
_SNIPPET_TOKENS = 12
_FTS_BROKEN = re.compile(r"vtable constructor failed: \w+_fts|no such table: \w+\.\w+_fts_\w+")


def _fts_snippets(conn: sqlite3.Connection, table: str, match: str, rowids: Sequence[int | None]) -> dict[int, str]:
    """FTS5 snippets of ``rowids`` (rows that match ``match``) in one pass over their range.

    Why this shape: ``rowid IN (...)`` or one query per row makes FTS5 seek each rowid,
    and a seek re-reads every term's postings (for a prefix term, every term it covers):
    50 snippets of a three-word query took 40 ms. Scanning the matches between the lowest
    and highest rowid wanted and computing ``snippet()`` only for the rows wanted takes 2.
    """
    wanted = sorted({r for r in rowids if r is not None})
    if not wanted:
        return {}
    rows = conn.execute(
        f"""SELECT id, s FROM (
            SELECT rowid AS id, CASE WHEN rowid IN (SELECT value FROM json_each(?))
                THEN snippet({table}, 0, '[', ']', '…', ?) END AS s
            FROM {table} WHERE {table} MATCH ? AND rowid BETWEEN ? AND ?
        ) WHERE s IS NOT NULL""",
        (json.dumps(wanted), _SNIPPET_TOKENS, match, wanted[0], wanted[-1]),
    ).fetchall()
    return {int(rowid): str(text) for rowid, text in rows}


class SqliteConversationStore(PlainStore, ConversationStore):
    """SQLite file ``data_dir()/conversations.sqlite`` (WAL), FTS5 over turn text and titles."""

    backend = "sqlite"

    def __init__(self, path: Path, *, member: str | None = None) -> None:
        self.path = Path(path)
        self.target = self.reopen_target = self.path
        self._lock = threading.RLock()
        self._conn = self._open(self.path)

    # -- the file -------------------------------------------------------------------

    def _file_error(self, exc: BaseException) -> ConversationsFileError | None:
        found = file_error(self.path, LABEL, exc)
        if found is None and isinstance(exc, sqlite3.OperationalError) and _FTS_BROKEN.search(str(exc)):
            # A search index whose shadow table is gone fails with a plain SQLITE_ERROR.
            return ConversationsFileError(self.path, "damaged", f"its search index is damaged: {exc}")
        return ConversationsFileError.wrap(found) if found is not None else None

    def _open(self, path: Path) -> sqlite3.Connection:
        return open_migrated(
            path,
            LABEL,
            MIGRATIONS,
            _now_text(),
            classify=self._file_error,
            make=lambda problem, detail: ConversationsFileError(path, problem, detail),
        )

    # -- the backend's hooks ----------------------------------------------------------------

    def _insert_conversation(self, conn: sqlite3.Connection, values: tuple[Any, ...]) -> bool:
        try:
            conn.execute(
                "INSERT INTO conversations (id, title, task, options_json, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def _insert_id(self, conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
        return int(conn.execute(sql, params).lastrowid or 0)

    def _prefix_match(self, prefix: str) -> tuple[str, str]:
        return "c.id GLOB ?", prefix + "*"

    def _search_query(self, text: str) -> str | None:
        return fts_query(text)

    def _turn_matches(self, conn: sqlite3.Connection, match: str, window: int) -> Iterable[Sequence[Any]]:
        # MIN() with bare columns: SQLite gives the other columns of the row holding the minimum.
        return conn.execute(
            """WITH m AS MATERIALIZED (
                SELECT rowid AS id, rank AS r FROM turns_fts WHERE turns_fts MATCH ?
                ORDER BY rowid DESC LIMIT ?
            ) SELECT t.conversation_id, c.seq, t.id, MIN(m.r) FROM m JOIN turns t ON t.id = m.id
            JOIN conversations c ON c.id = t.conversation_id
            GROUP BY t.conversation_id""",
            (match, window),
        ).fetchall()

    def _title_matches(self, conn: sqlite3.Connection, match: str, window: int) -> Iterable[Sequence[Any]]:
        return conn.execute(
            """WITH m AS MATERIALIZED (
                SELECT rowid AS seq, rank AS r FROM titles_fts WHERE titles_fts MATCH ?
                ORDER BY rowid DESC LIMIT ?
            ) SELECT c.id, c.seq, m.r FROM m JOIN conversations c ON c.seq = m.seq""",
            (match, window),
        ).fetchall()

    def _live_summaries(self, conn: sqlite3.Connection, ids: Sequence[str]) -> list[Sequence[Any]]:
        return conn.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c LEFT JOIN turns l ON l.id = c.current_leaf"
            " WHERE c.deleted_at IS NULL AND c.id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        ).fetchall()

    def _snippets(
        self, conn: sqlite3.Connection, match: str, turn_ids: Sequence[int], title_seqs: Sequence[int]
    ) -> tuple[dict[int, str], dict[int, str]]:
        return _fts_snippets(conn, "turns_fts", match, turn_ids), _fts_snippets(conn, "titles_fts", match, title_seqs)
