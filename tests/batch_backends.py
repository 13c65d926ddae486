"""Where the batch and recipe-run tests keep their records, once per backend.

``batches_target``: the batches file in the test's folder, then a fresh database on the
session's PostgreSQL (tests/postgres_server.py, a real server). ``runs_backend``: the same
two backends for recipe runs, which open their store from the team URL in force; the
PostgreSQL case sets ``$SPARKLIO_DATABASE_URL`` for the test (team mode for everything
the test opens: the ledger too). tests/conftest.py imports them for every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV

__all__ = ["batches_target", "team_mode"]


@pytest.fixture(params=["sqlite", "postgresql"])
def batches_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """What a batch store test opens: ``tmp_path/batches.sqlite``, then a team database's URL."""
    if request.param == "sqlite":
        yield tmp_path / "batches.sqlite"
    else:
        yield request.getfixturevalue("pg_database_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def team_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str | None]:
    """Run the test as an install on its own (None) and then in team mode (the database URL,
    set as ``$SPARKLIO_DATABASE_URL``, so every store the test opens uses it)."""
    if request.param == "sqlite":
        monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
        yield None
    else:
        url = request.getfixturevalue("pg_database_url")
        monkeypatch.setenv(DATABASE_URL_ENV, url)
        yield url
