"""``sparklio catalog`` and ``sparklio catalog refresh`` through the real entry point, against
loopback OpenAI, Anthropic, Gemini and Ollama servers (keys and hosts from environment
variables, as a creator sets them).

The fakes list a lineup unlike the shipped catalog's: new members of known families
(GPT-4o, Claude Sonnet 4.5, Gemini 2.5 Flash, a second Qwen 2.5 tag), models of no
family (Claude 3.5 Haiku, LLaVA), and none of the seed's retired models.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.gemini_server import GeminiServer
from tests.fakes.loopback import Fault
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.openai_server import OpenAIServer

OPENAI_KEY = "sk-refresh-test-0123456789abcdefghij"
ANTHROPIC_KEY = "sk-ant-refresh-test-0123456789abcdef"
GEMINI_KEY = "AIzaRefreshTest0123456789abcdefghijk"
KEYS = (OPENAI_KEY, ANTHROPIC_KEY, GEMINI_KEY)

ADDED = {
    "openai/gpt-4o",  # family gpt-4
    "openai/gpt-4o-mini",  # gpt-mini
    "anthropic/claude-sonnet-4-5-20250929",  # claude-sonnet
    "google/gemini-2.5-flash",  # gemini-flash
    "google/gemini-embedding-001",  # gemini-embedding (lists embedContent)
    "ollama/qwen2.5:14b",  # qwen2.5: the shipped entry runs as qwen2.5:7b, also installed
}
RETIRED = {
    "openai/gpt-4-turbo",
    "openai/gpt-4v",  # GPT-4 Turbo with images: the same api_name
    "openai/gpt-4",
    "openai/gpt-3.5-turbo",
    "openai/text-embedding-3-large",
    "anthropic/claude-3-5-sonnet",  # claude-3-opus-latest stays: listed
    "google/gemini-2.0-pro",
    "google/gemini-2.0-vision",
    "google/gemini-2.0-flash",
    "google/gemini-embedding",
}


def sparklio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=120,
    )


@pytest.fixture
def providers():
    with (
        OpenAIServer() as openai,
        AnthropicServer() as anthropic,
        GeminiServer() as gemini,
        OllamaServer(installed=["llama3.2:latest", "qwen2.5:7b", "qwen2.5:14b", "llava:latest"]) as ollama,
    ):
        openai.model_fields = {"gpt-4o": {"created": 1715367049}}  # 2024-05-10
        anthropic.models = ["claude-sonnet-4-5-20250929", "claude-3-opus-latest", "claude-3-5-haiku-20241022"]
        anthropic.model_fields = {
            "claude-sonnet-4-5-20250929": {"display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}
        }
        env = {
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": openai.api_url,
            "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
            "ANTHROPIC_BASE_URL": anthropic.base_url,
            "GEMINI_API_KEY": GEMINI_KEY,
            "GOOGLE_GEMINI_BASE_URL": gemini.base_url,
            "OLLAMA_HOST": ollama.base_url,
        }
        yield env, openai, anthropic, gemini, ollama


def _no_keys(*texts: str) -> None:
    for text in texts:
        for key in KEYS:
            assert key not in text


@pytest.mark.timeout(300)
def test_refresh_adds_family_members_retires_vanished_models_and_lists_them(providers, sparklio_home: Path):
    env, openai, anthropic, _, _ = providers
    result = sparklio("catalog", "refresh", "--json", env=env)
    assert result.returncode == 0, result.stderr
    _no_keys(result.stdout, result.stderr)
    report = json.loads(result.stdout)
    assert list(report) == ["added", "retired", "repriced", "unpriced"]
    assert set(report["added"]) == ADDED
    assert set(report["retired"]) == RETIRED
    assert report["repriced"] == []
    # genai-prices knows GPT-4o and Gemini 2.5 Flash; Sonnet 4.5's prices are tiered (not read yet)
    # and the local model has its own $0: only the tiered one is unpriced.
    assert "openai/gpt-4o" not in report["unpriced"] and "ollama/qwen2.5:14b" not in report["unpriced"]
    assert set(report["unpriced"]) <= ADDED

    user = yaml.safe_load((sparklio_home / "catalog.yaml").read_text(encoding="utf-8"))
    entries = {m["id"]: m for m in user["models"]}
    gpt4o = entries["openai/gpt-4o"]
    assert gpt4o["family"] == "gpt-4" and gpt4o["price"] == "genai-prices" and gpt4o["released"] == "2024-05-10"
    assert "quality" not in gpt4o and "speed" not in gpt4o  # inherited from the family
    assert entries["google/gemini-2.5-flash"]["context_tokens"] == 1048576  # the list's figure
    assert entries["anthropic/claude-sonnet-4-5-20250929"]["name"] == "Claude Sonnet 4.5"
    assert {r["id"] for r in user["retired"]} == RETIRED
    state = json.loads((sparklio_home / "catalog-refresh.json").read_text(encoding="utf-8"))
    assert "claude-3-5-haiku-20241022" in state["providers"]["anthropic"]["listed"]
    _no_keys(json.dumps(state), (sparklio_home / "catalog.yaml").read_text(encoding="utf-8"))

    listed = json.loads(sparklio("catalog", "--json", env=env).stdout)
    ids = {m["id"] for m in listed}
    assert ADDED <= ids and not (RETIRED & ids)  # retired models hidden by default
    gpt4o_row = next(m for m in listed if m["id"] == "openai/gpt-4o")
    assert gpt4o_row["price_source"].startswith("genai-prices") and gpt4o_row["price_summary"] == "$2.50/$10.00 per 1M"
    assert gpt4o_row["quality"] == 9.0  # the GPT-4 family's
    everything = json.loads(sparklio("catalog", "--json", "--all", env=env).stdout)
    turbo = next(m for m in everything if m["id"] == "openai/gpt-4-turbo")
    assert turbo["retired"] is True and turbo["retired_since"] and "model list" in turbo["retired_reason"]
    sonnets = json.loads(sparklio("catalog", "--json", "--all", "--family", "claude-sonnet", env=env).stdout)
    assert [m["id"] for m in sonnets] == ["anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-3-5-sonnet"]
    flash = next(m for m in everything if m["id"] == "google/gemini-2.0-flash")
    assert flash["price_summary"] == "$0.075/$0.30 per 1M" and flash["list_price"] == "$0.10/$0.40 per 1M"
    text = sparklio("catalog", "--all", env=env)
    assert text.returncode == 0 and "retired 20" in text.stdout and "Claude Sonnet" in text.stdout

    # Nothing new: nothing changes. Then a retired model is listed again and comes back.
    again = sparklio("catalog", "refresh", "--json", env=env)
    assert json.loads(again.stdout) == {"added": [], "retired": [], "repriced": [], "unpriced": []}, again.stderr
    openai.models = [*openai.models, "gpt-4-turbo"]
    anthropic.models = ["claude-3-opus-latest"]  # Sonnet 4.5 (added by the refresh) vanishes
    human = sparklio("catalog", "refresh", env=env)
    assert human.returncode == 0, human.stderr
    assert "back in the list" in human.stdout and "openai/gpt-4-turbo" in human.stdout
    assert "anthropic/claude-sonnet-4-5-20250929" in human.stdout.split("retired:")[1]
    retired = {r["id"] for r in yaml.safe_load((sparklio_home / "catalog.yaml").read_text())["retired"]}
    assert "openai/gpt-4-turbo" not in retired and "openai/gpt-4v" not in retired
    assert "anthropic/claude-sonnet-4-5-20250929" in retired


@pytest.mark.timeout(300)
def test_one_provider_failing_spoils_nothing_for_the_others(providers, sparklio_home: Path):
    env, _, anthropic, gemini, _ = providers
    anthropic.script(Fault(status=401, message=f"invalid x-api-key {ANTHROPIC_KEY}"))
    gemini.script(Fault(status=503, message="The service is currently unavailable."))
    result = sparklio("catalog", "refresh", "--json", env=env)
    assert result.returncode == 1  # a provider failed: said on standard error, the rest is done
    _no_keys(result.stdout, result.stderr)
    assert "sparklio: warning: anthropic: the key was refused (HTTP 401)" in result.stderr
    assert "sparklio: warning: google: HTTP 503" in result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert {"openai/gpt-4o", "ollama/qwen2.5:14b"} <= set(report["added"])
    # No list, no conclusions: nothing of Anthropic's or Google's is added or retired.
    assert not any(i.startswith(("anthropic/", "google/")) for i in report["added"] + report["retired"])


def test_refresh_without_keys_or_ollama_changes_nothing_and_says_so(sparklio_home: Path):
    result = sparklio("catalog", "refresh", "--update-prices")
    assert result.returncode == 0, result.stderr
    assert "openai: skipped: no key" in result.stdout and "ollama: skipped: not reachable" in result.stdout
    assert "sparklio: prices: " in result.stderr  # updated, not available, or no network: one clear line
    assert "no changes" in result.stdout
    assert not (sparklio_home / "catalog.yaml").exists()


def test_unknown_family_is_a_usage_error_listing_the_families():
    result = sparklio("catalog", "--family", "gpt-99")
    assert result.returncode == 2
    assert result.stderr.startswith("sparklio catalog: error: unknown family 'gpt-99'; valid: ")
    assert "claude-sonnet" in result.stderr and "Traceback" not in result.stderr
