"""Benchmark the ratings leaderboard: 10,000 votes among 15 models, 100 bootstrap rounds.

Target: at most 1 s for the whole leaderboard (filtering, compiling votes, the point fit
and 100 bootstrap fits) on the 2-core development machine. Prints the median of 5 runs
for each scenario; ``--strict`` exits 1 when a median misses the target.

    python benchmarks/bench_ratings.py [--strict]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparklio_desktop.core.ratings import Vote, leaderboard  # noqa: E402
from sparklio_desktop.core.ratings._bradley_terry import fit_tally  # noqa: E402
from sparklio_desktop.core.ratings._tally import VoteTally  # noqa: E402

N_VOTES = 10_000
N_MODELS = 15
ROUNDS = 100
REPEATS = 5
TARGET_S = 1.0


def make_votes(seed: int = 0) -> list[Vote]:
    """Votes from known strengths: 85% pairs (with ties and both-bad), 15% rankings of 3–4."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 0.8, N_MODELS)
    ids = [f"model-{i:02d}" for i in range(N_MODELS)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    votes: list[Vote] = []
    for n in range(N_VOTES):
        ts = start + timedelta(minutes=30 * n)  # spread over ~7 months, so decay matters
        task = ("translation", "summarize", "code")[n % 3]
        if rng.random() < 0.15:
            shown = rng.choice(N_MODELS, size=int(rng.integers(3, 5)), replace=False)
            # Plackett–Luce draw: Gumbel-perturbed strengths, sorted, give a BT-consistent ranking.
            order = shown[np.argsort(-(theta[shown] + rng.gumbel(size=shown.size)))]
            votes.append(Vote(task, tuple(ids[i] for i in shown), "ranking", tuple(ids[i] for i in order), ts))
            continue
        i, j = rng.choice(N_MODELS, size=2, replace=False)
        u = rng.random()
        if u < 0.10:
            kind = "tie"
        elif u < 0.15:
            kind = "both_bad"
        else:
            kind = "a" if rng.random() < 1.0 / (1.0 + np.exp(theta[j] - theta[i])) else "b"
        votes.append(Vote(task, (ids[i], ids[j]), kind, None, ts))  # type: ignore[arg-type]
    return votes


def median_seconds(run: Callable[[], object]) -> float:
    run()  # warm-up: imports, numpy/BLAS first-call costs
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    warnings.simplefilter("error")
    strict = "--strict" in argv
    votes = make_votes()
    tally = VoteTally(votes)
    print(f"{N_VOTES} votes, {N_MODELS} models, {tally.n_patterns} distinct vote patterns, {ROUNDS} bootstrap rounds")
    print(f"median of {REPEATS} runs (target {TARGET_S:.1f} s for each leaderboard):")
    scenarios: list[tuple[str, Callable[[], object], bool]] = [
        ("leaderboard, all tasks", lambda: leaderboard(votes, rounds=ROUNDS), True),
        ("leaderboard, half-life 30 days", lambda: leaderboard(votes, rounds=ROUNDS, half_life_days=30), True),
        ("leaderboard, one task type", lambda: leaderboard(votes, task_type="code", rounds=ROUNDS), True),
        ("fit only (compiled votes)", lambda: fit_tally(tally, rounds=ROUNDS), False),
        ("point fit, no bootstrap", lambda: fit_tally(tally, rounds=0), False),
    ]
    missed = False
    for name, run, has_target in scenarios:
        seconds = median_seconds(run)
        verdict = ""
        if has_target:
            ok = seconds <= TARGET_S
            missed |= not ok
            verdict = "  ok" if ok else "  OVER TARGET"
        print(f"  {name:<32} {seconds * 1000:8.1f} ms{verdict}")
    return 1 if strict and missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
