"""Shared fixtures: every test gets its own data directory and no real API keys.

Following simonw/llm, an autouse fixture points the app's data directory at a temporary
folder, so no test reads or writes the user's files. Provider keys and hosts are scrubbed
twice: from this process's environment when pytest loads this file (so session fixtures
and every subprocess a test starts with ``dict(os.environ)`` see none), and again before
each test by an autouse fixture of its own name, which a folder's conftest does not
replace by overriding ``sparklio_home``. A developer's own key must never reach a test:
a run that fell back to a cloud model (``sparklio run``'s image fallback is DALL-E 3)
would be paid for. ``tests/test_environment.py`` guards this.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from tests.batch_backends import batches_target, team_mode  # noqa: F401
from tests.environment import UNREACHABLE_OLLAMA, provider_variables
from tests.keyring_service import bus_without_secret_service, no_keyring_backend, secret_service  # noqa: F401
from tests.postgres_server import ledger_target, pg_database_url, postgres_server, postgres_url  # noqa: F401
from tests.redis_server import own_redis_server, redis_server, redis_session_server  # noqa: F401

for _name in provider_variables():
    del os.environ[_name]
os.environ["OLLAMA_HOST"] = UNREACHABLE_OLLAMA
os.environ.pop("SPARKLIO_CACHE_URL", None)  # a developer's team Redis: never in a test
os.environ.pop("SPARKLIO_DATABASE_URL", None)  # a developer's team PostgreSQL: never in a test


@pytest.fixture(autouse=True)
def scrubbed_provider_environment(monkeypatch):
    """No provider key or host from outside the test; what a test sets, monkeypatch undoes."""
    for name in provider_variables():
        monkeypatch.delenv(name)
    monkeypatch.setenv("OLLAMA_HOST", UNREACHABLE_OLLAMA)
    monkeypatch.delenv("SPARKLIO_CACHE_URL", raising=False)  # the SQLite cache unless a test sets one
    monkeypatch.delenv("SPARKLIO_DATABASE_URL", raising=False)  # the SQLite ledger unless a test sets one
    monkeypatch.setenv("SPARKLIO_BACKGROUND_REFRESH", "0")  # the app's daily catalog refresh: never in tests
    monkeypatch.delenv("SPARKLIO_MEMBER", raising=False)  # a developer's team member name: never in tests


@pytest.fixture(autouse=True)
def sparklio_home(tmp_path, monkeypatch):
    home = tmp_path / "sparklio-home"
    home.mkdir()
    monkeypatch.setenv("SPARKLIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def catalog():
    from sparklio_desktop.core.policy.catalog import load_catalog
    from sparklio_desktop.core.settings.paths import shipped_catalog_path

    return load_catalog(shipped_catalog_path(), user="/nonexistent/catalog.yaml")


@pytest.fixture(scope="session")
def raw_policy(catalog):
    """The shipped policy as written: its chains and tiers name families (family/...)."""
    from sparklio_desktop.core.policy.routing_policy import load_policy
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    return load_policy(shipped_policy_path(), catalog)


@pytest.fixture(scope="session")
def policy(catalog, raw_policy):
    """The shipped policy with its families resolved on the shipped catalog: the seed's ids
    (each family's one member there), as the router sees it."""
    from sparklio_desktop.core.policy.families import catalog_usable, resolve_policy

    return resolve_policy(raw_policy, catalog, catalog_usable(catalog), live=False).policy
