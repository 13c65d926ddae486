"""Ways to damage a SQLite file, and a reader of which rows sit on which pages.

Shared by the doctor's unit tests and the CLI damage matrix. ``leaf_rowids`` parses
table b-tree leaf pages itself (SQLite's file format, section 1.6), so a test knows
exactly which rows a garbage page destroyed and can hold a salvage to that number.
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

DAMAGE_KINDS = ("truncated", "garbage_pages", "garbage_header", "zero_bytes", "directory", "not_sqlite", "garbage_wal")
PAGE = 4096
T0 = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def write_ledger(path: Path, requests: int) -> None:
    """``requests`` requests, each one attempt (``r00000``...) and one decision, this month."""
    from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore

    with LedgerStore.open(path) as store:
        for i in range(requests):
            request_id = f"r{i:05d}"
            store.record_attempt(
                AttemptRecord(
                    request_id=request_id,
                    attempt=1,
                    ts_utc=T0 + timedelta(seconds=i),
                    user="ada",
                    task_type="chat",
                    model_id="openai/gpt-3.5-turbo",
                    provider="openai",
                    outcome="ok",
                    input_tokens=1000,
                    output_tokens=500,
                    price_input_per_mtok=Decimal("0.15"),
                    price_output_per_mtok=Decimal("0.60"),
                    cost_usd=Decimal("0.00045"),
                )
            )
            store.record_decision(
                request_id,
                prompt=f"prompt {i} " + "words " * 20,
                task_type="chat",
                trace={"chain": ["openai/gpt-3.5-turbo"], "n": i},
                final_model_id="openai/gpt-3.5-turbo",
                ts_utc=T0 + timedelta(seconds=i),
            )


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        byte = data[at + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + i + 1
    return (value << 8) | data[at + 8], at + 9


def leaf_rowids(path: Path, table: str) -> dict[int, list[int]]:
    """Leaf page number -> the rowids stored on it, for ``table``'s b-tree."""
    with sqlite3.connect(path) as conn:
        pages = [
            row[0]
            for row in conn.execute(
                "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", (table,)
            )
        ]
    data = path.read_bytes()
    found: dict[int, list[int]] = {}
    for page in pages:
        start = (page - 1) * PAGE
        header = start + (100 if page == 1 else 0)
        assert data[header] == 0x0D, f"page {page} is not a table leaf"
        cells = int.from_bytes(data[header + 3 : header + 5], "big")
        rowids = []
        for n in range(cells):
            offset = int.from_bytes(data[header + 8 + 2 * n : header + 10 + 2 * n], "big")
            _size, at = _varint(data, start + offset)
            rowid, _ = _varint(data, at)
            rowids.append(rowid)
        found[page] = rowids
    return found


def damage(kind: str, path: Path, seed: int = 7) -> list[int]:
    """Damage the database at ``path``; returns the pages overwritten (garbage_pages)."""
    rnd = random.Random(seed)
    size = path.stat().st_size
    if kind == "truncated":
        os.truncate(path, (size // PAGE // 2) * PAGE + 1000)
    elif kind == "garbage_pages":
        # Every other leaf of the later half of the two big tables: the interior pages
        # stay, so a salvage can seek past each bad leaf and lose only its rows.
        pages = []
        for table in ("llm_usage", "decisions"):
            leaves = sorted(leaf_rowids(path, table))
            pages += leaves[len(leaves) // 2 :: 2]
            if leaves[-1] not in pages:
                pages.append(leaves[-1])
        with path.open("r+b") as handle:
            for page in pages:
                handle.seek((page - 1) * PAGE)
                handle.write(rnd.randbytes(PAGE))
        return sorted(pages)
    elif kind == "garbage_header":
        with path.open("r+b") as handle:
            handle.write(rnd.randbytes(100))
    elif kind == "zero_bytes":
        os.truncate(path, 0)
    elif kind == "directory":
        path.unlink()
        path.mkdir()
        (path / "something").write_text("x")
    elif kind == "not_sqlite":
        path.write_text("this is not a database\n" * 1000)
    elif kind == "garbage_wal":
        Path(f"{path}-wal").write_bytes(rnd.randbytes(40_000))
        Path(f"{path}-shm").write_bytes(rnd.randbytes(32_768))
    else:
        raise ValueError(kind)
    return []
