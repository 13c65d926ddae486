"""The gallery file's tables, as ordered, named migrations of literal SQL.

The runner is the conversations' and batches' one (core/ledger/plain_migrations.py):
append a new function, never edit or reorder one that has shipped, write literal SQL.

Shape (m001):

* ``images``: one row per image. ``seq`` (INTEGER PRIMARY KEY) is the rowid the search
  index points at and the order of insertion; ``id`` is the 12-hex-digit id people type
  (a unique prefix works). Times are fixed-width ISO-8601 UTC text, so text order is time
  order; money is INTEGER picodollars; LoRAs are a JSON list.
* ``ix_images_created`` serves the grid (newest first, a page at a time) and the date
  filters; ``ix_images_checkpoint`` the checkpoint filter and ``checkpoints()``.
* ``images_fts``: FTS5 over prompt and negative prompt with external content, kept exact
  by triggers whatever writes the table (the store, a bulk load in a benchmark).
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


@_register
def m001_images(conn: sqlite3.Connection) -> None:
    """Images, their settings and a full-text index over their prompts."""
    _execute_all(
        conn,
        """CREATE TABLE images (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            path TEXT NOT NULL,
            width INTEGER,
            height INTEGER,
            prompt TEXT NOT NULL DEFAULT '',
            negative_prompt TEXT NOT NULL DEFAULT '',
            seed INTEGER,
            steps INTEGER,
            guidance REAL,
            scheduler TEXT,
            checkpoint TEXT,
            checkpoint_hash TEXT,
            loras_json TEXT NOT NULL DEFAULT '[]',
            init_image TEXT,
            strength REAL,
            mask TEXT,
            request_id TEXT,
            model_id TEXT,
            provider TEXT,
            cost_usd INTEGER CHECK (cost_usd >= 0),
            source TEXT NOT NULL CHECK (source IN ('local', 'cloud', 'imported')),
            extra_json TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX ix_images_created ON images (created_at DESC, seq DESC)",
        "CREATE INDEX ix_images_checkpoint ON images (checkpoint, created_at DESC) WHERE checkpoint IS NOT NULL",
        "CREATE INDEX ix_images_request ON images (request_id) WHERE request_id IS NOT NULL",
        """CREATE VIRTUAL TABLE images_fts USING fts5(
            prompt, negative_prompt, content='images', content_rowid='seq',
            tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
            INSERT INTO images_fts (rowid, prompt, negative_prompt)
            VALUES (NEW.seq, NEW.prompt, NEW.negative_prompt);
        END""",
        """CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
            INSERT INTO images_fts (images_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', OLD.seq, OLD.prompt, OLD.negative_prompt);
        END""",
        """CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt, negative_prompt ON images BEGIN
            INSERT INTO images_fts (images_fts, rowid, prompt, negative_prompt)
            VALUES ('delete', OLD.seq, OLD.prompt, OLD.negative_prompt);
            INSERT INTO images_fts (rowid, prompt, negative_prompt) VALUES (NEW.seq, NEW.prompt, NEW.negative_prompt);
        END""",
    )
