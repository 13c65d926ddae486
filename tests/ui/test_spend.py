"""Spend panel totals equal the ledger's SQL sums; the gauge, the 80% banner, CSV export."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from PySide6.QtCore import Qt

from sparklio_desktop.core.ledger import AttemptRecord, from_picodollars
from sparklio_desktop.core.ledger.records import HistorySaving
from sparklio_desktop.ui.viewmodels.spend import anomalies, compute_figures
from sparklio_desktop.ui.views.spend_view import SpendView
from sparklio_desktop.ui.widgets.format import usd_text
from tests.ui.conftest import run

ROWS = [  # (day, request, attempt, model, provider, task, outcome, cost, saved)
    (1, "r1", 1, "openai/gpt-4", "openai", "brief_questions", "ok", "0.0123", "0"),
    (1, "r2", 1, "openai/gpt-4", "openai", "code_generation", "error", "0", "0"),
    (1, "r2", 2, "anthropic/claude-3-5-sonnet", "anthropic", "code_generation", "ok", "0.031", "0"),
    (2, "r3", 1, "ollama/qwen2.5", "ollama", "chat", "ok", "0", "0"),
    (2, "r4", 1, "openai/gpt-4", "openai", "brief_questions", "cache_hit", "0", "0.0123"),
    (3, "r5", 1, "google/gemini-2.0-pro", "google", "strategy_planning", "ok", "1.000000001", "0"),
    (3, "r6", 1, "openai/gpt-4", "openai", "chat", "cancelled", "0.000004", "0"),
]


def _month_start() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year, now.month, 1, 12, tzinfo=UTC)


def _insert(ledger) -> str:
    start = _month_start()
    for day, rid, attempt, model, provider, task, outcome, cost, saved in ROWS:
        ledger.record_attempt(
            AttemptRecord(
                request_id=rid,
                attempt=attempt,
                ts_utc=start + timedelta(days=day - 1),
                task_type=task,
                model_id=model,
                provider=provider,
                outcome=outcome,
                cost_usd=Decimal(cost),
                saved_usd=Decimal(saved),
                input_tokens=100,
                output_tokens=50,
            )
        )
    return f"{start.year:04d}-{start.month:02d}"


def _sql(ledger_path, query: str):
    with sqlite3.connect(ledger_path) as db:
        return db.execute(query).fetchall()


def test_spend_panel_totals_equal_sql_sums(qtbot, qloop, make_ctx, tmp_path):
    ctx = make_ctx()
    month = _insert(ctx.ledger)
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    view.show()  # builds the pyqtgraph chart
    run(qloop, ctx.spend.load(month))
    f = ctx.spend.figures
    path = ctx.ledger.path
    [(total,)] = _sql(path, "SELECT SUM(cost_usd) FROM llm_usage")
    assert f.spent_usd == from_picodollars(total) == sum(Decimal(r[7]) for r in ROWS)
    by_model = {
        m: from_picodollars(v) for m, v in _sql(path, "SELECT model_id, SUM(cost_usd) FROM llm_usage GROUP BY 1")
    }
    assert dict(f.by_model) == by_model
    by_provider = {
        p: from_picodollars(v) for p, v in _sql(path, "SELECT provider, SUM(cost_usd) FROM llm_usage GROUP BY 1")
    }
    assert dict(f.by_provider) == by_provider
    by_task = {
        t: from_picodollars(v) for t, v in _sql(path, "SELECT task_type, SUM(cost_usd) FROM llm_usage GROUP BY 1")
    }
    assert dict(f.by_task) == by_task
    [(saved,)] = _sql(path, "SELECT SUM(saved_usd) FROM llm_usage")
    assert f.saved_usd == from_picodollars(saved)
    assert f.cache_hits == 1 and f.requests == 6
    assert f.cumulative[-1] == f.spent_usd and f.daily[0][1] == Decimal("0.0433")

    # What the widgets show is those numbers.
    # Models by name and tasks in words; the ids stay in each row's data and tooltip.
    names = {
        "openai/gpt-4": "GPT-4",
        "anthropic/claude-3-5-sonnet": "Claude 3.5 Sonnet",
        "ollama/qwen2.5": "Qwen 2.5",
        "google/gemini-2.0-pro": "Gemini 2.0 Pro",
    }
    table = view.tables["Model"]
    shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert shown == {names[model]: usd_text(amount) for model, amount in by_model.items()}
    model_of = {table.item(r, 0).text(): table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(len(names))}
    assert model_of == {name: model for model, name in names.items()}
    first = table.item(0, 0).data(Qt.ItemDataRole.UserRole)
    assert table.item(0, 1).toolTip() == f"{first}: {by_model[first]} USD"
    tasks = view.tables["Task"]
    words = {tasks.item(r, 0).text(): tasks.item(r, 0).toolTip().split(":")[0] for r in range(tasks.rowCount())}
    assert words == {
        "Brief questions": "brief_questions",
        "Code generation": "code_generation",
        "Chat": "chat",
        "Strategy and planning": "strategy_planning",
    }
    assert view.gauge.text() == f"{usd_text(f.spent_usd)} of $50.00 ({f.percent:.1f}%)"
    assert view.gauge.value() == int(f.percent * 10)
    assert "80% mark: $40.00" in view.mark_label.text()
    assert "cache hit rate 16.7%" in view.stats.text() and "fallback rate 16.7%" in view.stats.text()
    today = datetime.now(UTC).date()
    assert view.chart is not None and len(view.line.getData()[1]) == today.day  # the line stops at today
    assert view.line.getData()[0][-1] == today.day and len(f.daily) >= today.day
    assert view.banner.isHidden() and view.gauge.property("level") == "ok"

    # CSV export of the month's rows.
    target = tmp_path / "month.csv"
    exported: list[tuple[str, int]] = []
    ctx.spend.exported.connect(lambda p, n: exported.append((p, n)))
    run(qloop, ctx.spend.export_csv(str(target)))
    assert exported == [(str(target), len(ROWS))]
    with target.open(newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(ROWS)


def test_alert_banner_at_80_percent(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    month = _insert(ctx.ledger)
    ctx.budget.monthly_usd = Decimal("1.2")  # 1.04 spent: past the 80% mark
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    alerts: list[str] = []
    ctx.spend.alertRaised.connect(alerts.append)
    run(qloop, ctx.spend.load(month))
    assert not view.banner.isHidden() and "80% mark" in view.banner.text()
    assert "local models only" in view.banner.text()
    assert len(alerts) == 1
    run(qloop, ctx.spend.load(month))
    assert len(alerts) == 1  # once per month, not on every refresh


def test_projection_and_anomalies():
    daily = [(date(2026, 3, d), Decimal("1")) for d in range(1, 8)] + [(date(2026, 3, 8), Decimal("5"))]
    assert anomalies(daily, 3.0) == [(date(2026, 3, 8), Decimal("5"), Decimal("1"))]
    assert anomalies(daily, 6.0) == []

    class Summary:
        month = "2026-03"
        spent_usd = Decimal("10")
        daily = [(date(2026, 3, d), Decimal("1") if d <= 10 else Decimal(0)) for d in range(1, 32)]
        by_model = by_task = by_provider = {}
        cache_hits = requests = attempts = 0
        saved_usd = Decimal(0)
        fallback_rate = 0.0
        history = HistorySaving()

        class local_vs_cloud:  # noqa: N801 - mimics the record's attribute
            local_usd = cloud_usd = Decimal(0)
            local_answers = cloud_answers = 0

    f = compute_figures(Summary, Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 3, 10))
    assert f.projection_usd == Decimal("31") and f.alert_mark_usd == Decimal("40.0")
    assert not f.alert and "paid requests stop" in f.at_cap_text


def _summary(spent: str, days_spent: int = 10):
    per_day = Decimal(spent) / days_spent
    days = [(date(2026, 3, d), per_day if d <= days_spent else Decimal(0)) for d in range(1, 32)]

    class Summary:
        month = "2026-03"
        spent_usd = Decimal(spent)
        daily = days
        by_model = by_task = by_provider = {}
        cache_hits = requests = attempts = 0
        saved_usd = Decimal(0)
        fallback_rate = 0.0
        history = HistorySaving()

        class local_vs_cloud:  # noqa: N801 - mimics the record's attribute
            local_usd = cloud_usd = Decimal(0)
            local_answers = cloud_answers = 0

    return Summary


def test_gauge_level_and_banner_wording():
    """Amber at the alert threshold and when the projection passes the budget; "Monthly
    budget reached" only at the cap; near it, what is left, never equal to the budget."""
    today = date(2026, 3, 10)
    ok = compute_figures(_summary("10"), Decimal("50"), Decimal("0.8"), "stop", 3.0, today)
    assert (ok.level, ok.banner_text) == ("ok", "")  # $31 projected of $50
    pace = compute_figures(_summary("17"), Decimal("50"), Decimal("0.8"), "stop", 3.0, today)
    assert pace.projection_usd > Decimal("50") and not pace.alert
    assert pace.level == "amber" and "At this pace the month ends at $52.70, over the $50.00 budget" in pace.banner_text
    mark = compute_figures(_summary("40"), Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 3, 31))
    assert mark.level == "amber" and mark.banner_text.startswith("$10.00 of the $50.00 budget for 2026-03 is left")
    assert "Monthly budget reached" not in mark.banner_text
    capped = compute_figures(_summary("50"), Decimal("50"), Decimal("0.8"), "stop", 3.0, today)
    assert capped.level == "red" and capped.banner_text.startswith("Monthly budget reached for 2026-03")
    near = compute_figures(_summary("0.019999"), Decimal("0.02"), Decimal("0.8"), "stop", 3.0, today)
    assert near.spent_of_budget == "$0.019999 of $0.02"  # never "$0.02 of $0.02"
    assert near.banner_text.startswith("$0.000001 of the $0.02 budget") and "reached" not in near.banner_text
    assert near.elapsed_cumulative == near.cumulative[:10]
    past = compute_figures(_summary("1"), Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 4, 2))
    assert past.elapsed_cumulative == past.cumulative  # a past month: the whole line


def test_gauge_turns_amber_and_red_in_the_view(qtbot, qloop, make_ctx):
    from PySide6.QtGui import QColor, QPalette

    from sparklio_desktop.ui.theme import LEVEL_COLOURS

    ctx = make_ctx()
    month = _insert(ctx.ledger)
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    ctx.budget.monthly_usd = Decimal("1.2")  # 1.04 spent: past the 80% mark
    run(qloop, ctx.spend.load(month))
    highlight = view.gauge.palette().color(QPalette.ColorRole.Highlight)
    assert view.gauge.property("level") == "amber" and highlight == QColor(LEVEL_COLOURS["amber"])
    ctx.budget.monthly_usd = Decimal("1.0433")  # exactly what was spent
    run(qloop, ctx.spend.load(month))
    assert view.gauge.property("level") == "red"
    assert view.gauge.palette().color(QPalette.ColorRole.Highlight) == QColor(LEVEL_COLOURS["red"])
    assert "Monthly budget reached" in view.banner.text() and "#f8d7da" in view.banner.styleSheet()


def test_chart_follows_the_theme_live_and_has_a_legend(qtbot, qloop, make_ctx):
    from PySide6.QtGui import QColor

    from sparklio_desktop.ui.theme import apply_theme

    ctx = make_ctx()
    month = _insert(ctx.ledger)
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    apply_theme("light")
    view.show()
    run(qloop, ctx.spend.load(month))
    labels = [label.text for _, label in view.legend.items]
    assert labels == ["Spent so far", "Budget", "Alert mark"]
    light_bg = view.chart.backgroundBrush().color()
    light_pen = view.line.opts["pen"].color()
    light_axis = view.total_plot.getAxis("left").textPen().color()
    assert light_bg.lightness() > 128 and light_axis.lightness() < 128
    try:
        apply_theme("dark")  # Qt posts the palette change: it arrives on the next event loop pass
        qtbot.waitUntil(lambda: view.chart.backgroundBrush().color().lightness() < 128)
        dark_bg = view.chart.backgroundBrush().color()
        assert dark_bg != light_bg
        assert view.line.opts["pen"].color() != light_pen
        assert view.total_plot.getAxis("left").textPen().color().lightness() > 128
        assert view.budget_key.opts["pen"].color() == view.budget_line.pen.color() != QColor("#59a14f")
    finally:
        apply_theme("light")
    qtbot.waitUntil(lambda: view.chart.backgroundBrush().color() == light_bg)  # and back, live


def test_status_figures_carry_the_gauge_level_for_the_status_bar(qloop, make_ctx):
    ctx = make_ctx()
    _insert(ctx.ledger)
    got = []
    ctx.status.statusChanged.connect(got.append)
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    assert got[-1].level == "ok" and got[-1].spend_text == "$1.04 of $50.00"
    ctx.budget.monthly_usd = Decimal("1.2")  # past the 80% mark
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    assert got[-1].level == "amber" and got[-1].spend_text == "$1.04 of $1.20"
    ctx.budget.monthly_usd = Decimal("1.0433")
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    assert got[-1].level == "red"


def test_the_history_saving_sits_next_to_the_cache_saving(qtbot):
    """The month's conversation trimming (docs/conversations.md): tokens, their worth and
    what the summaries cost, in the spend panel's line beside the cache's saving."""
    summary = _summary("10")
    summary.history = HistorySaving(12_400, 3_200, Decimal("0.0096"), 1, Decimal("0.0004"))
    figures = compute_figures(summary, Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 3, 10))
    assert figures.history_text == "history trimmed: 3,200 tokens, saved ~$0.0096 (summaries $0.0004)"
    assert (
        compute_figures(_summary("10"), Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 3, 10)).history_text
        == ""
    )


def test_the_panel_shows_the_month_s_history_saving_from_the_ledger(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    month = _insert(ctx.ledger)
    when = _month_start()
    ctx.ledger.record_attempt(
        AttemptRecord(
            request_id="hist",
            attempt=1,
            ts_utc=when,
            task_type="copywriting_standard",
            model_id="openai/gpt-4",
            provider="openai",
            outcome="ok",
            cost_usd=Decimal("0.01"),
            input_tokens=900,
            output_tokens=100,
            price_input_per_mtok=Decimal("30"),
        )
    )
    ctx.ledger.record_decision(
        "hist", prompt="p", task_type="copywriting_standard", trace={}, ts_utc=when,
        history_tokens_sent=900, history_tokens_saved=3_200,
    )  # fmt: skip
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    run(qloop, ctx.spend.load(month))
    assert ctx.spend.figures.history_saved_usd == Decimal("0.096")  # 3,200 tokens at $30 per million
    assert "history trimmed: 3,200 tokens, saved ~$0.096" in view.stats.text()
    assert view.stats.text().index("saved") < view.stats.text().index("history trimmed")  # next to the cache's
