"""In team mode the settings panel's budget fields set the team's budget (core/team_budget.py):
the value goes to the shared database, not settings.json, the guard enforces it at once, and
the panel shows the team's value. Real widgets, a real (SQLite) team database."""

from __future__ import annotations

from decimal import Decimal

from sparklio_desktop.core.ledger.shared_settings import SharedSettingsStore
from sparklio_desktop.ui.views.settings_view import SettingsView
from tests.ui.conftest import run


def test_in_team_mode_the_budget_field_sets_the_teams_budget(
    qtbot, qloop, make_ctx, tmp_path, monkeypatch, sparklio_home
):
    team = tmp_path / "team.sqlite3"
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(team))
    ctx = make_ctx(ledger_path=team)
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    notices: list[str] = []
    ctx.settings.notice.connect(notices.append)
    run(qloop, ctx.settings.set_value("budget.monthly_usd", "77"))
    assert view.errors["budget.monthly_usd"].isHidden()
    assert ctx.budget.shared and ctx.budget.monthly_usd == Decimal("77")  # enforced now, on this install
    assert ctx.workspace.settings.budget.monthly_usd == Decimal("50")  # this install's own is unchanged
    assert view.fields["budget.monthly_usd"].text() == "77"
    assert any("whole team" in notice for notice in notices)
    with SharedSettingsStore.open(team) as store:
        assert store.values() == {"budget.monthly_usd": "77"}
    assert not (sparklio_home / "settings.json").exists()
    run(qloop, ctx.settings.set_value("budget.monthly_usd", "-5"))  # refused inline, the team's value kept
    assert not view.errors["budget.monthly_usd"].isHidden() and "greater than or equal" in (
        view.errors["budget.monthly_usd"].text()
    )
    with SharedSettingsStore.open(team) as store:
        assert store.values() == {"budget.monthly_usd": "77"}


def test_in_team_mode_the_members_limits_field_sets_the_teams_limits(
    qtbot, qloop, make_ctx, tmp_path, monkeypatch, sparklio_home
):
    """The field shows the team's limits as "name=usd" pairs and sets them for the whole team;
    the guard (this install's member) enforces the new limit at once."""
    team = tmp_path / "team.sqlite3"
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(team))
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")
    ctx = make_ctx(ledger_path=team)
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    field = view.fields["team.member_limits"]
    assert field.text() == ""
    run(qloop, ctx.settings.set_value("team.member_limits", "bob=2.5, ada=10"))
    assert view.errors["team.member_limits"].isHidden()
    assert field.text() == "ada=10, bob=2.5"
    assert ctx.budget.member == "ada" and ctx.budget.member_limit_usd == Decimal("10")
    with SharedSettingsStore.open(team) as store:
        assert store.values().keys() == {"team.member_limits"}
    assert not (sparklio_home / "settings.json").exists()
    run(qloop, ctx.settings.set_value("team.member_limits", "ada=ten"))
    assert not view.errors["team.member_limits"].isHidden()
    assert ctx.budget.member_limit_usd == Decimal("10")  # refused: the team's limits stay


def test_outside_team_mode_the_members_limits_field_writes_this_installs_settings(
    qtbot, qloop, make_ctx, monkeypatch, sparklio_home
):
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    run(qloop, ctx.settings.set_value("team.member_limits", "ada=3"))
    assert view.errors["team.member_limits"].isHidden()
    assert ctx.workspace.settings.team.member_limits == {"ada": Decimal("3")}
    assert ctx.budget.member_limit_usd == Decimal("3")  # applied to the running guard
    assert view.fields["team.member_limits"].text() == "ada=3"
