"""The context economy in the window (issue 17): the route preview and the answer chip say
what trimming the history saved ("history trimmed: N tokens, saved ~$…"), a follow-up in a
long conversation writes the running summary first (its own call, stored with the
conversation) and sends it, and "Send everything" is stored with the conversation and
priced in the preview. Real widgets, a real conversation store, the loopback OpenAI server."""

from __future__ import annotations

import json

from sparklio_desktop.core.history import history_tokens
from tests.core.test_context_economy import _fixture
from tests.ui.conftest import run, settle_all
from tests.ui.test_workspace import _window


def _seed(ctx, questions: int) -> str:
    turns, attachments = _fixture()
    store = ctx.conversation_store
    conversation = store.create("copywriting_standard", title="Candle launch")
    for turn, names in zip(turns[: 2 * questions], attachments[: 2 * questions], strict=True):
        model = "openai/gpt-4" if turn.role == "assistant" else None
        store.add_turn(conversation.id, turn.role, turn.content, model=model, attachments=names)
    return conversation.id


def test_a_long_conversation_is_trimmed_summarised_and_shows_its_saving(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    composer_view, thread_view = window.views["composer"], window.views["thread"]
    conversation_id = run(qloop, ctx.executor.call(_seed, ctx, 24))
    run(qloop, ctx.thread.open(conversation_id))
    ctx.composer.explore = False
    settle_all(qloop, ctx, lambda: "history trimmed:" in composer_view.preview_estimate.text())
    assert "saved ~$" in composer_view.preview_estimate.text()
    assert not thread_view.send_everything.isChecked()

    openai_server.replies = ["The creator launches Lumen and Wick candles this autumn.", "Three captions."]
    before = len(openai_server.requests)
    changed: list[object] = []
    ctx.thread.conversationsChanged.connect(lambda: changed.append(1))
    composer_view.prompt.setPlainText("Three captions for the cedar candle.")
    composer_view.send_button.click()
    settle_all(qloop, ctx, lambda: bool(changed))

    posts = [r.body for r in openai_server.requests[before:] if r.method == "POST"]
    assert len(posts) == 2  # the summarising call, then the follow-up
    assert "Update the summary of this conversation" in json.dumps(posts[0]["messages"])
    system = [m["content"] for m in posts[1]["messages"] if m["role"] == "system"]
    assert system and "Summary of the earlier conversation:\nThe creator launches" in system[0]
    assert "Images shared earlier (not resent): amber_jar_windowsill.jpg" in system[0]
    assert "amber_jar_windowsill.jpg" in json.dumps(posts[0]["messages"])  # the summary is told, by name
    assert len(posts[1]["messages"]) < 50
    context = ctx.conversation_store.context(conversation_id)
    assert context.summary is not None and context.summary.text.startswith("The creator launches")
    answer = [c for c in thread_view.cards if c.turn.role == "assistant"][-1]
    assert answer.turn.content == "Three captions."
    assert "history trimmed:" in answer.chip.text() and "saved ~$" in answer.chip.text()
    assert "history trimmed:" in composer_view.result_label.text()
    stored = ctx.conversation_store.thread(conversation_id)[-1]
    assert stored.meta["history_tokens_saved"] > 0 and stored.meta["history_tokens_sent"] > 0


def test_send_everything_is_stored_and_priced_in_the_preview(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    composer_view, thread_view = window.views["composer"], window.views["thread"]
    conversation_id = run(qloop, ctx.executor.call(_seed, ctx, 24))
    run(qloop, ctx.thread.open(conversation_id))
    settle_all(qloop, ctx, lambda: "history trimmed:" in composer_view.preview_estimate.text())

    thread_view.send_everything.click()
    settle_all(qloop, ctx, lambda: "sending the whole history" in composer_view.preview_estimate.text())
    turns, _ = _fixture()
    assert f"{history_tokens(turns[:48]):,} tokens" in composer_view.preview_estimate.text()
    assert " a message" in composer_view.preview_estimate.text()
    assert ctx.conversation_store.context(conversation_id).send_everything

    again = make_ctx()  # a restart: the choice is the conversation's
    window2 = _window(qtbot, again)
    run(qloop, again.thread.open(conversation_id))
    settle_all(qloop, again, lambda: window2.views["thread"].send_everything.isChecked())
