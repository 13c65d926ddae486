"""``sparklio recipe`` as scripts use it: estimate's JSON, bad inputs, and a run of the SNS
post set against the loopback OpenAI and Anthropic servers, stopped by a failing step and
resumed without sending a finished step again; the runs' tests run again in team mode, with
the records (and the ledger) on a real PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.recipes.run_state import RunState, unfinished_records
from sparklio_desktop.core.settings.paths import ledger_path
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer
from tests.test_cli_batch import query
from tests.test_cli_dispatch import sparklio


@pytest.fixture
def fakes():
    with OpenAIServer() as openai, AnthropicServer() as anthropic:
        openai.reply_text = "Five post ideas for the autumn menu."
        anthropic.reply_text = "1. Maple latte season starts today."
        env = {
            "OPENAI_API_KEY": "sk-recipe-test-0123456789abcdef",
            "OPENAI_BASE_URL": openai.api_url,
            "ANTHROPIC_API_KEY": "sk-ant-recipe-test-0123456789abcdef",
            "ANTHROPIC_BASE_URL": anthropic.base_url,
        }
        yield openai, anthropic, env


def test_list_show_and_estimate_json():
    listing = json.loads(sparklio("recipe", "list", "--json").stdout)
    assert {r["name"] for r in listing["recipes"]} == {"brand_analysis", "sns_post_set", "blog_post", "video_30s"}
    shown = sparklio("recipe", "show", "video_30s")
    assert shown.returncode == 0 and "unavailable: no provider" in shown.stdout
    result = sparklio("recipe", "estimate", "sns_post_set", "--input", "brief=Autumn menu", "--all-available", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [s["task"] for s in plan["steps"]] == [
        "trend_analysis",
        "copywriting_standard",
        "image_generation_bulk",
        "trend_analysis",
    ]
    for step in plan["steps"]:
        assert {"task", "model", "input_tokens", "output_tokens", "images", "cost_usd"} <= set(step)
        assert isinstance(step["cost_usd"], str)
    assert plan["steps"][2]["images"] == 5 and plan["steps"][2]["model"] == "local/stable-diffusion"
    assert Decimal(plan["total_usd"]) == sum(Decimal(s["cost_usd"]) for s in plan["steps"])
    assert set(plan["alternatives"]["budget"]) == {"low", "standard", "premium"}
    text = sparklio("recipe", "estimate", "video_30s", "--all-available")
    assert "skipped: no provider" in text.stdout and "not included: $1.00" in text.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("run", "nope"), "unknown recipe 'nope'"),
        (("run", "sns_post_set"), "needs --input brief="),
        (("run", "sns_post_set", "--input", "brief"), "write NAME=VALUE"),
        (("estimate", "sns_post_set", "--input", "colour=red"), "no input 'colour'"),
        (("run", "brand_analysis", "--input", "brand=M", "--input", "logo=/nonexistent/logo.png"), "cannot read it"),
        (("run", "sns_post_set", "--input", "brief=x", "--brand-voice", "nobody"), "unknown brand voice"),
        (("resume", "0123456789ab"), "no recipe run '0123456789ab'"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_is_sent(fakes, args, words):
    openai, anthropic, env = fakes
    result = sparklio("recipe", *args, env_extra=env)
    assert result.returncode == 2, result.stderr
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert openai.requests == [] and anthropic.requests == []
    assert not ledger_path().exists()


def test_run_stops_at_a_failing_step_and_resume_sends_only_the_rest(fakes, tmp_path, team_mode):
    """The images read only the brief, so they start with the brief's analysis; they fail
    while the analysis is still on the wire: the analysis finishes and is kept, no further
    step starts, and resume sends the three unfinished steps only."""
    openai, anthropic, env = fakes
    openai.script(
        Fault(status=400, error_type="content_policy_violation", path_contains="/images"),
        Fault(delay_s=1.0, path_contains="/chat/completions"),  # the analysis ends after the images failed
    )
    out = tmp_path / "posts"
    first = sparklio("recipe", "run", "sns_post_set", "--input", "brief=Autumn menu", "--out", str(out), "--json",
                     env_extra=env)  # fmt: skip
    assert first.returncode == 1, first.stderr
    run = json.loads(first.stdout)
    run_id = run["run_id"]
    assert [s["outcome"] for s in run["steps"]] == ["done", "pending", "failed", "pending"]
    assert anthropic.requests == []  # the captions never started: a failure starts no new step
    assert (out / "brief_analysis.md").read_text() == "Five post ideas for the autumn menu."
    for step in (run["steps"][0], run["steps"][2]):
        assert step["request_id"].startswith(run_id) and isinstance(step["cost_usd"], str)
    chats_before = sum(1 for r in openai.requests if r.path.endswith("/chat/completions"))
    assert chats_before == 1

    second = sparklio("recipe", "resume", run_id, "--json", env_extra=env)
    assert second.returncode == 0, second.stderr
    resumed = json.loads(second.stdout)
    assert resumed["run_id"] == run_id and [s["outcome"] for s in resumed["steps"]] == ["done"] * 4
    assert resumed["steps"][0]["request_ids"] == run["steps"][0]["request_ids"]  # not sent again
    # the brief analysis's answer (from the first run's record) went into the captions' prompt
    assert len(anthropic.requests) == 1 and "Five post ideas for the autumn menu." in json.dumps(
        anthropic.requests[0].body
    )
    # The images (5 DALL-E calls, one per image, after the refused one) and the hashtags were sent.
    images = [r for r in openai.requests if r.path.endswith("/images/generations")]
    assert len(images) == 1 + 5
    assert sum(1 for r in openai.requests if r.path.endswith("/chat/completions")) == chats_before + 1
    assert sorted(p.name for p in out.glob("images-*.png")) == [f"images-{i}.png" for i in range(1, 6)]
    assert (out / "captions.md").read_text() == "1. Maple latte season starts today."
    assert (out / "hashtags.md").exists()
    state = RunState.load(run_id)
    assert state.status == "done" and len(state.steps[2].request_ids) == 2
    record = Path(ledger_path()).parent / "recipe-runs" / run_id / "state.json"
    assert record.exists() == (team_mode is None)  # team mode: a row of recipe_runs instead

    rows = query(ledger_path(), "SELECT request_id, run_id, outcome FROM llm_usage")
    assert rows and all(request_id.startswith(run_id) for request_id, _, _ in rows)
    assert {row_run for _, row_run, _ in rows} == {run_id}  # every attempt, the failed one too
    assert "error" in {outcome for _, _, outcome in rows}


def test_a_run_killed_mid_step_resumes_from_that_step(fakes, sparklio_home, team_mode):
    """kill -9 while the captions stream: resume sends the captions again, never the brief
    nor the images (finished beside them)."""
    openai, anthropic, env = fakes
    anthropic.reply_text = " ".join(f"word{i}" for i in range(200))
    anthropic.chunk_interval_s = 0.1  # about 20 s of streaming: time to kill it mid-way
    child = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", "recipe", "run", "sns_post_set", "--input", "brief=Autumn menu"],
        env=dict(os.environ, **env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        run_id = None
        while time.monotonic() < deadline:
            found = _records()
            # the images run beside the brief and the captions (they read only the brief): killed once done
            if found and anthropic.requests and found[0]["steps"][2]["status"] == "done":
                run_id = found[0]["run_id"]
                break
            time.sleep(0.05)
        assert run_id is not None, "the run never reached the captions step with the images done"
        time.sleep(0.3)
    finally:
        child.kill()
        child.wait(timeout=30)
    killed = next(record for record in unfinished_records() if record["run_id"] == run_id)
    assert [s["status"] for s in killed["steps"]] == ["done", "running", "done", "pending"]
    images = sum(1 for r in openai.requests if r.path.endswith("/images/generations"))
    chats = sum(1 for r in openai.requests if r.path.endswith("/chat/completions"))
    assert chats == 1

    anthropic.chunk_interval_s = 0.0
    resumed = sparklio("recipe", "resume", killed["run_id"], "--json", env_extra=env)
    assert resumed.returncode == 0, resumed.stderr
    steps = json.loads(resumed.stdout)["steps"]
    assert [s["outcome"] for s in steps] == ["done"] * 4
    assert steps[0]["request_ids"] == killed["steps"][0]["request_ids"]  # the brief: not sent again
    assert len(steps[1]["request_ids"]) == 2 and len(anthropic.requests) == 2  # the captions: once more
    assert sum(1 for r in openai.requests if r.path.endswith("/chat/completions")) == chats + 1  # + the hashtags
    assert sum(1 for r in openai.requests if r.path.endswith("/images/generations")) == images == 5
    assert steps[2]["request_ids"] == killed["steps"][2]["request_ids"]


def _records() -> list[dict]:
    """The unfinished runs' records, as stored (a table not made yet: none)."""
    import psycopg

    try:
        return unfinished_records()
    except psycopg.errors.UndefinedTable:
        return []


def test_the_video_recipe_runs_and_skips_the_unavailable_step_with_its_reason(fakes):
    openai, anthropic, env = fakes
    result = sparklio("recipe", "run", "video_30s", "--input", "idea=A latte poured in slow motion", "--json",
                      env_extra=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert [s["outcome"] for s in steps] == ["done", "done", "done", "skipped"]
    assert steps[3]["reason"].startswith("no provider in the catalog generates video")
    assert steps[3]["request_id"] is None
    assert len(steps[1]["files"]) == 4  # the storyboard's frames
    assert "[step 4/4 video: skipped; no provider" in result.stderr


def test_brand_analysis_attaches_the_logo_and_skips_the_guide_it_was_not_given(fakes, tmp_path):
    from tests.fakes.openai_server import TINY_PNG

    openai, anthropic, env = fakes
    logo = tmp_path / "logo.png"
    logo.write_bytes(TINY_PNG)
    result = sparklio("recipe", "run", "brand_analysis", "--input", "brand=Maple Cafe", "--input", f"logo={logo}",
                      "--json", env_extra=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    steps = json.loads(result.stdout)["steps"]
    assert [s["outcome"] for s in steps] == ["done", "skipped", "done"]
    assert steps[1]["reason"] == "nothing to send: the inputs it uses were not given"
    vision = json.dumps(openai.requests[0].body)
    assert "data:image/png;base64," in vision and "[image: logo]" in vision and "Maple Cafe" in vision
    assert not any(r.path.endswith("/embeddings") for r in openai.requests)


def test_a_run_held_by_another_process_is_not_resumed_twice(fakes, team_mode):
    from sparklio_desktop.core.recipes.run_state import run_lock

    openai, anthropic, env = fakes
    openai.script(Fault(status=400, error_type="content_policy_violation", path_contains="/images"))
    first = sparklio("recipe", "run", "sns_post_set", "--input", "brief=Autumn menu", "--json", env_extra=env)
    run_id = json.loads(first.stdout)["run_id"]
    sent = len(openai.requests) + len(anthropic.requests)
    with run_lock(run_id):  # as a resume in progress holds it
        busy = sparklio("recipe", "resume", run_id, env_extra=env)
    assert busy.returncode == 1 and f"recipe run {run_id} is being run by" in busy.stderr
    assert "Traceback" not in busy.stderr and busy.stderr.strip().splitlines()[-1].startswith("sparklio: error: ")
    assert len(openai.requests) + len(anthropic.requests) == sent
    assert sparklio("recipe", "resume", run_id, env_extra=env).returncode == 0  # released: it goes on


def test_a_brand_voice_reaches_every_text_step_and_no_image_step(fakes, sparklio_home):
    openai, anthropic, env = fakes
    (sparklio_home / "brand_voices.yaml").write_text("voices:\n  warm:\n    tone: warm\n    avoid: [synergy]\n")
    result = sparklio("recipe", "run", "sns_post_set", "--input", "brief=Autumn menu", "--brand-voice", "warm",
                      env_extra=env)  # fmt: skip
    assert result.returncode == 0, result.stderr
    texts = [r for r in openai.requests if r.path.endswith("/chat/completions")] + anthropic.requests
    images = [r for r in openai.requests if r.path.endswith("/images/generations")]
    assert len(texts) == 3 and len(images) == 5
    assert all("Write in the brand voice 'warm'" in json.dumps(r.body) for r in texts)
    assert not any("brand voice" in json.dumps(r.body) for r in images)
