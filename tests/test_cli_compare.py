"""``sparklio compare``, ``leaderboard`` and ``suggest`` as scripts use them, against
loopback Anthropic and OpenAI servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.settings import paths
from tests.core.test_compare import ANSWER, GPT4, GPT35, OPUS, SONNET, Anthropic, OpenAI


def sparklio(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def env():
    with Anthropic() as anthropic, OpenAI() as openai:
        anthropic.usage = openai.usage = (100, 50)
        yield {
            "ANTHROPIC_API_KEY": "sk-ant-cli-0123456789abcdef",
            "ANTHROPIC_BASE_URL": anthropic.base_url,
            "OPENAI_API_KEY": "sk-cli-openai-0123456789abcdef",
            "OPENAI_BASE_URL": openai.api_url,
        }


def test_compare_json_with_a_vote_feeds_the_leaderboard(env):
    result = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{SONNET},{GPT4}",
        "--prompt",
        "A caption",
        "--vote",
        "b",
        "--stars",
        "A=2,B=5",
        "--json",
        env_extra=env,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    columns = payload["columns"]
    assert [c["model"] for c in columns] == [SONNET, GPT4]
    assert [c["output"] for c in columns] == [ANSWER[SONNET], ANSWER[GPT4]]
    for c in columns:
        assert {
            "model",
            "output",
            "ttft_s",
            "tokens_per_s",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "error",
        } <= set(c)
        assert c["error"] is None and c["ttft_s"] > 0 and (c["input_tokens"], c["output_tokens"]) == (100, 50)
    assert [Decimal(c["cost_usd"]) for c in columns] == [Decimal("0.00105"), Decimal("0.006")]
    assert payload["vote"] == {"kind": "b", "ranking": None} and payload["comparison_id"] == 1
    assert "sk-ant-cli" not in result.stdout + result.stderr

    board = json.loads(sparklio("leaderboard", "--task", "copywriting_standard", "--json").stdout)
    rows = {r["model"]: r for r in board["rows"]}
    assert set(rows) == {SONNET, GPT4} and board["votes"] == 1
    assert rows[GPT4]["wins"] == 1 and rows[SONNET]["losses"] == 1
    assert rows[GPT4]["strength"] > rows[SONNET]["strength"] and rows[GPT4]["provisional"] is True
    assert rows[GPT4]["stars_mean"] == 5.0 and rows[SONNET]["stars_n"] == 1
    assert {"strength", "low", "high", "votes", "rank", "provisional"} <= set(rows[GPT4])
    assert json.loads(sparklio("leaderboard", "--task", "translation", "--json").stdout)["rows"] == []
    text = sparklio("leaderboard")
    assert text.returncode == 0 and GPT4 in text.stdout and "95% interval" in text.stdout
    bad = sparklio("leaderboard", "--since", "March")
    assert bad.returncode == 1 and "YYYY-MM-DD" in bad.stderr


def test_blind_compare_hides_names_until_a_vote(env):
    blind = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{SONNET},{GPT4},{GPT35}",
        "--prompt",
        "A caption",
        "--blind",
        "--seed",
        "3",
        "--json",
        env_extra=env,
    )
    assert blind.returncode == 0, blind.stderr
    payload = json.loads(blind.stdout)
    assert payload["revealed"] is False and payload["order_shown"] is None
    assert [c["model"] for c in payload["columns"]] == [None, None, None]
    assert [c["label"] for c in payload["columns"]] == ["A", "B", "C"]
    assert sorted(c["output"] for c in payload["columns"]) == sorted(ANSWER[m] for m in (SONNET, GPT4, GPT35))

    voted = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{SONNET},{GPT4},{GPT35}",
        "--prompt",
        "A caption",
        "--blind",
        "--seed",
        "3",
        "--vote",
        "rank:B,C,A",
        "--json",
        env_extra=env,
    )
    shown = json.loads(voted.stdout)
    assert shown["revealed"] is True and sorted(shown["order_shown"]) == sorted([SONNET, GPT4, GPT35])
    order = shown["order_shown"]
    assert [c["model"] for c in shown["columns"]] == order
    assert [c["output"] for c in shown["columns"]] == [ANSWER[m] for m in order]
    assert shown["vote"]["ranking"] == [order[1], order[2], order[0]]
    with VoteStore.open() as store:
        stored = store.comparisons()
    assert [c.blind for c in stored] == [True, True] and stored[0].order_shown == stored[1].order_shown == tuple(order)

    wrong = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{SONNET},{GPT4},{GPT35}",
        "--prompt",
        "x",
        "--vote",
        "a",
        env_extra=env,
    )
    assert wrong.returncode == 1 and "exactly 2 columns" in wrong.stderr
    short = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{SONNET},{GPT4},{GPT35}",
        "--prompt",
        "x",
        "--blind",
        "--vote",
        "rank:A,B",
        env_extra=env,
    )
    assert short.returncode == 1 and "name every column once (A, B, C)" in short.stderr
    assert SONNET not in short.stderr
    with VoteStore.open() as store:
        assert len(store.comparisons()) == 2  # refused before anything ran or was stored


def test_compare_text_output_prints_each_column(env):
    result = sparklio(
        "compare",
        "--task",
        "copywriting_standard",
        "--models",
        f"{GPT35},{OPUS}",
        "--prompt",
        "A caption",
        env_extra=env,
    )
    assert result.returncode == 0, result.stderr
    assert "== GPT-3.5 Turbo (openai/gpt-3.5-turbo)" in result.stdout
    assert "== Claude 3 Opus (anthropic/claude-3-opus)" in result.stdout
    assert ANSWER[GPT35] in result.stdout and ANSWER[OPUS] in result.stdout
    assert "Your vote" not in result.stdout  # not a terminal: no prompt


def test_suggest_apply_and_undo(env, sparklio_home):
    assert json.loads(sparklio("suggest", "--json").stdout) == []
    start = datetime(2026, 3, 1, tzinfo=UTC)
    with VoteStore.open() as store:
        for i in range(60):
            shown = [GPT4, SONNET] if i % 2 else [SONNET, GPT4]
            cid = store.record_comparison(
                task_type="copywriting_standard",
                prompt=f"p{i}",
                models=shown,
                order_shown=shown,
                blind=True,
                ts=start + timedelta(minutes=i),
            )
            store.record_vote(cid, "a" if shown[0] == GPT4 else "b")
    found = json.loads(sparklio("suggest", "--json").stdout)
    assert [(s["task"], s["current_primary"], s["candidate"]) for s in found] == [
        ("copywriting_standard", SONNET, GPT4)
    ]
    assert found[0]["significantly_better"] is True and "60 votes" in found[0]["confidence"]

    applied = sparklio("suggest", "--apply", "copywriting_standard", "--json")
    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert f"+    primary: {GPT4}" in result["diff"]
    user = paths.user_policy_path()
    assert user.is_file() and (sparklio_home / "policy-versions").is_dir()
    route = json.loads(
        sparklio("route", "--task", "copywriting_standard", "--no-explore", "--all-available", "--json").stdout
    )
    assert route["chain"][0] == GPT4
    assert json.loads(sparklio("suggest", "--json").stdout) == []  # gpt-4 is now the primary

    undone = sparklio("suggest", "--undo")
    assert undone.returncode == 0 and "shipped policy is in force" in undone.stdout
    assert not user.exists()
    again = sparklio("suggest", "--undo")
    assert again.returncode == 1 and "no earlier policy version" in again.stderr
    none = sparklio("suggest", "--apply", "translation")
    assert none.returncode == 1 and "no suggestion for translation" in none.stderr
