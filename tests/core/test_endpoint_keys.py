"""A provider's key goes only to that provider's configured endpoint (issue 9, Keys).

Two loopback listeners per provider: the configured endpoint (the provider's base URL
setting) and a custom one named by a user catalog entry. The custom one must never see
the real key, whether the entry has a key of its own or none.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from keyring.backends import null

from sparklio_desktop.core.dispatch import Dispatcher, RunRequest
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live import build_live_state, custom_key_names
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.config import Settings
from sparklio_desktop.core.settings.key_index import entry_key_name, key_name_for
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer

REAL = {"openai": "sk-real-openai-0123456789abcdef", "anthropic": "sk-ant-real-0123456789abcdef"}
ENTRY = {"openai": "sk-proxy-openai-fedcba9876543210", "anthropic": "sk-ant-proxy-fedcba9876543210"}
ENV = {"openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL"), "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")}


def test_key_names():
    assert entry_key_name("openai/My Proxy.v2") == "entry-openai-my-proxy-v2"
    assert key_name_for("openai", "openai/x", None, None) == "openai"
    assert key_name_for("openai", "openai/x", "https://api.openai.com/v1", None) == "openai"  # default host
    assert key_name_for("openai", "openai/x", "http://127.0.0.1:5000/v1", "http://127.0.0.1:5000/v1") == "openai"
    assert (
        key_name_for("openai", "openai/x", "http://127.0.0.1:5001/v1", "http://127.0.0.1:5000/v1") == "entry-openai-x"
    )
    assert key_name_for("openai", "openai/x", "https://api.openai.com.evil.example/v1", None) == "entry-openai-x"
    assert key_name_for("openrouter", "openrouter/x", "https://openrouter.ai/api/v1", None) == "openrouter"


def _entry(provider: str, base_url: str) -> str:
    api = "gpt-4o" if provider == "openai" else "claude-3-5-sonnet-latest"
    return f"""\
  - id: {provider}/my-proxy
    name: My {provider} proxy
    provider: {provider}
    api_name: {api}
    base_url: "{base_url}"
    capabilities: [text]
    price: {{input_per_mtok: "1", output_per_mtok: "2", as_of: 2025-11-13, source: "test"}}
    context_tokens: 100000
    quality: 8
"""


def _auth(request, provider: str) -> str:
    """Every header a key can travel in (the Anthropic SDK uses x-api-key or a bearer token)."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    return " ".join(headers.get(name, "") for name in ("authorization", "x-api-key"))


def _run(workspace, ledger, model_id: str, settings: Settings):
    dispatcher = Dispatcher(workspace, ledger=ledger, keys=KeyStore(backend=null.Keyring()), settings=settings)
    request = RunRequest(
        route=RouteRequest(task="copywriting_standard", prompt="hi", explore=False), model=model_id, use_cache=False
    )

    async def go():
        try:
            return await dispatcher.run(request)
        finally:
            await dispatcher.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("entry_key", [True, False], ids=["entry-key", "no-entry-key"])
def test_the_real_key_never_reaches_a_custom_endpoint(provider, entry_key, sparklio_home, monkeypatch, tmp_path):
    fake = OpenAIServer if provider == "openai" else AnthropicServer
    with fake() as configured, fake() as custom:

        def url(server):
            return server.api_url if provider == "openai" else server.base_url

        key_var, url_var = ENV[provider]
        monkeypatch.setenv(key_var, REAL[provider])
        monkeypatch.setenv(url_var, url(configured))
        if entry_key:
            monkeypatch.setenv(f"SPARKLIO_KEY_{provider.upper()}_MY_PROXY", ENTRY[provider])
        (sparklio_home / "catalog.yaml").write_text("models:\n" + _entry(provider, url(custom)), encoding="utf-8")
        workspace = Workspace()
        ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
        try:
            settings = Settings()
            assert custom_key_names(workspace.catalog, settings) == {
                f"{provider}/my-proxy": f"entry-{provider}-my-proxy"
            }
            shipped = "openai/gpt-4" if provider == "openai" else "anthropic/claude-3-5-sonnet"
            assert _run(workspace, ledger, shipped, settings).ok
            proxied = _run(workspace, ledger, f"{provider}/my-proxy", settings)
        finally:
            ledger.close()
        seen_by_custom = [_auth(r, provider) or "" for r in custom.requests]
        assert all(REAL[provider] not in header for header in seen_by_custom)
        assert any(REAL[provider] in (_auth(r, provider) or "") for r in configured.requests)  # it does go there
        if entry_key:
            assert proxied.ok and seen_by_custom and all(ENTRY[provider] in h for h in seen_by_custom)
        else:
            assert not proxied.ok and not custom.requests  # refused before any call
            assert f"sparklio keys set entry-{provider}-my-proxy" in proxied.error


def test_routing_wants_the_entry_key_not_the_providers(sparklio_home):
    (sparklio_home / "catalog.yaml").write_text(
        "models:\n" + _entry("openai", "http://127.0.0.1:9/v1"), encoding="utf-8"
    )
    workspace = Workspace()
    names = custom_key_names(workspace.catalog, Settings())
    live = build_live_state(workspace.catalog, {"openai": True}, None, False, key_names=names)
    assert live.unavailable["openai/my-proxy"] == (
        Rule.NO_API_KEY,
        "set one with `sparklio keys set entry-openai-my-proxy`",
    )
    assert "openai/gpt-4" not in live.unavailable
    live = build_live_state(
        workspace.catalog, {"openai": True, "entry-openai-my-proxy": True}, None, False, key_names=names
    )
    assert "openai/my-proxy" not in live.unavailable


def test_catalog_shows_which_key_each_custom_endpoint_uses(sparklio_home):
    (sparklio_home / "catalog.yaml").write_text(
        "models:\n" + _entry("anthropic", "http://127.0.0.1:9"), encoding="utf-8"
    )
    out = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "catalog"], capture_output=True, text=True, check=True
    ).stdout
    assert "custom endpoints and the key each one uses" in out
    line = next(li for li in out.splitlines() if li.startswith("anthropic/my-proxy") and "127.0.0.1" in li)
    assert "entry-anthropic-my-proxy (keyring) or $SPARKLIO_KEY_ANTHROPIC_MY_PROXY" in line
    data = json.loads(
        subprocess.run(
            [sys.executable, "-m", "sparklio_desktop", "catalog", "--json"], capture_output=True, text=True, check=True
        ).stdout
    )
    keys = {m["id"]: m["key"] for m in data}
    assert keys["anthropic/my-proxy"].startswith("entry-anthropic-my-proxy")
    assert keys["anthropic/claude-3-5-sonnet"] == "anthropic (keyring) or $ANTHROPIC_API_KEY"
