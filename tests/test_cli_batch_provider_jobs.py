"""``sparklio batch run --speed batch`` through a provider's batch API, as a script uses it.

Against the loopback OpenAI server speaking the Files and Batch API: the rows go in one
provider job at the batch rates (the ledger's rows say so, priced exactly), ``--no-wait``
then ``resume`` collects, a kill -9 while waiting loses nothing and sends nothing twice,
item errors and expired items, a job the provider refuses, cancel, a budget that cannot
hold the job, and a model without batch rates going in groups instead. Real subprocesses,
real SQLite files (and, with ``team_mode``, a real PostgreSQL holding the ledger and the
batches); the fake records every request, so "sent once" is counted on the wire.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.settings import paths
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer
from tests.test_cli_batch import KEY, batch_args, chat_requests, query, results, rows_csv, sparklio

FAST = {"SPARKLIO_BATCH_POLL_S": "0.05"}
# GPT-4 (copywriting_standard, budget standard, no exploration) at genai-prices' batch rates:
# $15 and $30 per million tokens, half the $30 and $60 of a normal call.
BATCH_ROW_USD = Decimal(20 * 15 + 10 * 30) / 1_000_000  # 20 tokens in, 10 out
STANDARD_ROW_USD = Decimal(20 * 30 + 10 * 60) / 1_000_000


@pytest.fixture
def openai():
    with OpenAIServer() as server:
        server.usage = (20, 10)
        yield server


def env_for(server: OpenAIServer, **more: str) -> dict:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.api_url, **FAST, **more}


def job_requests(server: OpenAIServer) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path.split("?")[0] == "/v1/batches"]


def ledger_rows(sql: str, *params: object) -> list[tuple]:
    return query(paths.ledger_path(), sql, params)


def held_usd() -> int:
    return ledger_rows("SELECT COALESCE(SUM(amount_usd), 0) FROM budget_reservations")[0][0]


def test_the_rows_go_in_one_job_at_the_batch_rate(tmp_path: Path, openai) -> None:
    openai.batch_polls_to_end = 2
    source = rows_csv(tmp_path / "rows.csv", 12)
    out = tmp_path / "results.jsonl"
    result = sparklio(*batch_args(source, "--speed", "batch", "--out", str(out), "--yes", "--json"),
                      env=env_for(openai))  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["done"], payload["failed"], payload["status"], payload["provider_jobs"]) == (12, 0, "done", [])
    # The estimate priced the rows at the batch rates too: half what a normal call costs.
    assert Decimal(payload["estimate"]["per_row_usd"]) < Decimal("0.04")
    assert chat_requests(openai) == [] and len(job_requests(openai)) == 1
    sent = job_requests(openai)[0].body
    assert sent["endpoint"] == "/v1/chat/completions" and sent["metadata"]["sparklio_label"].startswith("sparklio-job-")
    records = results(out)
    assert sorted(r["row"] for r in records) == list(range(1, 13))
    assert all(r["outcome"] == "done" and r["output"] == openai.reply_text for r in records)
    assert all(Decimal(r["cost_usd"]) == BATCH_ROW_USD for r in records)
    rows = ledger_rows(
        "SELECT outcome, batch, cost_usd, price_input_per_mtok, price_output_per_mtok, usage_source, owner_pid,"
        " latency_s FROM llm_usage"
    )
    assert len(rows) == 12
    picos = int(BATCH_ROW_USD * 10**12)
    assert {r[:6] for r in rows} == {("ok", 1, picos, 15 * 10**12, 30 * 10**12, "provider")}
    assert {(r[6], r[7]) for r in rows} == {(0, None)}  # held by the job; no latency from a queue
    assert ledger_rows("SELECT DISTINCT run_id FROM llm_usage") == [(payload["id"],)]
    assert Decimal(payload["cost_usd"]) == 12 * BATCH_ROW_USD < 12 * STANDARD_ROW_USD
    assert held_usd() == 0  # the job's hold is released once its results are recorded
    decisions = ledger_rows("SELECT COUNT(*) FROM decisions WHERE final_model_id = 'openai/gpt-4'")
    assert decisions == [(12,)]


def test_no_wait_then_resume_collects_the_job(tmp_path: Path, openai, team_mode: str | None) -> None:
    openai.batch_polls_to_end = 1
    source = rows_csv(tmp_path / "rows.csv", 5)
    first = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--no-wait", "--json"), env=env_for(openai))
    assert first.returncode == 0, first.stderr
    payload = json.loads(first.stdout)
    assert payload["running"] == 5 and payload["done"] == 0
    [job] = payload["provider_jobs"]
    assert (job["provider"], job["model"], job["state"], job["total"]) == ("openai", "openai/gpt-4", "submitted", 5)
    assert "`sparklio batch resume" in first.stderr and held_usd() > 0
    status = sparklio("batch", "status", payload["id"], env={})
    assert "5 rows with OpenAI's batch API" in status.stdout

    again = sparklio("batch", "resume", payload["id"], "--json", env=env_for(openai))
    assert again.returncode == 0, again.stderr
    done = json.loads(again.stdout)
    assert (done["done"], done["status"], done["provider_jobs"], done["sent"]) == (5, "done", [], 0)
    assert len(job_requests(openai)) == 1 and chat_requests(openai) == []
    assert held_usd() == 0


def test_a_kill_while_waiting_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, openai, team_mode: str | None
) -> None:
    openai.batch_polls_to_end = 10_000  # the job runs until the test lets it end
    source = rows_csv(tmp_path / "rows.csv", 8)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *batch_args(source, "--speed", "batch", "--yes", "--out", str(out))],
        env={**__import__("os").environ, **env_for(openai)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(r.path.startswith("/v1/batches/") for r in openai.requests):
            time.sleep(0.05)
        assert any(r.path.startswith("/v1/batches/") for r in openai.requests), "the job was never polled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert ledger_rows("SELECT outcome FROM llm_usage") == [("in_flight",)] * 8
    assert held_usd() > 0  # the job's money stays held: the provider may still answer
    batch_id = json.loads(sparklio("batch", "list", "--json", env={}).stdout)[0]["id"]
    openai.batch_polls_to_end = 0
    for job in openai.batches.values():
        job.polls = 10_000
    again = sparklio("batch", "resume", batch_id, "--json", env=env_for(openai))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["done"] == 8
    assert len(job_requests(openai)) == 1 and chat_requests(openai) == []
    assert sorted(r["row"] for r in results(out)) == list(range(1, 9))
    assert ledger_rows("SELECT DISTINCT outcome FROM llm_usage") == [("ok",)] and held_usd() == 0


def test_item_errors_fail_their_rows_and_expired_items_go_again(tmp_path: Path, openai) -> None:
    openai.batch_polls_to_end = 1
    openai.batch_errors_for_prompt = {"topic 2 ": Fault(status=400, message="bad item")}
    openai.batch_expire_for_prompt = {"topic 3 "}
    source = rows_csv(tmp_path / "rows.csv", 4)
    result = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--json"), env=env_for(openai))
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["done"], payload["failed"], payload["pending"], payload["status"]) == (2, 1, 1, "paused")
    outcomes = sorted(r[0] for r in ledger_rows("SELECT outcome FROM llm_usage"))
    assert outcomes == ["cancelled", "error", "ok", "ok"]
    assert ledger_rows("SELECT SUM(cost_usd) FROM llm_usage WHERE outcome != 'ok'") == [(0,)]
    assert held_usd() == 0
    openai.batch_expire_for_prompt = set()
    again = sparklio("batch", "resume", payload["id"], "--json", env=env_for(openai))
    done = json.loads(again.stdout)
    assert (done["done"], done["failed"], done["sent"]) == (3, 1, 1)  # only the expired row went again
    assert len(job_requests(openai)) == 2


def test_a_job_the_provider_refuses_fails_its_rows_with_the_reason(tmp_path: Path, openai) -> None:
    openai.script(Fault(status=401, message="Incorrect API key provided", error_type="invalid_api_key",
                        path_contains="/files"))  # fmt: skip
    source = rows_csv(tmp_path / "rows.csv", 3)
    result = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--json"), env=env_for(openai))
    assert result.returncode == 1
    payload = json.loads(result.stdout)
    assert (payload["failed"], payload["provider_jobs"]) == (3, [])
    assert ledger_rows("SELECT DISTINCT outcome, cost_usd FROM llm_usage") == [("error", 0)]
    assert held_usd() == 0
    assert KEY not in result.stdout + result.stderr
    status = sparklio("batch", "status", payload["id"], env={})
    assert status.returncode == 0 and "3 failed" in status.stdout


def test_cancel_stops_the_job_and_what_it_answered_is_still_recorded(tmp_path: Path, openai) -> None:
    openai.batch_polls_to_end = 10_000
    openai.batch_answered_before_cancel = 2
    source = rows_csv(tmp_path / "rows.csv", 5)
    first = json.loads(sparklio(*batch_args(source, "--speed", "batch", "--yes", "--no-wait", "--json"),
                                env=env_for(openai)).stdout)  # fmt: skip
    cancel = sparklio("batch", "cancel", first["id"], env=env_for(openai))
    assert cancel.returncode == 0, cancel.stderr
    assert any(r.path.endswith("/cancel") for r in openai.requests)
    collected = sparklio("batch", "resume", first["id"], "--json", env=env_for(openai))
    assert collected.returncode == 0, collected.stderr
    payload = json.loads(collected.stdout)
    assert (payload["status"], payload["done"], payload["pending"], payload["sent"]) == ("cancelled", 2, 3, 0)
    assert sorted(r[0] for r in ledger_rows("SELECT outcome FROM llm_usage")) == ["cancelled"] * 3 + ["ok"] * 2
    assert held_usd() == 0
    refused = sparklio("batch", "resume", first["id"], env=env_for(openai))
    assert refused.returncode == 2 and "was cancelled" in refused.stderr


def test_a_budget_that_cannot_hold_the_job_sends_rows_one_by_one(tmp_path: Path, openai, sparklio_home) -> None:
    (sparklio_home / "settings.json").write_text('{"budget": {"monthly_usd": 0.10}}', encoding="utf-8")
    source = rows_csv(tmp_path / "rows.csv", 12)  # a job's worst case: 12 x ~$0.03
    result = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--json"), env=env_for(openai))
    payload = json.loads(result.stdout)
    assert job_requests(openai) == []  # nothing was submitted to the provider
    assert len(chat_requests(openai)) == payload["done"] >= 1
    assert payload["done"] + payload["failed"] == 12 and held_usd() == 0


def test_a_model_without_batch_rates_goes_in_groups_at_the_standard_rate(tmp_path: Path) -> None:
    with AnthropicServer() as anthropic:  # the seed's Claude 3.x: genai-prices has no batch rates for them
        anthropic.usage = (20, 10)
        source = rows_csv(tmp_path / "rows.csv", 10)
        env = {"ANTHROPIC_API_KEY": "sk-ant-test-0123456789", "ANTHROPIC_BASE_URL": anthropic.base_url, **FAST}
        result = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--json"), env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["done"] == 10
        messages = [r for r in anthropic.requests if r.path.endswith("/v1/messages")]
        assert len(messages) == 10 and not any("batches" in r.path for r in anthropic.requests)
    assert ledger_rows("SELECT DISTINCT batch FROM llm_usage") == [(0,)]


def test_another_install_of_the_member_collects_the_job_and_another_member_cannot(
    tmp_path: Path, openai, pg_database_url: str
) -> None:
    """Two data folders (two installs) on one team database: a batch sent with --no-wait
    from the first is listed and resumed (its job collected) from the second; a second
    member sees no such batch."""
    from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
    from sparklio_desktop.core.ledger.members import MEMBER_ENV

    openai.batch_polls_to_end = 1
    team = {DATABASE_URL_ENV: pg_database_url, MEMBER_ENV: "ada"}
    first_home, second_home = {"SPARKLIO_HOME": str(tmp_path / "one")}, {"SPARKLIO_HOME": str(tmp_path / "two")}
    source = rows_csv(tmp_path / "rows.csv", 4)
    first = sparklio(*batch_args(source, "--speed", "batch", "--yes", "--no-wait", "--json"),
                     env={**env_for(openai), **team, **first_home})  # fmt: skip
    assert first.returncode == 0, first.stderr
    batch_id = json.loads(first.stdout)["id"]
    listed = json.loads(sparklio("batch", "list", "--json", env={**team, **second_home}).stdout)
    assert [(b["id"], b["running"]) for b in listed] == [(batch_id, 4)]
    other = sparklio("batch", "status", batch_id, env={**team, **second_home, MEMBER_ENV: "bo"})
    assert other.returncode == 2 and f"no batch '{batch_id}'" in other.stderr
    resumed = sparklio("batch", "resume", batch_id[:8], "--json", env={**env_for(openai), **team, **second_home})
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert (done["done"], done["status"], done["sent"]) == (4, "done", 0)
    assert len(job_requests(openai)) == 1 and chat_requests(openai) == []
    assert not (tmp_path / "one" / "batches.sqlite").exists() and not (tmp_path / "two" / "batches.sqlite").exists()
