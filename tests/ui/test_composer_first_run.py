"""The composer before anything works: the empty state's sentence and example chips, and
the "no model fits" notice said once, in plain words, with the buttons that fix it."""

from __future__ import annotations

from PySide6.QtCore import Qt

from sparklio_desktop.ui.viewmodels.payloads import RoutePreview, RunSummary
from sparklio_desktop.ui.views.composer_view import EMPTY_SENTENCE, ComposerView, no_fit_words
from tests.ui.conftest import run, wait_until


def _view(qtbot, ctx) -> ComposerView:
    view = ComposerView(ctx.composer)
    qtbot.addWidget(view)
    view.show()
    ctx.composer.explore = False
    return view


def test_empty_state_teaches_with_example_chips(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = _view(qtbot, ctx)
    assert view.empty_state.isVisible() and view.empty_sentence.text() == EMPTY_SENTENCE
    assert len(view.chips) >= 4
    chip = next(c for c in view.chips if c.text() == "Translate our menu intro into Spanish")
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton)
    assert view.task_combo.currentData() == "translation" and ctx.composer.options["task"] == "translation"
    assert view.prompt.toPlainText() == "Translate our menu intro into Spanish"
    run(qloop, ctx.composer.wait_idle())


def test_no_model_fits_is_said_once_with_buttons(qtbot, qloop, make_ctx):
    """No key and no Ollama (the tests' unreachable host): one notice, three buttons that
    the window acts on; no list of shell commands, no second copy on the result line or
    in a notification."""
    ctx = make_ctx()
    view = _view(qtbot, ctx)
    previews: list[RoutePreview] = []
    ctx.composer.previewChanged.connect(previews.append)
    view.prompt.setPlainText("Hello?")
    wait_until(qloop, lambda: bool(previews) and view.no_fit.isVisible())
    assert view.no_fit_text.text() == (
        "No model can answer this yet: add an API key for a cloud model, or start Ollama for free local models."
    )
    assert "`" not in view.no_fit_text.text() and "`" not in view.no_fit_text.toolTip()
    assert [b.isVisible() for b in view.no_fit_buttons.values()] == [True, True, True]
    assert "sparklio keys set" not in view.preview_exclusions.text() + view.preview_chain.text()

    actions: list[str] = []
    view.actionRequested.connect(actions.append)
    for name in ("add_key", "start_ollama", "open_models"):
        qtbot.mouseClick(view.no_fit_buttons[name], Qt.MouseButton.LeftButton)
    assert actions == ["add_key", "start_ollama", "open_models"]

    errors: list[str] = []
    results: list[RunSummary] = []
    ctx.composer.errorRaised.connect(errors.append)
    ctx.composer.finished.connect(results.append)
    run(qloop, ctx.composer.send())
    assert results and not results[0].ok and results[0].error.startswith("No model fits")
    assert errors == []  # no notification repeating the list
    assert view.result_label.text() == "No answer: no model can run it yet (see the notice above)."
    assert not view.empty_state.isVisible()
    run(qloop, ctx.composer.wait_idle())


def test_no_fit_words_cover_each_cause():
    words, ollama = no_fit_words(("Llama: local model not installed (pull it with `ollama pull llama3.2:3b`)",))
    assert words == "No model can answer this yet: pull a local model in Models." and not ollama
    words, _ = no_fit_words(("GPT-4: monthly budget cap reached (spent)", "Sonnet: no API key (x)"))
    assert (
        words
        == "No model can answer this yet: add an API key for a cloud model, or raise this month's budget in Settings."
    )
    words, ollama = no_fit_words(("GPT-4: too slow for the speed class (12 s)",))
    assert words.startswith("No model fits these options") and not ollama
