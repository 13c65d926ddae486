"""The first-run guide with real widgets: it shows what detection found, pulls the
recommended model from the loopback Ollama, saves the budget and checkpoints folders
through the settings owner, marks itself done when skipped, and takes a key for this
session only where there is no keyring."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import Qt

from sparklio_desktop.core.local.vram import GpuMemory
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.config import load_settings
from sparklio_desktop.core.settings.secrets import clear_session_keys
from sparklio_desktop.ui.views.onboarding_view import create_onboarding, onboarding_screenshot
from tests.fakes.ollama_server import FakeModel, OllamaServer
from tests.ui.conftest import run

GPU = GpuMemory(total_gb=16.0, free_gb=12.0, source="nvml", name="Simulated 16 GB")
SESSION_KEY = "sk-gui-session-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    clear_session_keys()
    gc.collect()
    yield
    clear_session_keys()
    gc.collect()


@pytest.fixture
def ollama(monkeypatch) -> Iterator[OllamaServer]:
    with OllamaServer(installed=[]) as server:
        server.registry["llama3.2:3b"] = FakeModel()
        monkeypatch.setenv("OLLAMA_HOST", server.base_url)
        yield server


@pytest.fixture
def guide(qloop):
    """``guide(ctx)``: the dialog, shown; closed at the end while the loop can still run
    what closing starts (closing the guide saves ``ui.onboarding_done``)."""
    made = []

    def make(ctx):
        dialog = create_onboarding(ctx, None, gpu=GPU)
        dialog.show()
        made.append(dialog)
        return dialog

    yield make
    for dialog in made:
        dialog.close()
        run(qloop, dialog.vm.wait_idle())
        dialog.deleteLater()


def test_guide_shows_findings_and_pulls_the_recommended_model(qtbot, qloop, settle, make_ctx, ollama, guide):
    ctx = make_ctx()
    dialog = guide(ctx)
    settle(dialog.vm, lambda: dialog.vm.findings is not None)
    found = dialog.vm.findings
    assert found.ollama.reachable and not found.configured
    assert dialog.summary.text() == "Pull Llama 3.2 to answer for free on this computer, or add an API key."
    assert "Ollama 0.12.6 is running" in dialog.ollama_state.text() and "no models" in dialog.ollama_state.text()
    assert dialog.gpu_state.text() == "Simulated 16 GB: 12.0 GB free of 16.0 GB."
    assert "Llama 3.2 (llama3.2:3b)" in dialog.recommendation.text()
    assert dialog.pull_button.isVisible() and not dialog.install_link.isVisible()
    assert not dialog.start_ollama_button.isVisible()
    assert [dialog.key_rows[p]["status"].text() for p in ("openai", "anthropic", "google")] == ["no key"] * 3

    outcomes: list[tuple[str, str]] = []
    dialog.vm.pullFinished.connect(lambda name, outcome: outcomes.append((name, outcome)))
    qtbot.mouseClick(dialog.pull_button, Qt.MouseButton.LeftButton)
    settle(dialog.vm, lambda: bool(outcomes) and dialog.vm.findings.recommended.installed)
    assert outcomes == [("llama3.2:3b", "success")] and "llama3.2:3b" in ollama.installed
    assert dialog.summary.text() == "You are set: ask anything and Sparklio picks the model."
    assert not dialog.pull_button.isVisible()
    # the planner sees the new model: a text task routes to it now
    assert ctx.planner.plan(RouteRequest(task="brief_questions", prompt="Hi?", explore=False)).chain == (
        "ollama/llama3.2",
    )


def test_skip_saves_onboarding_done(qtbot, qloop, settle, make_ctx, guide):
    ctx = make_ctx()
    dialog = guide(ctx)
    settle(dialog.vm, lambda: dialog.vm.findings is not None)
    assert not dialog.vm.findings.ollama.reachable
    assert load_settings().ui.onboarding_done is False
    finished: list[bool] = []
    dialog.vm.finished.connect(lambda: finished.append(True))
    qtbot.mouseClick(dialog.skip_button, Qt.MouseButton.LeftButton)
    settle(dialog.vm, lambda: bool(finished))
    assert not dialog.isVisible()
    assert load_settings().ui.onboarding_done is True and ctx.workspace.settings.ui.onboarding_done is True
    assert load_settings().budget.monthly_usd == Decimal("50")  # skipping changes nothing else


def test_budget_and_checkpoints_folder_are_saved(qtbot, qloop, settle, make_ctx, tmp_path, guide):
    ctx = make_ctx()
    dialog = guide(ctx)
    settle(dialog.vm, lambda: dialog.vm.findings is not None)
    assert dialog.budget.value() == 50.0
    folder = tmp_path / "ComfyUI" / "models" / "checkpoints"
    folder.mkdir(parents=True)
    dialog.add_folder(str(folder))
    settle(dialog.vm, lambda: str(folder) in dialog.folders.text())
    assert [str(p) for p in load_settings().local.sd_weight_dirs] == [str(folder)]

    dialog.budget.setValue(120.5)
    qtbot.mouseClick(dialog.done_button, Qt.MouseButton.LeftButton)
    settle(dialog.vm, lambda: load_settings().ui.onboarding_done)
    saved = load_settings()
    assert saved.budget.monthly_usd == Decimal("120.5") and saved.ui.onboarding_done
    assert ctx.budget.monthly_usd == Decimal("120.5")  # the running budget guard follows at once

    run(qloop, dialog.vm.set_budget("lots"))
    assert "not an amount" in dialog.budget_error.text() and not dialog.budget_error.isHidden()


def test_key_for_this_session_only_without_a_keyring(
    qtbot, qloop, settle, make_ctx, guide, no_keyring_backend, sparklio_home
):
    ctx = make_ctx()
    dialog = guide(ctx)
    settle(dialog.vm, lambda: dialog.vm.findings is not None)
    assert not dialog.vm.findings.keyring_available
    assert dialog.keyring_help.isVisible() and "GNOME Keyring" in dialog.keyring_help.text()
    row = dialog.key_rows["openai"]
    assert row["session"].isVisible() and not row["save"].isVisible()

    # saving to the keyring anyway (e.g. it went away after detection) explains instead of failing
    run(qloop, dialog.vm.save_key("openai", SESSION_KEY))
    assert "no keyring" in row["message"].text() and ctx.keys.get("openai") is None

    keys_seen: list[object] = []
    machine: list[bool] = []
    ctx.settings.keysChanged.connect(keys_seen.append)
    dialog.vm.machineChanged.connect(lambda: machine.append(True))
    row["edit"].setText(SESSION_KEY)
    qtbot.mouseClick(row["session"], Qt.MouseButton.LeftButton)
    settle(dialog.vm, lambda: "session" in row["status"].text())
    assert ctx.keys.get("openai") == SESSION_KEY and ctx.keys.source("openai") == "session"
    assert row["status"].text() == "Key in use (session only — forgotten when Sparklio closes)"
    assert row["edit"].text() == ""
    assert keys_seen and machine  # the settings panel, the status bar and the composer preview redraw
    assert dialog.summary.text() == "You are set: ask anything and Sparklio picks the model."
    assert "openai/gpt-4" not in ctx.planner.live_state().unavailable
    assert "anthropic/claude-3-5-sonnet" in ctx.planner.live_state().unavailable
    for path in sparklio_home.rglob("*"):
        if path.is_file():
            assert SESSION_KEY.encode() not in path.read_bytes(), path


def test_screenshot_writes_onboarding_png(qtbot, qloop, make_ctx, tmp_path):
    ctx = make_ctx()
    path = run(qloop, onboarding_screenshot(ctx, tmp_path / "shots"))
    assert path.name == "onboarding.png" and path.stat().st_size > 1000
    assert load_settings().ui.onboarding_done is False  # a screenshot is not the user skipping it
    run(qloop, ctx.wait_idle())


def test_show_if_needed_respects_the_setting(qtbot, qloop, make_ctx, sparklio_home):
    from sparklio_desktop.ui.views.onboarding_view import show_onboarding_if_needed

    (sparklio_home / "settings.json").write_text(json.dumps({"ui": {"onboarding_done": True}}), encoding="utf-8")
    ctx = make_ctx()
    assert run(qloop, show_onboarding_if_needed(ctx)) is None


def test_open_onboarding_reuses_the_windows_guide(qtbot, qloop, settle, make_ctx):
    from PySide6.QtWidgets import QWidget

    from sparklio_desktop.ui.views.onboarding_view import OnboardingDialog, open_onboarding

    ctx = make_ctx()
    window = QWidget()
    qtbot.addWidget(window)
    window.show()
    first = open_onboarding(ctx, window)
    settle(first.vm, lambda: first.vm.findings is not None)
    first.hide()  # hidden, as a finished guide is
    again = open_onboarding(ctx, window)
    assert again is first and again.isVisible() and len(window.findChildren(OnboardingDialog)) == 1
    settle(again.vm)
    again.focus_keys()
    assert again.focusWidget() is again.key_rows["anthropic"]["edit"]  # the first provider without a key
    again.hide()
    run(qloop, again.vm.wait_idle())
