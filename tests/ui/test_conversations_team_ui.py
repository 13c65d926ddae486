"""The window's conversations on a team database: the same view-models and views over the
PostgreSQL store (a real server, tests/postgres_server.py), each member's own."""

from __future__ import annotations

from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.conversations.postgres_store import PostgresConversationStore
from tests.ui.conftest import run
from tests.ui.test_workspace import _window


def test_the_sidebar_lists_and_searches_the_members_team_conversations(
    qtbot, qloop, make_ctx, pg_database_url, monkeypatch
):
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", pg_database_url)
    with ConversationStore.open(pg_database_url, member="bob") as bob:  # another member: never shown
        bob.add_turn(bob.create("chat", title="Bob's menu").id, "user", "translate the menu to Spanish")
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")  # this install's member (it wins over team.member)
    ctx = make_ctx()
    store = ctx.conversation_store
    assert isinstance(store, PostgresConversationStore) and store.member == "ada"
    window = _window(qtbot, ctx)

    def seed() -> None:
        for title, text in (("Brand kit", "logo colours for Bean"), ("Menu", "translate the menu to Spanish")):
            conversation = store.create("chat", title=title)
            store.add_turn(conversation.id, "user", text)

    run(qloop, ctx.executor.call(seed))
    run(qloop, ctx.conversations.refresh())
    sidebar = window.views["sidebar"]
    assert sorted(r.title for r in sidebar.vm.model.rows) == ["Brand kit", "Menu"]
    qtbot.keyClicks(sidebar.search, "spanish")
    run(qloop, ctx.conversations.wait_idle())
    assert [r.title for r in sidebar.vm.model.rows] == ["Menu"]
