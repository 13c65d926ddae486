"""Baseline: the ledger as the legacy chain (m001..m008) leaves it.

On SQLite the pending legacy steps run here, inside the upgrade's transaction, and are
recorded in ``_migrations`` as before: a file written by any earlier Sparklio upgrades in
place (a new file runs all of them). On PostgreSQL the same tables, indexes and triggers are
created at once by ``postgres_schema.create_baseline`` (a team database has no legacy steps
to replay).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS

        LEDGER_MIGRATIONS.run_pending(bind)
    else:
        # Imported by name, inside the function: the PostgreSQL schema module is only
        # needed (and only loaded) when a team database is created.
        postgres_schema = importlib.import_module("sparklio_desktop.core.ledger.postgres_schema")
        # A team database made before Alembic took over (it has the schema, not the
        # revision) is adopted as it is: the baseline is recorded, nothing is created twice.
        has_baseline = getattr(postgres_schema, "has_baseline", None)
        if has_baseline is None or not has_baseline(bind):
            postgres_schema.create_baseline(bind)


def downgrade() -> None:
    raise NotImplementedError("the ledger is never downgraded below its baseline")
