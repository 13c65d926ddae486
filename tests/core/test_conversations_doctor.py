"""The doctor on real damaged conversations files: found, set aside, salvaged with the tree.

Each damage is done to a real file written through the store: a truncated file, a
garbage header, garbage leaf pages of ``turns``, a dropped FTS shadow table, and an FTS
index with missing segments (the one damage mended in place). After a repair the new
file opens, passes ``integrity_check`` and FTS5's ``integrity-check``, and every turn in
it is the original turn, with its parent, version and thread.

SQLite only: damage and salvage are about the file; the doctor's team-database check is
tested in test_conversations_team.py.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from sparklio_desktop.core import doctor
from sparklio_desktop.core.conversations import ConversationsFileError, ConversationStore
from sparklio_desktop.core.conversations.salvage import fts_problems
from tests.core.ledger_damage import PAGE, leaf_rowids

CONVERSATIONS = 60
NOW = datetime(2026, 1, 2, 3, 4, 5)


def write_conversations(path: Path, n: int = CONVERSATIONS) -> None:
    """``n`` conversations of a question, an answer, an edited question (a sibling), its
    answer and a regenerated answer (a sibling): 5 turns, 2 on the current thread."""
    with ConversationStore(path) as store:
        for i in range(n):
            conv = store.create("chat")
            q = store.add_turn(conv.id, "user", f"question {i} about zebra{i} " + "words " * 60)
            a = store.add_turn(conv.id, "assistant", f"answer {i} " + "text " * 60, request_id=f"r{i}")
            store.record_feedback(a.id, "copy")
            q2 = store.add_turn(conv.id, "user", f"edited question {i} " + "more " * 60, parent_id=q.parent_id)
            a2 = store.add_turn(conv.id, "assistant", f"second answer {i}", request_id=f"s{i}")
            store.add_turn(conv.id, "assistant", f"regenerated answer {i} quokka", parent_id=q2.id)
            assert a2.parent_id == q2.id


def snapshot(path: Path) -> dict[str, tuple]:
    """Every conversation: its title, its thread and every turn's siblings, as plain values."""
    found: dict[str, tuple] = {}
    with ConversationStore(path) as store:
        for summary in store.list(limit=10_000):
            thread = store.thread(summary.id)
            found[summary.id] = (
                summary.title,
                [(t.id, t.parent_id, t.role, t.content, t.version, t.versions) for t in thread],
                [[s.id for s in store.siblings(t.id)] for t in thread],
            )
    return found


def turn_rows(path: Path) -> dict[int, tuple]:
    with sqlite3.connect(path) as conn:
        return {r[0]: r[1:] for r in conn.execute("SELECT id, conversation_id, role, content, created_at FROM turns")}


def assert_sound(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert fts_problems(conn) == []
    finally:
        conn.close()
    assert doctor.check_conversations(path).ok


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("conv") / "conversations.sqlite"
    write_conversations(path)
    return path


def damage(kind: str, path: Path) -> None:
    rnd = random.Random(11)
    if kind == "truncated":
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.truncate((size // PAGE // 2) * PAGE + 1000)
    elif kind == "garbage_header":
        with path.open("r+b") as handle:
            handle.write(rnd.randbytes(100))
    elif kind == "garbage_pages":
        leaves = sorted(leaf_rowids(path, "turns"))
        with path.open("r+b") as handle:
            for page in leaves[len(leaves) // 2 :: 3]:
                handle.seek((page - 1) * PAGE)
                handle.write(rnd.randbytes(PAGE))
    elif kind == "fts_shadow_dropped":
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE turns_fts_data")
    elif kind == "not_sqlite":
        path.write_text("not a database\n" * 500)
    else:
        raise ValueError(kind)


@pytest.mark.parametrize("kind", ["truncated", "garbage_header", "garbage_pages", "fts_shadow_dropped", "not_sqlite"])
def test_a_damaged_file_is_set_aside_and_its_turns_salvaged(kind: str, pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(pristine.read_bytes())
    before_rows = turn_rows(path)
    before = snapshot(path)
    damage(kind, path)
    damaged_bytes = path.read_bytes()

    check = doctor.check_conversations(path)
    assert not check.ok and check.repairable and "--repair" in check.action, check
    if kind == "garbage_pages":  # found when the damaged pages are read, one line each time
        with ConversationStore(path) as store, pytest.raises(ConversationsFileError, match="doctor --repair"):
            for cid in before:
                store.thread(cid)
    elif kind != "fts_shadow_dropped":  # found on opening
        with pytest.raises(ConversationsFileError, match="sparklio doctor --repair"):
            ConversationStore(path).close()
    damaged_bytes = path.read_bytes()

    done = doctor.repair_conversations(path, now=NOW)
    assert done is not None and done.set_aside_as is not None
    aside = Path(done.set_aside_as)
    assert aside.name == "conversations.sqlite.damaged-20260102T030405"
    assert aside.read_bytes() == damaged_bytes  # set aside untouched, never deleted
    assert_sound(path)
    counts = {t.table: t.salvaged for t in done.tables}
    after_rows = turn_rows(path)
    assert counts["turns"] == len(after_rows)
    line = done.lines()[0]
    assert line.startswith(f"repaired conversations: {path} set aside as {aside}; salvaged into a new file:")
    assert f"turns {len(after_rows)}" in line

    # every salvaged turn is the original one, word for word
    for turn_id, row in after_rows.items():
        assert before_rows[turn_id] == row
    after = snapshot(path)
    if kind in ("garbage_header", "fts_shadow_dropped"):
        assert after_rows == before_rows and after == before  # everything, tree and versions intact
        assert counts == {"conversations": CONVERSATIONS, "turns": 5 * CONVERSATIONS, "feedback": CONVERSATIONS}
    elif kind == "not_sqlite":
        assert after_rows == {} and after == {}
    else:
        assert 0 < len(after_rows) < len(before_rows)
        # a conversation whose rows all survived is exactly as it was
        whole = [cid for cid in before if {t[0] for t in before[cid][1]} <= after_rows.keys()]
        assert whole
        for cid in whole:
            if all(i in after_rows for ids in before[cid][2] for i in ids):
                assert after[cid] == before[cid]
    with ConversationStore(path) as store:  # the new file is used as any other
        hits = store.search("quokka", limit=1000)
        assert len(hits) == sum(1 for row in after_rows.values() if "quokka" in row[2])
        conv = store.create("chat")
        store.add_turn(conv.id, "user", "after the repair")
    assert doctor.repair_conversations(path) is None  # healthy now: nothing to do


def test_turns_whose_parent_or_conversation_was_lost_are_kept(pristine: Path, tmp_path: Path) -> None:
    """Lost rows are made to look lost by deleting them (the salvage sees only what reads):
    the children of a lost turn start their thread, a lost conversation is made again."""
    source = tmp_path / "source.sqlite"
    source.write_bytes(pristine.read_bytes())
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA foreign_keys=OFF")
        first = conn.execute("SELECT id, current_leaf FROM conversations ORDER BY seq LIMIT 2").fetchall()
        root = conn.execute(
            "SELECT id FROM turns WHERE conversation_id = ? AND parent_id IS NULL ORDER BY id LIMIT 1", (first[0][0],)
        ).fetchone()[0]
        conn.execute("DELETE FROM turns WHERE id = ?", (root,))  # the first question
        (orphan_id,) = conn.execute("SELECT id FROM turns WHERE parent_id = ?", (root,)).fetchone()
        conn.execute("DELETE FROM conversations WHERE id = ?", (first[1][0],))
    path = tmp_path / "conversations.sqlite"
    ConversationStore(path).close()
    counts = {c.table: c for c in doctor.salvage_conversations(source, path)}
    assert counts["turns"].salvaged == 5 * CONVERSATIONS - 1
    assert counts["turns"].rerooted == 1 and counts["conversations"].recreated == 1
    assert counts["feedback"].refused == 0  # the copy feedback was on the answer, which was kept
    assert_sound(path)
    with ConversationStore(path) as store:
        thread = store.thread(first[0][0])  # the edited question and its newest answer: untouched
        assert [t.content.split()[0] for t in thread] == ["edited", "regenerated"]
        (orphan,) = store.select_version(orphan_id)  # the answer to the lost question starts its thread
        assert orphan.role == "assistant" and orphan.parent_id is None and orphan.content.startswith("answer 0 ")
        remade = store.get(first[1][0])
        assert remade.title.startswith("question 1 about zebra1") and remade.task == "chat"
        assert remade.turns == 2 and store.thread(remade.id)[-1].id == first[1][1]
        assert store.search("zebra1")


def test_a_damaged_search_index_is_rebuilt_in_place(pristine: Path, tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(pristine.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM turns_fts_data WHERE id > 10")  # the index's segments
        conn.execute("DELETE FROM titles_fts_docsize")
    check = doctor.check_conversations(path)
    assert not check.ok and check.detail.startswith("search index damaged") and "rebuild" in check.action
    before = path.read_bytes()
    assert doctor.check_conversations(path) == check and path.read_bytes() == before  # checking changes nothing

    done = doctor.repair_conversations(path, now=NOW)
    assert done is not None and done.set_aside_as is None
    assert done.lines() == [f"repaired conversations: {path}: search index rebuilt in place; nothing set aside"]
    assert [p.name for p in tmp_path.iterdir() if "damaged" in p.name] == []
    assert_sound(path)
    with ConversationStore(path) as store:
        assert len(store.search("quokka", limit=1000)) == CONVERSATIONS


@pytest.mark.parametrize("shadow", ["turns_fts_data", "turns_fts_config"])
def test_a_store_on_a_dropped_shadow_table_says_one_line(shadow: str, pristine: Path, tmp_path: Path) -> None:
    """A missing ``_data`` table fails as SQLITE_CORRUPT_VTAB, a missing ``_config`` as a
    plain SQLITE_ERROR: both are one line that names the repair."""
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(pristine.read_bytes())
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE {shadow}")
    with ConversationStore(path) as store:
        with pytest.raises(ConversationsFileError, match=r"is damaged \(.*turns_fts.*sparklio doctor --repair"):
            store.search("quokka")
        conv = store.list(limit=1)[0]
        with pytest.raises(ConversationsFileError, match="sparklio doctor --repair"):
            store.add_turn(conv.id, "user", "more")
        assert len(store.thread(conv.id)) == 2  # nothing written, reads still work


def test_healthy_missing_and_empty_files_need_nothing(pristine: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "conversations.sqlite"
    assert doctor.check_conversations(path).ok and doctor.repair_conversations(path) is None
    assert not path.exists()
    path.write_bytes(b"")
    assert doctor.check_conversations(path).ok and doctor.repair_conversations(path) is None
    path.write_bytes(pristine.read_bytes())
    check = doctor.check_conversations(path)
    assert check.ok and f"{CONVERSATIONS} conversation(s), {5 * CONVERSATIONS} turn(s)" in check.detail
    assert doctor.repair_conversations(path) is None
    assert sorted(p.name for p in folder.iterdir()) == ["conversations.sqlite"]


def test_a_locked_file_is_never_taken_for_a_damaged_one(pristine: Path, tmp_path: Path) -> None:
    """Another process holding the write lock (a running Sparklio): the index cannot be
    checked, which is said as such, and a repair leaves the file where it is."""
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(pristine.read_bytes())
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA journal_mode=WAL")
        holder.execute("BEGIN IMMEDIATE")
        check = doctor.check_conversations(path)
        assert not check.ok and not check.repairable and "locked" in check.detail, check
        assert doctor.repair_conversations(path) is None
    finally:
        holder.close()
    assert [p.name for p in tmp_path.iterdir() if "damaged" in p.name] == []
    assert doctor.check_conversations(path).ok


def test_a_file_another_program_wrote_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE conversations (x INTEGER)")
        conn.execute("INSERT INTO conversations VALUES (42)")
    check = doctor.check_conversations(path)
    assert not check.ok and "tables are not the ones Sparklio made" in check.detail and check.repairable
    with sqlite3.connect(path) as conn:  # the dry run was rolled back
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("conversations",)]
    done = doctor.repair_conversations(path, now=NOW)
    assert done is not None and {t.table: t.readable for t in done.tables} == {
        "conversations": False, "turns": False, "feedback": False,
    }  # fmt: skip
    assert_sound(path)
    with sqlite3.connect(Path(done.set_aside_as or "")) as conn:
        assert conn.execute("SELECT x FROM conversations").fetchall() == [(42,)]
