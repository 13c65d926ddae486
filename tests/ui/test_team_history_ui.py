"""Settings → Team in a real window on a real PostgreSQL team database: the history this
machine recorded before team mode is counted when Settings is first shown, one press of the
button copies it in, and the spend, the history and the sidebar show it at once."""

from __future__ import annotations

from decimal import Decimal

from PySide6.QtCore import Qt

from tests.core.test_team_history import personal_folder
from tests.ui.conftest import run, settle_all
from tests.ui.test_workspace import _window


def test_a_creator_who_joined_a_team_copies_their_history_in_from_settings(
    qtbot, qloop, make_ctx, pg_database_url, monkeypatch, sparklio_home
):
    personal_folder(sparklio_home)  # this machine's files from before team mode
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", pg_database_url)
    monkeypatch.setenv("SPARKLIO_MEMBER", "ada")
    ctx = make_ctx()
    window = _window(qtbot, ctx)
    settings = window.views["settings"]
    assert ctx.team_history is not None and ctx.team_history.active
    assert ctx.ledger.spend_summary("2026-10").spent_usd == 0

    window.show_page("settings")  # first shown: the survey runs
    label, button = settings.team_history_label, settings.copy_history_button
    settle_all(qloop, ctx, lambda: button.isEnabled())
    assert settings.team_box.isVisible()
    assert label.text().startswith("Not in the team database yet: 3 requests ($0.375, 2026-09 to 2026-10)")
    assert "3 conversations (7 turns)" in label.text() and "(as ada)" in label.text()

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    settle_all(qloop, ctx, lambda: label.text().startswith("Copied"))
    assert not button.isEnabled()  # nothing is left to copy
    assert "3 requests" in label.text() and "The files in this machine's data folder are kept" in label.text()
    assert ctx.ledger.spend_summary("2026-10").spent_usd == Decimal("0.125042")
    sidebar = window.views["sidebar"]
    assert sorted(r.title for r in sidebar.vm.model.rows) == ["Autumn latte captions", "Q4 plan"]
    assert ctx.inspector  # the history tab follows the same ledgerChanged signal as a finished request


def test_outside_team_mode_there_is_no_team_box(qtbot, qloop, make_ctx, sparklio_home):
    personal_folder(sparklio_home)
    ctx = make_ctx(ledger_path=sparklio_home / "ledger.sqlite3")
    window = _window(qtbot, ctx)
    window.show_page("settings")
    run(qloop, ctx.wait_idle())
    assert ctx.team_history is not None and not ctx.team_history.active
    assert window.views["settings"].team_box.isHidden()
    assert window.views["settings"].team_history_label.text() == ""  # no survey was made
