"""Conversations in team mode, on a real PostgreSQL (tests/postgres_server.py): each member
sees only their own; two installs of one member share them; the app's default store
follows the team database; the schema comes with the ledger's Alembic upgrade; a server
that cannot be used is one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sparklio_desktop.core.conversations import ConversationNotFound, ConversationStore
from sparklio_desktop.core.conversations.postgres_store import PostgresConversationStore
from sparklio_desktop.core.conversations.sqlite_store import SqliteConversationStore
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.server_errors import DatabaseServerError
from tests.conversation_targets import raw_execute
from tests.postgres_server import PASSWORD, free_port


def test_two_members_on_one_database_do_not_see_each_other(pg_database_url):
    with (
        ConversationStore.open(pg_database_url, member="ada") as ada,
        ConversationStore.open(pg_database_url, member="bob") as bob,
    ):
        mine = ada.create("chat")
        question = ada.add_turn(mine.id, "user", "secret launch plans for Lumen")
        answer = ada.add_turn(mine.id, "assistant", "keep it quiet", request_id="req-ada")
        ada.record_feedback(answer.id, "copy")
        theirs = bob.create("chat", title="bob's own")
        bob.add_turn(theirs.id, "user", "launch plans of my own")

        assert [s.id for s in ada.list()] == [mine.id] and ada.count() == 1
        assert [s.id for s in bob.list()] == [theirs.id] and bob.count() == 1
        assert [h.conversation.id for h in bob.search("launch plans")] == [theirs.id]
        assert bob.search("lumen") == [] and bob.search("secret") == []
        for by_id in (bob.get, bob.thread, bob.delete, bob.purge, bob.restore):
            with pytest.raises(ConversationNotFound, match=f"no conversation {mine.id}"):
                by_id(mine.id)
        with pytest.raises(ConversationNotFound):
            bob.get(mine.id[:6])  # a prefix of another member's id names nothing
        with pytest.raises(ConversationNotFound):
            bob.add_turn(mine.id, "user", "let me in")
        for by_turn in (bob.siblings, bob.select_version):
            with pytest.raises(SparklioError, match=f"no turn {question.id}"):
                by_turn(question.id)
        with pytest.raises(SparklioError, match=f"no turn {answer.id}"):
            bob.record_feedback(answer.id, "copy")
        assert bob.feedback() == {"copy": 0, "regenerate": 0, "edit": 0}
        assert ada.feedback(request_id="req-ada") == {"copy": 1, "regenerate": 0, "edit": 0}
        ada.delete(mine.id)
        assert bob.purge_deleted() == 0  # not bob's to purge
        assert ada.purge_deleted() == 1
    rows = raw_execute(bob, "SELECT member, host FROM conversations ORDER BY member")
    assert rows == [("bob", this_host())]


def test_two_installs_of_one_member_share_their_conversations(pg_database_url, tmp_path):
    """Two data folders, two processes, one database: what one install wrote, the other lists,
    searches and continues."""
    with ConversationStore.open(pg_database_url, member="ada") as first:
        conv = first.create("chat")
        first.add_turn(conv.id, "user", "Which candle scents sell in autumn?")
    other_home = tmp_path / "second-install"
    env = dict(os.environ, SPARKLIO_HOME=str(other_home), SPARKLIO_DATABASE_URL=pg_database_url, SPARKLIO_MEMBER="ada")
    run = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "conversations", "search", "candle", "--json"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert [hit["conversation"]["id"] for hit in json.loads(run.stdout)] == [conv.id]
    assert not (other_home / "conversations.sqlite").exists()
    with ConversationStore.open(pg_database_url, member="ada") as second:
        second.add_turn(conv.id, "assistant", "Cinnamon and cedar.")
    with ConversationStore.open(pg_database_url, member="ada") as first:
        assert [t.content for t in first.thread(conv.id)] == [
            "Which candle scents sell in autumn?",
            "Cinnamon and cedar.",
        ]


def test_open_default_follows_the_team_database(pg_database_url, sparklio_home, monkeypatch):
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", pg_database_url)
    monkeypatch.setenv("SPARKLIO_MEMBER", "cleo")
    with ConversationStore.open_default() as store:
        assert isinstance(store, PostgresConversationStore) and store.member == "cleo"
        assert PASSWORD not in str(store.target) and PASSWORD in str(store.reopen_target)
        store.create("chat")
    assert not (sparklio_home / "conversations.sqlite").exists()
    monkeypatch.delenv("SPARKLIO_DATABASE_URL")
    with ConversationStore.open_default() as store:
        assert isinstance(store, SqliteConversationStore) and store.count() == 0


def test_conversations_first_on_an_empty_database_then_the_ledger(pg_database_url):
    """Opening conversations first brings the team database to the head revision (the
    ledger's tables too); the ledger then opens it as it is."""
    with ConversationStore.open(pg_database_url) as store:
        store.create("chat")
        revision = raw_execute(store, "SELECT version_num FROM alembic_version")
    from sparklio_desktop.core.ledger.schema_version import HEAD_REVISION

    assert revision == [(HEAD_REVISION,)]
    with LedgerStore.open(pg_database_url) as ledger:
        assert ledger.attempts("none-yet") == []


def test_a_server_that_cannot_be_used_is_one_line(postgres_server, pg_database_url):
    down = f"postgresql+psycopg://sparklio:pw@127.0.0.1:{free_port()}/nowhere"
    with pytest.raises(DatabaseServerError, match="cannot reach the server") as unreachable:
        ConversationStore.open(down)
    assert "\n" not in str(unreachable.value) and "pw@" not in str(unreachable.value)
    refused = pg_database_url.replace(PASSWORD, "wrong")
    with pytest.raises(DatabaseServerError, match="refused the login") as login:
        ConversationStore.open(refused)
    assert "wrong" not in str(login.value) and "\n" not in str(login.value)


def test_search_on_the_server_is_safe_prefixed_and_accent_blind(pg_database_url):
    with ConversationStore.open(pg_database_url) as store:
        conv = store.create("chat")
        store.add_turn(conv.id, "user", "Crème brûlée for the café's autumn menu, with résumé notes")
        for hostile in ("'", "a:*", "!x", "(", "&|", "<->", "\\", "'; DROP TABLE turns; --", "ü:*B"):
            assert isinstance(store.search(hostile), list)
        assert [h.conversation.id for h in store.search("creme brul")] == [conv.id]
        (hit,) = store.search("resume")
        assert "[résumé]" in hit.snippet


def test_doctor_reports_the_members_conversations_in_the_team_database(pg_database_url, monkeypatch):
    from sparklio_desktop.core.doctor import check_team_conversations

    empty = check_team_conversations(pg_database_url)
    assert empty.ok and "none yet" in empty.detail and PASSWORD not in (empty.path or "")
    with ConversationStore.open(pg_database_url, member="ada") as store:
        store.add_turn(store.create("chat").id, "user", "hello")
    with ConversationStore.open(pg_database_url, member="bob") as store:
        store.create("chat")
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")  # who the doctor asks for (it wins over team.member)
    found = check_team_conversations(pg_database_url)
    assert found.ok and found.detail == (
        "PostgreSQL (team): 1 conversation(s) and 1 turn(s) of ada; 2 in the team database"
    )
    down = check_team_conversations(f"postgresql+psycopg://sparklio:pw@127.0.0.1:{free_port()}/nowhere")
    assert not down.ok and "cannot reach the server" in down.detail


def test_one_members_writes_from_two_installs_take_turns(pg_database_url):
    """Turns appended at once from two installs after the same conversation's leaf form one
    thread, never siblings (the member's write lock, as the file's BEGIN IMMEDIATE)."""
    import threading

    with ConversationStore.open(pg_database_url, member="ada") as setup:
        conv = setup.create("chat")
    stores = [ConversationStore.open(pg_database_url, member="ada") for _ in range(2)]
    errors: list[BaseException] = []

    def append(store: ConversationStore, name: str) -> None:
        try:
            for n in range(15):
                store.add_turn(conv.id, "user", f"{name} {n}")
        except Exception as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=append, args=(s, f"install{i}")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        thread_turns = stores[0].thread(conv.id)
        assert len(thread_turns) == 30 and {t.versions for t in thread_turns} == {1}
    finally:
        for store in stores:
            store.close()


def test_without_unaccent_search_still_works_with_accents_typed(postgres_server, pg_database_url):
    """A login that may not create extensions (no CREATE on the database): revision 0003
    goes on without ``unaccent``, and search works; only accent folding is lost."""
    database = pg_database_url.rsplit("/", 1)[1]
    role = f"no_ext_{database}"
    postgres_server.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'plain-pw'")
    try:
        postgres_server.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}", database)
        url = pg_database_url.replace(f"sparklio:{PASSWORD}@", f"{role}:plain-pw@")
        with ConversationStore.open(url, member="ada") as store:
            conv = store.create("chat")
            store.add_turn(conv.id, "user", "Ein Café in München")
            assert [h.conversation.id for h in store.search("Café münch")] == [conv.id]
            assert store.search("cafe") == []  # no folding without unaccent
            assert raw_execute(store, "SELECT COUNT(*) FROM pg_extension WHERE extname = 'unaccent'") == [(0,)]
    finally:
        postgres_server.execute(f"DROP OWNED BY {role}", database)
        postgres_server.execute(f"DROP ROLE {role}")


def test_a_ledger_file_as_the_database_url_keeps_conversations_in_the_data_folder(sparklio_home, tmp_path, monkeypatch):
    """``$SPARKLIO_DATABASE_URL`` naming a file (a ledger shared on a drive) is not a team
    database: conversations stay in the data folder, never in the ledger file."""
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(tmp_path / "team.sqlite3"))
    with ConversationStore.open_default() as store:
        assert store.target == sparklio_home / "conversations.sqlite"


def test_the_doctors_checks_in_team_mode_name_the_team_database(pg_database_url, sparklio_home, monkeypatch):
    from sparklio_desktop.core.doctor import run_checks

    monkeypatch.setenv("SPARKLIO_DATABASE_URL", pg_database_url)
    (check,) = [c for c in run_checks() if c.name == "conversations"]
    assert check.ok and check.detail.startswith("PostgreSQL (team): ") and PASSWORD not in (check.path or "")
    assert not (sparklio_home / "conversations.sqlite").exists()
