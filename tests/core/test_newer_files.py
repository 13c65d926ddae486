"""A file written by a newer Sparklio (it lists a migration this code does not know) is
refused with one line that names the file and the migration, and is never written to."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError


def _future_ledger(folder: Path) -> Path:
    path = folder / "ledger.sqlite3"
    LedgerFileStore.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO _migrations VALUES ('m999_from_the_future', '2030-01-01T00:00:00Z')")
    db.close()
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_store_refuses_a_newer_ledger_and_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = _future_ledger(tmp_path)
    before = _digest(path)
    with pytest.raises(DatabaseFileError) as caught:
        LedgerFileStore.open(path)
    message = str(caught.value)
    assert "m999_from_the_future" in message and str(path) in message and "newer Sparklio" in message
    assert "\n" not in message
    assert _digest(path) == before


@pytest.mark.parametrize("command", ["history", "spend"])
def test_the_cli_refuses_a_newer_ledger_in_one_line(tmp_path: Path, command: str) -> None:
    path = _future_ledger(tmp_path)
    before = _digest(path)
    env = {**os.environ, "SPARKLIO_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", command], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "m999_from_the_future" in done.stderr and "newer Sparklio" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert _digest(path) == before


def test_the_conversations_store_refuses_a_newer_file(tmp_path: Path) -> None:
    from sparklio_desktop.core.conversations import ConversationsFileError, ConversationStore

    path = tmp_path / "conversations.sqlite3"
    ConversationStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO _migrations VALUES ('c999_from_the_future', '2030-01-01T00:00:00Z')")
    db.close()
    before = _digest(path)
    with pytest.raises(ConversationsFileError) as caught:
        ConversationStore(path)
    assert "c999_from_the_future" in str(caught.value) and "newer Sparklio" in str(caught.value)
    assert _digest(path) == before
