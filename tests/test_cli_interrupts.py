"""``sparklio run`` killed or stopped mid-stream: every attempt the provider bills is on the
ledger, and no money stays reserved once the process is gone.

Real subprocesses, a real SQLite file and the loopback Anthropic server, which streams
one word every ``chunk_interval_s`` so the signal lands while the answer is arriving.
"""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.settings.paths import ledger_path
from tests.fakes.anthropic_server import AnthropicServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP, SIGKILL and select() on pipes are POSIX")
KEY = "sk-ant-cli-test-0123456789abcdef"
WORDS = 60
PROMPT = "Three captions for our autumn coffee launch"


@pytest.fixture
def slow_anthropic():
    with AnthropicServer() as server:
        server.reply_text = " ".join(f"w{i}" for i in range(WORDS))
        server.chunk_interval_s = 0.25  # a 15 s answer: every signal lands mid-stream
        yield server


def start_run(server: AnthropicServer) -> subprocess.Popen:
    env = {**os.environ, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sparklio_desktop",
            "run",
            "--task",
            "copywriting_standard",
            "--prompt",
            PROMPT,
            "--no-explore",
            "--no-cache",
            "--stream",
        ],  # --stream: live output on a pipe
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def read_words(proc: subprocess.Popen, at_least: int, deadline_s: float = 300) -> str:
    """Read the answer's standard output until ``at_least`` words have arrived."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    text = b""
    deadline = time.monotonic() + deadline_s
    while len(text.split()) < at_least:
        left = deadline - time.monotonic()
        assert left > 0, f"no answer streamed in time; stderr: {proc.stderr.read() if proc.stderr else ''}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            data = os.read(fd, 4096)
            assert data, f"the run ended early (status {proc.wait()}): {proc.stderr.read() if proc.stderr else ''}"
            text += data
    return text.decode()


def raw(query: str) -> list[tuple]:
    """Rows read straight from the file, without opening a store (which would reclaim)."""
    db = sqlite3.connect(ledger_path())
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()


def test_runs_killed_mid_stream_leave_every_attempt_and_no_reservation(slow_anthropic) -> None:
    runs, wave = 15, 5  # in waves, so a busy machine still starts each run well within its stream
    procs: list[subprocess.Popen] = []
    try:
        for _ in range(runs // wave):
            started = [start_run(slow_anthropic) for _ in range(wave)]
            procs += started
            for proc in started:
                read_words(proc, 2)
                proc.kill()  # SIGKILL: nothing in the process runs any more
            for proc in started:
                proc.wait(timeout=60)  # gone before the next wave opens the ledger
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=60)
    sent = [r for r in slow_anthropic.requests if r.path.endswith("/messages")]
    assert len(sent) == runs

    rows = raw("SELECT outcome, owner_pid FROM llm_usage")
    assert len(rows) == runs  # every attempt sent has its row
    assert {row[1] for row in rows} == {proc.pid for proc in procs}
    # Each wave's runs closed what the killed runs before them had left; the last wave's
    # attempts are still open, their reservations held, until the next start.
    last = {proc.pid for proc in procs[-wave:]}
    assert sorted(rows) == sorted(("in_flight" if pid in last else "interrupted", pid) for _, pid in rows)
    assert raw("SELECT COUNT(*) FROM budget_reservations") == [(wave,)]

    with LedgerStore.open() as store:  # the next start closes what the dead processes left
        month = raw("SELECT substr(ts_utc, 1, 7) FROM llm_usage LIMIT 1")[0][0]
        spent = store.month_spend(month)
        closed = [a for row in raw("SELECT DISTINCT request_id FROM llm_usage") for a in store.attempts(row[0])]
    assert len(closed) == runs
    for attempt in closed:
        assert attempt.outcome == "interrupted" and attempt.usage_source == "estimate"
        assert attempt.cost_usd == attempt.start_cost_usd > 0  # the input estimate, priced
        assert attempt.worst_case_usd is not None and attempt.worst_case_usd > attempt.cost_usd
    assert spent == sum(a.cost_usd for a in closed)
    assert raw("SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert raw("SELECT SUM(attempts), SUM(cost_usd) FROM usage_daily") == raw(
        "SELECT COUNT(*), SUM(cost_usd) FROM llm_usage"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, getattr(signal, "SIGHUP", 1)], ids=["SIGTERM", "SIGHUP"])
def test_a_stopped_run_records_the_attempt_as_interrupted(slow_anthropic, signum: int) -> None:
    proc = start_run(slow_anthropic)
    try:
        received = read_words(proc, 4)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 128 + signum, err
    assert b"Traceback" not in err

    rows = raw("SELECT request_id, outcome, output_tokens, usage_source, owner_pid FROM llm_usage")
    assert len(rows) == 1
    request_id, outcome, output_tokens, source, owner = rows[0]
    assert (outcome, source, owner) == ("interrupted", "estimate", proc.pid)
    assert len(received.split()) <= output_tokens < WORDS  # what had arrived, not the whole answer
    assert raw("SELECT COUNT(*) FROM budget_reservations") == [(0,)]
    assert raw("SELECT final_model_id FROM decisions") == [(None,)]

    with LedgerStore.open() as store:
        (attempt,) = store.attempts(request_id)
        assert attempt.outcome == "interrupted"  # opening found nothing more to close
        assert attempt.cost_usd > attempt.start_cost_usd  # input estimate + the received output
        assert store.month_spend(attempt.ts_utc.strftime("%Y-%m")) == attempt.cost_usd
        assert attempt.cost_usd == Decimal(attempt.input_tokens * 3 + attempt.output_tokens * 15) / 10**6
