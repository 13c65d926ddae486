"""``sparklio run``, ``spend``, ``history``, ``show``, ``keys`` and ``config`` as scripts use them,
against loopback provider servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault

KEY = "sk-ant-cli-test-0123456789abcdef"


def sparklio(*args: str, env_extra: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        input=stdin,
        timeout=120,
    )


@pytest.fixture
def anthropic():
    with AnthropicServer() as server:
        server.reply_text = "Maple latte season starts today."
        server.usage = (100, 50)
        yield server


def env_for(server) -> dict:
    return {"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url}


def test_run_streams_and_records(anthropic):
    result = sparklio(
        "run", "--task", "copywriting_standard", "--prompt", "A caption", "--no-explore", env_extra=env_for(anthropic)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Maple latte season starts today."
    payload = json.loads(
        sparklio(
            "run",
            "--task",
            "copywriting_standard",
            "--prompt",
            "A caption",
            "--no-explore",
            "--json",
            env_extra=env_for(anthropic),
        ).stdout
    )
    assert payload["cache_hit"] is True and payload["cost_usd"] == "0"
    assert payload["model"] == "anthropic/claude-3-5-sonnet" and payload["exploration"] is False
    attempt = payload["attempts"][0]
    assert {
        "model",
        "outcome",
        "error",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "latency_s",
        "ttft_s",
        "waited_s",
    } <= set(attempt)

    spend = json.loads(sparklio("spend", "--json").stdout)
    assert Decimal(spend["spent_usd"]) == Decimal("0.00105")  # 100 x $3/1M + 50 x $15/1M
    assert spend["by_model"] == {"anthropic/claude-3-5-sonnet": "0.00105"}
    assert spend["cache_hits"] == 1 and Decimal(spend["saved_usd"]) == Decimal("0.00105")
    assert {"month", "budget_usd", "percent", "alert", "by_task", "fallback_rate"} <= set(spend)

    history = json.loads(sparklio("history", "--json").stdout)
    assert len(history) == 2
    shown = json.loads(sparklio("show", history[-1]["request_id"], "--json").stdout)
    assert shown["decision"]["chain"][0] == "anthropic/claude-3-5-sonnet"
    assert shown["attempts"][0]["outcome"] == "ok"
    text = sparklio("show", history[-1]["request_id"]).stdout
    assert "\nchain: Claude 3.5 Sonnet\n" in text and text.rstrip().endswith("Claude 3.5 Sonnet answered.")
    assert KEY not in json.dumps(shown) + json.dumps(history)


def test_run_exits_non_zero_with_the_reason(anthropic):
    anthropic.script(
        Fault(status=400, message="Request blocked by content policy.", error_type="invalid_request_error")
    )
    result = sparklio(
        "run",
        "--task",
        "copywriting_standard",
        "--prompt",
        "x",
        "--no-explore",
        "--no-cache",
        env_extra=env_for(anthropic),
    )
    assert result.returncode == 1
    assert "Request blocked by content policy." in result.stderr
    assert KEY not in result.stderr + result.stdout


def test_run_reads_standard_input_and_reports_no_fit(anthropic):
    result = sparklio(
        "run", "--task", "copywriting_standard", "--no-explore", stdin="From stdin", env_extra=env_for(anthropic)
    )
    assert result.returncode == 0 and "Maple latte" in result.stdout
    none = sparklio("run", "--task", "strategy_planning", "--prompt", "plan", "--no-explore")
    assert none.returncode == 1 and "No model fits" in none.stderr


def test_config_get_set_and_bad_values():
    assert sparklio("config", "set", "budget.at_cap", "stop").returncode == 0
    assert sparklio("config", "get", "budget.at_cap").stdout.strip() == "stop"
    bad = sparklio("config", "set", "budget.at_cap", "never")
    assert bad.returncode == 1 and "local_only, stop" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    secret = sparklio("config", "set", "providers.openai.api_key", "sk-abc")
    assert secret.returncode != 0 and "sparklio keys set" in secret.stderr


@pytest.mark.keyring
def test_keys_through_the_real_keyring(secret_service):
    stored = sparklio("keys", "set", "openai", stdin="sk-proj-cli-abcdefghijklmnop\n")
    assert stored.returncode == 0, stored.stderr
    listing = sparklio("keys", "list")
    assert "sk-…mnop" in listing.stdout and "keyring" in listing.stdout
    assert "abcdefghijkl" not in listing.stdout
    route = json.loads(sparklio("route", "--task", "code_generation", "--json", "--no-explore").stdout)
    assert route["chain"][0] == "openai/gpt-4"  # the stored key makes OpenAI available
    assert sparklio("keys", "delete", "openai").returncode == 0
    assert "not set" in sparklio("keys", "list").stdout
