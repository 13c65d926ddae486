"""The spend panel for a team: "Team / Me", both totals, and spend per member."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sparklio_desktop.core.ledger import AttemptRecord
from sparklio_desktop.core.settings.config import set_setting
from sparklio_desktop.ui.views.spend_view import SpendView
from sparklio_desktop.ui.widgets.format import usd_text
from tests.ui.conftest import run

SPENT = [("ada", "0.04"), ("bob", "1.20"), ("bob", "0.30"), ("cy", "0.000001")]


def _insert(ledger) -> str:
    now = datetime.now(UTC)
    for i, (member, cost) in enumerate(SPENT):
        ledger.record_attempt(
            AttemptRecord(
                request_id=f"r{i}",
                attempt=1,
                ts_utc=now,
                task_type="chat",
                model_id="openai/gpt-4",
                provider="openai",
                outcome="ok",
                cost_usd=Decimal(cost),
                member=member,
            )
        )
    return f"{now.year:04d}-{now.month:02d}"


def test_the_panel_shows_the_team_and_me(qtbot, qloop, make_ctx):
    set_setting("team.member", "ada")
    set_setting("team.member_limits", "ada=0.05")
    ctx = make_ctx()
    month = _insert(ctx.ledger)
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    run(qloop, ctx.spend.load(month))
    f = ctx.spend.figures
    team_total = sum(Decimal(cost) for _, cost in SPENT)
    assert (f.scope, f.member, f.spent_usd, f.team_spent_usd) == ("team", "ada", team_total, team_total)
    assert f.by_member == [("bob", Decimal("1.50")), ("ada", Decimal("0.04")), ("cy", Decimal("0.000001"))]
    assert sum(amount for _, amount in f.by_member) == f.spent_usd
    assert view.team_label.text() == "Team $1.54 · Me (ada) $0.04 of a $0.05 monthly limit"
    assert not view.member_table.isHidden() and view.member_table.rowCount() == 3
    assert not view.scope.isHidden() and not view.team_label.isHidden()
    assert view.member_table.item(0, 0).text() == "bob" and view.member_table.item(0, 1).text() == usd_text(
        Decimal("1.50")
    )
    assert view.gauge.text().endswith("of $50.00 (3.1%)")

    # "Me": ada's own figures, against her own limit (80% of it is spent: the banner says so).
    view.scope.setCurrentIndex(view.scope.findData("me"))
    qtbot.waitUntil(lambda: ctx.spend.figures is not None and ctx.spend.figures.scope == "me", timeout=5000)
    me = ctx.spend.figures
    assert (me.spent_usd, me.budget_usd, me.requests) == (Decimal("0.04"), Decimal("0.05"), 1)
    assert me.by_model == [("openai/gpt-4", Decimal("0.04"))]
    assert view.gauge.text() == "$0.04 of $0.05 (80.0%)"
    assert view.scope.currentText() == "Me (ada)"
    assert "of your $0.05 monthly limit" in view.banner.text() and not view.banner.isHidden()
    assert view.team_label.text().startswith("Team $1.54")  # both figures, whichever is shown


def test_a_creator_on_their_own_sees_no_team_choice(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    now = datetime.now(UTC)
    ctx.ledger.record_attempt(
        AttemptRecord(
            request_id="solo", attempt=1, ts_utc=now, task_type="chat", model_id="openai/gpt-4",
            provider="openai", outcome="ok", cost_usd=Decimal("0.02"),
        )
    )  # fmt: skip
    view = SpendView(ctx.spend)
    qtbot.addWidget(view)
    run(qloop, ctx.spend.load(f"{now.year:04d}-{now.month:02d}"))
    assert ctx.spend.figures is not None and len(ctx.spend.figures.by_member) == 1
    assert view.scope.isHidden() and view.scope_label.isHidden() and view.team_label.isHidden()
    assert view.member_table.isHidden()
