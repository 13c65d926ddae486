"""The conversations file's tables, as ordered, named migrations of literal SQL.

The discipline is the ledger's (core/ledger/migrations.py, after simonw/llm): each
migration is a function registered in order; its name goes into ``_migrations`` once it
has run; opening the store runs the pending ones, all in one ``BEGIN IMMEDIATE``
transaction, so two processes opening a new file cannot both apply them and a crash
half-way leaves the file as it was. The ledger's ``MigrationSet`` speaks SQLAlchemy; this
store is plain ``sqlite3`` (FTS5 virtual tables and their triggers are simpler without an
ORM, and the sidebar's reads stay in microseconds), so its runner is the same idea on the
driver's connection, shared with the batches file (core/ledger/plain_migrations.py).

Rules for whoever adds the next one: append a new function, never edit or reorder one
that has shipped, write literal SQL.

Shape (m001):

* ``conversations``: one row per conversation; ``current_leaf`` is the turn whose path
  from the root is the thread shown; ``deleted_at`` marks a soft delete.
* ``turns``: a tree. ``parent_id`` is the previous turn on its path; an edited user turn
  or a regenerated answer is a *sibling* (same parent), so earlier versions stay. ``depth``
  (1 for a root) makes "turns on the current thread" a single lookup of the leaf's depth.
  Money is INTEGER picodollars, as in the ledger; times are fixed-width ISO-8601 UTC
  text, so text order is time order.
* ``turns_fts`` and ``titles_fts``: FTS5 indexes over turn text and titles with external
  content (the text is stored once, in its table), kept in sync by triggers, so every
  write path (the store, a bulk load in a benchmark) keeps them exact. SQLite 3.40's FTS5
  has no ``contentless_delete``; external content needs the old text on delete, which
  the triggers have.
* ``feedback``: implicit feedback on answers (copy, regenerate, edit), apart from the
  ledger's explicit stars and votes.

m002 adds the context economy (docs/conversations.md, "What a follow-up sends") to
``conversations``: ``send_everything`` (the opt-out: no trimming, no summary) and the
running summary of the turns pushed out of the window: its text, how many of the thread's
first turns it covers, the id of the last of them (an edit or another version above it
makes the summary stale), and the model, ledger request and time that wrote it.
"""

from __future__ import annotations

import sqlite3

from sparklio_desktop.core.ledger.plain_migrations import PlainMigrations

MIGRATIONS = PlainMigrations()
_register = MIGRATIONS.register


def _execute_all(conn: sqlite3.Connection, *statements: str) -> None:
    # One by one: ``executescript`` would COMMIT first and break all-or-nothing.
    for statement in statements:
        conn.execute(statement)


def apply_pending(conn: sqlite3.Connection, now_text: str) -> list[str]:
    """Run the migrations ``_migrations`` does not list, inside the caller's transaction."""
    return MIGRATIONS.apply_pending(conn, now_text)


@_register
def m001_conversations(conn: sqlite3.Connection) -> None:
    """Conversations, their turn trees, full-text indexes and implicit feedback."""
    _execute_all(
        conn,
        # ``seq`` is the rowid titles_fts points at: an implicit rowid may be renumbered by
        # VACUUM, an INTEGER PRIMARY KEY never is.
        """CREATE TABLE conversations (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            title TEXT NOT NULL DEFAULT '',
            task TEXT NOT NULL,
            options_json TEXT NOT NULL DEFAULT '{}',
            pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            current_leaf INTEGER,
            deleted_at TEXT
        )""",
        # The sidebar: pinned first, then the latest; deleted rows are not in it.
        """CREATE INDEX ix_conversations_list ON conversations (pinned DESC, updated_at DESC)
            WHERE deleted_at IS NULL""",
        "CREATE INDEX ix_conversations_deleted ON conversations (deleted_at) WHERE deleted_at IS NOT NULL",
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
            parent_id INTEGER REFERENCES turns (id),
            depth INTEGER NOT NULL CHECK (depth >= 1),
            role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
            content TEXT NOT NULL,
            model TEXT,
            request_id TEXT,
            task TEXT,
            cost_usd INTEGER CHECK (cost_usd >= 0),
            meta_json TEXT NOT NULL DEFAULT '{}',
            attachments_json TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL
        )""",
        # Siblings (the versions of a turn) and children (the way down to a leaf).
        "CREATE INDEX ix_turns_siblings ON turns (conversation_id, parent_id, role, id)",
        "CREATE INDEX ix_turns_children ON turns (parent_id, id)",
        "CREATE INDEX ix_turns_request ON turns (request_id) WHERE request_id IS NOT NULL",
        """CREATE VIRTUAL TABLE turns_fts USING fts5(
            content, content='turns', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN
            INSERT INTO turns_fts (rowid, content) VALUES (NEW.id, NEW.content);
        END""",
        """CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, content) VALUES ('delete', OLD.id, OLD.content);
        END""",
        """CREATE TRIGGER turns_fts_update AFTER UPDATE OF content ON turns BEGIN
            INSERT INTO turns_fts (turns_fts, rowid, content) VALUES ('delete', OLD.id, OLD.content);
            INSERT INTO turns_fts (rowid, content) VALUES (NEW.id, NEW.content);
        END""",
        """CREATE VIRTUAL TABLE titles_fts USING fts5(
            title, content='conversations', content_rowid='seq', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER titles_fts_insert AFTER INSERT ON conversations BEGIN
            INSERT INTO titles_fts (rowid, title) VALUES (NEW.seq, NEW.title);
        END""",
        """CREATE TRIGGER titles_fts_delete AFTER DELETE ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', OLD.seq, OLD.title);
        END""",
        """CREATE TRIGGER titles_fts_update AFTER UPDATE OF title ON conversations BEGIN
            INSERT INTO titles_fts (titles_fts, rowid, title) VALUES ('delete', OLD.seq, OLD.title);
            INSERT INTO titles_fts (rowid, title) VALUES (NEW.seq, NEW.title);
        END""",
        """CREATE TABLE feedback (
            id INTEGER PRIMARY KEY,
            turn_id INTEGER NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
            request_id TEXT,
            kind TEXT NOT NULL CHECK (kind IN ('copy', 'regenerate', 'edit')),
            at TEXT NOT NULL
        )""",
        "CREATE INDEX ix_feedback_request ON feedback (request_id, kind)",
        "CREATE INDEX ix_feedback_turn ON feedback (turn_id)",
    )


@_register
def m002_history_summary(conn: sqlite3.Connection) -> None:
    """The conversation's opt-out from trimming and its running summary of older turns."""
    _execute_all(
        conn,
        "ALTER TABLE conversations ADD COLUMN send_everything INTEGER NOT NULL DEFAULT 0"
        " CHECK (send_everything IN (0, 1))",
        "ALTER TABLE conversations ADD COLUMN summary_text TEXT",
        "ALTER TABLE conversations ADD COLUMN summary_turns INTEGER CHECK (summary_turns >= 1)",
        "ALTER TABLE conversations ADD COLUMN summary_through INTEGER",
        "ALTER TABLE conversations ADD COLUMN summary_model TEXT",
        "ALTER TABLE conversations ADD COLUMN summary_request_id TEXT",
        "ALTER TABLE conversations ADD COLUMN summary_at TEXT",
    )
