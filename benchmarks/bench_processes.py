"""Whole-process time of ``sparklio route --json``, ``spend`` and ``history``. A plain script.

Why whole processes: a command-line call pays for the interpreter, every import and
the parser before it does any work, and for a quick command that is nearly all of it.
The yardstick is a bare ``python -c "import openai"`` on the same machine, measured in
the same run (issue 10, "Numbers"): ``route --json`` should take at most 0.4 of it;
``spend`` and ``history`` should take half of what they took before SQLAlchemy left
their path.

Every sample is a fresh process (``python -m sparklio_desktop ...``, what ``sparklio``
runs), with its bytecode cached as an installed package has it; samples of all the
commands are interleaved, round after round, so a machine that drifts slows them alike;
the report is the median of ``--runs`` rounds, as wall time and as the CPU time the
process used (steadier on a shared machine). Two homes: a fresh one (no ledger yet)
and one whose ledger holds ``--rows`` attempts of the current month (default 10,000,
with their routing decisions, loaded once through the real schema so its triggers keep
the rollup as in real use) and a settings file with a budget that holds them.
``route --prompt`` is shown beside ``route``: counting a prompt's tokens loads the
cl100k BPE, about a quarter of ``import openai`` on its own.

Before/after in one run: ``--tree NAME=PATH`` (repeatable) runs the commands from
another checkout of the package, e.g. ``git archive HEAD | tar -x -C /tmp/head`` then
``python benchmarks/bench_processes.py --tree before=/tmp/head --tree after=.``.
Without ``--tree`` the checkout this script sits in is measured.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROUTE_RATIO_TARGET = 0.4
MODELS = [  # (model_id, provider, picodollars per attempt, roughly)
    ("gpt-4o", "openai", 6_000_000_000),
    ("gpt-4o-mini", "openai", 400_000_000),
    ("claude-sonnet-4-5", "anthropic", 9_000_000_000),
    ("gemini-2.0-flash", "google", 300_000_000),
    ("llama3.1:8b", "ollama", 0),
    ("dall-e-3", "openai", 40_000_000_000),
]
TASKS = ["chat", "summarize", "code_generation", "translation", "image_generation_fast"]
# A key in the environment gives routing a chain to print; nothing is ever sent.
BENCH_ENV = {"OPENAI_API_KEY": "sk-bench-never-sent"}


def load_ledger(home: Path, rows: int, tree: str) -> None:
    """Create the ledger the way the app does, then add ``rows`` attempts of this month
    (5% retried on another model, 8% cache hits) and a decision per request."""
    env = {**os.environ, "SPARKLIO_HOME": str(home), "PYTHONPATH": tree}
    # The app creates and migrates it (the first checkout's; all of them share the format).
    subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "history", "--limit", "1"],
        env=env,
        cwd=home,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    rng = random.Random(7)
    now = datetime.now(UTC)
    month = f"{now:%Y-%m}"
    attempts: list[tuple[object, ...]] = []
    decisions: list[tuple[object, ...]] = []
    while len(attempts) < rows:
        i = len(attempts)
        day = 1 + i * now.day // rows
        ts = (
            f"{month}-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d}.{rng.randrange(10**6):06d}Z"
        )
        rid, user, task = uuid.uuid4().hex, rng.choice(("ada", "bob")), rng.choice(TASKS)
        model, provider, cost = rng.choice(MODELS)
        decisions.append((rid, ts, user, task, f"prompt {i}: write something about {task}", "0" * 64, "{}", model))
        roll = rng.random()
        if roll < 0.08:
            attempts.append((rid, 1, ts, user, task, model, provider, "cache_hit", 0, 0, 0, cost, 0.0))
        elif roll < 0.13 and len(attempts) < rows - 1:
            other, other_provider, other_cost = rng.choice(MODELS)
            attempts.append((rid, 1, ts, user, task, model, provider, "error", 500, 0, 0, 0, 0.5))
            attempts.append((rid, 2, ts, user, task, other, other_provider, "ok", 500, 300, other_cost, 0, 1.5))
        else:
            attempts.append((rid, 1, ts, user, task, model, provider, "ok", 500, 300, cost, 0, 1.1))
    # A user who spends this much has set a budget that holds it (else route finds no model).
    (home / "settings.json").write_text('{"budget": {"monthly_usd": 10000}}\n', encoding="utf-8")
    db = sqlite3.connect(home / "ledger.sqlite3", isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider,"
            " outcome, input_tokens, output_tokens, images, usage_source, cost_usd, saved_usd, waited_s,"
            " exploration, latency_s) VALUES (?,?,?,?,?,?,?,?,?,?,0,'provider',?,?,0,0,?)",
            attempts,
        )
        db.executemany(
            "INSERT INTO decisions (request_id, ts_utc, user, task_type, prompt_preview, prompt_sha256,"
            " trace_json, final_model_id, exploration) VALUES (?,?,?,?,?,?,?,?,0)",
            decisions,
        )
        db.execute("COMMIT")
    finally:
        db.close()


def once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process, started in ``cwd``.

    ``python -m`` puts the current folder first on ``sys.path``: ``cwd`` must not hold a
    checkout, or that checkout runs whatever PYTHONPATH says.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


COMMANDS = {  # label -> arguments; the homes each runs in
    "route --json": (["route", "--task", "chat", "--json"], ("fresh", "ledger")),
    "route --prompt --json": (
        ["route", "--task", "chat", "--prompt", "Summarise the notes in five bullets.", "--json"],
        ("fresh",),
    ),
    "spend": (["spend"], ("ledger",)),
    "spend --json": (["spend", "--json"], ("ledger",)),
    "history": (["history"], ("ledger",)),
}
BASELINE = "python -c 'import openai'"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9, help="rounds (median of these; at least 7 on a noisy machine)")
    parser.add_argument("--rows", type=int, default=10_000, help="attempts in the loaded ledger")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a checkout to run the commands from (repeatable); default: this one",
    )
    args = parser.parse_args()
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("this", str(Path(__file__).resolve().parents[1]))]
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        homes = {"fresh": Path(tmp) / "fresh", "ledger": Path(tmp) / "ledger"}
        for home in homes.values():
            home.mkdir()
        # An installed package has its bytecode cached; a PYTHONDONTWRITEBYTECODE in this
        # shell would make every sample compile the sources again.
        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith("SPARKLIO_") and k != "PYTHONDONTWRITEBYTECODE"
        } | BENCH_ENV
        start = time.perf_counter()
        load_ledger(homes["ledger"], args.rows, trees[0][1])
        print(
            f"{args.rows:,} attempts loaded in {time.perf_counter() - start:.1f} s; median of {args.runs} "
            f"interleaved rounds; Python {sys.version.split()[0]}"
        )

        jobs: dict[str, tuple[list[str], dict[str, str]]] = {BASELINE: ([python, "-c", "import openai"], base_env)}
        for tree, path in trees:
            for label, (argv, home_names) in COMMANDS.items():
                for home_name in home_names:
                    env = {**base_env, "SPARKLIO_HOME": str(homes[home_name]), "PYTHONPATH": str(path)}
                    jobs[f"{tree} | {home_name} | {label}"] = ([python, "-m", "sparklio_desktop", *argv], env)
        for argv, env in jobs.values():  # warm the file cache and write the bytecode caches
            once(argv, env, Path(tmp))
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
        for _ in range(args.runs):
            order = list(jobs.items())
            random.shuffle(order)
            for name, (argv, env) in order:
                samples[name].append(once(argv, env, Path(tmp)))
    wall = {name: statistics.median(s[0] for s in values) for name, values in samples.items()}
    cpu = {name: statistics.median(s[1] for s in values) for name, values in samples.items()}
    print(f"{'':<44} {'wall ms':>8} {'x openai':>8}   {'CPU ms':>7} {'x openai':>8}")
    for name in samples:
        print(
            f"{name:<44} {wall[name] * 1000:8.1f} {wall[name] / wall[BASELINE]:8.2f}   "
            f"{cpu[name] * 1000:7.1f} {cpu[name] / cpu[BASELINE]:8.2f}"
        )
    for tree, _path in trees:
        for home_name in COMMANDS["route --json"][1]:
            name = f"{tree} | {home_name} | route --json"
            ratio = wall[name] / wall[BASELINE]
            print(
                f"{name}: {ratio:.2f} x import openai (wall), target <= {ROUTE_RATIO_TARGET}: "
                f"{'met' if ratio <= ROUTE_RATIO_TARGET else 'missed'}"
            )
    first = trees[0][0]
    for other, _path in trees[1:]:
        for label, (_argv, home_names) in COMMANDS.items():
            for home_name in home_names:
                a, b = f"{first} | {home_name} | {label}", f"{other} | {home_name} | {label}"
                print(
                    f"{label} ({home_name} home): {other} / {first} = {wall[b] / wall[a]:.2f} wall, "
                    f"{cpu[b] / cpu[a]:.2f} CPU"
                )


if __name__ == "__main__":
    main()
