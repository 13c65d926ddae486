"""The command-line contract of routing: flags, JSON fields, errors and exit codes.

Each test runs the real ``sparklio`` entry point in a subprocess, as scripts do.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def sparklio(*args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        input=input_text,
        timeout=60,
    )


def test_route_json_contract():
    result = sparklio(
        "route", "--task", "copywriting_standard", "--input-tokens", "500", "--json", "--all-available", "--no-explore"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["chain"][:3] == ["anthropic/claude-3-5-sonnet", "openai/gpt-4", "google/gemini-2.0-pro"]
    assert payload["exploration"] is False
    assert Decimal(payload["estimate"]["cost_usd"]) == Decimal("0.009")
    assert payload["estimate"]["input_tokens"] == 500 and payload["estimate"]["output_tokens"] == 500
    ids = {c["id"] for c in payload["candidates"]}
    assert len(ids) == 10 == payload["candidate_count"]  # every text model is a candidate
    assert payload["excluded_counts"] == {"avoided_by_budget_tier": 1, "occasional_in_budget_tier": 1}
    opus = next(c for c in payload["candidates"] if c["id"] == "anthropic/claude-3-opus")
    assert opus["excluded_by"] == "avoided_by_budget_tier"
    assert set(opus["scores"]) == {"complexity", "cost", "speed", "quality", "total"}
    assert "Claude 3.5 Sonnet" in payload["explanation"]


def test_route_without_keys_says_so():
    result = sparklio("route", "--task", "copywriting_standard", "--json", "--no-explore")
    payload = json.loads(result.stdout)
    sonnet = next(c for c in payload["candidates"] if c["id"] == "anthropic/claude-3-5-sonnet")
    assert sonnet["excluded_by"] == "no_api_key"
    assert result.returncode == 3 and payload["chain"] == []  # no keys, Ollama unreachable: nothing fits


def test_route_with_an_environment_key():
    env_result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparklio_desktop",
            "route",
            "--task",
            "translation",
            "--prompt",
            "Hola, mundo",
            "--json",
            "--no-explore",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, GEMINI_API_KEY="test-key-123456"),
        timeout=60,
    )
    payload = json.loads(env_result.stdout)
    assert payload["chain"][0] == "google/gemini-2.0-pro"
    assert "test-key-123456" not in env_result.stdout + env_result.stderr


def test_route_human_output_and_seeded_exploration():
    result = sparklio("route", "--task", "chat", "--all-available", "--seed", "3")
    assert result.returncode == 0
    assert "chain:" in result.stdout and "candidate" in result.stdout
    first = json.loads(sparklio("route", "--task", "chat", "--all-available", "--seed", "11", "--json").stdout)
    again = json.loads(sparklio("route", "--task", "chat", "--all-available", "--seed", "11", "--json").stdout)
    assert first["chain"] == again["chain"] and first["exploration"] == again["exploration"]


@pytest.mark.parametrize(
    "args, expected",
    [
        (("route", "--task", "poetry"), "unknown task 'poetry'; valid: brief_questions, chat, code_generation"),
        (
            ("route", "--task", "chat", "--speed", "warp"),
            "invalid choice: 'warp' (choose from 'realtime', 'standard', 'batch')",
        ),
        (
            ("route", "--task", "chat", "--frobnicate"),
            "unrecognized arguments: --frobnicate; valid options: --all-available",
        ),
        (("estimate", "--model", "openai/gpt-5"), "unknown model 'openai/gpt-5'; valid: anthropic/claude-3-5-sonnet"),
    ],
)
def test_bad_arguments_get_one_line(args, expected):
    result = sparklio(*args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_estimate_json():
    result = sparklio("estimate", "--model", "openai/dall-e-3", "--images", "4", "--size", "1792x1024", "--json")
    assert result.returncode == 0
    payload = json.loads(result.stdout)
    assert payload["cost_usd"] == "0.32" and payload["unit_prices"]["per_image"] == "0.08"


def test_catalog_json_fields():
    payload = json.loads(sparklio("catalog", "--json").stdout)
    assert len(payload) == 18
    for entry in payload:
        assert {"id", "name", "provider", "capabilities", "price", "context_tokens", "quality", "local"} <= set(entry)
    sonnet = next(e for e in payload if e["id"] == "anthropic/claude-3-5-sonnet")
    assert sonnet["name"] == "Claude 3.5 Sonnet" and sonnet["price"]["input_per_mtok"] == "3"


def test_policy_check(tmp_path):
    ok = sparklio("policy", "check", str(ROOT / "policies" / "routing.yaml"))
    assert ok.returncode == 0 and "valid" in ok.stdout
    broken = tmp_path / "routing.yaml"
    broken.write_text(
        (ROOT / "policies" / "routing.yaml")
        .read_text()
        .replace("exploration:\n  rate: 0.05", "exploration:\n  rate: 5")
    )
    bad = sparklio("policy", "check", str(broken))
    assert bad.returncode == 1
    assert f"{broken}:" in bad.stderr and "exploration.rate" in bad.stderr and "Traceback" not in bad.stderr


def test_route_imports_no_qt_torch_or_sdk():
    code = (
        "import sys; from sparklio_desktop.cli import main; "
        "main(['route','--task','copywriting_standard','--input-tokens','500','--json']); "
        "heavy=[m for m in sys.modules if m.split('.')[0] in "
        "('PySide6','torch','diffusers','transformers','openai','anthropic','google','ollama','qasync','pyqtgraph')]; "
        "print('HEAVY', heavy, file=sys.stderr)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stderr, result.stderr[-2000:]


def test_a_task_the_users_policy_adds_can_be_routed(sparklio_home):
    """The task names come from the policy in force, not from a list in the command line."""
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    shipped = shipped_policy_path().read_text(encoding="utf-8")
    chat = shipped.index("\n  chat:\n") + 1
    end = re.compile(r"^  \S", re.M).search(shipped, chat + 8).start()  # the next task
    block = shipped[chat:end].rstrip("\n").replace("  chat:", "  product_captions:", 1)
    (sparklio_home / "policy.yaml").write_text(shipped.replace("  chat:", block + "\n  chat:", 1), encoding="utf-8")
    result = sparklio("route", "--task", "product_captions", "--prompt", "three captions", "--json")
    assert result.stderr == "", result.stderr
    assert json.loads(result.stdout)["options"]["task"] == "product_captions"


def test_route_text_names_models_and_json_keeps_ids():
    text = sparklio("route", "--task", "copywriting_standard", "--all-available", "--no-explore")
    assert text.returncode == 0, text.stderr
    assert "chain: Claude 3.5 Sonnet -> GPT-4 -> Gemini 2.0 Pro" in text.stdout
    assert "but the task table puts Claude 3.5 Sonnet first for copywriting." in text.stdout
    payload = json.loads(
        sparklio("route", "--task", "copywriting_standard", "--all-available", "--no-explore", "--json").stdout
    )
    assert payload["chain"][0] == "anthropic/claude-3-5-sonnet" and "summary" not in payload
