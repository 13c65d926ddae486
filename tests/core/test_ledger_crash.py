"""A process killed while writing leaves a ledger that opens, checks clean, and keeps every committed row."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger import LedgerStore

REPO = Path(__file__).resolve().parents[2]

# Writes attempts one by one and prints each id once record_attempt has returned
# (that is, once its transaction committed). In "exit" mode another thread calls
# os._exit at an arbitrary moment of the writing loop.
CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from datetime import UTC, datetime
    from decimal import Decimal
    from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore

    path, mode, stop_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = LedgerStore.open(path)
    written = threading.Event()
    if mode == "exit":
        threading.Thread(target=lambda: (written.wait(), os._exit(3)), daemon=True).start()
    i = 0
    while True:
        i += 1
        store.record_attempt(AttemptRecord(
            request_id=f"r{i}", attempt=1, ts_utc=datetime(2025, 3, 1, tzinfo=UTC),
            task_type="chat", model_id="m", provider="openai",
            outcome="ok", cost_usd=Decimal("0.000001"), error_message="x" * 500))
        print(i, flush=True)
        if i == stop_after:
            written.set()
    """
)


def _run_child(path: Path, mode: str, stop_after: int) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), mode, str(stop_after)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: list[str] = []
    assert proc.stdout is not None
    try:
        if mode == "kill":
            for line in proc.stdout:
                acknowledged.append(line.strip())
                if len(acknowledged) >= stop_after:
                    proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
                    break
        # Read the rest through the same file object: lines the iterator had already
        # buffered would be lost to communicate(), which reads the pipe underneath it.
        rest = proc.stdout.read()
        err = proc.stderr.read() if proc.stderr is not None else ""
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits, and closes both pipes
    acknowledged.extend(line.strip() for line in rest.splitlines() if line.strip())
    assert len(acknowledged) >= stop_after, err
    return {f"r{n}" for n in acknowledged}


@pytest.mark.parametrize("mode", ["kill", "exit"])
def test_killed_writer_leaves_a_sound_ledger(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "ledger.sqlite3"
    committed = _run_child(path, mode, stop_after=300)

    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in db.execute("SELECT request_id FROM llm_usage")}
        rolled = db.execute("SELECT SUM(attempts), SUM(cost_usd) FROM usage_daily").fetchone()
        direct = db.execute("SELECT COUNT(*), SUM(cost_usd) FROM llm_usage").fetchone()
    finally:
        db.close()
    assert committed <= stored
    assert len(stored) - len(committed) <= 1  # at most the row committed but not yet reported
    assert rolled == direct

    with LedgerStore.open(path) as store:
        assert store.month_spend("2025-03") == Decimal("0.000001") * len(stored)
