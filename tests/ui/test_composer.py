"""Compose, stream, cancel and rate against the loopback OpenAI server."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from sparklio_desktop.ui.viewmodels.payloads import RoutePreview, RunSummary
from sparklio_desktop.ui.views.composer_view import ComposerView
from sparklio_desktop.ui.widgets.format import usd_text
from tests.ui.conftest import run, wait_until


def _composer(qtbot, ctx, task="brief_questions", prompt="Three questions for our autumn launch brief"):
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    view.task_combo.setCurrentIndex(view.task_combo.findData(task))
    ctx.composer.forced_model = "openai/gpt-4"
    ctx.composer.explore = False
    view.prompt.setPlainText(prompt)
    return view


def test_compose_stream_and_rate(qtbot, qloop, openai_server, make_ctx):
    openai_server.reply_text = "**Who** is the audience? What is the *one* message? When does it launch?"
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    tokens: list[str] = []
    results: list[RunSummary] = []
    busy: list[bool] = []
    ctx.composer.tokenReceived.connect(tokens.append)
    ctx.composer.finished.connect(results.append)
    ctx.composer.busyChanged.connect(busy.append)

    qtbot.mouseClick(view.send_button, Qt.MouseButton.LeftButton)
    wait_until(qloop, lambda: bool(results) and busy[-1:] == [False])

    result = results[0]
    assert result.ok and result.model == "openai/gpt-4"
    assert len(tokens) > 3  # it streamed word by word, not in one piece
    assert "".join(tokens) == openai_server.reply_text
    assert view.answer.text() == openai_server.reply_text
    assert "Who" in view.answer.toPlainText() and "**" not in view.answer.toPlainText()  # Markdown rendered
    assert "openai/gpt-4" in view.result_label.text() and "0 retries" in view.result_label.text()
    request_id = result.request_id
    [attempt] = ctx.ledger.attempts(request_id)
    assert attempt.outcome == "ok" and attempt.cost_usd == result.cost_usd > 0

    # The last answer's stars (a StarRating, no longer five buttons) rate it in the ledger.
    saved: list[int] = []
    ctx.composer.ratingSaved.connect(saved.append)
    assert view.stars.isEnabled() and not view.answer_actions.isHidden()
    qtbot.mouseClick(view.stars, Qt.MouseButton.LeftButton, pos=view.stars.star_rect(4).center().toPoint())
    wait_until(qloop, lambda: saved == [4])
    assert ctx.ledger.attempts(request_id)[0].rating == 4
    assert view.stars.rating() == 4
    # Clicking the chosen star again would clear it, which the ledger cannot store: it stays 4.
    qtbot.mouseClick(view.stars, Qt.MouseButton.LeftButton, pos=view.stars.star_rect(4).center().toPoint())
    run(qloop, ctx.composer.wait_idle())
    assert view.stars.rating() == 4 and saved == [4]


def test_ctrl_enter_sends_and_follow_up_keeps_the_model(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    results: list[RunSummary] = []
    busy: list[bool] = []
    ctx.composer.finished.connect(results.append)
    ctx.composer.busyChanged.connect(busy.append)
    # Only the asyncio loop may spin here (qtbot's waits would run async slots outside it).
    qtbot.keyClick(view.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_until(qloop, lambda: len(results) == 1)
    run(qloop, ctx.composer.wait_idle())
    assert busy == [True, False]  # one key press, one request
    assert "\n" not in view.prompt.toPlainText()  # Ctrl+Enter sent; it did not add a line
    ctx.composer.forced_model = None  # the conversation, not the forcing, keeps the model now
    view.prompt.setPlainText("And a fourth question?")
    run(qloop, ctx.composer.send())
    assert len(results) == 2 and results[1].model == "openai/gpt-4"
    body = openai_server.requests[-1].body
    assert [m["role"] for m in body["messages"]][-3:] == ["user", "assistant", "user"]
    assert "turns" in view.conversation_label.text()


def test_cancel_mid_stream_records_a_cancelled_attempt(qtbot, qloop, openai_server, make_ctx):
    openai_server.reply_text = " ".join(f"word{i}" for i in range(200))
    openai_server.chunk_interval_s = 0.05
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    tokens: list[str] = []
    cancelled: list[bool] = []
    started: list[str] = []
    ctx.composer.tokenReceived.connect(tokens.append)
    ctx.composer.cancelled.connect(lambda: cancelled.append(True))
    ctx.composer.requestStarted.connect(started.append)
    task = ctx.composer.send()
    wait_until(qloop, lambda: len(tokens) >= 3)
    assert view.cancel_button.isEnabled() and not view.cancel_button.isHidden()
    assert view.send_button.isHidden()  # Cancel stands in Send's place while the answer streams
    qtbot.keyClick(view.prompt, Qt.Key.Key_Escape)
    run(qloop, task)
    assert cancelled == [True]
    assert not view.cancel_button.isEnabled() and view.send_button.isEnabled()
    assert view.cancel_button.isHidden() and not view.send_button.isHidden()
    assert view.result_label.text() == "Cancelled."
    [attempt] = ctx.ledger.attempts(started[0])
    assert attempt.outcome == "cancelled"
    assert 0 < attempt.output_tokens < 200


def test_route_preview_follows_the_options(qtbot, qloop, openai_server, make_ctx):
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    wait_until(qloop, lambda: bool(previews))  # the debounced preview fired by itself
    preview = previews[-1]
    assert preview.task == "brief_questions"
    assert view.preview_box.title() == "Route"
    assert view.preview_summary.text() == preview.summary and "GPT-4" in preview.summary
    assert len(preview.chain_names) > 1  # the chain in words, the first model's fallbacks
    assert view.preview_chain.text() == "If it fails: " + " → ".join(preview.chain_names[1:])
    cost = f"~{usd_text(preview.cost_usd)}"
    assert view.preview_estimate.text().startswith(f"{cost} · ~")
    assert view.preview_estimate.text().endswith(f" · {preview.input_tokens} tokens in / {preview.output_tokens} out")
    assert view.send_button.text() == f"&Send · {cost}"  # the estimate at the point of decision
    # The exclusions: a count that expands into one line per reason, in words.
    toggle = view.exclusions_toggle
    assert toggle.text() == f"{preview.excluded_count} models excluded ▸" and view.preview_exclusions.isHidden()
    toggle.click()
    assert not view.preview_exclusions.isHidden() and toggle.text().endswith("▾")
    lines = view.preview_exclusions.text().split("\n")
    keyless = [m.name for m in preview.excluded if m.reason == "no API key"]  # Anthropic and Google have no key
    assert keyless and "No API key: " + ", ".join(keyless) in lines
    assert "`" not in view.preview_exclusions.text() and "sparklio keys" not in view.preview_exclusions.text()
    assert len(lines) == len({line.split(":")[0] for line in lines})  # one line per reason
    # The options live in the popup, and still drive the preview.
    budget = view.option_combos["budget"]
    assert view.options_popup.isAncestorOf(budget) and not view.editor.isAncestorOf(budget)
    view.show()
    qtbot.mouseClick(view.options_button, Qt.MouseButton.LeftButton)
    assert view.options_popup.isVisible()
    budget.setCurrentIndex(budget.findData("low"))
    wait_until(qloop, lambda: previews[-1].budget == "low")
    view.options_popup.close()


def test_route_preview_says_when_nothing_would_run(qtbot, qloop, make_ctx):
    """No key and no Ollama: no chain, so no cost or time is shown as an estimate."""
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    wait_until(qloop, lambda: bool(previews))
    assert not previews[-1].chain
    assert view.preview_chain.isHidden() and view.preview_summary.isHidden()  # the notice says it
    assert view.preview_estimate.text().startswith("Nothing would run (")
    assert "tokens in" in view.preview_estimate.text() and "$" not in view.preview_estimate.text()
    assert view.send_button.text() == "&Send"  # no estimate to show
    # said once, in the notice (test_composer_first_run.py): no exclusion list beside it
    assert view.preview_exclusions.text() == "" and view.exclusions_toggle.isHidden()


def test_generated_image_is_shown_zoomable(qtbot, qloop, openai_server, make_ctx):
    from sparklio_desktop.ui.widgets.image_viewer import ImageViewer

    ctx = make_ctx()
    view = _composer(qtbot, ctx, task="image_generation_quality", prompt="A maple latte in autumn light")
    ctx.composer.forced_model = "openai/dall-e-3"
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results and results[0].ok, results and results[0].error
    assert view.images.count() == 1 and not view.images.isHidden() and not view.save_image.isHidden()
    view._open_image(view.images.item(0))
    viewers = view.findChildren(ImageViewer)
    assert len(viewers) == 1 and not viewers[0].image.isNull()
    fitted = viewers[0].view.transform().m11()  # it opens fitted to the window
    viewers[0].zoom(2.0)
    assert viewers[0].view.transform().m11() == 2.0 * fitted
    viewers[0].actual_size()
    assert viewers[0].view.transform().m11() == 1.0
    viewers[0].close()


def test_images_attach_by_drop_and_go_with_the_request(qtbot, qloop, openai_server, make_ctx, tmp_path):
    from PySide6.QtCore import QMimeData, QUrl
    from PySide6.QtGui import QImage

    picture = tmp_path / "moodboard.png"
    image = QImage(8, 8, QImage.Format.Format_RGB32)
    image.fill(0xFF8800)
    assert image.save(str(picture))
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    ctx = make_ctx()
    view = _composer(qtbot, ctx, task="image_analysis", prompt="What brand colours does this use?")
    ctx.composer.forced_model = "openai/gpt-4v"
    errors: list[str] = []
    ctx.composer.errorRaised.connect(errors.append)

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(picture))])
    assert view.prompt.canInsertFromMimeData(mime)
    view.prompt.insertFromMimeData(mime)  # what a drop does
    run(qloop, ctx.composer.wait_idle())
    assert view.images_label.text() == "moodboard.png"
    assert view.prompt.toPlainText() == "What brand colours does this use?"  # no file path pasted in
    run(qloop, ctx.composer.attach_images([str(notes)]))
    assert errors == ["notes.txt: not a PNG, JPEG, WebP or GIF file"]

    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results[0].ok, results[0].error
    content = openai_server.requests[-1].body["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in content)
    view.clear_images.click()
    assert view.images_label.text() == ""


def test_a_retried_attempt_shows_in_the_attempt_line(qtbot, qloop, openai_server, make_ctx):
    """``attemptChanged`` carries typed values: the failure and what follows, then the new attempt."""
    from sparklio_desktop.ui.viewmodels.payloads import FailedAttempt, StartedAttempt
    from tests.fakes.loopback import Fault

    openai_server.script(Fault(status=500, message="The server had an error", error_type="server_error"))
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    updates: list[FailedAttempt | StartedAttempt] = []
    lines: list[str] = []
    ctx.composer.attemptChanged.connect(updates.append)
    ctx.composer.attemptChanged.connect(lambda _: lines.append(view.attempt_label.text()))
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())

    assert [type(u) for u in updates] == [StartedAttempt, FailedAttempt, StartedAttempt]
    first, failed, second = updates
    assert (first.attempt, first.model, first.model_name) == (1, "openai/gpt-4", "GPT-4")
    assert (failed.attempt, failed.model, failed.next_action) == (1, "openai/gpt-4", "retry")
    assert "The server had an error" in (failed.error or "") and failed.wait_s > 0
    assert second.attempt == 2 and second.waited_s == failed.wait_s
    assert lines[0] == "Attempt 1: GPT-4…"
    assert lines[1].startswith("Attempt 1 (openai/gpt-4) failed: ") and lines[1].endswith(
        f"; retrying in {failed.wait_s:g} s"
    )
    assert lines[2] == f"Attempt 2: GPT-4 after waiting {failed.wait_s:g} s…"
    [result] = results
    assert result.ok and result.retries == 1 and result.fallbacks == 0
    assert "1 retry" in view.result_label.text() and "0 fallbacks" in view.result_label.text()


def test_after_an_image_switching_to_chat_routes_again(qtbot, qloop, openai_server, make_ctx):
    """Issue 12: after an image task, a chat follow-up went to DALL-E 3 ("cannot do text")."""
    ctx = make_ctx()
    view = _composer(qtbot, ctx, task="image_generation_quality", prompt="A pumpkin latte on a wooden table")
    ctx.composer.forced_model = None
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results[0].ok and results[0].model == "openai/dall-e-3"
    view.task_combo.setCurrentIndex(view.task_combo.findData("chat"))
    view.prompt.setPlainText("Now write a caption for it.")
    run(qloop, ctx.composer.send())
    assert results[1].ok, results[1].error
    assert results[1].model != "openai/dall-e-3"
    assert openai_server.requests[-1].path.endswith("/chat/completions")


def test_the_preview_counts_the_conversation_it_will_send(qtbot, qloop, openai_server, make_ctx):
    openai_server.reply_text = "A long answer " * 80
    ctx = make_ctx()
    _composer(qtbot, ctx, task="chat", prompt="Tell me about autumn drinks")
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    ctx.composer.refresh_preview()
    wait_until(qloop, lambda: bool(previews))
    first = previews[-1].input_tokens
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results[0].ok
    previews.clear()
    ctx.composer.refresh_preview()  # the same prompt again, now with two earlier turns
    wait_until(qloop, lambda: bool(previews))
    assert previews[-1].input_tokens > first + 160  # the answer's ~240 tokens and the first question


def test_the_composer_is_compact_with_the_prompt_first(qtbot, qloop, make_ctx):
    """Issue 12: under a thread the composer took ~400 px (five combos, a checkbox row, the
    system prompt, then the prompt). Now: the prompt box, then one row; the options in a popup."""
    ctx = make_ctx()
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    run(qloop, ctx.composer.wait_idle())
    assert view.editor.sizeHint().height() <= 220
    view.set_embedded(True)  # as under a thread: the thread shows the answers
    assert view.answer.isHidden() and view.result_label.isHidden() and view.copy_button.isHidden()
    view.empty_state.hide()  # the chat page moves it into the thread
    run(qloop, ctx.composer.wait_idle())  # the layouts hear of the hidden parts
    assert view.sizeHint().height() <= 220
    # The prompt box first and biggest; the one row under it, Send to the right.
    assert view.prompt.geometry().bottom() < view.send_button.mapTo(view.editor, view.send_button.rect().topLeft()).y()
    row = [view.attach, view.task_combo, view.options_button, view.send_button]
    assert len({w.mapTo(view.editor, w.rect().center()).y() for w in row}) == 1
    assert [w.mapTo(view.editor, w.rect().topLeft()).x() for w in row] == sorted(
        w.mapTo(view.editor, w.rect().topLeft()).x() for w in row
    )
    assert view.prompt.height() > max(w.height() for w in row) * 2
    # Options, the system prompt and the conversation controls are not on the composer's face.
    for widget in (*view.option_combos.values(), view.route_again, view.new_conversation, view.system_prompt):
        assert view.options_popup.isAncestorOf(widget) and not widget.isVisible()
    # The task in words, its id as the data; the stars and Save only once there is an answer.
    index = view.task_combo.findData("copywriting_standard")
    assert view.task_combo.itemText(index) == "Copywriting"
    assert view.answer_actions.isHidden() and not view.stars.isEnabled()


def test_the_options_popup_holds_the_task_tables_defaults(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = _composer(qtbot, ctx, task="image_generation_quality", prompt="A pumpkin latte")
    view.show()
    view.show_options()
    popup = view.options_popup
    assert popup.isVisible() and popup.isWindow()
    assert not view.option_combos["complexity"].isEnabled()  # image tasks have no complexity
    options = ctx.composer.options
    for name in ("budget", "speed", "quality"):
        assert view.option_combos[name].currentData() == options[name]
    view.task_combo.setCurrentIndex(view.task_combo.findData("brief_questions"))
    assert view.option_combos["complexity"].isEnabled()
    assert view.system_prompt.text().startswith("System prompt: ")
    assert view.system_prompt.font().pointSizeF() >= 10
    view.route_again.setChecked(True)
    assert ctx.composer.route_again
    popup.close()
    run(qloop, ctx.composer.wait_idle())


def test_exclusions_are_grouped_by_reason_in_plain_words():
    from sparklio_desktop.ui.viewmodels.payloads import ExcludedModel
    from sparklio_desktop.ui.views.composer_view import exclusion_lines, plain_detail

    down = "Ollama is not running (start it with `ollama serve`)"
    excluded = [
        ExcludedModel("Llama 3.2", "provider unreachable", down),
        ExcludedModel("Claude 3.5 Sonnet", "no API key", "set one with `sparklio keys set anthropic`"),
        ExcludedModel("Qwen 2.5", "provider unreachable", down),
        ExcludedModel("GPT-4", "too slow for the speed class", "about 12.0 s expected, limit 5 s (realtime)"),
        ExcludedModel("Mistral 7B", "provider unreachable", down),
    ]
    assert exclusion_lines(excluded, 8) == [
        "Ollama is not running: Llama 3.2, Qwen 2.5, Mistral 7B",
        "No API key: Claude 3.5 Sonnet",
        "Too slow for the speed class: GPT-4",
        "… and 3 more (see Details)",
    ]
    assert exclusion_lines(excluded[:1], 1) == ["Ollama is not running: Llama 3.2"]
    assert plain_detail(down) == "Ollama is not running"
    assert plain_detail("pull it with `ollama pull llama3.2:3b`") == ""
    assert plain_detail("about 12.0 s expected, limit 5 s (realtime)") == "about 12.0 s expected, limit 5 s (realtime)"


def test_send_keeps_its_estimate_in_a_narrow_thread(qtbot, qloop, openai_server, make_ctx):
    """Under a thread 380 px wide, with the route card moved to the side panel as the chat
    page does, "Send · ~$…" is never cut: the task combo gives way first."""
    from PySide6.QtWidgets import QHBoxLayout, QSplitter, QWidget

    ctx = make_ctx()
    ctx.composer.forced_model = "openai/gpt-4"
    ctx.composer.explore = False
    # One top-level owns everything (as the window does), so each widget is deleted once.
    page = QWidget()
    qtbot.addWidget(page)
    row = QHBoxLayout(page)
    row.setContentsMargins(0, 0, 0, 0)
    thread = QSplitter(Qt.Orientation.Vertical)  # as the chat page's: a set width beats the minimum
    thread.setFixedWidth(380)  # the chat page's narrowest thread
    view = ComposerView(ctx.composer)
    thread.addWidget(view)
    side = QWidget()  # the route card and the example prompts go elsewhere, as on the chat page
    QHBoxLayout(side).addWidget(view.preview_box)
    side.layout().addWidget(view.empty_state)
    row.addWidget(thread)
    row.addWidget(side)
    view.set_embedded(True)
    view.prompt.setPlainText("Three questions for our autumn launch brief")
    page.resize(800, 260)
    page.show()
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    wait_until(qloop, lambda: bool(previews))
    run(qloop, ctx.composer.wait_idle())
    assert view.width() == 380 and "~$" in view.send_button.text()
    assert view.send_button.width() >= view.send_button.sizeHint().width()
    assert view.send_button.geometry().right() <= view.editor.width()
    buttons = [view.attach, view.task_combo, view.options_button, view.send_button]
    assert all(not w.isHidden() and w.width() >= w.minimumSizeHint().width() for w in buttons)
    assert view.attach.text() == "&Image…" and view.task_label.isHidden()  # the short labels


def test_the_options_popup_is_reached_and_left_by_keyboard(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = _composer(qtbot, ctx)
    view.show()
    view.options_button.click()  # Alt+P
    popup = view.options_popup
    assert popup.isVisible() and popup.isAncestorOf(QApplication.focusWidget())
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Escape)
    assert not popup.isVisible()
    run(qloop, ctx.composer.wait_idle())


def test_a_brand_voice_goes_before_every_text_prompt(qtbot, qloop, openai_server, make_ctx, sparklio_home):
    (sparklio_home / "brand_voices.yaml").write_text(
        "voices:\n  bean:\n    tone: warm and playful\n    avoid: [synergy]\n", encoding="utf-8"
    )
    ctx = make_ctx()
    view = _composer(qtbot, ctx, task="chat", prompt="A caption for our pumpkin latte")
    assert view.voice_combo.isHidden()  # no voices read yet: no row
    view.show_options()
    wait_until(qloop, lambda: view.voice_combo.count() == 2)
    assert not view.voice_combo.isHidden() and view.voice_combo.itemText(1) == "bean"
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    ctx.composer.refresh_preview()
    wait_until(qloop, lambda: bool(previews))
    plain = previews[-1].input_tokens
    view.voice_combo.setCurrentIndex(1)
    previews.clear()
    ctx.composer.refresh_preview()
    wait_until(qloop, lambda: bool(previews))
    assert previews[-1].input_tokens > plain + 10  # the voice's paragraph is priced
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results[0].ok
    sent = openai_server.requests[-1].body["messages"][-1]["content"]
    assert sent.startswith("Write in the brand voice 'bean'.") and "Words to avoid: synergy." in sent
    assert sent.endswith("A caption for our pumpkin latte")
    # An image prompt goes alone: a tone means nothing to an image model.
    view.task_combo.setCurrentIndex(view.task_combo.findData("image_generation_quality"))
    ctx.composer.forced_model = "openai/dall-e-3"
    run(qloop, ctx.composer.send())
    assert openai_server.requests[-1].body["prompt"] == "A caption for our pumpkin latte"
