"""Ordered, named migrations for the files Sparklio keeps with plain ``sqlite3``.

The ledger's :class:`~sparklio_desktop.core.ledger.migrations.MigrationSet` speaks
SQLAlchemy. The conversations and batches files use the driver directly (FTS5 virtual
tables and their triggers are simpler without an ORM, and their reads stay in
microseconds), with the same discipline: each migration is a function registered in
order, its name goes into ``_migrations`` once it has run, and opening the file runs the
pending ones inside the caller's ``BEGIN IMMEDIATE`` transaction, so two processes opening
a new file cannot both apply them and a crash half-way leaves the file as it was. One
runner for both files, so the rule is written once.

Rules for whoever adds the next one: append a new function, never edit or reorder one
that has shipped, write literal SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

__all__ = ["Migration", "PlainMigrations"]

Migration = Callable[[sqlite3.Connection], None]


class PlainMigrations:
    """The migrations of one plain-sqlite3 file, in the order they must run."""

    def __init__(self) -> None:
        self._steps: list[tuple[str, Migration]] = []

    def register(self, fn: Migration) -> Migration:
        if any(fn.__name__ == name for name, _ in self._steps):
            raise ValueError(f"migration {fn.__name__!r} is registered twice")
        self._steps.append((fn.__name__, fn))
        return fn

    def __iter__(self) -> Iterator[tuple[str, Migration]]:
        return iter(self._steps)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._steps]

    def apply_pending(self, conn: sqlite3.Connection, now_text: str) -> list[str]:
        """Run the migrations ``_migrations`` does not list, inside the caller's transaction."""
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_utc TEXT NOT NULL)")
        done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
        ran: list[str] = []
        for name, fn in self._steps:
            if name in done:
                continue
            fn(conn)
            conn.execute("INSERT INTO _migrations (name, applied_utc) VALUES (?, ?)", (name, now_text))
            ran.append(name)
        return ran
