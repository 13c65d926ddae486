"""The conversation store on both backends (a real SQLite file, a real PostgreSQL): CRUD,
sidebar order, the turn tree and its versions, history, full-text search with hostile
input, soft delete, feedback; broken files (SQLite only: they are about the file)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.conversations import (
    ConversationNotFound,
    ConversationsFileError,
    ConversationStore,
    derive_title,
)
from sparklio_desktop.core.conversations.fts_query import fts_query
from sparklio_desktop.core.errors import SparklioError
from tests.conversation_targets import conversations_target, raw_execute  # noqa: F401


@pytest.fixture
def store(conversations_target):  # noqa: F811
    s = ConversationStore.open(conversations_target)
    yield s
    s.close()


def _exchange(store, cid, question, answer, **answer_fields):
    user = store.add_turn(cid, "user", question)
    reply = store.add_turn(cid, "assistant", answer, **answer_fields)
    return user, reply


def test_create_get_and_fields_survive_a_reopen(conversations_target):  # noqa: F811
    path = conversations_target
    with ConversationStore(path) as store:
        conv = store.create("chat", options={"budget": "low", "speed": None})
        user, reply = _exchange(
            store,
            conv.id,
            "What is WAL?",
            "Write-ahead logging.",
            model="gpt-4o-mini",
            request_id="req-1",
            task="chat",
            cost_usd=Decimal("0.000123"),
            meta={"fallback": True, "retries": 1},
        )
        store.add_turn(conv.id, "user", "and this file?", attachments=["/tmp/a.png"])
    with ConversationStore(path) as store:
        got = store.get(conv.id)
        assert got.task == "chat" and got.options == {"budget": "low", "speed": None}
        assert got.title == "What is WAL?"  # derived from the first user turn
        assert got.turns == 3
        thread = store.thread(conv.id)
        assert [t.role for t in thread] == ["user", "assistant", "user"]
        answer = thread[1]
        assert (answer.model, answer.request_id, answer.cost_usd) == ("gpt-4o-mini", "req-1", Decimal("0.000123"))
        assert answer.meta == {"fallback": True, "retries": 1}
        assert thread[2].attachments == ("/tmp/a.png",)
        assert thread[0].parent_id is None and thread[1].parent_id == thread[0].id
        assert got.created_at.tzinfo is not None


def test_unique_prefix_finds_and_bad_ids_say_so(store):
    conv = store.create("chat")
    assert store.get(conv.id[:6]).id == conv.id
    assert store.get(conv.id.upper()).id == conv.id
    with pytest.raises(ConversationNotFound, match=r"no conversation nope \(sparklio conversations list shows them\)"):
        store.get("nope")
    with pytest.raises(ConversationNotFound, match="no conversation"):
        store.thread("0000000000ff")
    with pytest.raises(ConversationNotFound):
        store.get("")


def test_ambiguous_prefix_is_refused(store):
    ids = [store.create("chat").id for _ in range(40)]
    first = {i[0] for i in ids}
    # 40 ids over 16 first characters: at least one is shared; a 1-char prefix is never a lookup.
    with pytest.raises(ConversationNotFound):
        store.get(sorted(first)[0])
    raw_execute(store, "UPDATE conversations SET id = 'abcd00000001' WHERE id = ?", (ids[0],))
    raw_execute(store, "UPDATE conversations SET id = 'abcd00000002' WHERE id = ?", (ids[1],))
    with pytest.raises(ConversationNotFound, match="names several conversations"):
        store.get("abcd")


def test_list_orders_pinned_first_then_latest_activity(store):
    a = store.create("chat", title="a")
    b = store.create("chat", title="b")
    store.create("chat", title="c")
    assert [s.title for s in store.list()] == ["c", "b", "a"]
    store.add_turn(a.id, "user", "new activity")
    assert [s.title for s in store.list()] == ["a", "c", "b"]
    store.set_pinned(b.id, True)
    listed = store.list()
    assert [s.title for s in listed] == ["b", "a", "c"] and listed[0].pinned
    assert [s.title for s in store.list(limit=1, offset=1)] == ["a"]
    assert store.count() == 3


def test_rename_task_and_derived_title(store):
    conv = store.create("chat")
    assert store.get(conv.id).title == ""
    long = "Explain   the difference between optimistic and pessimistic locking in databases please\nmore"
    store.add_turn(conv.id, "user", long)
    title = store.get(conv.id).title
    assert len(title) <= 60 and title.endswith("…") and "  " not in title
    store.rename(conv.id, "Locking")
    store.set_task(conv.id, "code", {"quality": "high"})
    got = store.get(conv.id)
    assert (got.title, got.task, got.options) == ("Locking", "code", {"quality": "high"})
    assert derive_title("\n\n  short  ") == "short"


def test_edit_makes_a_sibling_and_select_version_browses_back(store):
    conv = store.create("chat")
    q1, a1 = _exchange(store, conv.id, "first question", "first answer")
    q2, a2 = _exchange(store, conv.id, "second question", "second answer")
    # Edit the second question: a sibling under a1, then its new answer.
    q2b = store.add_turn(conv.id, "user", "second question, edited", parent_id=a1.id)
    a2b = store.add_turn(conv.id, "assistant", "answer to the edit")
    thread = store.thread(conv.id)
    assert [t.id for t in thread] == [q1.id, a1.id, q2b.id, a2b.id]
    assert (thread[2].version, thread[2].versions) == (2, 2)
    assert [t.id for t in store.siblings(q2.id)] == [q2.id, q2b.id]
    # Back to the first version: its own answer comes back with it.
    old = store.select_version(q2.id)
    assert [t.id for t in old] == [q1.id, a1.id, q2.id, a2.id]
    assert (old[2].version, old[2].versions) == (1, 2)
    assert [t.id for t in store.thread(conv.id)] == [t.id for t in old]
    assert store.get(conv.id).turns == 4


def test_regenerate_is_an_answer_sibling_and_newest_descendant_wins(store):
    conv = store.create("chat")
    q1, a1 = _exchange(store, conv.id, "q", "answer one")
    a1b = store.add_turn(conv.id, "assistant", "answer two", parent_id=q1.id)
    q2 = store.add_turn(conv.id, "user", "follow-up on two")
    assert [t.id for t in store.thread(conv.id)] == [q1.id, a1b.id, q2.id]
    assert [t.id for t in store.select_version(a1.id)] == [q1.id, a1.id]
    assert [t.id for t in store.select_version(a1b.id)] == [q1.id, a1b.id, q2.id]
    # selecting the first question (a root) follows the newest answer and its follow-up
    assert [t.id for t in store.select_version(q1.id)] == [q1.id, a1b.id, q2.id]


def test_add_turn_rejects_a_parent_from_another_conversation_and_bad_roles(store):
    a = store.create("chat")
    b = store.create("chat")
    turn = store.add_turn(a.id, "user", "hi")
    with pytest.raises(SparklioError, match="is not in conversation"):
        store.add_turn(b.id, "assistant", "x", parent_id=turn.id)
    with pytest.raises(SparklioError, match="user or assistant"):
        store.add_turn(a.id, "system", "x")
    with pytest.raises(SparklioError, match="exact Decimal"):
        store.add_turn(a.id, "assistant", "x", cost_usd=0.1)  # type: ignore[arg-type]


def test_history_is_the_current_path_and_stops_before_a_turn(store):
    conv = store.create("chat")
    q1, a1 = _exchange(store, conv.id, "q1", "a1")
    q2, _a2 = _exchange(store, conv.id, "q2", "a2")
    history = store.history(conv.id)
    assert [(m.role, m.content) for m in history] == [
        ("user", "q1"),
        ("assistant", "a1"),
        ("user", "q2"),
        ("assistant", "a2"),
    ]
    before = store.history(conv.id, before_turn=q2.id)
    assert [(m.role, m.content) for m in before] == [("user", "q1"), ("assistant", "a1")]
    assert store.history(conv.id, before_turn=q1.id) == ()
    empty = store.create("chat")
    assert store.history(empty.id) == ()


@pytest.mark.parametrize(
    "query",
    [
        '"',
        "*",
        "AND",
        "OR NOT",
        "(",
        ")",
        "NEAR(",
        "col:thing",
        "^",
        'say "hi',
        "a AND (b",
        "-",
        "\\",
        "'; DROP TABLE turns; --",
    ],
)
def test_search_never_raises_on_fts_syntax(store, query):
    conv = store.create("chat")
    store.add_turn(conv.id, "user", "and or not near say hi thing")
    assert isinstance(store.search(query), list)


def test_search_matches_words_prefixes_unicode_and_groups_by_conversation(store):
    a = store.create("chat")
    store.add_turn(a.id, "user", "How do I configure PostgreSQL replication?")
    store.add_turn(a.id, "assistant", "Replication in PostgreSQL uses WAL shipping.")
    b = store.create("chat")
    store.add_turn(b.id, "user", "Ein Café in München empfehlen")
    c = store.create("chat", title="Terminal tricks")
    store.add_turn(c.id, "user", "unrelated text")
    hits = store.search("replication")
    assert [h.conversation.id for h in hits] == [a.id]  # two matching turns, one hit
    assert "[Replication]" in hits[0].snippet or "[replication]" in hits[0].snippet
    assert hits[0].turn_id is not None
    assert [h.conversation.id for h in store.search("postg")] == [a.id]  # last term is a prefix
    assert [h.conversation.id for h in store.search("cafe munchen")] == [b.id]  # diacritics folded
    assert [h.conversation.id for h in store.search("Café")] == [b.id]
    title_hit = store.search("termin")
    assert [h.conversation.id for h in title_hit] == [c.id] and title_hit[0].turn_id is None
    assert title_hit[0].snippet == "[Terminal] tricks"
    assert store.search("") == [] and store.search("   ") == [] and store.search("**") == []
    assert store.search("replication nothere") == []  # terms are ANDed


def test_search_orders_by_best_match_and_excludes_deleted(store):
    strong = store.create("chat")
    store.add_turn(strong.id, "user", "kafka kafka kafka")
    weak = store.create("chat")
    store.add_turn(weak.id, "user", "kafka is one word among many others in this long sentence about queues")
    assert [h.conversation.id for h in store.search("kafka")] == [strong.id, weak.id]
    store.delete(strong.id)
    assert [h.conversation.id for h in store.search("kafka")] == [weak.id]
    assert len(store.search("kafka", limit=0)) == 0


def test_search_index_follows_renames(store):
    conv = store.create("chat", title="Old name")
    assert store.search("old")
    store.rename(conv.id, "Fresh label")
    assert store.search("old") == []
    assert [h.conversation.id for h in store.search("fresh")] == [conv.id]


def test_soft_delete_restore_and_purge(store):
    keep = store.create("chat", title="keep")
    gone = store.create("chat", title="gone")
    turn = store.add_turn(gone.id, "user", "searchable words here")
    store.record_feedback(turn.id, "copy")
    store.delete(gone.id)
    assert [s.id for s in store.list()] == [keep.id] and store.count() == 1
    with pytest.raises(ConversationNotFound, match=f"sparklio conversations restore {gone.id}"):
        store.get(gone.id)
    store.restore(gone.id)
    assert store.get(gone.id).title == "gone"
    store.delete(gone.id)
    assert store.purge_deleted(older_than=timedelta(days=30)) == 0
    assert store.purge_deleted() == 1
    with pytest.raises(ConversationNotFound, match="no conversation"):
        store.restore(gone.id)
    assert store.search("searchable") == []
    assert store.feedback() == {"copy": 0, "regenerate": 0, "edit": 0}
    assert raw_execute(store, "SELECT COUNT(*) FROM turns") == [(0,)]
    if isinstance(store.target, Path):  # FTS5's own check: the index agrees with its table
        raw_execute(store, "INSERT INTO turns_fts(turns_fts) VALUES ('integrity-check')")


def test_feedback_is_counted_by_kind_and_request(store):
    conv = store.create("chat")
    _q, a = _exchange(store, conv.id, "q", "a", request_id="req-a")
    _q2, b = _exchange(store, conv.id, "q2", "b", request_id="req-b")
    store.record_feedback(a.id, "copy")
    store.record_feedback(a.id, "copy")
    store.record_feedback(a.id, "regenerate")
    store.record_feedback(b.id, "edit")
    assert store.feedback(request_id="req-a") == {"copy": 2, "regenerate": 1, "edit": 0}
    assert store.feedback() == {"copy": 2, "regenerate": 1, "edit": 1}
    with pytest.raises(SparklioError, match="copy, regenerate, edit"):
        store.record_feedback(a.id, "star")
    with pytest.raises(SparklioError, match="no turn"):
        store.record_feedback(999999, "copy")


def test_fts_query_quotes_every_term():
    assert fts_query('say "hi" AND (x') == '"say" """hi""" "AND" "(x"*'
    assert fts_query("* -- ") is None


# The next three are about the SQLite file itself (damage, a foreign file, a blocked
# folder); the team database's failures are the server's (test_team_conversations.py).
def test_a_damaged_file_is_one_located_line(tmp_path):
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(ConversationsFileError) as info:
        ConversationStore(path)
    message = str(info.value)
    assert str(path) in message and "damaged" in message and "\n" not in message
    assert "sparklio doctor --repair" in message


def test_a_file_another_program_wrote_is_reported_as_damaged(tmp_path):
    path = tmp_path / "conversations.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE conversations (x INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ConversationsFileError, match="tables are not the ones Sparklio made"):
        ConversationStore(path)


def test_a_folder_that_is_a_file_is_one_located_line(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(ConversationsFileError, match="is not a folder"):
        ConversationStore(blocker / "conversations.sqlite")


def test_open_default_uses_the_data_folder(sparklio_home):
    with ConversationStore.open_default() as store:
        assert store.path == sparklio_home / "conversations.sqlite"
        store.create("chat")
    assert (sparklio_home / "conversations.sqlite").is_file()


def test_search_ranks_only_the_newest_matches_of_a_very_common_word(store, monkeypatch):
    from sparklio_desktop.core.conversations import store as store_module

    ids = []
    for n in range(4):
        conv = store.create("chat")
        store.add_turn(conv.id, "user", f"common word number {n}")
        ids.append(conv.id)
    assert len(store.search("common")) == 4
    monkeypatch.setattr(store_module, "SEARCH_WINDOW", 2)
    assert {h.conversation.id for h in store.search("common")} == set(ids[2:])
    assert [h.conversation.id for h in store.search("number 0")] == [ids[0]]  # a rarer word: everything


def test_edit_feedback_given_the_question_lands_on_its_answer(store):
    conv = store.create("chat")
    question, answer = _exchange(store, conv.id, "q", "a", request_id="req-q")
    store.record_feedback(question.id, "edit")
    assert store.feedback(request_id="req-q") == {"copy": 0, "regenerate": 0, "edit": 1}
    lonely = store.add_turn(conv.id, "user", "no answer yet")
    store.record_feedback(lonely.id, "edit")  # kept on the question itself
    assert store.feedback()["edit"] == 2


def test_delete_and_purge_return_the_full_id(store):
    conv = store.create("chat")
    assert store.delete(conv.id[:5]) == conv.id
    assert store.restore(conv.id[:5]) == conv.id
    store.add_turn(conv.id, "user", "bye")
    assert store.purge(conv.id[:5]) == conv.id  # a live one can be purged too
    with pytest.raises(ConversationNotFound):
        store.get(conv.id)
    assert store.search("bye") == []
