"""Spend panel totals equal the ledger's SQL sums; the gauge, the 80% banner, CSV export."""

from __future__ import annotations

import csv
import sqlite3
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sparklio_desktop.core.ledger import AttemptRecord, from_picodollars
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
    table = view.tables["Model"]
    shown = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert shown == {model: usd_text(amount) for model, amount in by_model.items()}
    assert table.item(0, 1).toolTip().endswith(f"{by_model[table.item(0, 0).text()]} USD")
    assert view.gauge.text() == f"{usd_text(f.spent_usd)} of $50.00 ({f.percent:.1f}%)"
    assert view.gauge.value() == int(f.percent * 10)
    assert "80% mark: $40.00" in view.mark_label.text()
    assert "cache hit rate 16.7%" in view.stats.text() and "fallback rate 16.7%" in view.stats.text()
    assert view.chart is not None and len(view.line.getData()[1]) == len(f.daily)
    assert view.banner.isHidden()

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

        class local_vs_cloud:  # noqa: N801 - mimics the record's attribute
            local_usd = cloud_usd = Decimal(0)
            local_answers = cloud_answers = 0

    f = compute_figures(Summary, Decimal("50"), Decimal("0.8"), "stop", 3.0, date(2026, 3, 10))
    assert f.projection_usd == Decimal("31") and f.alert_mark_usd == Decimal("40.0")
    assert not f.alert and "paid requests stop" in f.at_cap_text
