"""``sparklio batch`` as a script uses it, against the loopback OpenAI server: the estimate and
its threshold, a 50-row batch, a batch killed with SIGKILL and resumed, cancel, status JSON.

Real subprocesses and real SQLite files (and, with ``team_mode``, the same runs with the
ledger and the batches on a real PostgreSQL); the fake records every request it receives, so
"no finished row is sent twice" is counted on the wire.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
from sparklio_desktop.core.settings import paths
from tests.fakes.openai_server import OpenAIServer

KEY = "sk-test-batch-0123456789abcdef0123"
TEMPLATE = "One caption about {topic} for {name}"


def sparklio(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True, text=True, env={**os.environ, **env}, input=stdin, timeout=300,
    )  # fmt: skip


@pytest.fixture
def openai():
    with OpenAIServer() as server:
        server.usage = (20, 10)
        yield server


def env_for(server: OpenAIServer) -> dict:
    return {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.api_url}


def rows_csv(path: Path, n: int) -> Path:
    path.write_text("name,topic\n" + "".join(f"n{i},topic {i}\n" for i in range(1, n + 1)), encoding="utf-8")
    return path


def chat_requests(server: OpenAIServer) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def batch_args(source: Path, *more: str) -> list[str]:
    return ["batch", "run", str(source), "--task", "copywriting_standard", "--prompt-template", TEMPLATE,
            "--no-explore", *more]  # fmt: skip


def query(file: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of ``sql`` on ``file`` (the ledger or the batches file), or in team mode on the
    team database that holds both."""
    url = os.environ.get(DATABASE_URL_ENV)
    if url:
        from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection

        conn = PgDirectConnection(url, "database")
        try:
            with conn.transaction("AUTOCOMMIT") as session:
                return session.execute(sql, params).fetchall()
        finally:
            conn.close()
    db = sqlite3.connect(file)
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


def results(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_bad_input_is_refused_before_anything_is_sent(tmp_path: Path, openai) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,topic\nx,y,z\n", encoding="utf-8")
    result = sparklio(*batch_args(bad), env=env_for(openai))
    assert result.returncode == 2 and result.stderr.strip().endswith(
        "bad.csv:2: expected 2 fields (the header's), found 3"
    )
    source = rows_csv(tmp_path / "rows.csv", 3)
    result = sparklio("batch", "run", str(source), "--task", "copywriting_standard", "--prompt-template",
                      "About {colour}", env=env_for(openai))  # fmt: skip
    assert result.returncode == 2
    assert "{colour} is not a column of rows.csv (columns: name, topic)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = sparklio(*batch_args(source, "--concurrency", "33"), env=env_for(openai))
    assert result.returncode == 2 and "expected 1 to 32" in result.stderr
    assert chat_requests(openai) == []
    assert not (paths.data_dir() / "batches.sqlite").exists()


def test_an_estimate_above_the_threshold_needs_yes(tmp_path: Path, openai) -> None:
    source = rows_csv(tmp_path / "rows.csv", 50)  # GPT-4 at ~$0.03 a row: ~$1.56
    result = sparklio(*batch_args(source), env=env_for(openai), stdin="")
    assert result.returncode == 2
    assert "above $1.00; add --yes to run it" in result.stderr.strip().splitlines()[-1]
    assert chat_requests(openai) == []
    assert "no batches yet" in sparklio("batch", "list", env={}).stdout
    listed = json.loads(sparklio("batch", "list", "--json", env={}).stdout)
    assert listed == []


def test_fifty_rows_at_concurrency_eight(tmp_path: Path, openai, team_mode: str | None) -> None:
    source = rows_csv(tmp_path / "rows.csv", 50)
    out = tmp_path / "results.jsonl"
    result = sparklio(*batch_args(source, "--concurrency", "8", "--out", str(out), "--yes", "--json"),
                      env=env_for(openai))  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert (payload["total"], payload["done"], payload["failed"], payload["status"]) == (50, 50, 0, "done")
    assert Decimal(payload["estimate"]["total_usd"]) > Decimal(1)
    records = results(out)
    assert sorted(r["row"] for r in records) == list(range(1, 51))
    assert all(r["outcome"] == "done" and r["output"] == openai.reply_text for r in records)
    assert sum(Decimal(r["cost_usd"]) for r in records) == Decimal(payload["cost_usd"]) > 0
    assert len(chat_requests(openai)) == 50
    answered = query(paths.ledger_path(), "SELECT COUNT(DISTINCT request_id) FROM llm_usage WHERE outcome = 'ok'")[0][0]
    runs = {run for (run,) in query(paths.ledger_path(), "SELECT DISTINCT run_id FROM llm_usage")}
    assert answered == 50
    assert runs == {payload["id"]}  # every row's attempts carry the batch's id (history --run)
    assert {r["request_id"] for r in records} == {r["request_id"] for r in records if r["request_id"]}
    status = json.loads(sparklio("batch", "status", payload["id"], "--json", env={}).stdout)
    assert {"total", "done", "failed", "cost_usd"} <= set(status)
    assert (status["total"], status["done"], status["failed"], status["cost_usd"]) == (50, 50, 0, payload["cost_usd"])
    text = sparklio("batch", "status", payload["id"][:6], env={}).stdout
    assert text.startswith(f"batch {payload['id']}: done; 50 done, 0 failed")


def test_csv_results_and_a_failed_row(tmp_path: Path, openai) -> None:
    from tests.fakes.loopback import Fault

    source = rows_csv(tmp_path / "rows.csv", 3)
    out = tmp_path / "results.csv"
    openai.script(Fault(status=400, message="blocked by policy", error_type="invalid_request_error"))
    result = sparklio(*batch_args(source, "--concurrency", "1", "--out", str(out), "--budget", "low", "--yes"),
                      env=env_for(openai))  # fmt: skip
    assert result.returncode == 1, result.stderr  # a failed row: exit 1, the batch is still done
    import csv

    with open(out, newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    assert sorted(int(r["row"]) for r in records) == [1, 2, 3]
    failed = [r for r in records if r["outcome"] == "failed"]
    assert len(failed) == 1 and "blocked by policy" in failed[0]["error"]


def _done_rows(status: str = "done") -> int:
    try:
        return int(query(paths.data_dir() / "batches.sqlite", "SELECT COUNT(*) FROM batch_rows WHERE status = ?",
                         (status,))[0][0])  # fmt: skip
    except (sqlite3.Error, psycopg.errors.UndefinedTable):  # not made yet
        return 0


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_killed_batch_resumes_without_sending_a_finished_row_twice(
    tmp_path: Path, openai, team_mode: str | None
) -> None:
    rows, concurrency = 40, 4
    openai.chunk_interval_s = 0.02  # each answer streams for ~0.15 s: the kill lands with rows in flight
    source = rows_csv(tmp_path / "rows.csv", rows)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop",
         *batch_args(source, "--concurrency", str(concurrency), "--out", str(out), "--yes")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env_for(openai)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while _done_rows() < 12:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.02)
    proc.kill()
    proc.communicate()
    assert _done_rows("running") >= 1  # rows were in flight: the case a resume must settle
    sent_before = len(chat_requests(openai))
    assert sent_before < rows, "the batch finished before the kill"
    listed = json.loads(sparklio("batch", "list", "--json", env={}).stdout)
    batch_id = listed[0]["id"]
    assert listed[0]["status"] == "running" and listed[0]["active"] is False and listed[0]["done"] < rows
    assert "stopped (its process is gone" in sparklio("batch", "status", batch_id, env={}).stdout

    resumed = sparklio("batch", "resume", batch_id, "--json", env=env_for(openai))
    assert resumed.returncode == 0, resumed.stderr
    payload = json.loads(resumed.stdout)
    assert (payload["done"], payload["failed"], payload["status"]) == (rows, 0, "done")
    records = results(out)
    assert sorted(r["row"] for r in records) == list(range(1, rows + 1))  # every row once
    assert len(chat_requests(openai)) <= rows + concurrency
    assert payload["sent"] <= rows - sent_before + concurrency
    # Nothing is left in flight in the ledger, and every row's answer is one ledger request.
    in_flight = query(paths.ledger_path(), "SELECT COUNT(*) FROM llm_usage WHERE outcome = 'in_flight'")[0][0]
    answered = query(paths.ledger_path(), "SELECT COUNT(DISTINCT request_id) FROM llm_usage WHERE outcome = 'ok'")[0][0]
    assert in_flight == 0 and answered == rows
    sent = len(chat_requests(openai))
    again = json.loads(sparklio("batch", "resume", batch_id, "--json", env=env_for(openai)).stdout)
    assert again["status"] == "done" and again["done"] == rows and len(chat_requests(openai)) == sent


def test_cancel_stops_a_batch_and_refuses_its_resume(tmp_path: Path, openai, team_mode: str | None) -> None:
    # Each row streams for ~1.4 s: the three commands before the cancel (each a new process,
    # 2-3 s apiece on a loaded 2-core machine) must not outlast the batch.
    openai.chunk_interval_s = 0.15
    source = rows_csv(tmp_path / "rows.csv", 30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *batch_args(source, "--concurrency", "2", "--yes", "--json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env_for(openai)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while _done_rows() < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    running = json.loads(sparklio("batch", "list", "--json", env={}).stdout)[0]
    assert running["status"] == "running" and running["active"] is True
    batch_id = running["id"]
    busy = sparklio("batch", "resume", batch_id, env=env_for(openai))
    assert busy.returncode == 2 and "is being run by process" in busy.stderr
    cancelled = sparklio("batch", "cancel", batch_id, "--json", env={})
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    stdout, stderr = proc.communicate(timeout=120)
    payload = json.loads(stdout)
    assert payload["status"] == "cancelled" and payload["done"] < 30, stderr
    refused = sparklio("batch", "resume", batch_id, env=env_for(openai))
    assert refused.returncode == 2 and "was cancelled" in refused.stderr
    missing = sparklio("batch", "status", "feedfeed", env={})
    assert missing.returncode == 2 and "no batch 'feedfeed'" in missing.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM handling needs add_signal_handler")
def test_sigterm_pauses_the_batch_and_resume_finishes_it(tmp_path: Path, openai) -> None:
    import signal

    openai.chunk_interval_s = 0.05
    rows = 20
    source = rows_csv(tmp_path / "rows.csv", rows)
    out = tmp_path / "results.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *batch_args(source, "--concurrency", "3", "--out", str(out),
                                                               "--yes", "--json")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env_for(openai)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while _done_rows() < 3:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 143, stderr
    payload = json.loads(stdout)
    assert payload["status"] == "paused" and payload["running"] == 0 and payload["done"] < rows
    assert f"sparklio batch resume {payload['id']}" in stderr
    ledger = sqlite3.connect(paths.ledger_path())
    in_flight = ledger.execute("SELECT COUNT(*) FROM llm_usage WHERE outcome = 'in_flight'").fetchone()[0]
    ledger.close()
    assert in_flight == 0  # the attempts cut off were recorded as the dispatcher does
    resumed = sparklio("batch", "resume", payload["id"], "--json", env=env_for(openai))
    assert json.loads(resumed.stdout)["done"] == rows, resumed.stderr
    assert sorted(r["row"] for r in results(out)) == list(range(1, rows + 1))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process group")
def test_ctrl_c_pauses_the_batch_with_its_rows_back_to_pending(tmp_path: Path, openai) -> None:
    import signal

    openai.chunk_interval_s = 0.05
    source = rows_csv(tmp_path / "rows.csv", 20)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *batch_args(source, "--concurrency", "3", "--yes")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env_for(openai)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while _done_rows() < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    status = json.loads(sparklio("batch", "list", "--json", env={}).stdout)[0]
    assert status["status"] == "paused" and status["running"] == 0 and status["done"] < 20


def test_a_team_database_that_is_down_is_one_line(tmp_path: Path, postgres_server) -> None:
    from tests.postgres_server import free_port

    url = f"postgresql+psycopg://sparklio:secret-pw@127.0.0.1:{free_port()}/team"
    for args in (("batch", "list"), ("batch", "status", "feedfeed")):
        result = sparklio(*args, env={DATABASE_URL_ENV: url})
        assert result.returncode == 1, result.stderr  # the server, not the command: as the ledger's commands
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot reach the server" in lines[0] and "secret-pw" not in lines[0]
        assert "Traceback" not in result.stderr
