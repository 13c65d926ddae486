"""The main window: the rail's pages, keyboard switching, the status bar, remembered layout,
non-modal notifications, mnemonics without clashes."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QSplitter

from sparklio_desktop.app import build_window, start_loads
from tests.ui.conftest import run


def test_window_panels_status_and_layout(qtbot, qloop, qapp, make_ctx, sparklio_home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789abcdef")
    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    assert window.page_names == ["chat", "images", "compare", "recipes", "spend", "models", "settings"]
    labels = ["Chat", "Images", "Compare", "Recipes", "Spend", "Models", "Settings"]
    assert [a.text() for a in window.rail.actions()] == labels
    run(qloop, start_loads(ctx), timeout=60)
    run(qloop, ctx.wait_idle())
    assert "$0.00 of $50.00" in window.spend_label.text()
    assert "openai: key" in window.providers_label.text() and "anthropic: no key" in window.providers_label.text()
    # Local providers need no key (their rows in core/provider_table.py): Ollama shows its reachability instead.
    assert "ollama: not running" in window.providers_label.text() and "diffusers" not in window.providers_label.text()

    ctx.composer.errorRaised.emit("OpenAI: Rate limit reached for gpt-4")
    assert not window.notice_bar.isHidden() and "Rate limit" in window.notification.text()
    window.dismiss.click()
    assert window.notice_bar.isHidden()

    window.resize(1100, 700)
    splitter = window.findChild(QSplitter, "chat-panes")
    splitter.setSizes([200, 500, 300])
    sizes = splitter.sizes()
    window.save_layout()
    stored = QSettings(str(sparklio_home / "ui.ini"), QSettings.Format.IniFormat)
    assert stored.value("window/page") == "chat"
    again = build_window(ctx)
    qtbot.addWidget(again)
    assert again.current_page() == "chat"
    assert again.findChild(QSplitter, "chat-panes").sizes() == sizes
    again.set_route_panel_visible(False)  # Ctrl+I's state and the page are remembered too
    again.show_page("spend")
    again.save_layout()
    third = build_window(ctx)
    qtbot.addWidget(third)
    assert third.current_page() == "spend"
    assert not third.route_panel_action.isChecked() and third.route_panel is not None and third.route_panel.isHidden()


def test_every_control_has_an_accessible_name(qtbot, make_ctx):
    from PySide6.QtWidgets import QAbstractButton, QComboBox, QLineEdit, QPlainTextEdit

    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    unnamed = []
    for kind in (QComboBox, QLineEdit, QPlainTextEdit, QAbstractButton):
        for widget in window.findChildren(kind):
            # Qt's own parts: a combo box's, a line edit's clear button, the toolbars' extension button.
            if isinstance(widget.parent(), QComboBox | QLineEdit) or widget.objectName().startswith("qt_"):
                continue
            if not (widget.accessibleName() or (isinstance(widget, QAbstractButton) and widget.text())):
                unnamed.append(f"{type(widget).__name__} {widget.objectName()} in {type(widget.parent()).__name__}")
    assert not unnamed


def test_a_finished_request_reaches_inspector_spend_and_status(qtbot, qloop, make_ctx, openai_server):
    from tests.ui.conftest import settle_all

    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    ctx.composer.set_task("brief_questions")
    ctx.composer.forced_model = "openai/gpt-4"
    ctx.composer.set_prompt("Who is the audience?")
    completed: list[str] = []
    ctx.composer.requestCompleted.connect(completed.append)
    run(qloop, ctx.composer.send())
    settle_all(qloop, ctx, lambda: ctx.inspector.current_request_id == completed[0])
    inspector = window.views["inspector"]  # in the Chat page's route panel
    assert completed[0][:12] in inspector.header.text()
    assert inspector.history.rowCount() == 1
    spent = ctx.spend.figures.spent_usd
    assert spent > 0 and spent == ctx.ledger.attempts(completed[0])[0].cost_usd
    assert window.spend_label.text().startswith(f"{ctx.spend.month}: $")


def test_theme_setting_applies_at_once(qtbot, qloop, make_ctx, qapp):
    from PySide6.QtCore import Qt

    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    hints = qapp.styleHints()
    try:
        run(qloop, ctx.settings.set_value("ui.theme", "dark"))
        assert ctx.workspace.settings.ui.theme == "dark"
        assert qapp.style().name().lower() == "fusion"
        # Dark either through the platform's colour scheme or the fallback palette.
        assert hints.colorScheme() == Qt.ColorScheme.Dark or qapp.palette().window().color().lightness() < 128
    finally:
        run(qloop, ctx.settings.set_value("ui.theme", "system"))
    assert ctx.workspace.settings.ui.theme == "system"
    assert qapp.palette().window().color().lightness() > 128


def test_status_bar_spend_turns_amber_at_the_alert_mark_and_red_at_the_cap(qtbot, qloop, make_ctx):
    """The status bar reads StatusFigures.spend_text and colours it by the gauge's level,
    from a real ledger and budget (the rule itself: tests/ui/test_spend.py)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from PySide6.QtGui import QColor, QPalette

    from sparklio_desktop.core.ledger import AttemptRecord
    from sparklio_desktop.ui.theme import LEVEL_COLOURS

    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    ctx.ledger.record_attempt(
        AttemptRecord(
            request_id="r1",
            attempt=1,
            ts_utc=datetime.now(UTC),
            task_type="chat",
            model_id="openai/gpt-4",
            provider="openai",
            outcome="ok",
            cost_usd=Decimal("1.00"),
            saved_usd=Decimal("0"),
            input_tokens=100,
            output_tokens=50,
        )
    )
    label = window.spend_label
    default_text = label.palette().color(QPalette.ColorRole.WindowText)

    def refresh(budget: str) -> None:
        ctx.budget.monthly_usd = Decimal(budget)
        ctx.status.refresh()
        run(qloop, ctx.wait_idle())

    def colour() -> QColor:
        return label.palette().color(QPalette.ColorRole.WindowText)

    refresh("50")  # 2%, and at most $31 projected by month end
    month = ctx.spend.month
    assert label.text() == f"{month}: $1.00 of $50.00 (2%)" and label.property("level") == "ok"
    assert colour() == default_text and label.accessibleDescription() == "Within the budget"
    refresh("1.25")  # exactly the 80% alert mark
    assert ctx.budget.status().alert
    assert label.text() == f"{month}: $1.00 of $1.25 (80%)" and label.property("level") == "amber"
    assert colour() == QColor(LEVEL_COLOURS["amber"]) and label.accessibleDescription() == "Near the budget"
    refresh("1.00")  # the cap
    assert label.text() == f"{month}: $1.00 of $1.00 (100%)" and label.property("level") == "red"
    assert colour() == QColor(LEVEL_COLOURS["red"]) and label.accessibleDescription() == "Budget reached"
    refresh("50")  # back under: the palette's own text colour again
    assert colour() == default_text and label.property("level") == "ok"


def test_help_about_shows_the_version_and_the_data_folder(qtbot, make_ctx, sparklio_home):
    from sparklio_desktop import __version__

    window = build_window(make_ctx())
    qtbot.addWidget(window)
    assert window.about_action in window.menu_actions()
    window.about_action.trigger()
    about = window.about_dialog
    assert about is not None and about.isVisible()
    assert about.title_label.text() == f"<b>Sparklio Desktop</b> {__version__}"
    assert about.version_label.text().startswith(f"Version {__version__} · Python ")
    assert about.data_label.text() == f"Data folder: {sparklio_home}"
    assert "Proprietary" in about.license_label.text()
    about.close()
