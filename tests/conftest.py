"""Shared fixtures: every test gets its own data directory and no real API keys.

Following simonw/llm, an autouse fixture points the app's data directory at a temporary
folder, so no test reads or writes the user's files, and provider key variables are
cleared so that a developer's own keys never leak into a test run.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from tests.keyring_service import bus_without_secret_service, no_keyring_backend, secret_service  # noqa: F401

KEY_VARIABLES = (
    "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
    "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GOOGLE_GEMINI_BASE_URL", "OLLAMA_HOST",
)


@pytest.fixture(autouse=True)
def sparklio_home(tmp_path, monkeypatch):
    home = tmp_path / "sparklio-home"
    home.mkdir()
    monkeypatch.setenv("SPARKLIO_HOME", str(home))
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # An unreachable Ollama by default: tests that need one start a loopback server.
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    return home


@pytest.fixture(scope="session")
def catalog():
    from sparklio_desktop.core.policy.catalog import load_catalog
    from sparklio_desktop.core.settings.paths import shipped_catalog_path

    return load_catalog(shipped_catalog_path(), user="/nonexistent/catalog.yaml")


@pytest.fixture(scope="session")
def policy(catalog):
    from sparklio_desktop.core.policy.routing_policy import load_policy
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    return load_policy(shipped_policy_path(), catalog)
