"""Where a conversation test opens its store, once per backend (docs/conversations.md).

``conversations_target`` is a ``conversations.sqlite`` path in the test's folder, then a
fresh database on the session's real PostgreSQL (tests/postgres_server.py): the same
tests run on both. :func:`raw_execute` lets a test change rows behind the store's back
(an id collision, a count) on either backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.conversations import ConversationStore

__all__ = ["conversations_target", "raw_execute"]


@pytest.fixture(params=["sqlite", "postgresql"])
def conversations_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "sqlite":
        yield tmp_path / "conversations.sqlite"
    else:
        yield request.getfixturevalue("pg_database_url")


def raw_execute(store: ConversationStore, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (``?`` placeholders) on the store's database in its own transaction; its rows."""
    if isinstance(store.target, Path):
        conn = sqlite3.connect(store.target)
        try:
            cursor = conn.execute(sql, tuple(params))
            rows = cursor.fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    engine = store._engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        result = conn.exec_driver_sql(sql.replace("?", "%s"), tuple(params))
        return [tuple(row) for row in result.fetchall()] if result.returns_rows else []
