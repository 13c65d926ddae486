"""The inspector shows the candidates and the attempts of a request that retried and
fell back: GPT-4 answers 500 until its retries run out, then Claude answers. It leads
with plain words (why this model, what happened) and names models, never by id."""

from __future__ import annotations

from PySide6.QtGui import QPalette

from sparklio_desktop.core.naming import times
from sparklio_desktop.ui.views.inspector_view import CANDIDATE_COLUMNS, InspectorView
from tests.fakes.loopback import Fault
from tests.ui.conftest import run, wait_until


def test_inspector_shows_retries_and_fallback(qtbot, qloop, openai_server, anthropic_server, make_ctx):
    anthropic_server.reply_text = "Who is it for, and what should they feel?"
    ctx = make_ctx()
    retries = ctx.workspace.policy.retry.max_retries
    openai_server.script(*[Fault(status=500) for _ in range(retries + 1)])
    view = InspectorView(ctx.inspector)
    qtbot.addWidget(view)
    completed: list[str] = []
    summaries = []
    ctx.composer.finished.connect(summaries.append)
    ctx.composer.requestCompleted.connect(completed.append)
    ctx.composer.requestCompleted.connect(ctx.inspector.open_request)
    ctx.composer.explore = False
    ctx.composer.set_task("brief_questions")
    ctx.composer.set_prompt("Sharpen the brief for our autumn launch")
    run(qloop, ctx.composer.send())
    assert completed
    # The composer's result line says what happened; the live run still knows the HTTP status.
    [summary] = summaries
    assert summary.model_name == "Claude 3.5 Sonnet"
    assert summary.outcome == (
        f"Claude 3.5 Sonnet answered after GPT-4 failed {times(retries + 1)} with a server error (HTTP 500)."
    )
    wait_until(qloop, lambda: ctx.inspector.current_request_id == completed[0])
    run(qloop, ctx.inspector.wait_idle())

    # Plain words first: why GPT-4 (the task table's first choice), in larger text, then
    # what actually happened; the numbers wait behind "N models excluded ▸".
    trace = ctx.ledger.decision(completed[0]).trace
    lead = view.lead.text()
    assert lead.endswith("the task table puts GPT-4 first for brief questions.") or lead == (
        "GPT-4: the task table's first choice for brief questions."
    )
    assert lead == ctx.inspector.describe(completed[0], trace, [], "")["summary"]
    assert view.lead.font().pointSizeF() > view.header.font().pointSizeF()
    assert view.outcome.text() == (
        f"Claude 3.5 Sonnet answered after GPT-4 failed {times(retries + 1)} with a server error."
    )
    assert view.chain.text().startswith("GPT-4 first. If it fails: Claude 3.5 Sonnet → ")
    excluded = sum(trace["excluded_counts"].values())
    assert view.details_toggle.text() == f"{excluded} models excluded ▸"
    assert view.details.isHidden()
    view.details_toggle.click()
    assert not view.details.isHidden() and view.details_toggle.text().endswith("▾")
    assert f"no API key: {trace['excluded_counts']['no_api_key']}" in view.rules.text()

    # Attempts: every GPT-4 try failed with 500, each retry after the policy's wait, then Claude.
    table = view.attempts
    rows = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
    assert [row[1] for row in rows] == ["GPT-4"] * (retries + 1) + ["Claude 3.5 Sonnet"]
    assert table.item(0, 1).toolTip() == "openai/gpt-4"  # the id, one hover away
    assert [row[2] for row in rows] == ["failed"] * (retries + 1) + ["answered"]
    assert table.item(0, 2).toolTip() == "error"  # the ledger's outcome
    assert rows[0][6] == "retry after 0.01 s"
    assert rows[retries][6] == "fell back to Claude 3.5 Sonnet"
    assert rows[0][7] == "TransientError: scripted failure"

    # Candidates: every model that can do text, with the four scores and the total.
    candidates = view.candidates
    assert candidates.rowCount() == len(trace["candidates"])
    names = [candidates.item(r, 0).text() for r in range(candidates.rowCount())]
    assert sorted(names) == sorted(c["name"] for c in trace["candidates"])
    excluded_col = CANDIDATE_COLUMNS.index("Excluded by")
    grey = view.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
    greyed = [r for r in range(candidates.rowCount()) if candidates.item(r, excluded_col).text()]
    assert greyed, "Google has no key here, so its models are excluded"
    for r in greyed:
        assert candidates.item(r, 0).foreground().color() == grey
    assert any("no API key" in candidates.item(r, excluded_col).text() for r in greyed)
    assert "GPT-4" in view.chain.text()
    assert "Estimated $" in view.estimate.text() and "actual $" in view.estimate.text()
    assert view.explanation.toPlainText() == trace["explanation"]
    assert view.exploration.text() == "Not an exploration pick."

    # The history lists it and can be searched by prompt text.
    ctx.inspector.search = "autumn"
    run(qloop, ctx.inspector.refresh_history())
    assert view.history.rowCount() == 1
    assert view.history.item(0, 1).text() == "Brief questions"
    assert view.history.item(0, 2).text() == "Claude 3.5 Sonnet"
    assert view.history.item(0, 2).toolTip() == "anthropic/claude-3-5-sonnet"
    assert view.history.item(0, 3).text() == "answered"
    assert view.model_filter.findText("GPT-4") > 0 and view.model_filter.findText("openai/gpt-4") < 0
    view.model_filter.setCurrentIndex(view.model_filter.findText("GPT-4"))
    assert ctx.inspector.model_filter == "openai/gpt-4"
    ctx.inspector.search = "no such prompt"
    run(qloop, ctx.inspector.refresh_history())
    assert view.history.rowCount() == 0


def test_history_date_periods():
    from datetime import UTC, datetime

    from sparklio_desktop.ui.viewmodels.inspector import period_start

    now = datetime(2026, 3, 18, 15, 30, tzinfo=UTC)
    assert period_start("any", now) is None
    assert period_start("today", now) == datetime(2026, 3, 18, tzinfo=UTC)
    assert period_start("7d", now) == datetime(2026, 3, 11, 15, 30, tzinfo=UTC)
    assert period_start("month", now) == datetime(2026, 3, 1, tzinfo=UTC)


def test_the_route_preview_carries_the_why_and_the_chain_in_words(catalog, policy):
    """The route panel's payload: one sentence of why and the chain in words, names only."""
    from sparklio_desktop.core.routing.router import Router, RouteRequest
    from sparklio_desktop.ui.viewmodels.payloads import RoutePreview

    decision = Router(catalog, policy).route(RouteRequest("copywriting_standard", explore=False))
    preview = RoutePreview.of(decision)
    assert preview.summary == decision.summary
    assert preview.summary.endswith("but the task table puts Claude 3.5 Sonnet first for copywriting.")
    assert preview.fallbacks == "If it fails: GPT-4 → Gemini 2.0 Pro → Llama 3.2"
