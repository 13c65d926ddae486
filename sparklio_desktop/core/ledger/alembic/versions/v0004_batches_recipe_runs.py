"""Batches and recipe runs on a team's PostgreSQL (issue 16, team mode).

In team mode the batch store (core/batches/store.py) and the recipe runs' records
(core/recipes/run_state.py) keep their tables in the team database, beside the ledger, so
any install of a member sees and resumes that member's batches and runs. The tables are
the batches file's (core/batches/schema.py, m001..m003) with PostgreSQL's types (money
BIGINT picodollars, times ISO-8601 UTC text as in the file, a provider job's Unix time
DOUBLE PRECISION), each batch naming its member; ``recipe_runs`` holds a run's record
(the JSON its ``state.json`` holds on a file) with its member, the host that last wrote
it, and the claim of the process sending its steps (PID, start token, host).

On SQLite this revision does nothing: batches stay in ``batches.sqlite`` (with its own
plain migrations) and runs in ``recipe-runs/<id>/state.json``, as before. It uses no
table of another revision after the baseline, so it may follow any of them.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TABLES = (
    """CREATE TABLE batches (
        id TEXT PRIMARY KEY,
        member TEXT NOT NULL,
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
        owner_host TEXT,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX ix_batches_member_created ON batches (member, created_at DESC)",
    """CREATE TABLE batch_rows (
        batch_id TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
        row_index INTEGER NOT NULL CHECK (row_index >= 1),
        prompt TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
        request_id TEXT,
        model TEXT,
        output TEXT,
        cost_usd BIGINT CHECK (cost_usd >= 0),
        error TEXT,
        finished_at TEXT,
        job_id TEXT,
        PRIMARY KEY (batch_id, row_index)
    )""",
    "CREATE INDEX ix_batch_rows_status ON batch_rows (batch_id, status)",
    "CREATE INDEX ix_batch_rows_job ON batch_rows (job_id) WHERE job_id IS NOT NULL",
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
        created_at DOUBLE PRECISION NOT NULL,
        checked_at TEXT,
        settled_at TEXT
    )""",
    "CREATE INDEX ix_provider_jobs_batch ON provider_jobs (batch_id, state)",
    """CREATE TABLE recipe_runs (
        run_id TEXT PRIMARY KEY,
        member TEXT NOT NULL,
        host TEXT NOT NULL,
        state_json TEXT NOT NULL,
        status TEXT NOT NULL,
        updated_utc TEXT NOT NULL,
        owner_pid INTEGER,
        owner_start TEXT,
        owner_host TEXT
    )""",
    "CREATE INDEX ix_recipe_runs_member ON recipe_runs (member, status, updated_utc DESC)",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # a file: batches.sqlite and recipe-runs/ keep them, as before
    for statement in _TABLES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in ("recipe_runs", "provider_jobs", "batch_rows", "batches"):
        op.execute(f"DROP TABLE {table}")
