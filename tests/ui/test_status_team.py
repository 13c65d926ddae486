"""The status bar in team mode (docs/team.md): who this install's requests belong to and
where the team's ledger is, never the database URL; a ledger of one's own adds nothing."""

from __future__ import annotations

from sparklio_desktop.app import build_window
from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
from tests.postgres_server import PASSWORD
from tests.ui.conftest import run, wait_until


def test_the_status_bar_names_the_member_and_the_team_ledger(qtbot, qloop, make_ctx, pg_database_url, monkeypatch):
    monkeypatch.setenv(DATABASE_URL_ENV, pg_database_url)
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")
    ctx = make_ctx()
    assert ctx.ledger.dialect == "postgresql"
    window = build_window(ctx)
    qtbot.addWidget(window)
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    database = pg_database_url.rsplit("/", 1)[-1]
    wait_until(qloop, lambda: f"team: ada · ledger 127.0.0.1/{database}" in window.providers_label.text(), timeout=5)
    assert "postgresql" not in window.providers_label.text() and PASSWORD not in window.providers_label.text()


def test_a_ledger_of_ones_own_says_nothing_of_a_team(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    wait_until(qloop, lambda: "ollama:" in window.providers_label.text(), timeout=5)
    assert "team:" not in window.providers_label.text()
