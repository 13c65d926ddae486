"""Launch to a usable window, median of 7. A plain script: ``python benchmarks/bench_gui_startup.py``.

Each run starts ``python -m sparklio_desktop`` (what ``sparklio`` runs) in a fresh
process with ``SPARKLIO_EXIT_WHEN_READY=1``: the app shows its window, waits until the
event loop has gone idle once, prints ``ready <seconds since SPARKLIO_LAUNCH_T0>`` and
exits. The clock starts here, just before the process is spawned, so interpreter
start-up and every import count. Target (issue 10): median <= 1.0 s on a quiet machine.

Three homes: a fresh one, one whose ledger holds a month of requests (so the spend
panel, history and budget have rows to read), and that ledger plus 1,000 stored
conversations of 20 turns (issue 12: the sidebar lists them at launch; target <= 1.0 s). Before/after in one run:
``--tree NAME=PATH`` (repeatable) launches another checkout of the package, e.g.
``git archive HEAD | tar -x -C /tmp/head`` then ``--tree before=/tmp/head --tree after=.``;
launches of every tree and home are interleaved, round after round, so a machine that
drifts slows them alike.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.0
HOMES = ("fresh", "ledger", "conversations")


def launch_once(home: Path, tree: str | None) -> tuple[float, float]:
    """(seconds measured from outside, seconds the app reported) for one launch."""
    # An installed package has its bytecode cached: a PYTHONDONTWRITEBYTECODE in this shell
    # would make every launch compile the sources again.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(SPARKLIO_HOME=str(home), SPARKLIO_EXIT_WHEN_READY="1")
    if tree is not None:
        env["PYTHONPATH"] = tree
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.time()
    env["SPARKLIO_LAUNCH_T0"] = repr(start)
    # Started in the home: `python -m` puts the current folder first on sys.path, and a
    # checkout there would run instead of the tree asked for.
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop"],
        env=env,
        cwd=home,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    reported = float("nan")
    for line in proc.stdout:
        if line.startswith("ready "):
            outside = time.time() - start
            reported = float(line.split()[1])
            break
    else:
        raise RuntimeError("the app exited without reporting ready")
    proc.wait(timeout=60)
    return outside, reported


def fill_ledger(home: Path, tree: str | None) -> None:
    """A month of 2,000 requests in ``home``'s ledger, through the store (its triggers run)."""
    script = (
        "import sys, uuid\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from decimal import Decimal\n"
        "from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore\n"
        "now = datetime.now(UTC)\n"
        "with LedgerStore.open() as store:\n"
        "    for i in range(2000):\n"
        "        rid = uuid.uuid4().hex\n"
        "        ts = now - timedelta(minutes=20 * i)\n"
        "        store.record_attempt(AttemptRecord(request_id=rid, attempt=1, ts_utc=ts, task_type='chat',\n"
        "            model_id='openai/gpt-4o-mini', provider='openai', outcome='ok', input_tokens=900,\n"
        "            output_tokens=300, cost_usd=Decimal('0.000315')))\n"
        "        store.record_decision(rid, prompt=f'prompt {i}', task_type='chat', trace={'i': i}, ts_utc=ts)\n"
    )
    env = {**os.environ, "SPARKLIO_HOME": str(home)}
    if tree is not None:
        env["PYTHONPATH"] = tree
    subprocess.run([sys.executable, "-c", script], env=env, cwd=home, check=True)


def fill_conversations(home: Path, tree: str | None, count: int = 1000) -> None:
    """``count`` conversations of 20 turns in ``home``'s conversations file
    (benchmarks/bench_conversations.py writes them in one transaction)."""
    script = (
        "import sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "from pathlib import Path\n"
        "from bench_conversations import seed_conversations\n"
        "from sparklio_desktop.core.settings import paths\n"
        f"seed_conversations(paths.data_dir() / 'conversations.sqlite', {count}, 20)\n"
    )
    env = {**os.environ, "SPARKLIO_HOME": str(home)}
    if tree is not None:
        env["PYTHONPATH"] = tree
    subprocess.run([sys.executable, "-c", script], env=env, cwd=home, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a checkout to launch (repeatable); default: the package as installed",
    )
    args = parser.parse_args()
    trees: list[tuple[str, str | None]] = [(t.split("=", 1)[0], t.split("=", 1)[1]) for t in args.tree]
    trees = trees or [("this", None)]
    with tempfile.TemporaryDirectory() as tmp:
        jobs: dict[str, tuple[Path, str | None]] = {}
        for tree, path in trees:
            for home_name in HOMES:
                home = Path(tmp) / f"{tree}-{home_name}"
                home.mkdir()
                if home_name != "fresh":
                    fill_ledger(home, trees[0][1])
                if home_name == "conversations":
                    fill_conversations(home, trees[0][1])
                jobs[f"{tree} | {home_name}"] = (home, path)
        for home, path in jobs.values():
            launch_once(home, path)  # warm the OS file cache once, as a second launch would be
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in jobs}
        for _ in range(args.runs):
            for name, (home, path) in random.sample(list(jobs.items()), len(jobs)):
                samples[name].append(launch_once(home, path))
    for name, values in samples.items():
        outside = [s[0] for s in values]
        print(
            f"{name:<24} launch to shown, idle window: median {statistics.median(outside):.3f} s "
            f"(min {min(outside):.3f}, app's own count {statistics.median(s[1] for s in values):.3f} s)"
            f"   target <= {TARGET_S} s"
        )
    if len(trees) > 1:
        first = trees[0][0]
        for other, _path in trees[1:]:
            for home_name in HOMES:
                a = statistics.median(s[0] for s in samples[f"{first} | {home_name}"])
                b = statistics.median(s[0] for s in samples[f"{other} | {home_name}"])
                print(f"{home_name} home: {other} / {first} = {b / a:.2f}")


if __name__ == "__main__":
    main()
