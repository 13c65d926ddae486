"""Keys in the settings panel where there is no OS keyring, and a key added while the app
runs: the panel offers "Use for this session only" with the plain explanation, shows where
each key comes from, and the very next request uses the key (or stops using a deleted
one), answered by the loopback OpenAI fake. The key is never written anywhere."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt

from sparklio_desktop.core.settings.secrets import clear_session_keys, mask_key
from sparklio_desktop.ui.viewmodels.payloads import RunSummary
from sparklio_desktop.ui.viewmodels.settings import NOT_SAVED_NO_KEYRING
from sparklio_desktop.ui.views.settings_view import SettingsView
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer
from tests.ui.conftest import run

SESSION_KEY = "sk-settings-session-0123456789abcdef"
SECOND_KEY = "sk-settings-second-9876543210fedcba"
SESSION_WORDS = "session only — forgotten when Sparklio closes"
_sent = 0


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    clear_session_keys()
    yield
    clear_session_keys()


@pytest.fixture
def openai_without_key(monkeypatch) -> Iterator[OpenAIServer]:
    """The OpenAI fake, configured as the OpenAI host, with no key anywhere."""
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.api_url)
        yield server


def _send(qloop, ctx) -> RunSummary:
    """Send a new prompt each time (an answer from the cache would call no provider)."""
    global _sent
    _sent += 1
    prompt = f"Say hello to the team, take {_sent}"
    finished: list[RunSummary] = []
    ctx.composer.finished.connect(finished.append)
    ctx.composer.explore = False
    ctx.composer.new_conversation()
    ctx.composer.set_prompt(prompt)
    run(qloop, ctx.composer.send())
    run(qloop, ctx.composer.wait_idle())
    ctx.composer.finished.disconnect(finished.append)
    return finished[-1]


def _bearer(server: OpenAIServer) -> str:
    headers = {k.lower(): v for k, v in server.requests[-1].headers.items()}
    return headers.get("authorization", "")


def _chat_requests(server: OpenAIServer) -> int:
    return sum(1 for r in server.requests if r.path.endswith("/chat/completions"))


def test_without_a_keyring_the_panel_offers_the_session_with_plain_words(
    qtbot, qloop, make_ctx, no_keyring_backend, sparklio_home
):
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    view.show()
    run(qloop, ctx.settings.refresh())
    assert view.keyring_help.isVisible() and "cannot save API keys" in view.keyring_help.text()
    assert "`" not in view.keyring_help.text() and "dbus-run-session" not in view.keyring_help.text()
    row = view.key_rows["openai"]
    assert row["session"].isVisible() and not row["set"].isVisible()
    assert row["masked"].text() == "no key" and not row["delete"].isEnabled()

    # Set anyway (Enter in the field): the plain words, the key kept in the field for the session
    row["edit"].setText(SESSION_KEY)
    row["edit"].returnPressed.emit()
    run(qloop, ctx.settings.wait_idle())
    assert row["result"].text() == NOT_SAVED_NO_KEYRING and view.errors["key:openai"].isHidden()
    assert row["edit"].text() == SESSION_KEY and ctx.keys.get("openai") is None

    qtbot.mouseClick(row["session"], Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert ctx.keys.source("openai") == "session"
    assert row["masked"].text() == f"{mask_key(SESSION_KEY)} ({SESSION_WORDS})"
    assert row["edit"].text() == "" and row["delete"].isEnabled()
    assert "session only" in row["result"].text()

    qtbot.mouseClick(row["delete"], Qt.MouseButton.LeftButton)
    run(qloop, ctx.settings.wait_idle())
    assert row["masked"].text() == "no key" and ctx.keys.get("openai") is None


def test_an_environment_key_shows_its_variable(qtbot, qloop, make_ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SESSION_KEY)
    ctx = make_ctx()
    view = SettingsView(ctx.settings)
    qtbot.addWidget(view)
    run(qloop, ctx.settings.refresh())
    row = view.key_rows["openai"]
    assert row["masked"].text() == f"{mask_key(SESSION_KEY)} (environment: OPENAI_API_KEY)"
    assert not row["delete"].isEnabled()  # not Sparklio's to delete


def test_a_session_key_added_while_running_serves_the_next_request(
    qtbot, qloop, make_ctx, openai_without_key, no_keyring_backend, sparklio_home, caplog
):
    caplog.set_level(logging.DEBUG)
    ctx = make_ctx()
    refused = _send(qloop, ctx)
    assert not refused.ok and refused.error.startswith("No model fits") and "API key" in refused.error
    assert _chat_requests(openai_without_key) == 0

    run(qloop, ctx.settings.use_key_for_session("openai", SESSION_KEY))
    answered = _send(qloop, ctx)
    assert answered.ok and answered.model.startswith("openai/"), answered.error
    assert _bearer(openai_without_key) == f"Bearer {SESSION_KEY}"

    # replaced while running: the next request carries the new key, not the one read before
    run(qloop, ctx.settings.use_key_for_session("openai", SECOND_KEY))
    replaced = _send(qloop, ctx)
    assert replaced.ok and not replaced.cache_hit and _bearer(openai_without_key) == f"Bearer {SECOND_KEY}"

    # deleted: the next request is refused again, and nothing is sent with the old key
    sent = _chat_requests(openai_without_key)
    run(qloop, ctx.settings.delete_key("openai"))
    again = _send(qloop, ctx)
    assert not again.ok and again.error.startswith("No model fits")
    assert _chat_requests(openai_without_key) == sent

    run(qloop, ctx.wait_idle())
    written = [p for p in sparklio_home.rglob("*") if p.is_file()]
    assert any(p.name.endswith(".db") or "ledger" in p.name for p in written)  # the ledger was written
    for path in written:
        data = path.read_bytes()
        assert SESSION_KEY.encode() not in data and SECOND_KEY.encode() not in data, path
    assert SESSION_KEY not in caplog.text and SECOND_KEY not in caplog.text


def test_a_new_key_after_a_401_brings_the_provider_back(qtbot, qloop, make_ctx, openai_without_key, no_keyring_backend):
    ctx = make_ctx()
    run(qloop, ctx.settings.use_key_for_session("openai", SESSION_KEY))
    openai_without_key.script(Fault(status=401, message="Incorrect API key provided", error_type="invalid_api_key"))
    failed = _send(qloop, ctx)
    assert not failed.ok
    assert any(m.startswith("openai/") for m in ctx.planner.session)  # the provider is out

    run(qloop, ctx.settings.use_key_for_session("openai", SECOND_KEY))
    assert not any(m.startswith("openai/") for m in ctx.planner.session)
    answered = _send(qloop, ctx)
    assert answered.ok and answered.model.startswith("openai/"), answered.error
    assert _bearer(openai_without_key) == f"Bearer {SECOND_KEY}"


def test_a_keyring_key_added_while_running_serves_the_next_request(
    qtbot, qloop, make_ctx, openai_without_key, secret_service, sparklio_home
):
    ctx = make_ctx()
    assert not _send(qloop, ctx).ok and _chat_requests(openai_without_key) == 0
    run(qloop, ctx.settings.set_key("openai", SESSION_KEY))
    assert ctx.keys.source("openai") == "keyring"
    answered = _send(qloop, ctx)
    assert answered.ok and _bearer(openai_without_key) == f"Bearer {SESSION_KEY}"
    run(qloop, ctx.settings.delete_key("openai"))
    assert not _send(qloop, ctx).ok and _chat_requests(openai_without_key) == 1
    run(qloop, ctx.wait_idle())
    for path in (p for p in sparklio_home.rglob("*") if p.is_file()):
        assert SESSION_KEY.encode() not in path.read_bytes(), path
