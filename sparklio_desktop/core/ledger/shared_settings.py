"""Settings the whole team shares, in the ledger's database: the ``shared_settings`` table.

In team mode (issue 16) every install of a studio opens one database; a setting that must
be the same for all of them (the monthly budget, its alert threshold, the at-cap rule)
lives there rather than in each install's settings.json, so ``sparklio config set
budget.monthly_usd 300`` on one machine is what every machine enforces. The table is
created by the Alembic revision 0002 (core/ledger/alembic/versions/), on SQLite and
PostgreSQL alike; each row is a setting key, its value as text (as ``config set`` took it,
after validation), when and by which member it was last set.

The SQL is SQLAlchemy Core over ``schema.shared_settings``, so it runs on both backends;
the upsert is ``INSERT ... ON CONFLICT (key) DO UPDATE``, which both speak. The budget
guard reads through the store it already holds (:func:`read_values`); ``sparklio config``
opens :class:`SharedSettingsStore` over the team database.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.money import utc_iso, utcnow
from sparklio_desktop.core.ledger.schema import shared_settings

__all__ = ["SharedSettingsStore", "read_from", "read_values", "remove_value", "write_value"]


def read_values(conn: Connection, keys: Iterable[str] | None = None) -> dict[str, str]:
    """The shared settings (only ``keys``, when given): key -> value text."""
    query = select(shared_settings.c.key, shared_settings.c.value)
    if keys is not None:
        query = query.where(shared_settings.c.key.in_(list(keys)))
    return {str(key): str(value) for key, value in conn.execute(query)}


def read_from(store: LedgerFileStore, keys: Iterable[str] | None = None) -> dict[str, str]:
    """:func:`read_values` in a read transaction of ``store`` (any store over the ledger: the
    budget guard reads through the ledger store it already holds, with no second engine)."""
    with store._read() as conn:
        return read_values(conn, keys)


def write_value(conn: Connection, key: str, value: str, member: str | None, now: datetime | None = None) -> None:
    """Set ``key`` to ``value`` for the whole team (insert or replace), naming who set it."""
    row = {"key": key, "value": value, "updated_utc": utc_iso(now or utcnow()), "updated_by": member}
    insert: Any = sqlite_insert
    if conn.dialect.name == "postgresql":  # imported here: a file's ledger never loads the dialect
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        insert = pg_insert
    statement = insert(shared_settings).values(**row)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[shared_settings.c.key],
            set_={name: statement.excluded[name] for name in ("value", "updated_utc", "updated_by")},
        )
    )


def remove_value(conn: Connection, key: str) -> bool:
    """Remove ``key`` (each install's own setting applies again); whether it was there."""
    return conn.execute(delete(shared_settings).where(shared_settings.c.key == key)).rowcount > 0


class SharedSettingsStore(LedgerFileStore):
    """The shared settings of the ledger database it is opened on (``SharedSettingsStore.open``)."""

    def values(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        with self._read() as conn:
            return read_values(conn, keys)

    def set(self, key: str, value: str, member: str | None) -> None:
        with self._write() as conn:
            write_value(conn, key, value, member)

    def remove(self, key: str) -> bool:
        with self._write() as conn:
            return remove_value(conn, key)
