"""The creator workspace (issue 12): the conversation sidebar, the thread, versions,
feedback, the route panel and the shortcuts, with real widgets, a real conversation
store file in the test's data folder and the loopback OpenAI server."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from sparklio_desktop.app import build_window, seed_demo_conversation
from sparklio_desktop.ui.views.thread_view import WINDOW, TurnCard
from tests.ui.conftest import run, settle_all


def _window(qtbot, ctx):
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show()
    return window


def _send(qloop, ctx, window, prompt: str) -> None:
    """Type into the real composer and press Send; wait until the answer is written."""
    composer = window.views["composer"]
    ctx.composer.forced_model = "openai/gpt-4"
    ctx.composer.explore = False
    changed: list[object] = []
    ctx.thread.conversationsChanged.connect(lambda: changed.append(1))
    composer.prompt.setPlainText(prompt)
    composer.send_button.click()
    settle_all(qloop, ctx, lambda: bool(changed))


def _answers(window) -> list[TurnCard]:
    return [c for c in window.views["thread"].cards if c.turn.role == "assistant"]


def test_open_a_conversation_shows_its_turns(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, ctx.conversation_store))
    run(qloop, ctx.conversations.refresh())
    sidebar, thread = window.views["sidebar"], window.views["thread"]
    assert sidebar.vm.model.rowCount() == 1
    sidebar.list.clicked.emit(sidebar.vm.model.index(0))
    settle_all(qloop, ctx, lambda: ctx.thread.conversation_id == conversation_id)
    assert [c.turn.role for c in thread.cards] == ["user", "assistant", "user", "assistant"]
    assert thread.title.text() == "Autumn launch captions"
    assert thread.task_label.text() == "Copywriting"  # the task in words, its id in the tooltip
    assert "copywriting_standard" in thread.task_label.toolTip()
    answer = _answers(window)[1]
    assert "Claude" in answer.chip.text() and "$0.0041" in answer.chip.text() and "retried once" in answer.chip.text()
    [block] = answer.body.code_blocks
    assert block.language == "css" and "#fff4e0" in block.code
    assert "<span" in block.label.text()  # highlighted by Pygments
    first = _answers(window)[0].body.findChildren(type(thread.title))
    assert any("Pumpkin season" in label.text() for label in first)
    # The composer carries the conversation on: its task and its history.
    assert ctx.composer.options["task"] == "copywriting_standard"
    assert len(ctx.composer._history) == 4


def test_send_persists_both_turns_and_a_restart_shows_them(qtbot, qloop, openai_server, make_ctx):
    openai_server.reply_text = "Here is **one** caption.\n\n```python\nprint('autumn')\n```"
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    _send(qloop, ctx, window, "One caption please")
    [conversation] = ctx.conversation_store.list()
    turns = ctx.conversation_store.thread(conversation.id)
    assert [(t.role, t.content) for t in turns] == [
        ("user", "One caption please"),
        ("assistant", openai_server.reply_text),
    ]
    answer = turns[1]
    assert answer.model == "openai/gpt-4" and answer.request_id and answer.cost_usd and answer.cost_usd > Decimal(0)
    assert answer.meta["retries"] == 0 and answer.meta["fallback"] is False and answer.meta["cached"] is False
    thread = window.views["thread"]
    assert [c.turn.id for c in thread.cards] == [t.id for t in turns] and thread.streaming is None
    assert window.views["sidebar"].vm.model.rowCount() == 1
    assert window.views["composer"].prompt.toPlainText() == ""  # the prompt box is ready for the next one

    again = make_ctx()  # a restart: a new context on the same data folder
    window2 = _window(qtbot, again)
    run(qloop, again.conversations.refresh())
    assert [r.id for r in again.conversations.model.rows] == [conversation.id]
    run(qloop, again.thread.open(conversation.id))
    assert [c.turn.content for c in window2.views["thread"].cards] == ["One caption please", openai_server.reply_text]


def test_search_filters_as_you_type(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    store = ctx.conversation_store

    def seed() -> None:
        for title, text in (("Brand kit", "logo colours for Bean"), ("Menu", "translate the menu to Spanish")):
            conversation = store.create("chat", title=title)
            store.add_turn(conversation.id, "user", text)

    run(qloop, ctx.executor.call(seed))
    run(qloop, ctx.conversations.refresh())
    sidebar = window.views["sidebar"]
    assert sidebar.vm.model.rowCount() == 2
    qtbot.keyClicks(sidebar.search, "spanish")
    run(qloop, ctx.conversations.wait_idle())
    assert [r.title for r in sidebar.vm.model.rows] == ["Menu"]
    sidebar.search.clear()
    run(qloop, ctx.conversations.wait_idle())
    assert sidebar.vm.model.rowCount() == 2


def test_delete_then_undo(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, ctx.conversation_store))
    run(qloop, ctx.conversations.refresh())
    run(qloop, ctx.thread.open(conversation_id))
    sidebar = window.views["sidebar"]
    run(qloop, ctx.conversations.delete(conversation_id))
    assert sidebar.vm.model.rowCount() == 0 and ctx.conversation_store.count() == 0
    assert sidebar.toast.isVisible() and "Autumn launch captions" in sidebar.toast_label.text()
    assert ctx.thread.conversation_id is None  # the open conversation was left
    sidebar.undo_button.click()
    run(qloop, ctx.conversations.wait_idle())
    assert [r.id for r in sidebar.vm.model.rows] == [conversation_id] and not sidebar.toast.isVisible()


def test_regenerate_makes_version_two_and_the_arrows_browse(qtbot, qloop, openai_server, make_ctx):
    openai_server.reply_text = "First answer."
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    _send(qloop, ctx, window, "Name our autumn drink")
    openai_server.reply_text = "Second answer."
    [card] = _answers(window)
    changed: list[object] = []
    ctx.thread.conversationsChanged.connect(lambda: changed.append(1))
    card.regenerate.click()
    settle_all(qloop, ctx, lambda: bool(changed))
    [card] = _answers(window)
    assert card.turn.content == "Second answer." and card.versions.text() == "2/2"
    assert openai_server.requests[-1].body["model"] == "gpt-4"  # the same model again
    assert [m["role"] for m in openai_server.requests[-1].body["messages"]][-1:] == ["user"]
    card.previous.click()
    run(qloop, ctx.wait_idle())
    [card] = _answers(window)
    assert card.turn.content == "First answer." and card.versions.text() == "1/2" and not card.previous.isEnabled()
    assert ctx.conversation_store.feedback().get("regenerate") == 1
    # The user turn stayed one version: only the answer has siblings.
    assert window.views["thread"].cards[0].versions is None


def test_edit_and_resend_keeps_the_earlier_question(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    _send(qloop, ctx, window, "Three captions")
    user = window.views["thread"].cards[0].turn
    changed: list[object] = []
    ctx.thread.conversationsChanged.connect(lambda: changed.append(1))
    ctx.thread.edit_and_resend(user.id, "Four captions")
    settle_all(qloop, ctx, lambda: bool(changed))
    cards = window.views["thread"].cards
    assert [c.turn.content for c in cards][0] == "Four captions" and cards[0].versions.text() == "2/2"
    assert openai_server.requests[-1].body["messages"][-1]["content"] == "Four captions"
    assert ctx.conversation_store.feedback().get("edit") == 1


def test_copy_records_feedback(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, ctx.conversation_store))
    run(qloop, ctx.thread.open(conversation_id))
    first, second = _answers(window)
    first.copy.click()
    second.body.code_blocks[0].copy.click()
    run(qloop, ctx.wait_idle())
    assert QApplication.clipboard().text() == second.body.code_blocks[0].code
    assert ctx.conversation_store.feedback()["copy"] == 2


def test_a_long_thread_builds_only_its_last_turns(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    store = ctx.conversation_store

    def seed() -> str:
        conversation = store.create("chat", title="Long")
        for n in range(100):
            store.add_turn(conversation.id, "user", f"question {n}")
            store.add_turn(conversation.id, "assistant", f"answer **{n}**", model="openai/gpt-4")
        return conversation.id

    conversation_id = run(qloop, ctx.executor.call(seed))
    run(qloop, ctx.thread.open(conversation_id))
    run(qloop, ctx.wait_idle())
    thread = window.views["thread"]
    assert len(thread.cards) == WINDOW and thread.cards[-1].turn.content == "answer **99**"
    assert thread.earlier.isVisible()
    thread.earlier.click()
    assert len(thread.cards) == 2 * WINDOW and thread.cards[0].turn.content == f"question {100 - WINDOW}"


def test_ctrl_i_hides_the_route_panel_and_f1_lists_shortcuts(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    panel = window.views["chat"].route_panel
    assert panel.isVisible()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert not panel.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert panel.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    dialog = window.shortcuts_dialog
    assert dialog is not None and dialog.isVisible()
    rows = dict(dialog.rows())
    assert rows["New conversation"] == "Ctrl+N" and rows["Route panel"] == "Ctrl+I"
    assert rows["Keyboard shortcuts"] == "F1" and rows["Send the prompt"] == "Ctrl+Enter"
    assert rows["Recipes"] == "Ctrl+4" and rows["Models"] == "Ctrl+6"
    keys = [k for _, k in dialog.rows()]
    assert len(keys) == len(set(keys))  # no key does two things


def test_new_conversation_from_the_menu_clears_the_thread(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, ctx.conversation_store))
    run(qloop, ctx.thread.open(conversation_id))
    assert window.views["thread"].cards
    window.show_page("spend")
    window.new_action.trigger()
    assert window.current_page() == "chat" and not window.views["thread"].cards
    assert ctx.thread.conversation_id is None and ctx.composer._history == []
    run(qloop, ctx.wait_idle())


def test_export_writes_each_format_and_rename_pin_reorder(qtbot, qloop, make_ctx, tmp_path):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    store = ctx.conversation_store
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, store))
    older = run(qloop, ctx.executor.call(lambda: store.create("chat", title="Older one").id))
    run(qloop, ctx.conversations.refresh())
    run(qloop, ctx.thread.open(conversation_id))
    for fmt in ("md", "json", "html"):
        path = tmp_path / f"out.{fmt}"
        run(qloop, ctx.conversations.export(conversation_id, fmt, str(path)))
        text = path.read_text(encoding="utf-8")
        assert "Autumn launch captions" in text and "#fff4e0" in text
    assert "Claude 3.5 Sonnet" in (tmp_path / "out.md").read_text(encoding="utf-8")  # names, not ids
    rows = window.views["sidebar"].vm.model.rows
    assert rows[0].id == older  # newest first
    run(qloop, ctx.conversations.set_pinned(conversation_id, True))
    assert rows[0].id != conversation_id and ctx.conversations.model.rows[0].id == conversation_id  # pinned on top
    run(qloop, ctx.conversations.rename(conversation_id, "  Pumpkin   captions "))
    assert ctx.conversations.model.rows[0].title == "Pumpkin captions"
    assert window.views["thread"].title.text() == "Pumpkin captions"  # the open thread follows
    errors: list[str] = []
    ctx.conversations.errorRaised.connect(errors.append)
    run(qloop, ctx.conversations.rename(conversation_id, "   "))
    run(qloop, ctx.conversations.export(conversation_id, "pdf", str(tmp_path / "x.pdf")))
    assert len(errors) == 2 and "empty" in errors[0] and "md, json, html" in errors[1]
    run(qloop, ctx.wait_idle())


def test_ctrl_k_reaches_a_conversation_and_a_command(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    conversation_id = run(qloop, ctx.executor.call(seed_demo_conversation, ctx.conversation_store))
    run(qloop, ctx.conversations.refresh())
    window.quick_action.trigger()
    switcher = window.quick_switcher
    assert switcher is not None and switcher.isVisible()
    qtbot.keyClicks(switcher.query, "autumn")
    assert switcher.visible_texts() == ["Autumn launch captions"]
    qtbot.keyClick(switcher.query, Qt.Key.Key_Return)
    settle_all(qloop, ctx, lambda: ctx.thread.conversation_id == conversation_id)
    window.show_page("spend")
    window.quick_action.trigger()
    qtbot.keyClicks(window.quick_switcher.query, "settings")
    assert window.quick_switcher.visible_texts()[0].startswith("Settings")
    qtbot.keyClick(window.quick_switcher.query, Qt.Key.Key_Return)
    assert window.current_page() == "settings"
    run(qloop, ctx.wait_idle())


def test_the_sidebar_loads_pages_not_every_row(qtbot, qloop, make_ctx):
    from sparklio_desktop.ui.viewmodels.conversations import PAGE

    ctx = make_ctx()
    window = _window(qtbot, ctx)
    store = ctx.conversation_store

    def seed() -> None:
        for n in range(PAGE * 2 + 5):
            store.create("chat", title=f"Conversation {n}")

    run(qloop, ctx.executor.call(seed))
    run(qloop, ctx.conversations.refresh())
    model = window.views["sidebar"].list.model()
    assert model.rowCount() == PAGE and model.total == PAGE * 2 + 5
    assert model.canFetchMore(model.index(-1))
    model.fetchMore(model.index(-1))
    run(qloop, ctx.conversations.wait_idle())
    assert model.rowCount() == PAGE * 2
    assert len({r.id for r in model.rows}) == PAGE * 2  # no row twice


def test_the_composers_open_models_button_reaches_the_models_page(qtbot, qloop, make_ctx):
    # Add a key / Start Ollama open the first-run guide (open_onboarding, tested in test_onboarding.py);
    # a guide parented to a MainWindow here made a later test's teardown crash in Qt's timer dispatch.
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    window.views["composer"].actionRequested.emit("open_models")
    assert window.current_page() == "models"
    run(qloop, ctx.wait_idle())


def test_a_follow_up_in_an_opened_conversation_stays_on_its_model(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    store = ctx.conversation_store

    def seed() -> str:
        conversation = store.create("brief_questions", title="Earlier")
        store.add_turn(conversation.id, "user", "Who is the audience?", task="brief_questions")
        store.add_turn(conversation.id, "assistant", "Coffee lovers.", model="openai/gpt-4", task="brief_questions")
        return conversation.id

    conversation_id = run(qloop, ctx.executor.call(seed))
    run(qloop, ctx.thread.open(conversation_id))
    ctx.composer.explore = False
    changed: list[object] = []
    ctx.thread.conversationsChanged.connect(lambda: changed.append(1))
    window.views["composer"].prompt.setPlainText("And the tone?")
    window.views["composer"].send_button.click()
    settle_all(qloop, ctx, lambda: bool(changed))
    body = openai_server.requests[-1].body
    assert body["model"] == "gpt-4"  # the model that answered, not a new route
    assert [m["content"] for m in body["messages"] if m["role"] != "system"] == [
        "Who is the audience?",
        "Coffee lovers.",
        "And the tone?",
    ]
    assert [t.content for t in store.thread(conversation_id)][-2:] == ["And the tone?", openai_server.reply_text]
