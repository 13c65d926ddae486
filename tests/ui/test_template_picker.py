"""The composer's template picker on real widgets: choose a template, fill its fields, see
the prompt as sent, use it (the run carries the template's system prompt and JSON schema to
the loopback OpenAI server), and save the composer's prompt as a template of yours."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from sparklio_desktop.ui.viewmodels.payloads import RunSummary
from sparklio_desktop.ui.views.composer_view import ComposerView
from tests.ui.conftest import run, wait_until


def _picker(qtbot, qloop, view):
    dialog = view.show_templates()
    wait_until(qloop, lambda: dialog.combo.count() > 20)
    return dialog


def test_pick_fill_and_run_a_json_template(qtbot, qloop, openai_server, make_ctx, settle):
    ctx = make_ctx()
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    dialog = _picker(qtbot, qloop, view)
    dialog.combo.setCurrentIndex(dialog.combo.findData("hashtag_set"))
    assert set(dialog.fields) == {"topic", "platform", "count"}
    assert dialog.fields["platform"].placeholderText() == "Instagram"
    assert dialog.system.text().startswith("System prompt (") and "Suggest relevant hashtags" in dialog.system.text()
    assert not dialog.use_button.isEnabled() and "needs the variable 'topic' (fill in topic)" in dialog.problem.text()
    dialog.fields["topic"].setText("morning {coffee}")
    assert dialog.use_button.isEnabled()
    assert dialog.preview.toPlainText() == "Topic: morning {coffee}\nPlatform: Instagram\nCount: 10"
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)

    assert view.prompt.toPlainText() == "Topic: morning {coffee}\nPlatform: Instagram\nCount: 10"
    assert ctx.composer.options["task"] == "copywriting_standard" and ctx.composer.options["budget"] == "low"
    assert view.template_button.text() == "Temp&late: hashtag_set"
    assert view.system_prompt.text() == (
        "System prompt (template hashtag_set): Suggest relevant hashtags, without the '#'."
    )

    openai_server.replies = ['{"hashtags": "coffee"}', '{"hashtags": ["coffee", "morning"]}']
    ctx.composer.forced_model = "openai/gpt-4"
    ctx.composer.explore = False
    results: list[RunSummary] = []
    ctx.composer.finished.connect(results.append)
    ctx.composer.send()
    settle(ctx, lambda: bool(results))  # every view-model: the ledger change refreshes spend, status…
    assert results[0].ok
    bodies = [r.body for r in openai_server.requests if r.path.endswith("/chat/completions")]
    assert len(bodies) == 2  # the invalid answer, then the corrected one
    assert bodies[0]["messages"][0] == {"role": "system", "content": "Suggest relevant hashtags, without the '#'."}
    assert bodies[0]["response_format"]["json_schema"]["name"] == "hashtag_set"
    assert json.loads(view.answer.text()) == {"hashtags": ["coffee", "morning"]}


def test_save_the_prompt_as_a_template_then_pick_it(qtbot, qloop, make_ctx, sparklio_home, settle):
    ctx = make_ctx()
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    view.task_combo.setCurrentIndex(view.task_combo.findData("translation"))
    view.prompt.setPlainText("Translate into {language}: {text}")
    dialog = _picker(qtbot, qloop, view)
    assert dialog.save_button.isEnabled()
    ctx.composer.templates.save_as("my_translation", "translation", ctx.composer.prompt, "")
    settle(ctx.composer.templates, lambda: dialog.saved.isVisible())
    path = sparklio_home / "templates" / "my_translation.yaml"
    assert dialog.saved.text() == f"Saved as {path}"
    assert "prompt: 'Translate into {language}: {text}'" in path.read_text(encoding="utf-8")
    wait_until(qloop, lambda: dialog.combo.findData("my_translation") >= 0)
    dialog.combo.setCurrentIndex(dialog.combo.findData("my_translation"))
    assert set(dialog.fields) == {"language", "text"}

    # A prompt whose braces are not placeholders is refused with its reason; nothing is written.
    ctx.composer.templates.save_as("broken", "translation", "a lone { brace", "")
    settle(ctx.composer.templates, lambda: dialog.problem.isVisible())
    assert "prompt: a lone '{'" in dialog.problem.text()
    assert not (sparklio_home / "templates" / "broken.yaml").exists()
    run(qloop, ctx.composer.wait_idle())


def test_another_task_leaves_the_template(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    dialog = _picker(qtbot, qloop, view)
    dialog.combo.setCurrentIndex(dialog.combo.findData("quick_answer"))
    dialog.fields["question"].setText("Why?")
    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert ctx.composer.template == "quick_answer" and ctx.composer.options["task"] == "chat"
    assert ctx.composer._route_request().system_prompt == "Answer briefly and plainly."
    view.task_combo.setCurrentIndex(view.task_combo.findData("translation"))
    assert ctx.composer.template is None and view.template_button.text() == "Temp&late…"
    assert ctx.composer._route_request().system_prompt is None  # the task's own again
    assert ctx.composer._run_request().json_output is None
    run(qloop, ctx.composer.wait_idle())
