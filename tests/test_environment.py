"""No provider key or host from the developer's environment is visible inside a test.

A key that leaked into a test would let a run reach a real, paid provider (``sparklio
run``'s image fallback is DALL-E 3); a host would point a loopback test at a real server.
The root conftest scrubs them; these tests fail if the scrubbing stops working, here or
(``tests/local/test_environment.py``) in a folder whose conftest replaces a root fixture.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sparklio_desktop.core.provider_table import ROWS as PROVIDERS
from sparklio_desktop.core.settings.config import Settings, effective_base_url
from sparklio_desktop.core.settings.key_index import default_env_var_names, entry_key_name, has_key_fast
from tests.environment import UNREACHABLE_OLLAMA, leaked_provider_variables, provider_variables

CHILD = "import json, os; print(json.dumps(dict(os.environ)))"


def assert_scrubbed() -> None:
    """What every test must see: no provider variable, Ollama at a port nothing listens on."""
    assert leaked_provider_variables() == []
    assert os.environ["OLLAMA_HOST"] == UNREACHABLE_OLLAMA
    for provider in PROVIDERS:
        assert not has_key_fast(provider), provider
        expected = UNREACHABLE_OLLAMA if provider == "ollama" else None
        assert effective_base_url(provider, Settings()) == expected, provider
    # A subprocess started with this process's environment sees none either.
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=dict(os.environ), capture_output=True, text=True, check=True, timeout=60
    )
    assert leaked_provider_variables(json.loads(done.stdout)) == []


def test_no_provider_key_or_host_is_visible_inside_a_test() -> None:
    assert_scrubbed()


def test_the_scrubbing_covers_every_key_variable_the_app_reads() -> None:
    names = [name for provider in PROVIDERS for name in default_env_var_names(provider)]
    names += default_env_var_names(entry_key_name("My Router"))
    assert {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"} <= set(names)
    assert provider_variables(dict.fromkeys(names, "x")) == sorted(set(names))


@pytest.mark.parametrize(
    "name",
    [
        "OPENAI_API_KEY",
        "GOOGLE_API_KEY",
        "SPARKLIO_KEY_MY_ROUTER",
        "OLLAMA_HOST",
        "ANTHROPIC_BASE_URL",
        "GOOGLE_GEMINI_BASE_URL",
        "OPENROUTER_API_KEY",
    ],
)
def test_the_guard_fails_when_a_variable_leaks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(name, "http://127.0.0.1:11434" if name == "OLLAMA_HOST" else "leaked-value")
    with pytest.raises(AssertionError):
        assert_scrubbed()
