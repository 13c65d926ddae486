"""Routing speed: one decision over the seed catalog and over a 1,000-model catalog,
counting a 2,000-token prompt, and ``sparklio route ... --json`` as a whole process.

Targets (issue 2): median <= 50 us per decision (seed catalog, no token counting),
<= 2 ms with 1,000 models, <= 1 ms to count 2,000 tokens, <= 0.4 s for the process.
Run: python benchmarks/bench_routing.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparklio_desktop.core import tokens  # noqa: E402
from sparklio_desktop.core.policy.catalog import Catalog, load_catalog  # noqa: E402
from sparklio_desktop.core.policy.routing_policy import load_policy  # noqa: E402
from sparklio_desktop.core.routing.router import Router, RouteRequest  # noqa: E402
from sparklio_desktop.core.settings.paths import shipped_catalog_path, shipped_policy_path  # noqa: E402


def median_time(fn, rounds: int) -> float:
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
        models.append(src.model_copy(update={"id": f"{provider}/variant-{i}", "name": f"{src.name} #{i}",
                                             "quality": max(1.0, src.quality - (i % 7) * 0.3)}))
        i += 1
    return Catalog(models)


def main() -> None:
    catalog = load_catalog(shipped_catalog_path(), user="/nonexistent")
    policy = load_policy(shipped_policy_path(), catalog)
    router = Router(catalog, policy)
    request = RouteRequest(task="copywriting_standard", input_tokens=500, explore=False)
    for _ in range(200):
        router.route(request)
    seed_us = median_time(lambda: router.route(request), 5000) * 1e6
    print(f"route, seed catalog ({len(catalog)} models):        median {seed_us:8.1f} us   (target <= 50 us)")

    explore = RouteRequest(task="copywriting_standard", input_tokens=500, seed=7)
    explore_us = median_time(lambda: router.route(explore), 3000) * 1e6
    print(f"route with the exploration draw:              median {explore_us:8.1f} us")

    big = big_catalog(catalog, 1000)
    big_router = Router(big, policy)
    big_ms = median_time(lambda: big_router.route(request), 300) * 1e3
    print(f"route, 1,000-model catalog:                   median {big_ms:8.3f} ms   (target <= 2 ms)")

    tokens.count_text("warm up the encoding")
    words = ("brand", "voice", "autumn", "launch", "coffee", "creator", "caption", "story", "reel", "audience")
    prompts = [" ".join(words[(i * 7 + j) % 10] + str(j % (i + 3)) for j in range(900)) for i in range(60)]
    n = len(tokens._get_encoding().encode_ordinary(prompts[0]))
    samples = []
    for p in prompts:  # fresh text each time: the memo never hits
        start = time.perf_counter()
        tokens._count_cached.__wrapped__(p)
        samples.append(time.perf_counter() - start)
    print(f"count a {n:,}-token prompt (cl100k, offline):   median {statistics.median(samples) * 1e3:8.3f} ms   "
          "(target <= 1 ms)")

    env = dict(os.environ, SPARKLIO_HOME=tempfile.mkdtemp(prefix="sparklio-bench-"), OLLAMA_HOST="http://127.0.0.1:9")
    cmd = [sys.executable, "-m", "sparklio_desktop", "route", "--task", "copywriting_standard",
           "--input-tokens", "500", "--json"]
    subprocess.run(cmd, env=env, capture_output=True, check=False)  # warm the file cache
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        runs.append(time.perf_counter() - start)
    print(f"`sparklio route ... --json` whole process:    median {statistics.median(runs):8.3f} s    (target <= 0.4 s)")


if __name__ == "__main__":
    main()
