"""The doctor's salvage, held to exact numbers: every row not on a destroyed page comes
back, unchanged, and nothing else does."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from sparklio_desktop.core.doctor import salvage
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.engine import set_aside
from tests.core.ledger_damage import damage, leaf_rowids, write_ledger

REQUESTS = 600


def rows(path: Path, table: str) -> dict[int, tuple]:
    with sqlite3.connect(path) as conn:
        return {row[0]: row[1:] for row in conn.execute(f"SELECT rowid, * FROM {table} ORDER BY rowid")}


def test_salvage_recovers_exactly_the_rows_on_intact_pages(tmp_path: Path) -> None:
    original = tmp_path / "original.sqlite3"
    write_ledger(original, REQUESTS)
    damaged = tmp_path / "ledger.sqlite3"
    shutil.copyfile(original, damaged)
    lost = {table: leaf_rowids(original, table) for table in ("llm_usage", "decisions")}
    pages = damage("garbage_pages", damaged)

    aside = set_aside(damaged, datetime(2026, 1, 2, 3, 4, 5))
    assert aside.name == "ledger.sqlite3.damaged-20260102T030405"
    LedgerStore.open(damaged).close()
    report = {t.table: t for t in salvage(aside, damaged)}

    for table in ("llm_usage", "decisions"):
        gone = {rowid for page in pages for rowid in lost[table].get(page, [])}
        assert gone  # the damage did reach this table
        before = rows(original, table)
        after = rows(damaged, table)
        assert report[table].salvaged == len(after) == len(before) - len(gone)
        # decisions' rowids are not kept (no INTEGER PRIMARY KEY), so compare by content
        assert sorted(after.values()) == sorted(v for k, v in before.items() if k not in gone)
        if table == "llm_usage":  # its id is the rowid, and is kept
            assert after == {k: v for k, v in before.items() if k not in gone}
    # the rollup was rebuilt by the trigger from the salvaged attempts, not copied
    with sqlite3.connect(damaged) as conn:
        attempts, cost = conn.execute("SELECT sum(attempts), sum(cost_usd) FROM usage_daily").fetchone()
    assert attempts == report["llm_usage"].salvaged
    assert cost == 450_000_000 * attempts  # $0.00045 in picodollars each
    assert aside.exists() and rows(original, "llm_usage")  # the set-aside file is kept


def test_salvage_copies_only_the_columns_both_schemas_have(tmp_path: Path) -> None:
    old = tmp_path / "old.sqlite3"
    write_ledger(old, 5)
    with sqlite3.connect(old) as conn:  # an older ledger, before a column existed
        conn.execute("ALTER TABLE llm_usage DROP COLUMN rating")
    new = tmp_path / "ledger.sqlite3"
    LedgerStore.open(new).close()
    with sqlite3.connect(new) as conn:  # and a newer one, with a column the old lacks
        conn.execute("ALTER TABLE llm_usage ADD COLUMN state TEXT NOT NULL DEFAULT 'done'")
    report = {t.table: t.salvaged for t in salvage(old, new)}
    assert report["llm_usage"] == 5 and report["decisions"] == 5
    with sqlite3.connect(new) as conn:
        assert conn.execute("SELECT DISTINCT state, rating FROM llm_usage").fetchall() == [("done", None)]


def test_set_aside_moves_the_wal_along_and_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "cache.sqlite3"
    when = datetime(2026, 5, 6, 7, 8, 9)
    for n in range(2):
        path.write_text(f"db {n}")
        Path(f"{path}-wal").write_text(f"wal {n}")
        moved = set_aside(path, when)
        assert Path(f"{moved}-wal").read_text() == f"wal {n}" and moved.read_text() == f"db {n}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "cache.sqlite3.damaged-20260506T070809",
        "cache.sqlite3.damaged-20260506T070809-2",
        "cache.sqlite3.damaged-20260506T070809-2-wal",
        "cache.sqlite3.damaged-20260506T070809-wal",
    ]
