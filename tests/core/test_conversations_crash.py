"""A process killed while writing turns leaves a conversations file that opens, checks
clean (``integrity_check``, FTS5's ``integrity-check``, the doctor) and keeps every turn
whose ``add_turn`` had returned.

SQLite only: these are about the file (its WAL, its pages, its FTS5 shadow tables). On a
team database a killed client's transaction is the server's to roll back, and the store's
behaviour is tested on both backends in test_conversations.py."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sparklio_desktop.core import doctor
from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.conversations.salvage import fts_problems

REPO = Path(__file__).resolve().parents[2]

# Adds turns one by one (a regeneration every fifth, so the tree has siblings) and prints
# each turn's id once add_turn has returned (its transaction committed). In "exit" mode
# another thread calls os._exit at an arbitrary moment of the writing loop.
CHILD = textwrap.dedent(
    """
    import os, sys, threading
    from decimal import Decimal
    from pathlib import Path
    from sparklio_desktop.core.conversations import ConversationStore

    path, mode, stop_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = ConversationStore(Path(path))
    written = threading.Event()
    if mode == "exit":
        threading.Thread(target=lambda: (written.wait(), os._exit(3)), daemon=True).start()
    conv = store.create("chat")
    i = 0
    while True:
        i += 1
        if i % 5 == 0:
            turn = store.add_turn(conv.id, "assistant", f"regenerated {i} quokka " + "y" * 400, parent_id=parent)
        else:
            turn = store.add_turn(conv.id, "user" if i % 2 else "assistant", f"turn {i} zebra " + "x" * 400,
                                  cost_usd=Decimal("0.000001"))
            parent = turn.parent_id
        print(turn.id, flush=True)
        if i == stop_after:
            written.set()
    """
)


def _run_child(path: Path, mode: str, stop_after: int) -> set[int]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), mode, str(stop_after)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    acknowledged: list[str] = []
    assert proc.stdout is not None
    try:
        if mode == "kill":
            for line in proc.stdout:
                acknowledged.append(line.strip())
                if len(acknowledged) >= stop_after:
                    proc.kill()  # SIGKILL on POSIX, TerminateProcess on Windows
                    break
            # The lines the child printed before the kill landed: some are already in this
            # reader's buffer, which communicate() would not see (a loaded machine lost 34).
            acknowledged.extend(line.strip() for line in proc.stdout if line.strip())
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    acknowledged.extend(line.strip() for line in rest.splitlines() if line.strip())
    assert len(acknowledged) >= stop_after, err
    return {int(n) for n in acknowledged}


@pytest.mark.parametrize("mode", ["kill", "exit"])
def test_killed_writer_leaves_sound_conversations(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "conversations.sqlite"
    committed = _run_child(path, mode, stop_after=300)
    assert Path(f"{path}-wal").exists()  # killed: nothing was checkpointed on close

    check = doctor.check_conversations(path)  # read-only first, as the doctor sees it after a crash
    assert check.ok, check
    db = sqlite3.connect(path, isolation_level=None)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert fts_problems(db) == []
        stored = {row[0] for row in db.execute("SELECT id FROM turns")}
        leaf = db.execute("SELECT current_leaf FROM conversations").fetchone()[0]
    finally:
        db.close()
    assert committed <= stored
    assert len(stored) - len(committed) <= 1  # at most the turn committed but not yet reported
    assert leaf == max(stored)  # the leaf moved in the same transaction as the turn

    with ConversationStore(path) as store:
        (conv,) = store.list()
        thread = store.thread(conv.id)
        assert thread[-1].id == leaf and conv.turns == len(thread)
        assert len(store.search("zebra")) == 1 and len(store.search("quokka")) == 1
        store.add_turn(conv.id, "user", "after the crash")  # and it takes new turns
