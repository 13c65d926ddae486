"""Routing speed, side by side with LiteLLM's router in one run.

- one decision over the seed catalog (median; target <= 25 us, issue 10), and with the
  exploration draw;
- a 1,000-model catalog (target <= 2 ms);
- a 10,000-model catalog: the decision plus the stored trace (``to_dict()``, what the
  dispatcher hands the ledger) (target <= 20 ms, issue 10), and its JSON text;
- counting a 2,000-token prompt (target <= 1 ms);
- ``sparklio route ... --json`` as a whole process (target <= 0.4 s);
- LiteLLM 1.110's ``Router.async_get_available_deployment`` with 10 deployments, run by
  the interpreter named in ``SPARKLIO_BENCH_LITELLM_PYTHON`` (a separate virtual
  environment: ``benchmarks/litellm_router.py``); skipped with a note when unset.

Run: SPARKLIO_BENCH_LITELLM_PYTHON=/path/to/venv/bin/python python benchmarks/bench_routing.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparklio_desktop.core import tokens  # noqa: E402
from sparklio_desktop.core.policy.catalog import Catalog, load_catalog  # noqa: E402
from sparklio_desktop.core.policy.routing_policy import load_policy  # noqa: E402
from sparklio_desktop.core.routing.router import Router, RouteRequest  # noqa: E402
from sparklio_desktop.core.settings.paths import shipped_catalog_path, shipped_policy_path  # noqa: E402


def median_time(fn: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def big_catalog(base: Catalog, size: int) -> Catalog:
    models = list(base.values())
    text = [m for m in models if m.has("text")]
    i = 0
    while len(models) < size:
        src = text[i % len(text)]
        provider = src.provider
        models.append(
            src.model_copy(
                update={
                    "id": f"{provider}/variant-{i}",
                    "name": f"{src.name} #{i}",
                    "quality": max(1.0, src.quality - (i % 7) * 0.3),
                }
            )
        )
        i += 1
    return Catalog(models)


def litellm_side() -> dict[str, object] | str:
    """LiteLLM's median, from its own interpreter; a note instead when it cannot run."""
    python = os.environ.get("SPARKLIO_BENCH_LITELLM_PYTHON")
    if not python:
        return "skipped: set SPARKLIO_BENCH_LITELLM_PYTHON to a Python with litellm installed"
    try:
        done = subprocess.run(
            [python, str(ROOT / "benchmarks" / "litellm_router.py")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"skipped: {python} did not run ({exc})"
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"skipped: {python} failed ({tail})"
    result: dict[str, object] = json.loads(lines[-1])
    return result


def main() -> None:
    catalog = load_catalog(shipped_catalog_path(), user="/nonexistent")
    policy = load_policy(shipped_policy_path(), catalog)
    router = Router(catalog, policy)
    request = RouteRequest(task="copywriting_standard", input_tokens=500, explore=False)
    for _ in range(500):
        router.route(request)
    seed_us = median_time(lambda: router.route(request), 10000) * 1e6
    label = f"route, seed catalog ({len(catalog)} models):"
    print(f"{label:<46}median {seed_us:8.1f} us   (target <= 25 us)")

    explore = RouteRequest(task="copywriting_standard", input_tokens=500, seed=7)
    explore_us = median_time(lambda: router.route(explore), 3000) * 1e6
    print(f"route with the exploration draw:              median {explore_us:8.1f} us")

    read = median_time(lambda: router.route(request).estimate.cost_usd, 3000) * 1e6
    print(f"route and read the estimate's exact cost:     median {read:8.1f} us")

    big = big_catalog(catalog, 1000)
    big_router = Router(big, policy)
    big_ms = median_time(lambda: big_router.route(request), 300) * 1e3
    print(f"route, 1,000-model catalog:                   median {big_ms:8.3f} ms   (target <= 2 ms)")

    huge = big_catalog(catalog, 10_000)
    huge_router = Router(huge, policy)
    huge_router.route(request).to_dict()  # builds the NumPy columns once, as the first request does
    decide, trace, dumps = [], [], []
    deadline = time.perf_counter() + 20
    while len(decide) < 7 or (len(decide) < 200 and time.perf_counter() < deadline):
        start = time.perf_counter()
        decision = huge_router.route(request)
        routed = time.perf_counter()
        stored = decision.to_dict()
        traced = time.perf_counter()
        json.dumps(stored, sort_keys=True, default=str)
        dumped = time.perf_counter()
        decide.append(routed - start)
        trace.append(traced - routed)
        dumps.append(dumped - traced)
    d_ms, t_ms, j_ms = (statistics.median(s) * 1e3 for s in (decide, trace, dumps))
    both = statistics.median(a + b for a, b in zip(decide, trace, strict=True)) * 1e3
    print(f"route, 10,000-model catalog:                  median {d_ms:8.3f} ms")
    label = f"  stored trace (to_dict), {len(stored['candidates'])} candidates:"
    print(
        f"{label:<46}median {t_ms:8.3f} ms   (JSON text {j_ms:.3f} ms, {len(json.dumps(stored, default=str)):,} bytes)"
    )
    print(f"  decision + stored trace:                    median {both:8.3f} ms   (target <= 20 ms)")

    tokens.count_text("warm up the encoding")
    words = ("brand", "voice", "autumn", "launch", "coffee", "creator", "caption", "story", "reel", "audience")
    prompts = [" ".join(words[(i * 7 + j) % 10] + str(j % (i + 3)) for j in range(900)) for i in range(60)]
    n = len(tokens._get_encoding().encode_ordinary(prompts[0]))
    samples = []
    for p in prompts:  # fresh text each time: the memo never hits
        start = time.perf_counter()
        tokens._count_cached.__wrapped__(p)
        samples.append(time.perf_counter() - start)
    label = f"count a {n:,}-token prompt (cl100k, offline):"
    print(f"{label:<46}median {statistics.median(samples) * 1e3:8.3f} ms   (target <= 1 ms)")

    env = dict(os.environ, SPARKLIO_HOME=tempfile.mkdtemp(prefix="sparklio-bench-"), OLLAMA_HOST="http://127.0.0.1:9")
    cmd = [
        sys.executable,
        "-m",
        "sparklio_desktop",
        "route",
        "--task",
        "copywriting_standard",
        "--input-tokens",
        "500",
        "--json",
    ]
    subprocess.run(cmd, env=env, capture_output=True, check=False)  # warm the file cache
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        runs.append(time.perf_counter() - start)
    print(f"`sparklio route ... --json` whole process:    median {statistics.median(runs):8.3f} s    (target <= 0.4 s)")

    other = litellm_side()
    if isinstance(other, str):
        print(f"LiteLLM Router.async_get_available_deployment: {other}")
    else:
        their = float(other["median_us"])  # type: ignore[arg-type]
        print(
            f"LiteLLM {other['version']} Router.async_get_available_deployment, {other['deployments']} deployments: "
            f"median {their:8.1f} us   (Sparklio's seed decision is {their / seed_us:.1f}x faster)"
        )


if __name__ == "__main__":
    main()
