"""Benchmark the conversation store: open a 1,000-turn conversation, search 10,000, list.

Targets (issue 12): opening a 1,000-turn conversation (``thread()``) at most 200 ms;
a search over 10,000 conversations at most 100 ms; the sidebar's ``list(limit=200)`` a few
milliseconds (the window's launch with 1,000 conversations, at most 1.0 s, is measured by
the window's own benchmark, which imports :func:`seed_conversations` from here).

The text is drawn from a Zipf-distributed vocabulary of 5,000 made-up words plus a few
real ones, so common words match most turns (the worst case for ranking) and rare ones a
handful. Prints the median of ``REPEATS`` runs per scenario; ``--strict`` exits 1 when a
median misses its target.

    python benchmarks/bench_conversations.py [--strict] [--conversations N] [--turns N]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sparklio_desktop.core.conversations import ConversationStore  # noqa: E402

N_CONVERSATIONS = 10_000
TURNS_EACH = 6
LONG_TURNS = 1_000
REPEATS = 15
VOCABULARY = 5_000
REAL_WORDS = ["python", "sqlite", "replication", "invoice", "kubernetes", "recipe", "translation", "budget"]


def _vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    consonants, vowels = "bcdfghjklmnprstvz", "aeiou"
    words: set[str] = set()
    while len(words) < VOCABULARY:
        size = rng.randint(2, 4)
        words.add("".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(size)))
    ordered = sorted(words)
    rng.shuffle(ordered)
    ordered[10:10] = REAL_WORDS  # real words at mid-high frequency ranks
    weights = [1.0 / (rank + 1) for rank in range(len(ordered))]
    return ordered, weights


def _text(rng: random.Random, vocab: list[str], weights: list[float], low: int, high: int) -> str:
    return " ".join(rng.choices(vocab, weights, k=rng.randint(low, high)))


def seed_conversations(path: Path, n: int, turns_each: int, *, seed: int = 12, long_turns: int = 0) -> list[str]:
    """Fill the conversations file at ``path`` with ``n`` conversations of ``turns_each``
    alternating user/assistant turns (plus, when ``long_turns``, one conversation of that
    many), in one transaction; returns the ids, the long one first. For benchmarks only:
    it writes rows directly (the FTS triggers still index them)."""
    rng = random.Random(seed)
    vocab, weights = _vocabulary(rng)
    with ConversationStore(path):
        pass  # create and migrate the file
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids: list[str] = []
    sizes = ([long_turns] if long_turns else []) + [turns_each] * n
    conn.execute("BEGIN IMMEDIATE")
    next_turn = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM turns").fetchone()[0] or 0) + 1
    for index, size in enumerate(sizes):
        cid = f"{rng.getrandbits(48):012x}"
        ids.append(cid)
        t0 = start + timedelta(minutes=7 * index)
        stamp = f"{t0:%Y-%m-%dT%H:%M:%S}.000000Z"
        title = " ".join(rng.choices(vocab, weights, k=rng.randint(3, 7)))[:60]
        conn.execute(
            "INSERT INTO conversations (id, title, task, options_json, pinned, created_at, updated_at)"
            " VALUES (?, ?, 'chat', '{}', ?, ?, ?)",
            (cid, title, int(index % 97 == 0), stamp, stamp),
        )
        rows = []
        parent = None
        for depth in range(1, size + 1):
            user = depth % 2 == 1
            content = _text(rng, vocab, weights, 8, 40) if user else _text(rng, vocab, weights, 40, 160)
            rows.append((
                next_turn, cid, parent, depth, "user" if user else "assistant", content,
                None if user else "gpt-4o-mini", None if user else f"req-{next_turn}",
                None if user else 1_000_000, stamp,
            ))  # fmt: skip
            parent = next_turn
            next_turn += 1
        conn.executemany(
            "INSERT INTO turns (id, conversation_id, parent_id, depth, role, content, model, request_id,"
            " cost_usd, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("UPDATE conversations SET current_leaf = ? WHERE id = ?", (parent, cid))
    conn.execute("COMMIT")
    conn.execute("PRAGMA optimize")
    conn.close()
    return ids


def _median_ms(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    fn()  # warm the page cache and statement cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--conversations", type=int, default=N_CONVERSATIONS)
    parser.add_argument("--turns", type=int, default=TURNS_EACH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "conversations.sqlite"
        t0 = time.perf_counter()
        ids = seed_conversations(path, args.conversations, args.turns, long_turns=LONG_TURNS)
        seeded = time.perf_counter() - t0
        size_mb = path.stat().st_size / 1e6
        print(
            f"seeded {args.conversations:,} conversations x {args.turns} turns + one of {LONG_TURNS:,}"
            f" in {seeded:.1f} s ({size_mb:.0f} MB)"
        )
        rows: list[tuple[str, float, float | None]] = []
        t0 = time.perf_counter()
        store = ConversationStore(path)
        rows.append(("open the store (file checks, migrations)", (time.perf_counter() - t0) * 1000, None))
        try:
            long_id = ids[0]
            assert len(store.thread(long_id)) == LONG_TURNS
            rows.append(
                (f"thread() of a {LONG_TURNS:,}-turn conversation", _median_ms(lambda: store.thread(long_id)), 200.0)
            )
            rows.append(
                ("get() + thread() of it", _median_ms(lambda: (store.get(long_id), store.thread(long_id))), 200.0)
            )
            rows.append(("history() of it (messages)", _median_ms(lambda: store.history(long_id)), 200.0))
            rows.append(("list(limit=200)", _median_ms(lambda: store.list(limit=200)), 10.0))
            rows.append(("count()", _median_ms(store.count), 10.0))
            worst = 0.0
            for query in ("replication", "sqlite budget", "kubernetes recipe translation", "pyth", "zzzzqqq"):
                ms = _median_ms(lambda q=query: store.search(q))  # type: ignore[misc]
                hits = len(store.search(query))
                worst = max(worst, ms)
                rows.append((f"search({query!r}) -> {hits} hits", ms, 100.0))
            common = store.list(limit=1)[0].title.split()[0]
            ms = _median_ms(lambda: store.search(common))
            rows.append((f"search of a common word ({common!r})", ms, 100.0))
        finally:
            store.close()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'scenario':<{width}}  {'median ms':>10}  {'target ms':>10}  ok")
    missed = 0
    for name, ms, target in rows:
        ok = "" if target is None else ("yes" if ms <= target else "NO")
        missed += ok == "NO"
        shown_target = "" if target is None else f"{target:.0f}"
        print(f"{name:<{width}}  {ms:>10.2f}  {shown_target:>10}  {ok}")
    print(json.dumps({name: round(ms, 2) for name, ms, _ in rows}))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
