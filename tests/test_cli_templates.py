"""``sparklio templates list|show`` and ``sparklio run --template``, end to end: real YAML
files in the test's data folder, the CLI in a subprocess, the providers' loopback fakes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer

VALID = '{"hashtags": ["coffee", "morning"]}'


def sparklio(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env_extra or {})),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def user_templates(home: Path) -> Path:
    folder = home / "templates"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def fakes():
    with AnthropicServer() as claude, OpenAIServer() as gpt:
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
            "ANTHROPIC_BASE_URL": claude.base_url,
            "OPENAI_API_KEY": "sk-test-0123456789abcdef",
            "OPENAI_BASE_URL": gpt.api_url,
        }
        yield claude, gpt, env


# -- list and show ------------------------------------------------------------------
def test_list_names_the_shipped_templates_with_their_system_prompt_size():
    done = sparklio("templates", "list", "--json")
    assert done.returncode == 0, done.stderr
    listed = {t["name"]: t for t in json.loads(done.stdout)["templates"]}
    assert {"product_caption", "hashtag_set", "launch_email", "translate_with_glossary"} <= set(listed)
    assert listed["hashtag_set"]["output"] == "json" and listed["hashtag_set"]["source"] == "shipped"
    assert 0 < listed["product_caption"]["system_tokens"] < 20
    tasks = [t["task"] for t in listed.values()]
    for task in set(tasks):
        assert tasks.count(task) >= 2, task  # at least two per task type


def test_a_user_template_replaces_the_shipped_one_and_list_says_so(sparklio_home):
    (user_templates(sparklio_home) / "product_caption.yaml").write_text(
        "name: product_caption\ntask: copywriting_standard\nsystem: Mine.\nprompt: 'Caption for {product}'\n",
        encoding="utf-8",
    )
    done = sparklio("templates", "list")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("product_caption "))
    assert "yours (replaces shipped)" in line
    listed = {t["name"]: t for t in json.loads(sparklio("templates", "list", "--json").stdout)["templates"]}
    assert listed["product_caption"]["overrides_shipped"] is True and listed["product_caption"]["source"] == "user"
    shown = json.loads(sparklio("templates", "show", "product_caption", "--json").stdout)
    assert shown["system"] == "Mine." and [v["name"] for v in shown["variables"]] == ["product"]


def test_a_broken_user_template_is_reported_with_its_line_and_skipped(sparklio_home):
    folder = user_templates(sparklio_home)
    (folder / "broken.yaml").write_text(
        "name: broken\ntask: copywriting_standard\nprompt: 'Hi {name}'\nvariables:\n  nmae: {default: x}\n",
        encoding="utf-8",
    )
    (folder / "bad_task.yaml").write_text("name: bad_task\ntask: poetry\nprompt: hi\n", encoding="utf-8")
    done = sparklio("templates", "list")
    assert done.returncode == 0
    assert "broken.yaml:5: variables.nmae: 'nmae' is not used in the prompt" in done.stderr
    assert "bad_task.yaml:2: task: unknown task 'poetry'" in done.stderr
    assert "product_caption" in done.stdout and "broken" not in done.stdout


def test_show_prints_variables_system_prompt_and_its_token_count():
    done = sparklio("templates", "show", "hashtag_set")
    assert done.returncode == 0, done.stderr
    assert "system prompt (" in done.stdout and "tokens): Suggest relevant hashtags" in done.stdout
    assert "topic (required)" in done.stdout and "count (default '10')" in done.stdout
    shown = json.loads(sparklio("templates", "show", "hashtag_set", "--json").stdout)
    assert shown["output"]["format"] == "json" and shown["output"]["schema"]["type"] == "object"
    assert shown["system_tokens"] > 0 and shown["route"] == {"budget": "low"}


def test_show_an_unknown_template_is_one_line_and_exit_2():
    done = sparklio("templates", "show", "nope")
    assert done.returncode == 2
    assert done.stderr.strip().startswith("sparklio: error: unknown template 'nope'; valid:")
    assert len(done.stderr.strip().splitlines()) == 1


# -- run --template -----------------------------------------------------------------
def test_run_a_json_template_retries_an_invalid_answer_and_returns_data(fakes):
    claude, gpt, env = fakes
    gpt.replies = ['{"hashtags": "coffee"}', VALID]  # budget low (the template's): GPT-3.5 Turbo first
    done = sparklio(
        "run", "--template", "hashtag_set", "--var", "topic=morning coffee", "--no-explore", "--json", env_extra=env
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["data"] == {"hashtags": ["coffee", "morning"]} and payload["template"] == "hashtag_set"
    assert [a["outcome"] for a in payload["attempts"]] == ["error", "ok"]
    assert "InvalidOutputError" in done.stderr and "retrying" in done.stderr
    body = gpt.requests[-1].body
    system, user = body["messages"][0], body["messages"][1]
    assert system == {"role": "system", "content": "Suggest relevant hashtags, without the '#'."}  # not the task's
    assert body["response_format"]["json_schema"]["name"] == "hashtag_set"
    assert user["content"] == "Topic: morning coffee\nPlatform: Instagram\nCount: 10"
    assert "not valid" in body["messages"][-1]["content"]  # the retry carried the validation error
    shown = json.loads(sparklio("show", payload["request_id"], "--json", env_extra=env).stdout)
    assert shown["decision"]["options"]["task"] == "copywriting_standard"
    assert shown["decision"]["options"]["budget"] == "low"  # the template's route option


def test_the_users_route_options_win_over_the_templates(fakes):
    claude, gpt, env = fakes
    claude.reply_text = gpt.reply_text = VALID
    done = sparklio(
        "run", "--template", "hashtag_set", "--var", "topic=tea", "--budget", "premium", "--no-explore", "--json",
        env_extra=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = json.loads(sparklio("show", json.loads(done.stdout)["request_id"], "--json", env_extra=env).stdout)
    assert shown["decision"]["options"]["budget"] == "premium"


def test_values_with_braces_are_sent_literally(fakes):
    claude, gpt, env = fakes
    claude.reply_text = gpt.reply_text = "A caption."
    done = sparklio(
        "run", "--template", "product_caption", "--var", "product={tone} {0.__class__} {{x}}", "--no-explore",
        env_extra=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "A caption.\n"
    (sent_to,) = [s for s in (claude, gpt) if s.requests]
    sent = sent_to.requests[-1].body["messages"][-1]["content"]
    assert sent.startswith("Product: {tone} {0.__class__} {{x}}\nTone: friendly")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--template", "product_caption"),
         "template 'product_caption' needs the variable 'product' (give --var product=VALUE)"),
        (("--template", "product_caption", "--var", "product=x", "--var", "colour=red"),
         "template 'product_caption' has no variable 'colour' (its variables: product, tone, audience, platform)"),
        (("--template", "product_caption", "--var", "product"), "--var 'product': write KEY=VALUE"),
        (("--template", "nope"), "unknown template 'nope'; valid:"),
        (("--template", "product_caption", "--var", "product=x", "--prompt", "hi"), "--template builds the prompt"),
        (("--prompt", "hi"), "give --task TASK or --template NAME"),
        (("--task", "chat", "--prompt", "hi", "--var", "a=b"), "--var needs --template NAME"),
    ],
)  # fmt: skip
def test_template_mistakes_are_one_line_exit_2_and_nothing_is_sent(fakes, args, message):
    claude, gpt, env = fakes
    done = sparklio("run", *args, env_extra=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"sparklio run: error: {message}")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not claude.requests and not gpt.requests
