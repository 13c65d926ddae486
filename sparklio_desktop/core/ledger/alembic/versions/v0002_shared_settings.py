"""Settings the whole team shares: ``shared_settings`` (the team budget, issue 16).

In team mode ``sparklio config set budget.monthly_usd`` (and the alert threshold, the
at-cap rule) writes here, and every install's budget guard reads it (core/shared_settings.py).
One row per setting key; ``value`` is the setting's text as ``config set`` took it,
``updated_utc`` ISO-8601 UTC text, ``updated_by`` the member who set it. Literal DDL,
valid on SQLite and PostgreSQL alike.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.execute(
        """CREATE TABLE shared_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_utc TEXT NOT NULL,
            updated_by TEXT
        )"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE shared_settings")
