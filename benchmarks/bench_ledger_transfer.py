"""``sparklio ledger export|import`` timings. A plain script: ``python benchmarks/bench_ledger_transfer.py``.

Target: 100,000 attempts import in seconds. A personal ledger of ``--rows`` attempts (about
one request in ten falls back to a second attempt; six months; three members) and a decision
per request is exported to a file, imported into a fresh ledger (the rollup triggers run for
every row), imported again (everything skipped), and read directly from the SQLite file into
another fresh ledger. Each import's spend per month and member is checked against the
source's, exactly. SQLite on both sides by default; ``--into URL`` imports into an empty team
database instead (PostgreSQL: the same code). The first import is the real command in a child
process (``sparklio ledger import FILE``), whose peak RSS is the import's own memory: the rows
stream through it in chunks, so it stays flat however long the file is.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.money import to_picodollars
from sparklio_desktop.core.ledger.schema import usage_monthly as um
from sparklio_desktop.core.ledger.transfer import export_ledger, import_into, read_export, read_sqlite_ledger

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
MEMBERS = ["ana", "bo", "cy"]
MODELS = [("openai/gpt-4o-mini", "openai"), ("anthropic/claude-haiku", "anthropic"), ("ollama/llama3", "ollama")]


def timed(label: str, fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = fn()
    print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
    return value


def build_source(path: Path, attempts: int, seed: int = 7) -> None:
    LedgerStore.open(path).close()
    rng = random.Random(seed)
    usage, decisions = [], []
    n = 0
    while len(usage) < attempts:
        request = f"req-{n:08d}"
        month = 6 + n % 6
        ts = f"2026-{month:02d}-{1 + n % 28:02d}T{n % 24:02d}:00:00.{n % 1000000:06d}Z"
        member = MEMBERS[n % len(MEMBERS)]
        tries = 2 if rng.random() < 0.1 else 1
        for attempt in range(1, tries + 1):
            model, provider = MODELS[(n + attempt) % len(MODELS)]
            outcome = "error" if attempt < tries else "ok"
            cost = 0 if provider == "ollama" else rng.randrange(1, 5_000_000_000)
            row = (request, attempt, ts, member, "chat", model, provider, outcome, "provider", cost, member, "h")
            usage.append(row)
        decisions.append((request, ts, member, "chat", "preview", "0" * 64, '{"chosen": 1}'))
        n += 1
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
            " usage_source, cost_usd, member, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            usage[:attempts],
        )
        db.executemany(
            "INSERT INTO decisions (request_id, ts_utc, user, task_type, prompt_preview, prompt_sha256, trace_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            decisions,
        )


def monthly(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute(
            "SELECT month, member, SUM(cost_usd), SUM(attempts) FROM usage_monthly GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()


def store_monthly(store: LedgerStore) -> list[tuple]:
    """``monthly`` of any store (a file or a team database), in picodollars."""
    query = (
        select(um.c.month, um.c.member, func.sum(um.c.cost_usd), func.sum(um.c.attempts))
        .group_by(um.c.month, um.c.member)
        .order_by(um.c.month, um.c.member)
    )
    with store._read() as conn:
        return [(m, who, to_picodollars(cost), int(n)) for m, who, cost, n in conn.execute(query)]


def cli_import(file: Path, home: Path) -> tuple[float, float]:
    """``sparklio ledger import FILE`` in a child process of its own: (seconds, its peak RSS
    in MB). The child's ``ru_maxrss`` is the import's own peak, not this script's."""
    home.mkdir()
    env = {**os.environ, "SPARKLIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SPARKLIO_DATABASE_URL", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "ledger", "import", str(file), "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:  # RUSAGE_CHILDREN is the largest child so far: a smaller one does not show
        print("  (the child's peak was below an earlier child's; not measured)")
    return elapsed, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="attempts in the source ledger")
    parser.add_argument(
        "--into", metavar="URL", help="import into this empty team database (postgresql+psycopg://...), not a file"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        source, file = root / "personal.sqlite3", root / "ledger.jsonl"
        # The same rows by plain sqlite3 executemany, triggers on: the floor an import cannot beat.
        timed(f"build a source of {args.rows:,} attempts (sqlite3)", lambda: build_source(source, args.rows))
        with LedgerStore.open(source) as store:
            done = timed("export to a file", lambda: export_ledger(store, file))
        print(f"  {done.rows}, {file.stat().st_size / 1e6:.1f} MB")
        seconds, peak = cli_import(file, root / "cli-home")
        print(f"{'sparklio ledger import FILE (a child process)':<44} {seconds:7.2f} s, peak RSS {peak:.0f} MB")
        assert monthly(root / "cli-home" / "ledger.sqlite3") == monthly(source), "spend differs"
        with LedgerStore.open(args.into or root / "team.sqlite3") as team:
            summary = timed(
                "import the file into a fresh ledger (streamed)", lambda: import_into(team, read_export(file))
            )
            assert summary.imported["llm_usage"] == args.rows
            again = timed("import again (all skipped)", lambda: import_into(team, read_export(file)))
            assert sum(again.imported.values()) == 0
            assert store_monthly(team) == monthly(source), "spend differs"
        if args.into:
            return
        with LedgerStore.open(root / "team2.sqlite3") as team2:
            timed(
                "read the SQLite ledger directly into another", lambda: import_into(team2, read_sqlite_ledger(source))
            )
        assert monthly(root / "team2.sqlite3") == monthly(source), "spend differs"
        print("spend per month and member: identical to the source (exact)")
    mine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this script's peak memory (max RSS, the source it built in memory included): {mine:.0f} MB")


if __name__ == "__main__":
    main()
