"""First run: what the guide detects (keys, keyring, Ollama, GPU, the model to pull) and
session-only keys on a machine without a keyring (they route and dispatch, and are
never written: not settings.json, not keys.json, not the ledger, not the keyring)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import keyring
import pytest
from keyring.backends import fail

from sparklio_desktop.core.errors import KeyringUnavailable, SparklioError
from sparklio_desktop.core.local.vram import Fit, GpuMemory
from sparklio_desktop.core.onboarding import OLLAMA_DOWNLOAD_URL, detect, needs_onboarding, start_ollama
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live import probe_machine
from sparklio_desktop.core.settings import key_index
from sparklio_desktop.core.settings.config import Settings, load_settings, set_setting
from sparklio_desktop.core.settings.secrets import SERVICE, KeyStore, clear_session_keys, keyring_help
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.openai_server import OpenAIServer

SESSION_KEY = "sk-session-only-0123456789abcdef"
BIG_GPU = GpuMemory(total_gb=24.0, free_gb=20.0, source="nvml", name="Simulated 24 GB")


@pytest.fixture(autouse=True)
def _no_session_keys():
    clear_session_keys()
    yield
    clear_session_keys()


@pytest.fixture
def no_ollama_program(tmp_path, monkeypatch):
    """No `ollama` on PATH, so "not installed" does not depend on the machine."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("LOCALAPPDATA", raising=False)


def test_nothing_configured_says_what_to_do(catalog, no_keyring_backend, no_ollama_program):
    found = detect(Settings(), catalog, KeyStore(), gpu=BIG_GPU)
    assert [k.source for k in found.keys] == [None, None, None]
    assert not found.ollama.reachable and not found.ollama.installed_app
    assert found.ollama.install_url == OLLAMA_DOWNLOAD_URL == "https://ollama.com/download"
    assert "not installed" in found.ollama.words
    assert not found.keyring_available and "session only" in found.keyring_help
    assert not found.configured and needs_onboarding(Settings(), found)
    assert found.next_step() == "Add an API key for a cloud model, or install Ollama for free local models."
    assert found.monthly_budget_usd == "50"
    # the recommendation is the best catalog model that fits 20 GB free, not yet installed
    rec = found.recommended
    assert rec is not None and rec.verdict is Fit.FITS and not rec.installed
    assert rec.model_id == "ollama/llama3.2" and rec.tag == "llama3.2:3b" and "20.0 GB free" in rec.why


def test_ollama_on_loopback_with_the_recommended_model_installed(catalog, monkeypatch, no_keyring_backend):
    with OllamaServer(installed=["llama3.2:latest", "nomic-embed-text:latest"]) as server:
        found = detect(Settings(), catalog, KeyStore(), ollama_host=server.base_url, gpu=BIG_GPU)
    assert found.ollama.reachable and found.ollama.version == "0.12.6" and found.ollama.installed_app
    assert found.ollama.models == ("llama3.2:latest", "nomic-embed-text:latest")
    assert "2 models installed" in found.ollama.words
    assert found.recommended is not None and found.recommended.installed
    assert found.local_model_ready and found.configured  # no key needed: a local model answers
    assert not needs_onboarding(Settings(), found)


def test_running_ollama_without_the_model_offers_to_pull_it(catalog, no_keyring_backend):
    with OllamaServer(installed=[]) as server:
        found = detect(Settings(), catalog, KeyStore(), ollama_host=server.base_url, gpu=BIG_GPU)
    assert found.ollama.reachable and found.ollama.models == ()
    assert found.recommended is not None and not found.recommended.installed
    assert found.next_step().startswith("Pull Llama 3.2")


def test_the_recommendation_follows_the_free_gpu_memory(catalog, no_keyring_backend):
    small = GpuMemory(total_gb=8.0, free_gb=3.5, source="nvml", name="Busy 8 GB")
    tight = detect(Settings(), catalog, KeyStore(), gpu=small)
    assert tight.recommended is None  # 3.5 GB free less the 1 GB reserve: not even the 3 GB model
    assert tight.gpu.words == "Busy 8 GB: 3.5 GB free of 8.0 GB."
    unknown = detect(Settings(), catalog, KeyStore(), gpu=GpuMemory(12.0, None, "configured"))
    assert not unknown.gpu.detected and "gpu.vram_gb" in unknown.gpu.words
    assert unknown.recommended is not None and "processor" in unknown.recommended.why


def test_environment_keys_are_found_by_name_never_by_value(catalog, monkeypatch, no_keyring_backend):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-0123456789abcdef")
    found = detect(Settings(), catalog, KeyStore(), gpu=BIG_GPU)
    assert {k.provider: k.source for k in found.keys}["openai"] == "env:OPENAI_API_KEY"
    assert found.keyed_providers == ("openai",) and found.configured
    assert "sk-env" not in repr(found)


@pytest.mark.keyring
def test_keyring_keys_on_the_real_secret_service(catalog, secret_service):
    store = KeyStore()
    store.set_session_key("anthropic", SESSION_KEY)
    store.set("anthropic", "sk-ant-keyring-0123456789abcdef")  # a stored key replaces the session's
    try:
        assert store.get("anthropic") == "sk-ant-keyring-0123456789abcdef" and store.session_providers() == []
        found = detect(Settings(), catalog, KeyStore(), gpu=BIG_GPU)
        assert found.keyring_available and found.keyring_help == ""
        assert {k.provider: k.source for k in found.keys}["anthropic"] == "keyring"
        assert not needs_onboarding(Settings(), found)
    finally:
        store.delete("anthropic")


def test_onboarding_done_is_a_setting_and_wins(catalog, no_keyring_backend, no_ollama_program):
    found = detect(Settings(), catalog, KeyStore(), gpu=BIG_GPU)
    assert needs_onboarding(load_settings(), found) and needs_onboarding(load_settings())
    set_setting("ui.onboarding_done", "true")
    assert load_settings().ui.onboarding_done is True
    assert not needs_onboarding(load_settings(), found)


def test_keyring_help_is_plain_words_for_each_os():
    for platform, word in (("linux", "GNOME Keyring"), ("darwin", "Keychain"), ("win32", "Credential Manager")):
        text = keyring_help(platform)
        assert word in text and "this session only" in text and "`" not in text


def test_start_ollama_without_ollama_points_to_the_download(no_ollama_program):
    with pytest.raises(SparklioError, match="https://ollama.com/download"):
        start_ollama()


# -- session-only keys -------------------------------------------------------------------------


def test_session_key_when_the_keyring_is_unavailable(no_keyring_backend):
    store = KeyStore()
    with pytest.raises(KeyringUnavailable):
        store.set("openai", SESSION_KEY)
    assert not key_index.has_key_fast("openai")
    store.set_session_key("openai", f"  {SESSION_KEY}\n")
    assert store.get("openai") == SESSION_KEY and store.source("openai") == "session"
    assert KeyStore().get("openai") == SESSION_KEY  # every store of the process: the dispatcher's too
    assert store.has_key("openai") and key_index.has_key_fast("openai")
    assert [i.source for i in store.list() if i.provider == "openai"] == ["session"]
    assert SESSION_KEY not in repr(store)
    with pytest.raises(SparklioError, match="spaces"):
        store.set_session_key("openai", "two words")
    assert store.delete("openai") is True  # no keyring: forgetting the session key is all there is
    assert store.get("openai") is None and not key_index.has_key_fast("openai")


@pytest.mark.keyring
def test_session_key_routes_dispatches_and_is_never_written(
    tmp_path, fast_policy_core, sparklio_home, secret_service, monkeypatch
):
    """A store whose keyring fails (a locked or absent keyring) takes a session key: the
    planner counts it, the OpenAI fake receives it, and no file or keyring entry holds it."""
    from sparklio_desktop.core.dispatch import RunRequest
    from sparklio_desktop.core.routing.router import RouteRequest
    from sparklio_desktop.core.services import open_services

    store = KeyStore(backend=fail.Keyring())
    assert not store.available()
    workspace = Workspace(policy_path=fast_policy_core)
    assert Rule.NO_API_KEY == probe_machine(workspace).unavailable["openai/gpt-4"][0]
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.api_url)
        server.reply_text = "Answered with the session key."
        store.set_session_key("openai", SESSION_KEY)
        assert "openai/gpt-4" not in probe_machine(workspace).unavailable
        services = open_services(workspace, keys=store, ledger_path=tmp_path / "ledger.sqlite3")
        try:
            route = RouteRequest(task="brief_questions", prompt="Hello?", explore=False)
            decision = services.planner.plan(route)
            assert decision.chain and all(m.startswith("openai/") for m in decision.chain)

            async def go():
                try:
                    return await services.dispatcher.run(RunRequest(route=route))
                finally:
                    await services.dispatcher.aclose()

            result = asyncio.run(go())
        finally:
            services.close()
        assert result.ok and result.output == "Answered with the session key."
        sent = [r for r in server.requests if r.path.endswith("/chat/completions")]
        assert sent and sent[-1].headers.get("authorization") == f"Bearer {SESSION_KEY}"
        assert result.cost_usd is not None and result.cost_usd > Decimal(0)
    set_setting("budget.monthly_usd", "20")  # settings.json exists and is written
    written = [p for p in sparklio_home.rglob("*") if p.is_file()] + [tmp_path / "ledger.sqlite3"]
    assert any(p.name == "settings.json" for p in written)
    for path in written:
        assert SESSION_KEY.encode() not in path.read_bytes(), path
    assert not (sparklio_home / "keys.json").exists() or "openai" not in (sparklio_home / "keys.json").read_text()
    assert keyring.get_password(SERVICE, "openai") is None  # the real Secret Service holds nothing


@pytest.fixture
def fast_policy_core(tmp_path):
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    text = shipped_policy_path().read_text(encoding="utf-8").replace("backoff_s: [1, 2, 4]", "backoff_s: [0.01]")
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path
