"""Benchmark the gallery store at 10,000 images: the newest page, search, filters, counts.

Targets (issue 15): a search over 10,000 images at most 100 ms; the grid's page of 200
newest and each filtered page a few milliseconds, so the Gallery view can page on its
database executor without a loop stall over 50 ms (the view's own scrolling, thumbnails
included, is measured by the view's benchmark, which may import :func:`seed_gallery`).

Prompts are drawn from a Zipf-distributed vocabulary of 3,000 made-up words plus a few
real ones, so a common word matches thousands of images (the worst case: the page is
the newest 200 of them) and a rare one a handful. Rows are bulk-inserted through SQL
(the triggers keep the search index, as for the store's own writes). Prints the median
of ``REPEATS`` runs per scenario; ``--strict`` exits 1 when a median misses its target.

    python benchmarks/bench_gallery.py [--strict] [--images N]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparklio_desktop.core.gallery import GalleryStore  # noqa: E402

N_IMAGES = 10_000
REPEATS = 15
VOCABULARY = 3_000
REAL_WORDS = ["lighthouse", "portrait", "castle", "forest", "cyberpunk", "watercolor", "sunset", "dragon"]
CHECKPOINTS = ["dreamshaper_8", "sd_xl_base_1.0", "realisticVision_v60", "juggernautXL_v9", "anything-v5"]


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 4))))
    ordered = sorted(words)
    rng.shuffle(ordered)
    ordered[10:10] = REAL_WORDS
    return ordered, [1.0 / (rank + 1) for rank in range(len(ordered))]


def seed_gallery(path: Path, n: int, *, seed: int = 15) -> None:
    """Fill the gallery file at ``path`` with ``n`` images over the last 365 days."""
    rng = random.Random(seed)
    vocab, weights = _vocabulary(rng)
    GalleryStore(path).close()  # the tables, by the store's migrations
    start = datetime(2026, 1, 1, tzinfo=UTC)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for i in range(n):
        when = start + timedelta(seconds=i * 365 * 86400 // n)
        conn.execute(
            "INSERT INTO images (id, created_at, path, width, height, prompt, negative_prompt, seed, steps, guidance,"
            " scheduler, checkpoint, checkpoint_hash, loras_json, request_id, model_id, provider, cost_usd, source)"
            " VALUES (?, ?, ?, 1024, 1024, ?, ?, ?, 30, 7.0, 'DPM++ 2M Karras', ?, ?, ?, ?, 'local/stable-diffusion',"
            " 'diffusers', 0, 'local')",
            (
                secrets.token_hex(6),
                f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond:06d}Z",
                f"/images/{when:%Y-%m}/{i:08x}-1.png",
                " ".join(rng.choices(vocab, weights, k=rng.randint(8, 40))),
                " ".join(rng.choices(vocab, weights, k=rng.randint(0, 10))),
                rng.randrange(2**32),
                rng.choice(CHECKPOINTS),
                secrets.token_hex(5),
                json.dumps([{"name": "add_detail", "weight": 0.6, "hash": None}] if i % 7 == 0 else []),
                f"{i:016x}",
            ),
        )
    conn.execute("COMMIT")
    conn.close()


def _median_ms(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a median misses its target")
    parser.add_argument("--images", type=int, default=N_IMAGES)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gallery.sqlite"
        started = time.perf_counter()
        seed_gallery(path, args.images)
        print(f"seeded {args.images} images in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        store = GalleryStore(path)
        print(f"open: {(time.perf_counter() - started) * 1000:.1f} ms")
        since = datetime(2026, 6, 1, tzinfo=UTC)
        until = datetime(2026, 7, 1, tzinfo=UTC)
        common = REAL_WORDS[0]
        scenarios: list[tuple[str, Callable[[], object], float]] = [
            ("page of 200 newest", lambda: store.page(0, 200), 50),
            ("page of 200 at offset 9,000", lambda: store.page(9_000, 200), 50),
            ("count, no filter", lambda: store.count(), 50),
            (f"search '{common}' (common), page of 200", lambda: store.page(0, 200, query=common), 100),
            (f"search '{common}' count", lambda: store.count(query=common), 100),
            ("search two words 'castle fore' (prefix)", lambda: store.page(0, 200, query="castle fore"), 100),
            ("search a word no image has", lambda: store.page(0, 200, query="zuzuzu"), 100),
            ("checkpoint filter, page of 200", lambda: store.page(0, 200, checkpoint="sd_xl_base_1.0"), 50),
            ("date filter (one month), page of 200", lambda: store.page(0, 200, since=since, until=until), 50),
            (
                "search + checkpoint + month",
                lambda: store.page(0, 200, query=common, checkpoint="dreamshaper_8", since=since, until=until),
                100,
            ),
            ("checkpoints()", store.checkpoints, 50),
        ]
        missed = 0
        print(f"{'scenario':48} {'median ms':>10} {'target':>8}")
        for name, fn, target in scenarios:
            ms = _median_ms(fn)
            flag = "" if ms <= target else "  MISSED"
            missed += bool(flag)
            print(f"{name:48} {ms:10.2f} {target:8.0f}{flag}")
        print(f"matches for '{common}': {store.count(query=common)} of {store.count()}")
        store.close()
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
