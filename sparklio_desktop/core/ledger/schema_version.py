"""Which schema a ledger holds, read with plain SQL: no SQLAlchemy, no Alembic.

The ledger's schema is this build's when Alembic's ``alembic_version`` names the head
revision (and, on SQLite, ``_migrations`` lists every legacy step, which the baseline
revision runs). Every start asks that question, and so does the read-only reader
(reader.py): the answer must cost one or two queries and no import of Alembic (about as
long as SQLAlchemy's, which ``sparklio route`` and the window's launch must not pay), so the revisions this build
knows are written here as constants; a test checks them against the revision files in
core/ledger/alembic/versions/.

A file (or a team database) that names a revision or a legacy step this build does not
know was written by a newer Sparklio: :class:`NewerSchema`, which each caller turns into
its one-line error (``newer_detail``'s words, as for every Sparklio file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, newer_detail

__all__ = [
    "BASELINE_REVISION", "HEAD_REVISION", "REVISIONS", "SCHEMA_VERSION", "NewerSchema", "SchemaState", "read_state",
]  # fmt: skip

# The ledger's Alembic revisions, oldest first (core/ledger/alembic/versions/).
REVISIONS = ("0001", "0002", "0003", "0004", "0005")
BASELINE_REVISION = REVISIONS[0]  # the legacy chain m001..m008 (SQLite) / the baseline schema (PostgreSQL)
HEAD_REVISION = REVISIONS[-1]
# The schema's number for the name of the copy taken before an upgrade
# (``<file>.before-v<N>.bak``, upgrade_backup.py): the legacy steps, then one per revision
# after the baseline (the baseline is the legacy steps).
SCHEMA_VERSION = len(LEDGER_MIGRATIONS.names) + len(REVISIONS) - 1

Query = Callable[[str], Iterable[Sequence[Any]]]

_TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table'",
    "postgresql": "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()",
}


class NewerSchema(Exception):
    """The ledger names revisions or legacy steps this build lacks: a newer Sparklio wrote it."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        self.detail = newer_detail(unknown)
        super().__init__(self.detail)


@dataclass(frozen=True)
class SchemaState:
    """What a ledger holds: any table at all (a copy is worth keeping), and whether its
    schema is this build's head (nothing to upgrade)."""

    has_tables: bool
    current: bool
    revision: str | None = None  # the Alembic revision recorded (None: before the baseline)

    @property
    def pending_revisions(self) -> int:
        """How many revisions an upgrade to the head runs."""
        done = REVISIONS.index(self.revision) + 1 if self.revision in REVISIONS else 0
        return len(REVISIONS) - done


def read_state(query: Query, dialect: str = "sqlite") -> SchemaState:
    """The state of the ledger that ``query`` (SQL text -> rows) reads; ``dialect`` is
    ``"sqlite"`` or ``"postgresql"``. Raises :class:`NewerSchema` for a newer ledger.

    ``query`` may be ``sqlite3.Connection.execute`` or a SQLAlchemy connection's
    ``exec_driver_sql``: the SQL is plain and takes no parameters."""
    tables = {str(row[0]) for row in query(_TABLES_SQL[dialect])}
    revisions = (
        {str(row[0]) for row in query("SELECT version_num FROM alembic_version")}
        if ("alembic_version" in tables)
        else set()
    )
    legacy = {str(row[0]) for row in query("SELECT name FROM _migrations")} if "_migrations" in tables else set()
    unknown = sorted(revisions - set(REVISIONS)) + sorted(legacy - set(LEDGER_MIGRATIONS.names))
    if unknown:
        raise NewerSchema(unknown)
    legacy_done = dialect != "sqlite" or set(LEDGER_MIGRATIONS.names) <= legacy
    revision = max(revisions, key=REVISIONS.index) if revisions else None
    return SchemaState(bool(tables), revisions == {HEAD_REVISION} and legacy_done, revision)
