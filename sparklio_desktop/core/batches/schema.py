"""The batches file's tables, as ordered, named migrations of literal SQL.

The discipline is the conversations store's, with the same runner
(core/ledger/plain_migrations.py), itself the ledger's: each migration is a function
registered in order, its name goes into ``_migrations`` once it has run, and opening the
store runs the pending ones inside one ``BEGIN IMMEDIATE`` transaction. Append new
migrations; never edit or reorder one that has shipped.

Shape (m001):

* ``batches``: one row per batch: what it runs (task, template, route options as JSON),
  where its rows came from and where its results go, its status and its concurrency;
  ``owner_pid``/``owner_start`` name the process running it (core/ledger/owners.py), so a
  second ``resume`` of a batch that is still running is refused.
* ``batch_rows``: one row per input row. ``status`` moves pending -> running -> done or
  failed; ``request_id`` is the dispatcher's, written as soon as the request is routed,
  so a resume can ask the ledger whether a row marked running was in fact answered.
  Money is INTEGER picodollars, as in the ledger; times are ISO-8601 UTC text.
"""

from __future__ import annotations

import sqlite3

from sparklio_desktop.core.ledger.plain_migrations import PlainMigrations

MIGRATIONS = PlainMigrations()
_register = MIGRATIONS.register


def apply_pending(conn: sqlite3.Connection, now_text: str) -> list[str]:
    """Run the migrations ``_migrations`` does not list, inside the caller's transaction."""
    return MIGRATIONS.apply_pending(conn, now_text)


@_register
def m001_batches(conn: sqlite3.Connection) -> None:
    """Batches and their rows."""
    for statement in (
        """CREATE TABLE batches (
            id TEXT PRIMARY KEY,
            created_at TEXT NOT NULL,
            task TEXT NOT NULL,
            template TEXT NOT NULL,
            options_json TEXT NOT NULL DEFAULT '{}',
            source_path TEXT NOT NULL,
            out_path TEXT,
            status TEXT NOT NULL CHECK (status IN ('running', 'paused', 'cancelled', 'done')),
            concurrency INTEGER NOT NULL CHECK (concurrency BETWEEN 1 AND 32),
            owner_pid INTEGER,
            owner_start TEXT,
            updated_at TEXT NOT NULL
        )""",
        "CREATE INDEX ix_batches_created ON batches (created_at DESC)",
        """CREATE TABLE batch_rows (
            batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
            row_index INTEGER NOT NULL CHECK (row_index >= 1),
            prompt TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
            request_id TEXT,
            model TEXT,
            output TEXT,
            cost_usd INTEGER CHECK (cost_usd >= 0),
            error TEXT,
            finished_at TEXT,
            PRIMARY KEY (batch_id, row_index)
        ) WITHOUT ROWID""",
        "CREATE INDEX ix_batch_rows_status ON batch_rows (batch_id, status)",
    ):
        conn.execute(statement)


@_register
def m002_provider_jobs(conn: sqlite3.Connection) -> None:
    """Rows sent in a provider's batch job (speed class ``batch``): the job, and each row's.

    ``provider_jobs.state``: ``submitting`` (held in the ledger, the provider call under
    way: a process killed here leaves a job that ``find`` looks for by its label),
    ``submitted`` (the provider has it; polled), ``cancelling`` (a cancel was sent; still
    polled, for the items answered before it), ``settled`` (results recorded). A row in a
    job is ``running`` with its ``job_id`` until the job is settled, so a resume polls
    the job instead of sending the row again. ``created_at`` is Unix time (a job is looked
    up by it at the provider).
    """
    for statement in (
        """CREATE TABLE provider_jobs (
            id TEXT PRIMARY KEY,
            batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            model_id TEXT NOT NULL,
            provider_job_id TEXT,
            state TEXT NOT NULL CHECK (state IN ('submitting', 'submitted', 'cancelling', 'settled')),
            total INTEGER NOT NULL CHECK (total >= 1),
            completed INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            detail TEXT,
            error TEXT,
            created_at REAL NOT NULL,
            checked_at TEXT,
            settled_at TEXT
        )""",
        "CREATE INDEX ix_provider_jobs_batch ON provider_jobs (batch_id, state)",
        "ALTER TABLE batch_rows ADD COLUMN job_id TEXT",
        "CREATE INDEX ix_batch_rows_job ON batch_rows (job_id) WHERE job_id IS NOT NULL",
    ):
        conn.execute(statement)


@_register
def m003_claim_host(conn: sqlite3.Connection) -> None:
    """The host of a claim, and the member a batch belongs to (issue 16, team mode).

    The team database's tables (core/ledger/alembic/versions/v0004_batches_recipe_runs.py)
    have both, and the store's statements are the same on either backend. On a file every
    claim is this machine's (a claim without a host was made before this step, here) and
    the member is recorded, never filtered by: the file is one install's.
    """
    for statement in (
        "ALTER TABLE batches ADD COLUMN owner_host TEXT",
        "ALTER TABLE batches ADD COLUMN member TEXT",
    ):
        conn.execute(statement)
