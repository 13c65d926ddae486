"""Fuzz the user's policy and catalog: no traceback, no hang, and what loads still routes.

Each mutant (tests/config_fuzz.py) is loaded in a worker process the way a command
starts; the worker routes every task with the result and prices its chain. The test
waits for each answer with a deadline, so a hang fails the test instead of stalling it.
``SPARKLIO_FUZZ_COUNT`` (mutants per file, default 60) and ``SPARKLIO_FUZZ_SEED`` widen
the search; a failure prints the seed, the mutant's index and what was done to it.
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

from sparklio_desktop.core.settings.paths import shipped_policy_path
from tests.config_fuzz import REPO, USER_CATALOG, mutants

COUNT = int(os.environ.get("SPARKLIO_FUZZ_COUNT", "60"))
SEED = int(os.environ.get("SPARKLIO_FUZZ_SEED", "9"))
DEADLINE_S = 20.0  # per mutant; a load takes milliseconds, a regression takes minutes


class Worker:
    """The worker process, restarted after a hang."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        env = dict(os.environ, SPARKLIO_HOME=str(self.home), PYTHONPATH=str(REPO))
        return subprocess.Popen(
            [sys.executable, "-m", "tests.config_fuzz"],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, kind: str, raw: bytes) -> dict:
        if self.proc is None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"kind": kind, "raw": base64.b64encode(raw).decode()}) + "\n")
        self.proc.stdin.flush()
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            # the first answer also waits for the worker's imports
            if not sel.select(DEADLINE_S):
                self.close()
                return {"outcome": "hang"}
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            return {"outcome": "died"}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass  # the pipe to a killed worker may refuse its last flush
            self.proc = None


def _fuzz(kind: str, base: str, tmp_path: Path) -> dict[str, int]:
    home = tmp_path / "worker-home"
    home.mkdir()
    worker = Worker(home)
    failures: list[str] = []
    tally = {"ok": 0, "rejected": 0}
    try:
        for index, (what, raw) in enumerate(mutants(base, SEED, COUNT)):
            answer = worker.ask(kind, raw)
            outcome = answer["outcome"]
            if outcome == "ok" or outcome.startswith("rejected"):
                tally[outcome.split(":")[0]] += 1
                continue
            saved = tmp_path / f"{kind}-mutant-{index}.yaml"
            saved.write_bytes(raw)
            failures.append(f"seed {SEED} #{index} ({what}) -> {outcome}, file {saved}\n{answer.get('traceback', '')}")
    finally:
        worker.close()
    assert not failures, f"{len(failures)} of {COUNT} {kind} mutants failed:\n" + "\n".join(failures[:5])
    return tally


def test_fuzzed_policies_load_or_fail_located(tmp_path):
    tally = _fuzz("policy", shipped_policy_path().read_text(encoding="utf-8"), tmp_path)
    # The mutator must produce both outcomes, or it tests nothing.
    assert tally["rejected"] > COUNT // 4 and tally["ok"] > 0, tally


def test_fuzzed_user_catalogs_load_or_fail_located(tmp_path):
    tally = _fuzz("catalog", USER_CATALOG, tmp_path)
    assert tally["rejected"] > COUNT // 4 and tally["ok"] > 0, tally


def test_mutator_is_reproducible():
    first = list(mutants(USER_CATALOG, 5, 20))
    assert first == list(mutants(USER_CATALOG, 5, 20))
    assert len({raw for _, raw in first}) > 15  # and it does vary


def test_a_hanging_load_is_reported_not_waited_for(tmp_path, monkeypatch):
    """The harness's own deadline works: a worker that never answers is a hang."""
    monkeypatch.setattr(sys.modules[__name__], "DEADLINE_S", 0.5)
    worker = Worker(tmp_path)
    worker.proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert worker.ask("policy", b"x: 1\n") == {"outcome": "hang"}
    finally:
        worker.close()
    assert worker.proc is None
