"""The model manager against the loopback Ollama server and crafted checkpoint headers:
listing, pull progress to 100%, cancelling mid-pull, confirmed deletes, pickle refusal."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.models import ModelsViewModel
from sparklio_desktop.ui.views.models_view import ModelsView
from tests.fakes.ollama_server import DEFAULT_REGISTRY, OllamaServer
from tests.test_cli_models import write_checkpoint
from tests.ui.conftest import run, until

PULLED = "llama3.1:8b"


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Free the previous test's Qt objects now, not mid-test.

    Without it a cyclic-GC pass inside a later test's event loop freed a finished test's
    QObjects while Qt was dispatching timers, and the process died (SIGSEGV in
    ``QCoreApplication::notifyInternal2`` from ``QTimerInfoList::activateTimers``).
    """
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def ollama() -> Iterator[OllamaServer]:
    with OllamaServer() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def models(qtbot, qloop, ollama, tmp_path):
    """The view over a view-model pointed at the fake and at one user weights folder."""
    executor = SerialExecutor()
    folder = tmp_path / "a1111-models"
    folder.mkdir()
    vm = ModelsViewModel(executor, host=ollama.base_url, sd_folders=[folder], gpu_total_gb=12.0)
    view = ModelsView(vm)
    qtbot.addWidget(view)
    yield vm, view, folder
    run(qloop, vm.aclose())
    executor.shutdown()


def _names(table) -> list[str]:
    return [table.item(r, 0).text() for r in range(table.rowCount())]


def test_lists_status_models_details_and_running(qloop, settle, ollama, models):
    vm, view, _ = models
    ollama.load("llava", size_vram=ollama.spec("llava").size // 2)
    run(qloop, vm.refresh())
    assert view.status_label.text() == f"Ollama 0.12.6 at {ollama.base_url}"
    assert _names(view.installed_table) == ["llama3.2:latest", "llava:latest", "nomic-embed-text:latest"]
    row = [view.installed_table.item(0, c).text() for c in range(6)]
    assert row == ["llama3.2:latest", "llama", "3.2B", "Q4_K_M", "2.0 GB", "2025-01-01 00:00"]
    assert [view.running_table.item(0, c).text() for c in (0, 2)] == ["llava:latest", "50%/50% CPU/GPU"]

    view.installed_table.selectRow(0)  # selecting asks for the details and the fit
    settle(vm, lambda: "fits" in view.fit_label.text())
    run(qloop, vm.wait_idle())
    assert "131072 tokens" in view.details_label.text() and "completion, tools" in view.details_label.text()
    assert view.fit_label.text().startswith("fits at 4,096 tokens")
    vm.set_context(1_000_000, "llava:latest")  # far past a 12 GB card
    settle(vm, lambda: "1,000,000 tokens" in view.fit_label.text())
    assert view.fit_label.text().startswith(("won't fit", "partial offload"))

    view.running_table.selectRow(0)
    view.unload_button.click()
    settle(vm, lambda: view.running_table.rowCount() == 0)
    assert ollama.running == {}


def test_down_ollama_says_how_to_start_it(qtbot, qloop):
    executor = SerialExecutor()
    vm = ModelsViewModel(executor, host="http://127.0.0.1:9", gpu_total_gb=12.0)
    view = ModelsView(vm)
    qtbot.addWidget(view)
    run(qloop, vm.refresh())
    assert "not running" in view.status_label.text() and "`ollama serve`" in view.status_label.text()
    assert not view.pull_button.isEnabled() and view.installed_table.rowCount() == 0
    run(qloop, vm.aclose())
    executor.shutdown()


def test_pull_reaches_100_percent_and_the_list_refreshes(qtbot, qloop, settle, ollama, models):
    vm, view, _ = models
    ollama.pull_interval_s = 0.002
    run(qloop, vm.refresh())
    outcomes: list[tuple[str, str]] = []
    vm.pullFinished.connect(lambda model, outcome: outcomes.append((model, outcome)))
    view.pull_name.setText(PULLED)
    qtbot.keyClick(view.pull_name, Qt.Key.Key_Return)  # Enter in the name field pulls
    assert not view.pull_button.isEnabled() and view.cancel_button.isEnabled()
    settle(vm, lambda: bool(outcomes) and PULLED in _names(view.installed_table))
    assert outcomes == [(PULLED, "success")]
    assert view.pull_bar.value() == view.pull_bar.maximum() == 1000
    assert vm.pull_snapshot.completed_bytes == vm.pull_snapshot.total_bytes == sum(DEFAULT_REGISTRY[PULLED].layers)
    assert view.pull_label.text() == f"{PULLED}: success"
    assert PULLED in _names(view.installed_table)  # refreshed after the pull
    assert view.pull_button.isEnabled() and not view.cancel_button.isEnabled()


def test_cancel_mid_pull_closes_the_stream(qloop, ollama, models):
    vm, view, _ = models
    ollama.pull_interval_s = 0.02
    ollama.pull_steps = 2000
    run(qloop, vm.refresh())
    progress: list[object] = []
    outcomes: list[str] = []
    vm.pullProgress.connect(progress.append)
    vm.pullFinished.connect(lambda _m, outcome: outcomes.append(outcome))
    assert vm.start_pull(PULLED) and not vm.start_pull("another")  # one pull at a time
    still_pulling: list[str | None] = []

    async def scenario() -> None:  # one run: the pull must not be stepped outside the loop
        await until(lambda: any(p.total_bytes and p.completed_bytes for p in progress))
        view.hide()  # switching panels does not stop it: the task is the view-model's
        seen = len(progress)
        await until(lambda: len(progress) > seen + 2)  # progress goes on arriving while hidden
        still_pulling.append(vm.pulling)
        view.cancel_button.click()
        await until(lambda: bool(outcomes))
        await vm.wait_idle()

    run(qloop, scenario())
    assert still_pulling == [PULLED]
    assert outcomes == ["cancelled"]
    assert ollama.pull_disconnected.wait(5.0)
    last = vm.pull_snapshot
    assert 0 < last.completed_bytes < last.total_bytes
    assert PULLED not in ollama.installed and "cancelled" in view.pull_label.text()


def test_delete_asks_first(qloop, settle, ollama, models, monkeypatch):
    vm, view, _ = models
    run(qloop, vm.refresh())
    view.installed_table.selectRow(1)
    run(qloop, vm.wait_idle())
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    asked: list[str] = []

    def question(_parent, _title, text, *_args):
        asked.append(text)
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    view.delete_button.click()
    run(qloop, vm.wait_idle())
    assert "llava:latest" in ollama.installed  # "No" kept it
    view.delete_button.click()
    settle(vm, lambda: "llava:latest" not in _names(view.installed_table))
    assert asked == ["Delete the Ollama model llava:latest? Its files are removed."] * 2
    assert "llava:latest" not in ollama.installed


def test_add_to_catalog_updates_the_entry_that_already_runs_as_that_tag(qloop, settle, ollama, models, sparklio_home):
    """The shipped Llama 3.2 names llama3.2:3b; the installed llama3.2:latest serves it
    (core.routing.live.resolve_ollama_tag), so adding that tag updates the shipped entry instead of
    leaving a second, "not installed" one beside the added one."""
    vm, view, _ = models
    run(qloop, vm.refresh())
    view.installed_table.selectRow(_names(view.installed_table).index("llama3.2:latest"))
    view.quality_spin.setValue(8.5)
    added: list[str] = []
    vm.catalogAdded.connect(added.append)
    view.add_button.click()
    settle(vm, lambda: bool(added))
    assert added == ["ollama/llama3.2"]
    from sparklio_desktop.core.policy.catalog import load_catalog
    from sparklio_desktop.core.settings.paths import user_catalog_path

    catalog = load_catalog(user=user_catalog_path())
    assert (catalog["ollama/llama3.2"].api_name, catalog["ollama/llama3.2"].quality) == ("llama3.2:latest", 8.5)
    assert catalog["ollama/llama3.2"].name == "Llama 3.2"
    assert [m.id for m in catalog.values() if m.api_name.startswith("llama3.2")] == ["ollama/llama3.2"]


def test_add_to_catalog_of_a_model_the_catalog_does_not_know_adds_an_entry(
    qloop, settle, ollama, models, sparklio_home
):
    ollama.installed = ["mistral-nemo:latest", *ollama.installed]
    vm, view, _ = models
    run(qloop, vm.refresh())
    view.installed_table.selectRow(_names(view.installed_table).index("mistral-nemo:latest"))
    added: list[str] = []
    vm.catalogAdded.connect(added.append)
    view.add_button.click()
    settle(vm, lambda: bool(added))
    assert added == ["ollama/mistral-nemo:latest"]


def test_add_to_catalog_takes_effect_in_the_running_app(
    qtbot, qloop, settle, make_ctx, ollama, sparklio_home, monkeypatch
):
    from sparklio_desktop.app import build_window
    from sparklio_desktop.core.routing.decision import Rule

    monkeypatch.setenv("OLLAMA_HOST", ollama.base_url)
    ollama.installed = ["mistral-nemo:latest", *ollama.installed]
    ctx = make_ctx()
    window = build_window(ctx)
    qtbot.addWidget(window)
    assert "ollama/mistral-nemo:latest" not in ctx.workspace.catalog
    window.show_page("models")
    view = window.views["models"].ensure_built()
    vm = view.vm
    run(qloop, vm.refresh())
    view.installed_table.selectRow(_names(view.installed_table).index("mistral-nemo:latest"))
    added: list[str] = []
    vm.catalogAdded.connect(added.append)
    view.add_button.click()
    settle(vm, lambda: bool(added))
    # the running app's catalog, live state and router see it without a restart
    assert "ollama/mistral-nemo:latest" in ctx.workspace.catalog
    run(qloop, ctx.wait_idle())
    live = run(qloop, ctx.planner.refresh())  # what the next preview or run probes
    assert "ollama/mistral-nemo:latest" not in live.unavailable
    assert live.local_tags["ollama/mistral-nemo:latest"] == "mistral-nemo:latest"
    from sparklio_desktop.core.routing.router import RouteRequest, route

    decision = route(
        RouteRequest(task="chat", budget="low", explore=False), ctx.workspace.catalog, ctx.workspace.policy, live
    )
    assert decision.candidate("ollama/mistral-nemo:latest").excluded_by is not Rule.NOT_INSTALLED
    run(qloop, ctx.wait_idle())


def test_checkpoints_probed_and_pickles_refused_until_trusted(qloop, settle, models, monkeypatch):
    vm, view, folder = models
    write_checkpoint(folder / "dreamy-v1.safetensors")
    write_checkpoint(folder / "fill.safetensors", in_channels=9)
    write_checkpoint(folder / "xl.safetensors", context=2048)
    (folder / "old.ckpt").write_bytes(b"\x80\x04K\x01.")
    run(qloop, vm.refresh_checkpoints())
    table = view.checkpoint_table
    rows = {table.item(r, 0).text(): [table.item(r, c).text() for c in range(7)] for r in range(table.rowCount())}
    assert set(rows) == {"dreamy-v1", "fill", "xl", "old"}
    assert rows["dreamy-v1"][1:3] == ["sd1", "fp16"] and rows["dreamy-v1"][4].endswith("GiB")
    assert rows["dreamy-v1"][5] == str(folder)
    assert rows["fill"][1] == "inpaint" and rows["xl"][1] == "sdxl_base"
    assert rows["old"][6] == "refused: pickle file (not trusted)"

    old = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "old")
    table.selectRow(old)
    assert view.trust_button.isEnabled()
    shown: list[str] = []

    def warning(_parent, _title, text, *_args):
        shown.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "warning", warning)
    view.trust_button.click()
    settle(vm, lambda: any(r.checkpoint.name == "old" and not r.refused for r in vm.checkpoints))
    assert shown and shown[0].startswith(vm.pickle_warning())
    assert not view.trust_button.isEnabled() or view._selected_checkpoint() is None

    # The type override, then a confirmed delete.
    dreamy = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "dreamy-v1")
    table.selectRow(dreamy)
    view.type_combo.setCurrentIndex(view.type_combo.findData("sd2"))
    view.type_combo.activated.emit(view.type_combo.currentIndex())
    settle(vm, lambda: any(r.probe and r.probe.overridden for r in vm.checkpoints))
    assert "sd2 (set)" in _cells(view, 1)
    monkeypatch.setattr(QMessageBox, "question", lambda *_a: QMessageBox.StandardButton.Yes)
    table.selectRow(next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "dreamy-v1"))
    view.sd_delete_button.click()
    settle(vm, lambda: "dreamy-v1" not in _names(table))
    assert not (folder / "dreamy-v1.safetensors").exists()


def test_import_copies_into_the_weights_folder(qloop, settle, models, monkeypatch, tmp_path, sparklio_home):
    vm, view, _ = models
    source = write_checkpoint(tmp_path / "fresh.safetensors")
    monkeypatch.setattr("PySide6.QtWidgets.QFileDialog.getOpenFileName", lambda *_a, **_k: (str(source), ""))
    view.import_button.click()
    settle(vm, lambda: "fresh" in _names(view.checkpoint_table))
    target = sparklio_home / "weights" / "sd" / "fresh.safetensors"
    assert target.read_bytes() == source.read_bytes() and source.exists()


def _cells(view, column: int) -> list[str]:
    table = view.checkpoint_table
    return [table.item(r, column).text() for r in range(table.rowCount())]


def test_bytes_text():
    from sparklio_desktop.ui.views.models_view import bytes_text

    assert bytes_text(2_019_393_189) == "2.0 GB" and bytes_text(999) == "999 B" and bytes_text(None) == "–"


def test_a_newer_selection_wins_the_details_pane(qloop, settle, ollama, models):
    vm, view, _ = models
    run(qloop, vm.refresh())
    shown: list[str] = []
    vm.detailsChanged.connect(lambda info: shown.append(info.details.name))
    view.installed_table.selectRow(0)
    view.installed_table.selectRow(1)  # before the first answer arrives
    settle(vm)
    assert shown == ["llava:latest"] and "llava:latest" in view.details_label.text()


def test_an_unusable_checkpoint_shows_why_in_full(qloop, models):
    """A hostile header is listed, not fatal; the reason is readable in its stretched cell and its tooltip."""
    vm, view, folder = models
    write_checkpoint(folder / "good.safetensors")
    (folder / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"a":[1,2,3]}   ')
    run(qloop, vm.refresh_checkpoints())
    table = view.checkpoint_table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "broken")
    note = table.item(row, 6)
    assert table.item(row, 1).text() == "unusable"
    assert note.text().startswith("unusable: ") and len(note.text()) > len("unusable: ")
    assert note.toolTip() == note.text()
    assert "good" in _cells(view, 0)


def test_without_the_local_extra_the_sd_tab_says_how_to_install_it(qloop, models, monkeypatch):
    vm, view, _ = models
    run(qloop, vm.refresh_checkpoints())
    assert view.sd_runtime_label.isHidden()  # torch and diffusers are installed on the test machine
    monkeypatch.setitem(sys.modules, "diffusers", None)  # as if they were not
    run(qloop, vm.refresh_checkpoints())
    text = view.sd_runtime_label.text()
    assert not view.sd_runtime_label.isHidden() and text == vm.local_runtime
    assert text.startswith("Local image generation is not installed here (missing: diffusers).")
    assert "-m pip install -e " in text and "[local]" in text  # the test runs from a checkout


def test_models_on_lan_ollama_hosts_are_listed_with_their_host(qtbot, qloop, ollama):
    """providers.ollama.hosts: each LAN host's models, with the host; a host that is down says so."""
    executor = SerialExecutor()
    with OllamaServer(installed=["qwen2.5:latest", "llama3.2:latest"]) as lan:
        lan.load("qwen2.5:latest")
        lan_host, lan_url = f"127.0.0.1:{lan.port}", lan.base_url
        vm = ModelsViewModel(executor, host=ollama.base_url, lan_hosts=[lan_host, "127.0.0.1:9"], gpu_total_gb=12.0)
        view = ModelsView(vm)
        qtbot.addWidget(view)
        assert view.lan_box.isHidden()
        run(qloop, vm.refresh())
    rows = [[view.lan_table.item(r, c).text() for c in range(3)] for r in range(view.lan_table.rowCount())]
    assert rows[:2] == [
        ["llama3.2:latest", f"{lan_host} ({lan_url})", "installed"],
        ["qwen2.5:latest", f"{lan_host} ({lan_url})", "loaded"],
    ]
    assert rows[2][1].startswith("127.0.0.1:9 ") and rows[2][2].startswith("down: ")
    assert not view.lan_box.isHidden() and view.installed_table.rowCount() == 3  # the local list is unchanged
    run(qloop, vm.aclose())
    executor.shutdown()
