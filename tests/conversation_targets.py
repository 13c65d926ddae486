"""Where a conversation test opens its store, once per backend (docs/conversations.md).

``conversations_target`` is a ``conversations.sqlite`` path in the test's folder, then a
fresh database on the session's real PostgreSQL (tests/postgres_server.py): the same
tests run on both. ``conversations_home`` is the data folder's file, or a team database
set in the environment (so ``open_default`` and CLI subprocesses find it).
:func:`raw_execute` lets a test change rows behind the store's back on either backend.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.conversations import ConversationStore

__all__ = ["conversations_home", "conversations_target", "raw_execute"]


@pytest.fixture(params=["sqlite", "postgresql"])
def conversations_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "sqlite":
        yield tmp_path / "conversations.sqlite"
    else:
        yield request.getfixturevalue("pg_database_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def conversations_home(
    request: pytest.FixtureRequest, sparklio_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path | str]:
    """Where the app and the CLI (``open_default``, subprocesses too) keep conversations,
    once per backend: the data folder's file, then a team database named by
    ``$SPARKLIO_DATABASE_URL`` (the ledger goes there too, as in team mode)."""
    if request.param == "sqlite":
        yield sparklio_home / "conversations.sqlite"
    else:
        url = request.getfixturevalue("pg_database_url")
        monkeypatch.setenv("SPARKLIO_DATABASE_URL", url)
        yield url


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
    from sparklio_desktop.core.ledger.engine import create_postgres_engine

    engine = create_postgres_engine(str(store.reopen_target))
    try:
        with engine.begin() as conn:
            result = conn.exec_driver_sql(sql.replace("?", "%s"), tuple(params))
            return [tuple(row) for row in result.fetchall()] if result.returns_rows else []
    finally:
        engine.dispose()
