"""Benchmark conversations on a team's PostgreSQL: the sidebar and search over ~10,000 turns.

The same scenarios as bench_conversations.py (the file), on the team database
(core/conversations/postgres_store.py) over loopback: ``list(limit=200)`` (the sidebar),
``count()``, ``get()`` + ``thread()`` of a conversation, and ``search()`` of rare, common,
multi-word and half-typed words. The measured member has ``--conversations`` x
``--turns`` turns (default 1,700 x 6 = 10,200); another member has as many, so the
member filter is measured too. Text from bench_conversations.py's Zipf vocabulary.

Without ``--url`` a throwaway PostgreSQL is started in a temporary folder, as the tests do
(tests/postgres_server.py: the Debian ``postgresql`` package's binaries). Targets are the
file's (sidebar 10 ms, search 100 ms); ``--strict`` exits 1 when a median misses one.

    python benchmarks/bench_team_conversations.py [--strict] [--url URL] [--conversations N] [--turns N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_conversations import _median_ms, _text, _vocabulary  # noqa: E402
from sparklio_desktop.core.conversations import ConversationStore  # noqa: E402

MEMBERS = ("bench", "other")


def seed_team(url: str, n: int, turns_each: int, *, seed: int = 16) -> dict[str, list[str]]:
    """``n`` conversations of ``turns_each`` turns for each of :data:`MEMBERS`, written
    directly in one transaction (the generated tsvector columns index them); their ids."""
    from sparklio_desktop.core.ledger.engine import create_postgres_engine

    rng = random.Random(seed)
    vocab, weights = _vocabulary(rng)
    with ConversationStore.open(url, member=MEMBERS[0]):
        pass  # brings the database to the head revision
    engine = create_postgres_engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids: dict[str, list[str]] = {m: [] for m in MEMBERS}
    next_turn = 1
    try:
        with engine.begin() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            cursor = raw.cursor()
            for index in range(n * len(MEMBERS)):
                member = MEMBERS[index % len(MEMBERS)]
                cid = f"{rng.getrandbits(48):012x}"
                ids[member].append(cid)
                stamp = f"{start + timedelta(minutes=7 * index):%Y-%m-%dT%H:%M:%S}.000000Z"
                title = " ".join(rng.choices(vocab, weights, k=rng.randint(3, 7)))[:60]
                cursor.execute(
                    "INSERT INTO conversations (id, member, host, title, task, pinned, created_at, updated_at)"
                    " VALUES (%s, %s, 'bench-host', %s, 'chat', %s, %s, %s)",
                    (cid, member, title, int(index % 97 == 0), stamp, stamp),
                )
                rows = []
                parent = None
                for depth in range(1, turns_each + 1):
                    user = depth % 2 == 1
                    content = _text(rng, vocab, weights, 8, 40) if user else _text(rng, vocab, weights, 40, 160)
                    rows.append((
                        next_turn, cid, parent, depth, "user" if user else "assistant", content,
                        None if user else "gpt-4o-mini", None if user else f"req-{next_turn}",
                        None if user else 1_000_000, stamp,
                    ))  # fmt: skip
                    parent = next_turn
                    next_turn += 1
                cursor.executemany(
                    "INSERT INTO turns (id, conversation_id, parent_id, depth, role, content, model, request_id,"
                    " cost_usd, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
                cursor.execute("UPDATE conversations SET current_leaf = %s WHERE id = %s", (parent, cid))
            cursor.execute("SELECT setval(pg_get_serial_sequence('turns', 'id'), (SELECT MAX(id) FROM turns))")
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE conversations")
            conn.exec_driver_sql("ANALYZE turns")
            conn.commit()
    finally:
        engine.dispose()
    return ids


def measure(url: str, n: int, turns_each: int) -> list[tuple[str, float, float | None]]:
    t0 = time.perf_counter()
    ids = seed_team(url, n, turns_each)
    print(f"seeded {n:,} conversations x {turns_each} turns for each of {len(MEMBERS)} members"
          f" ({n * turns_each:,} turns each) in {time.perf_counter() - t0:.1f} s")  # fmt: skip
    rows: list[tuple[str, float, float | None]] = []
    t0 = time.perf_counter()
    store = ConversationStore.open(url, member=MEMBERS[0])
    rows.append(("open the store (engine, schema at head)", (time.perf_counter() - t0) * 1000, None))
    try:
        some = ids[MEMBERS[0]][n // 2]
        rows.append(("list(limit=200)", _median_ms(lambda: store.list(limit=200)), 10.0))
        rows.append(("count()", _median_ms(store.count), 10.0))
        rows.append(
            ("get() + thread() of a conversation", _median_ms(lambda: (store.get(some), store.thread(some))), 20.0)
        )
        for query in ("replication", "sqlite budget", "kubernetes recipe translation", "pyth", "zzzzqqq"):
            ms = _median_ms(lambda q=query: store.search(q))  # type: ignore[misc]
            rows.append((f"search({query!r}) -> {len(store.search(query))} hits", ms, 100.0))
        common = store.list(limit=1)[0].title.split()[0]
        ms = _median_ms(lambda: store.search(common))
        rows.append((f"search of a common word ({common!r}) -> {len(store.search(common))} hits", ms, 100.0))
    finally:
        store.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--url", help="an empty team database (default: a throwaway server)")
    parser.add_argument("--conversations", type=int, default=1_700)
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args()
    if args.url:
        rows = measure(args.url, args.conversations, args.turns)
    else:
        from tests.postgres_server import PostgresServer

        server = PostgresServer().start()
        try:
            rows = measure(server.url(server.create_database()), args.conversations, args.turns)
        finally:
            server.close()
    width = max(len(name) for name, _, _ in rows)
    print(f"{'scenario':<{width}}  {'median ms':>10}  {'target ms':>10}  ok")
    missed = 0
    for name, ms, target in rows:
        ok = "" if target is None else ("yes" if ms <= target else "NO")
        missed += ok == "NO"
        print(f"{name:<{width}}  {ms:>10.2f}  {'' if target is None else f'{target:.0f}':>10}  {ok}")
    print(json.dumps({name: round(ms, 2) for name, ms, _ in rows}))
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
