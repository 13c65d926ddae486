"""Re-measures the hardening figures of issue 9 in one run, against loopback fakes only.

(i)   faults survived: the fault matrix of tests/core/test_fault_matrix.py (12 fault kinds
      x the four wire formats), each case one ``sparklio run --json`` subprocess (or, with
      ``--matrix dispatcher``, the Dispatcher in this process, with the test's injected
      sleep): ended in an answer or a clear error (exit 0/1, JSON on stdout, no traceback),
      every attempt a ledger row with the expected outcome, none left in_flight, no
      reservation left, partial streams of paid models costed, no key in any output.
(ii)  rows lost after kill -9 and after SIGTERM mid-stream: real ``sparklio run --stream``
      processes against the slow loopback Anthropic server (tests/test_cli_interrupts.py);
      attempts the fake received vs ledger rows after the next open.
(iii) overshoot: N concurrent ``sparklio run`` processes against a $0.01 cap (``stop`` at
      the cap) -> spend over the cap; and a request longer than 10 minutes (the budget's
      clock moved 11 minutes on while it streams, tests/core/test_attempt_lifecycle.py)
      -> a second request admitted or not, spend as % of the cap.
(iv)  keys outside the keyring: runs with distinctive fake keys in the environment (one of
      them echoed back by a 401), then every file under SPARKLIO_HOME and the stdout and
      stderr of run, history --json, show --json, spend --json and doctor --json are
      searched for the key strings.

Every server is a loopback fake on 127.0.0.1; HTTP(S)_PROXY points at a dead loopback port
with NO_PROXY=127.0.0.1,localhost, so anything that tried another address would fail, not
leave the machine. The whole run is bounded by ``--max-seconds``.

Run: PYTHONPATH=$PWD /work/main/.venv/bin/python benchmarks/probe_hardening.py [--quick]
     [--kills 15] [--terms 5] [--concurrent 40] [--matrix cli|dispatcher] [--max-seconds 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
_HOME_ROOT = Path(tempfile.mkdtemp(prefix="sparklio-probe-"))
os.environ["SPARKLIO_HOME"] = str(_HOME_ROOT / "default")
os.environ["HF_HUB_OFFLINE"] = "1"
# Nothing may leave the machine: a proxy that does not exist for every non-loopback host.
for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ[_name] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _name in (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
    "GOOGLE_GEMINI_BASE_URL",
):
    os.environ.pop(_name, None)
os.environ["OLLAMA_HOST"] = "http://127.0.0.1:9"
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)

from sparklio_desktop.core.budget import BudgetGuard  # noqa: E402
from sparklio_desktop.core.dispatch import RunRequest, TextChunk  # noqa: E402
from sparklio_desktop.core.ledger import LedgerStore  # noqa: E402
from sparklio_desktop.core.routing.router import RouteRequest  # noqa: E402
from tests.core.test_dispatch_stalls import WIRES, policy_text, running_fakes  # noqa: E402
from tests.core.test_fault_matrix import (  # noqa: E402
    FAULTED,
    HEALTHY,
    KEYS,
    KINDS,
    REFUSAL,
    SHORT_RETRY_S,
    check_case,
    run_case,
    set_slow,
)
from tests.fakes.anthropic_server import AnthropicServer  # noqa: E402
from tests.fakes.loopback import Fault  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402

PY = sys.executable


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def timeout(self, cap: float) -> float:
        left = self.left()
        if left <= 1:
            raise TimeoutError("the probe's time (--max-seconds) is spent")
        return min(cap, left)


def sparklio(
    args: list[str], env: dict[str, str], deadline: Deadline, cap_s: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "sparklio_desktop", *args], env=env, capture_output=True, timeout=deadline.timeout(cap_s)
    )


def home(name: str) -> Path:
    path = _HOME_ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def raw(ledger: Path, query: str, params: tuple = ()) -> list[tuple]:
    db = sqlite3.connect(ledger)
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def traceback_in(data: bytes) -> bool:
    return b"Traceback (most recent call last)" in data


@contextlib.contextmanager
def fakes_env() -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    env: dict[str, str] = {}
    with running_fakes(env.__setitem__) as servers:
        yield servers, env


# -- (i) the fault matrix ---------------------------------------------------------------------
CLI_IDLE_S, CLI_FIRST_S = 1.0, 5.0  # a fresh process imports its SDKs inside the first-token wait


def cli_policy(wire) -> str:
    """The test's two-model policy; ``run --task`` takes only the shipped task names, so the
    probe task takes the place of ``chat``."""
    text = policy_text(wire.model, wire.healthy, idle_s=CLI_IDLE_S, first_s=CLI_FIRST_S)
    text = text.replace("\n  chat:\n", "\n  chat_shipped:\n", 1).replace("\n  stall_probe:\n", "\n  chat:\n", 1)
    return text.replace("backoff_s: [1, 2, 4]", "backoff_s: [0.05, 0.1, 0.2]")


def cli_case(wire, kind, servers, env: dict[str, str], folder: Path, deadline: Deadline) -> tuple[list[str], dict]:
    """Runs one matrix case through ``sparklio run --json``; returns the problems found."""
    faulted = servers[wire.name]
    fault = kind.fault(wire)
    if fault is not None:
        if fault.status == 429 and fault.headers.get("Retry-After") == str(SHORT_RETRY_S):
            fault.headers = {"Retry-After": "1"}  # a real wait here: keep it short
        fault.path_contains = wire.path
        faulted.script(fault)
    if kind.slow:
        faulted.reply_text = " ".join(f"w{i}" for i in range(12))
        set_slow(faulted, CLI_IDLE_S / 6)
    ledger = folder / "ledger.sqlite3"
    proc = sparklio(
        ["run", "--task", "chat", "--prompt", "Three captions, please", "--no-explore", "--no-cache", "--json"],
        {**os.environ, **env, "SPARKLIO_HOME": str(folder)},
        deadline,
    )
    problems: list[str] = []
    if proc.returncode not in (0, 1):
        problems.append(f"exit status {proc.returncode}")
    if traceback_in(proc.stdout + proc.stderr):
        problems.append("traceback")
    try:
        out = json.loads(proc.stdout)
    except ValueError:
        return problems + [f"no JSON on stdout: {proc.stderr.decode(errors='replace')[-300:]}"], {}
    whose = {FAULTED: wire.model, HEALTHY: wire.healthy}
    expected = [(whose[w], o) for w, o in kind.attempts]
    got = [(a["model"], a["outcome"]) for a in out.get("attempts", [])]
    if got != expected:
        problems.append(f"attempts {got} != {expected}")
    waited = [a.get("waited_s") for a in out.get("attempts", [])]
    if kind.waits:  # the retry waited the server's Retry-After (1 s here), else the policy's first backoff
        wanted = 1.0 if fault is not None and fault.status == 429 else 0.05
        if waited[1:] != [wanted]:
            problems.append(f"waits {waited} (expected {wanted} before the retry)")
    answered = out.get("model") is not None and not out.get("error")
    if answered != kind.answered:
        problems.append(f"answered={answered}, error={out.get('error')!r}")
    if not kind.answered and REFUSAL not in (out.get("error") or ""):
        problems.append("the provider's message is missing from the error")
    rows = raw(
        ledger,
        "SELECT attempt, outcome, cost_usd FROM llm_usage WHERE request_id = ? ORDER BY attempt",
        (out.get("request_id", ""),),
    )
    if [r[1] for r in rows] != [a["outcome"] for a in out.get("attempts", [])]:
        problems.append(f"ledger rows {rows} do not match the attempts")
    if raw(ledger, "SELECT COUNT(*) FROM llm_usage WHERE outcome = 'in_flight'")[0][0]:
        problems.append("in_flight row left")
    if raw(ledger, "SELECT COUNT(*) FROM budget_reservations")[0][0]:
        problems.append("reservation left")
    attempts = out.get("attempts", [])
    partial = None
    if kind.partial and attempts:
        first = attempts[0]
        partial = (first["output_tokens"] > 0, Decimal(str(first["cost_usd"])) > 0)
        free = wire.name == "ollama"
        if not partial[0] or not (free or partial[1]):
            problems.append(f"partial stream not costed: {first}")
    seen = proc.stdout + proc.stderr + files_bytes(folder)
    for provider, key in KEYS.items():
        if key.encode() in seen:
            problems.append(f"{provider} key found")
    return problems, {"partial": partial, "attempts": len(attempts), "rows": len(rows)}


def probe_matrix(mode: str, deadline: Deadline) -> dict[str, Any]:
    cases, failed, attempts, rows, partials, partials_costed = 0, [], 0, 0, 0, 0
    started = time.monotonic()
    with fakes_env() as (servers, env):
        knobs = {
            name: (s.reply_text, getattr(s, "chunk_interval_s", getattr(s, "interval_s", 0.0)))
            for name, s in servers.items()
        }
        for wire in WIRES:
            folder = home(f"matrix-{wire.name}")
            (folder / "policy.yaml").write_text(cli_policy(wire), encoding="utf-8")
            for kind in KINDS:
                for name, server in servers.items():
                    server.clear_script()
                    server.reply_text = knobs[name][0]
                    set_slow(server, knobs[name][1])
                cases += 1
                label = f"{wire.name}/{kind.name}"
                try:
                    if mode == "cli":
                        problems, facts = cli_case(wire, kind, servers, env, folder, deadline)
                        attempts += facts.get("attempts", 0)
                        rows += facts.get("rows", 0)
                        partial = facts.get("partial")
                    else:
                        deadline.timeout(60)
                        saved = {k: os.environ.get(k) for k in env}
                        os.environ.update(env)
                        try:
                            with tempfile.TemporaryDirectory() as tmp:
                                run = run_case(Path(tmp), wire, kind, servers)
                        finally:
                            for k, v in saved.items():
                                if v is None:
                                    os.environ.pop(k, None)
                                else:
                                    os.environ[k] = v
                        attempts += len(run.result.attempts)
                        rows += len(run.rows)
                        first = run.result.attempts[0] if run.result.attempts else None
                        partial = (first.output_tokens > 0, first.cost_usd > 0) if kind.partial and first else None
                        try:
                            check_case(run, wire, kind)
                            problems = []
                        except AssertionError as exc:
                            problems = [f"assertion: {str(exc)[:200]}"]
                except TimeoutError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an escaped exception is what we count
                    problems = [f"{type(exc).__name__}: {exc}"]
                    partial = None
                if partial is not None:
                    partials += 1
                    partials_costed += int(partial[0] and (wire.name == "ollama" or partial[1]))
                if problems:
                    failed.append(f"{label}: {'; '.join(problems)}")
    return {
        "mode": mode,
        "cases": cases,
        "survived": cases - len(failed),
        "failed": failed,
        "attempts": attempts,
        "rows": rows,
        "partial_streams": partials,
        "partial_streams_costed": partials_costed,
        "seconds": round(time.monotonic() - started, 1),
    }


# -- (ii) kill -9 and SIGTERM mid-stream --------------------------------------------------------
def probe_signals(kills: int, terms: int, deadline: Deadline) -> dict[str, Any]:
    from tests.test_cli_interrupts import KEY, PROMPT, WORDS

    def start(server: AnthropicServer, env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [
                PY,
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
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**env, "ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url},
        )

    def read_words(proc: subprocess.Popen, at_least: int) -> bool:
        import select

        fd, text = proc.stdout.fileno(), b""
        while len(text.split()) < at_least:
            left = deadline.timeout(120)
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return False
            data = os.read(fd, 4096)
            if not data:
                return False
            text += data
        return True

    out: dict[str, Any] = {}
    for label, count, signum in (("kill -9", kills, signal.SIGKILL), ("SIGTERM", terms, signal.SIGTERM)):
        folder = home(f"signals-{signum}")
        env = {**os.environ, "SPARKLIO_HOME": str(folder)}
        started = time.monotonic()
        procs: list[subprocess.Popen] = []
        late = 0
        with AnthropicServer() as server:
            server.reply_text = " ".join(f"w{i}" for i in range(WORDS))
            server.chunk_interval_s = 0.25
            try:
                wave = 5
                for first in range(0, count, wave):
                    batch = [start(server, env) for _ in range(min(wave, count - first))]
                    procs += batch
                    for proc in batch:
                        if not read_words(proc, 2):
                            late += 1  # it ended or said nothing: counted, signalled anyway
                        proc.send_signal(signum)
                    for proc in batch:
                        proc.communicate(timeout=deadline.timeout(60))
            finally:
                for proc in procs:
                    if proc.poll() is None:
                        proc.kill()
                        proc.communicate()
            sent = len([r for r in server.requests if r.path.endswith("/messages")])
        ledger = folder / "ledger.sqlite3"
        before = raw(ledger, "SELECT outcome, COUNT(*) FROM llm_usage GROUP BY outcome") if ledger.exists() else []
        with LedgerStore.open(ledger):  # the next start closes what the ended processes left
            pass
        rows = raw(ledger, "SELECT outcome, COUNT(*) FROM llm_usage GROUP BY outcome") if ledger.exists() else []
        held = raw(ledger, "SELECT COUNT(*) FROM budget_reservations")[0][0] if ledger.exists() else 0
        costed = (
            raw(ledger, "SELECT COUNT(*) FROM llm_usage WHERE CAST(cost_usd AS REAL) > 0")[0][0]
            if ledger.exists()
            else 0
        )
        total = sum(n for _, n in rows)
        out[label] = {
            "runs": count,
            "attempts_sent": sent,
            "rows_after_next_open": total,
            "rows_lost": sent - total,
            "rows_before_reopen": dict(before),
            "outcomes": dict(rows),
            "rows_costed": costed,
            "reservations_held": held,
            "not_mid_stream": late,
            "exit_statuses": sorted({p.returncode for p in procs}),
            "seconds": round(time.monotonic() - started, 1),
        }
    return out


# -- (iii) overshoot --------------------------------------------------------------------------------
def probe_concurrency(n: int, deadline: Deadline) -> dict[str, Any]:
    cap = Decimal("0.01")
    folder = home("concurrency")
    base = {**os.environ, "SPARKLIO_HOME": str(folder)}
    for setting, value in (("budget.monthly_usd", "0.01"), ("budget.at_cap", "stop")):
        done = sparklio(["config", "set", setting, value], base, deadline)
        if done.returncode:
            return {"error": f"config set {setting}: {done.stderr.decode(errors='replace').strip()}"}
    started = time.monotonic()
    with OpenAIServer() as server:
        server.usage = (50, 1000)  # GPT-3.5 Turbo: $0.001525 an answer; each reserves its worst case
        server.chunk_interval_s = 0.005
        env = {**base, "OPENAI_API_KEY": "sk-probe-concurrency-0123456789abcdef", "OPENAI_BASE_URL": server.api_url}
        procs = [
            subprocess.Popen(
                [
                    PY,
                    "-m",
                    "sparklio_desktop",
                    "run",
                    "--task",
                    "copywriting_standard",
                    "--model",
                    "openai/gpt-3.5-turbo",
                    "--prompt",
                    f"caption {i}",
                    "--no-cache",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
            for i in range(n)
        ]
        results = []
        try:
            for proc in procs:
                stdout, stderr = proc.communicate(timeout=deadline.timeout(300))
                results.append((proc.returncode, stdout, stderr))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.communicate()
        calls = len([r for r in server.requests if r.path.endswith("/chat/completions")])
    with LedgerStore.open(folder / "ledger.sqlite3") as store:
        month = BudgetGuard(store, cap, "stop").status().month
        spent = store.month_spend(month)
    answered = sum(1 for rc, _, _ in results if rc == 0)
    tracebacks = sum(1 for _, o, e in results if traceback_in(o + e))
    reasons: dict[str, int] = {}  # why the others did not answer, first 120 characters each
    for rc, stdout, stderr in results:
        if rc:
            try:
                why = json.loads(stdout).get("error") or ""
            except ValueError:
                why = (stderr.decode(errors="replace").strip().splitlines() or [f"exit {rc}"])[-1]
            reasons[why[:120]] = reasons.get(why[:120], 0) + 1
    return {
        "runs": n,
        "cap_usd": str(cap),
        "answered": answered,
        "refused": n - answered,
        "provider_calls": calls,
        "spent_usd": str(spent),
        "overshoot_usd": str(max(Decimal(0), spent - cap)),
        "tracebacks": tracebacks,
        "refusals": reasons,
        "seconds": round(time.monotonic() - started, 1),
    }


def probe_long_request(deadline: Deadline) -> dict[str, Any]:
    from tests.core.test_attempt_lifecycle import T0
    from tests.core.test_dispatch import ANTHROPIC_KEY, Harness

    deadline.timeout(60)
    cap = Decimal("0.02")  # one worst case fits, two do not
    folder = home("long-request")
    policy = folder / "policy.yaml"
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    policy.write_text(
        shipped_policy_path()
        .read_text(encoding="utf-8")
        .replace("backoff_s: [1, 2, 4]", "backoff_s: [0.01, 0.02, 0.04]"),
        encoding="utf-8",
    )
    with AnthropicServer() as anthropic:
        saved = {k: os.environ.get(k) for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "SPARKLIO_HOME")}
        os.environ.update(
            {"ANTHROPIC_API_KEY": ANTHROPIC_KEY, "ANTHROPIC_BASE_URL": anthropic.base_url, "SPARKLIO_HOME": str(folder)}
        )
        anthropic.reply_text = " ".join(f"w{i}" for i in range(30))
        anthropic.chunk_interval_s = 0.02
        h = Harness(folder, policy, budget_usd=cap, at_cap="stop")
        now = [T0]
        h.dispatcher.budget = BudgetGuard(h.ledger, cap, "stop", clock=lambda: now[0])

        def request(prompt: str) -> RunRequest:
            return RunRequest(
                route=RouteRequest(task="copywriting_standard", prompt=prompt, explore=False), use_cache=False
            )

        async def go():
            try:
                first = h.dispatcher.stream(request("a long batch caption job"))
                async for event in first:
                    if isinstance(event, TextChunk):
                        break
                now[0] = T0 + timedelta(minutes=11)  # the first request is still streaming
                second = await h.dispatcher.run(request("another caption"))
                rest = [event async for event in first]
                return second, rest
            finally:
                await h.dispatcher.aclose()

        try:
            second, rest = asyncio.run(go())
            # Rows carry the real time, not the guard's clock: sum both requests' attempts.
            spent = sum(
                (a.cost_usd for r in (second, rest[-1].result) for a in h.ledger.attempts(r.request_id)), Decimal(0)
            )
        finally:
            h.close()
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    return {
        "cap_usd": str(cap),
        "first_answered": rest[-1].result.ok,
        "second_admitted": second.ok,
        "second_error": second.error,
        "spent_usd": str(spent),
        "spent_percent_of_cap": str((spent / cap * 100).quantize(Decimal("0.1"))),
    }


# -- (iv) keys -----------------------------------------------------------------------------------------
def probe_keys(deadline: Deadline) -> dict[str, Any]:
    stamp = os.urandom(6).hex()
    keys = {
        "openai": f"sk-probe-openai-{stamp}-0123456789",
        "anthropic": f"sk-ant-probe-{stamp}-0123456789",
        "google": f"AIzaProbe{stamp}0123456789abcdefghij",
    }
    folder = home("keys")
    seen: dict[str, bytes] = {}
    with fakes_env() as (servers, env):
        env = {
            **os.environ,
            **env,
            "SPARKLIO_HOME": str(folder),
            "OPENAI_API_KEY": keys["openai"],
            "ANTHROPIC_API_KEY": keys["anthropic"],
            "GEMINI_API_KEY": keys["google"],
        }
        # An Anthropic 401 that echoes the key back, then the fallback answers.
        servers["anthropic"].script(
            Fault(
                status=401,
                error_type="authentication_error",
                message=f"invalid x-api-key: {keys['anthropic']}",
                path_contains="/v1/messages",
            )
        )
        servers["openai"].script(
            Fault(status=400, message=f"bad request sent with {keys['openai']}", path_contains="/chat/completions")
        )
        runs = [
            ["--task", "copywriting_standard"],
            ["--task", "copywriting_standard", "--model", "openai/gpt-4"],
            ["--task", "copywriting_standard", "--model", "google/gemini-2.0-flash"],
            ["--task", "copywriting_standard", "--model", "anthropic/claude-3-5-sonnet"],
        ]
        ids, answered, runs_done = [], 0, 0
        for i, extra in enumerate(runs):
            for fmt in (["--json"], []):
                cache = ["--no-cache"] if i else []  # the first run also fills the response cache
                proc = sparklio(
                    ["run", "--prompt", f"Caption {i} {fmt}", "--no-explore", *cache, *extra, *fmt], env, deadline
                )
                seen[f"run {' '.join(extra + fmt)}"] = proc.stdout + proc.stderr
                runs_done += 1
                answered += proc.returncode == 0
                if fmt:
                    with contextlib.suppress(ValueError):
                        ids.append(json.loads(proc.stdout)["request_id"])
        for args in (
            ["history", "--json"],
            ["spend", "--json"],
            ["doctor", "--json"],
            *[["show", rid, "--json"] for rid in ids],
        ):
            proc = sparklio(args, env, deadline)
            seen[" ".join(args)] = proc.stdout + proc.stderr
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            seen[f"file {path.relative_to(folder)}"] = path.read_bytes()
    found = [
        f"{provider} key in {where}"
        for where, data in seen.items()
        for provider, key in keys.items()
        if key.encode() in data
    ]
    return {
        "runs": runs_done,
        "runs_answered": answered,
        "places_searched": len(seen),
        "files_searched": sum(1 for k in seen if k.startswith("file ")),
        "outputs_searched": sum(1 for k in seen if not k.startswith("file ")),
        "keys_found": len(found),
        "where": found,
        "tracebacks": sum(1 for data in seen.values() if traceback_in(data)),
    }


# -- report ---------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fewer runs: kills 5, SIGTERM 2, 10 concurrent, the matrix through the Dispatcher",
    )
    parser.add_argument("--kills", type=int, default=None, help="runs killed with SIGKILL mid-stream (default 15)")
    parser.add_argument("--terms", type=int, default=None, help="runs stopped with SIGTERM mid-stream (default 5)")
    parser.add_argument("--concurrent", type=int, default=None, help="concurrent runs against the cap (default 40)")
    parser.add_argument(
        "--matrix",
        choices=("cli", "dispatcher"),
        default=None,
        help="run the fault matrix as `sparklio run --json` subprocesses (default) or in-process",
    )
    parser.add_argument("--max-seconds", type=float, default=1500, help="stop after this long (default 1500)")
    args = parser.parse_args()
    kills = args.kills if args.kills is not None else (5 if args.quick else 15)
    terms = args.terms if args.terms is not None else (2 if args.quick else 5)
    concurrent = args.concurrent if args.concurrent is not None else (10 if args.quick else 40)
    mode = args.matrix or ("dispatcher" if args.quick else "cli")
    if min(kills, terms, concurrent) < 1:
        parser.error("--kills, --terms and --concurrent must be at least 1")
    deadline = Deadline(args.max_seconds)
    report: dict[str, Any] = {}
    sections = [
        ("faults", lambda: probe_matrix(mode, deadline)),
        ("signals", lambda: probe_signals(kills, terms, deadline)),
        ("concurrency", lambda: probe_concurrency(concurrent, deadline)),
        ("long_request", lambda: probe_long_request(deadline)),
        ("keys", lambda: probe_keys(deadline)),
    ]
    started = time.monotonic()
    for name, probe in sections:
        try:
            report[name] = probe()
        except TimeoutError as exc:
            report[name] = {"skipped": str(exc)}
        except Exception as exc:  # noqa: BLE001 - a probe that breaks is reported, the others still run
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"[{time.monotonic() - started:6.1f}s] {name} done", file=sys.stderr, flush=True)
    report["seconds"] = round(time.monotonic() - started, 1)

    f, s, c, lr, k = (report.get(n, {}) for n in ("faults", "signals", "concurrency", "long_request", "keys"))
    lines = [
        (
            "faults survived",
            f"{f.get('survived')} of {f.get('cases')} ended in an answer or a clear error "
            f"({f.get('mode')}); attempts {f.get('attempts')}, ledger rows {f.get('rows')}; "
            f"partial streams costed {f.get('partial_streams_costed')} of {f.get('partial_streams')}",
        ),
    ]
    for label in ("kill -9", "SIGTERM"):
        r = s.get(label, {})
        lines.append(
            (
                f"rows lost after {label}",
                f"{r.get('rows_lost')} ({r.get('attempts_sent')} attempts sent, "
                f"{r.get('rows_after_next_open')} rows; "
                f"reservations held {r.get('reservations_held')})",
            )
        )
    lines.append(
        (
            f"overshoot, {c.get('runs')} concurrent",
            f"${c.get('overshoot_usd')} over the ${c.get('cap_usd')} "
            f"cap (spent ${c.get('spent_usd')}, "
            f"{c.get('answered')} answered)",
        )
    )
    lines.append(
        (
            "request > 10 minutes",
            f"second request admitted: {lr.get('second_admitted')}; spend {lr.get('spent_percent_of_cap')}% of the cap",
        )
    )
    lines.append(
        (
            "keys outside the keyring",
            f"{k.get('keys_found')} found in {k.get('files_searched')} files and "
            f"{k.get('outputs_searched')} outputs ({k.get('runs_answered')} of "
            f"{k.get('runs')} runs answered)",
        )
    )
    width = max(len(a) for a, _ in lines)
    for label, value in lines:
        print(f"{label:<{width}}  {value}")
    for name, value in report.items():
        if isinstance(value, dict) and ("error" in value or "skipped" in value):
            print(f"{name}: {value}")
    if f.get("failed"):
        print("failed fault cases:\n  " + "\n  ".join(f["failed"]))
    print(json.dumps(report, indent=2, default=str))
    shutil.rmtree(_HOME_ROOT, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
