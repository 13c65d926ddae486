"""Settings: a key goes to the real keyring and comes back masked; a broken policy
shows an inline error while routing goes on with the last valid policy."""

from __future__ import annotations

from decimal import Decimal

import keyring
from PySide6.QtCore import Qt

from sparklio_desktop.core.settings.paths import settings_path
from sparklio_desktop.core.settings.secrets import mask_key
from sparklio_desktop.ui.viewmodels.payloads import RoutePreview
from sparklio_desktop.ui.views.settings_view import SettingsView
from tests.ui.conftest import run

NEW_KEY = "sk-gui-test-key-0123456789abcd"


def test_key_is_written_to_the_keyring_and_shown_masked(qtbot, qloop, make_ctx, secret_service):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    row = view.key_rows["openai"]
    assert row["masked"].text() == "no key"
    row["edit"].setText(NEW_KEY)
    qtbot.mouseClick(row["set"], Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert keyring.get_password("sparklio", "openai") == NEW_KEY
    assert row["masked"].text() == f"{mask_key(NEW_KEY)} (keyring)"
    assert NEW_KEY not in row["masked"].text() and row["edit"].text() == ""
    assert row["edit"].echoMode() == row["edit"].EchoMode.Password
    qtbot.mouseClick(row["delete"], Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert keyring.get_password("sparklio", "openai") is None
    assert row["masked"].text() == "no key"


def test_bad_key_and_bad_setting_show_inline_errors(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    run(qloop, ctx.settings.set_key("openai", "has a space"))
    assert "spaces" in view.errors["key:openai"].text() and not view.errors["key:openai"].isHidden()
    run(qloop, ctx.settings.set_value("providers.openai.base_url", "not a url"))
    assert "not an http" in view.errors["providers.openai.base_url"].text()
    run(qloop, ctx.settings.set_value("budget.monthly_usd", "120"))
    assert view.errors["budget.monthly_usd"].isHidden()
    assert ctx.budget.monthly_usd == Decimal("120") and ctx.workspace.settings.budget.monthly_usd == Decimal("120")
    assert view.fields["budget.monthly_usd"].text() == "120"


def test_broken_policy_shows_inline_error_and_routing_goes_on(qtbot, qloop, make_ctx, fast_policy):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    assert view.policy_status.text() == f"Valid: {fast_policy}"
    good = ctx.workspace.policy

    fast_policy.write_text(fast_policy.read_text().replace("weights:", "weightz:", 1), encoding="utf-8")
    qtbot.mouseClick(view.reload_button, Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert "weight" in view.policy_status.text() and "last valid policy stays in force" in view.policy_status.text()
    assert "policy.yaml" in view.policy_status.text()
    assert ctx.workspace.policy is good

    previews: list[RoutePreview] = []
    failures: list[str] = []
    ctx.composer.previewChanged.connect(previews.append)
    ctx.composer.previewFailed.connect(failures.append)
    ctx.composer.set_task("brief_questions")
    run(qloop, ctx.composer.refresh_preview())
    assert not failures and previews[-1].task == "brief_questions"
    assert previews[-1].candidates > 0

    fast_policy.write_text(fast_policy.read_text().replace("weightz:", "weights:", 1), encoding="utf-8")
    run(qloop, ctx.settings.reload_policy())
    assert view.policy_status.text() == f"Valid: {fast_policy}"


def test_test_connection_reports_the_providers_words(qtbot, qloop, make_ctx, openai_server):
    from tests.fakes.loopback import Fault

    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    row = view.key_rows["openai"]
    qtbot.mouseClick(row["test"], Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert row["result"].text() == "Connected: the key works."
    assert openai_server.requests[-1].path.endswith("/models")

    openai_server.script(Fault(status=401, message="Incorrect API key provided", error_type="invalid_api_key"))
    run(qloop, ctx.settings.test_connection("openai"))
    assert "Incorrect API key provided" in row["result"].text()
    run(qloop, ctx.settings.test_connection("anthropic"))
    assert "No anthropic key" in view.key_rows["anthropic"]["result"].text()


def test_broken_user_catalog_and_settings_are_shown_in_the_settings_view(qtbot, qloop, make_ctx, sparklio_home):
    """A broken catalog.yaml and settings.json do not stop the app (last good catalog,
    per-field defaults); the settings panel says which file and line to fix."""
    from tests.config_fuzz import USER_CATALOG

    user = sparklio_home / "catalog.yaml"
    user.write_text(USER_CATALOG.replace("quality: 7.5", "quality: 99"), encoding="utf-8")
    (sparklio_home / "settings.json").write_text('{"budget": {"monthly_usd": -5}}', encoding="utf-8")
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    view.show()
    run(qloop, ctx.settings.refresh())
    text = view.catalog_status.text()
    assert text.startswith(f"{user}:") and "quality" in text and "last good catalog stays in force" in text
    assert view.catalog_status.isVisible() and view.catalog_path.text() == str(user)
    assert view.settings_status.isVisible() and "budget.monthly_usd" in view.settings_status.text()
    assert "uses its default" in view.settings_status.text()

    # fixed on disk, then "Reload catalog": the error goes and the user's models are in force
    user.write_text(USER_CATALOG, encoding="utf-8")
    qtbot.mouseClick(view.reload_catalog_button, Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert view.catalog_status.text() == "In force."
    assert "ollama/qwen2.5-coder:7b" in ctx.workspace.catalog
    # a setting saved whole clears the settings warning
    run(qloop, ctx.settings.set_value("budget.monthly_usd", "40"))
    assert view.settings_status.isHidden()


def test_without_a_user_catalog_the_view_says_the_shipped_one_is_used(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    assert view.catalog_status.text().startswith("No catalog.yaml")
    assert view.settings_status.isHidden()


def test_the_wheel_over_an_unfocused_choice_scrolls_and_changes_nothing(qtbot, qloop, make_ctx, sparklio_home):
    """Seen in a real window: scrolling the panel with the wheel over "Default quality"
    changed it to "production" and tried to save it."""
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    view.show()
    run(qloop, ctx.settings.refresh())
    combo = view.fields["defaults.quality"]
    before = combo.currentIndex()
    assert not combo.hasFocus()
    for _ in range(3):
        wheel = QWheelEvent(
            QPointF(5, 5),
            QPointF(combo.mapToGlobal(QPoint(5, 5))),
            QPoint(0, 0),
            QPoint(0, -120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(combo, wheel)
    run(qloop, ctx.settings.wait_idle())
    assert combo.currentIndex() == before
    assert not (sparklio_home / "settings.json").exists()


def test_a_setting_refused_for_another_invalid_field_names_that_field(qtbot, qloop, make_ctx, sparklio_home):
    """Saving one setting while another in the file is invalid is refused; the message names
    the invalid field (not this one), and the choice shows the value in force again."""
    (sparklio_home / "settings.json").write_text('{"budget": {"monthly_usd": -5}}', encoding="utf-8")
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    combo = view.fields["defaults.quality"]
    combo.setCurrentIndex(combo.findData("production"))  # the user's choice, saved at once
    run(qloop, ctx.settings.wait_idle())
    message = view.errors["defaults.quality"].text()
    assert message.startswith("Not saved: fix this first:") and "budget.monthly_usd" in message
    assert combo.currentData() == ""  # back to the value in force


def test_lan_ollama_hosts_are_edited_as_a_comma_separated_list(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    field = view.fields["providers.ollama.hosts"]
    assert field.text() == ""
    run(qloop, ctx.settings.set_value("providers.ollama.hosts", "gpu-a:11434, ftp://gpu-b"))
    assert "entry 2 'ftp://gpu-b' is not an http:// or https:// URL" in view.errors["providers.ollama.hosts"].text()
    run(qloop, ctx.settings.set_value("providers.ollama.hosts", "gpu-a:11434, http://gpu-b:11434"))
    assert view.errors["providers.ollama.hosts"].isHidden()
    assert ctx.workspace.settings.providers.ollama.hosts == ["gpu-a:11434", "http://gpu-b:11434"]
    assert field.text() == "gpu-a:11434, http://gpu-b:11434"


def test_the_team_cache_url_is_set_here_but_never_with_its_password(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    field = view.fields["cache.url"]
    run(qloop, ctx.settings.set_value("cache.url", "redis://:hunter2-secret@cache.lan:6379/0"))
    error = view.errors["cache.url"]
    assert not error.isHidden() and "password" in error.text() and "hunter2-secret" not in error.text()
    assert ctx.workspace.settings.cache.url is None
    run(qloop, ctx.settings.set_value("cache.url", "redis://cache.lan:6379/0"))
    assert error.isHidden() and ctx.workspace.settings.cache.url == "redis://cache.lan:6379/0"
    assert field.text() == "redis://cache.lan:6379/0"
    assert "hunter2-secret" not in settings_path().read_text()
    run(qloop, ctx.settings.set_value("team.member", "ada"))
    assert view.errors["team.member"].isHidden() and ctx.workspace.settings.team.member == "ada"
    run(qloop, ctx.settings.set_value("storage.database_url", "postgresql+psycopg://ada:pg-secret-9@db.lan/team"))
    error = view.errors["storage.database_url"]
    assert not error.isHidden() and "SPARKLIO_DATABASE_URL" in error.text() and "pg-secret-9" not in error.text()
    run(qloop, ctx.settings.set_value("storage.database_url", "postgresql+psycopg://ada@db.lan/team"))
    assert error.isHidden() and ctx.workspace.settings.storage.database_url == "postgresql+psycopg://ada@db.lan/team"
    assert "pg-secret-9" not in settings_path().read_text()
