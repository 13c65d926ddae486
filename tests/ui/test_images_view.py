"""The Images panel on the tiny random-weight model, through the app's own services:
a 64x64 image in 2 steps with a thumbnail and a full progress bar, the CPU warning,
cancelling between steps (recorded as cancelled), zoom and unload."""

from __future__ import annotations

import gc
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QListWidgetItem, QToolButton

from sparklio_desktop.core.local import read_png_text
from sparklio_desktop.ui.viewmodels.images import CPU_WARNING, PlanPayload
from sparklio_desktop.ui.views import images_view
from sparklio_desktop.ui.views.images_view import CUSTOM, ImagesView
from tests.local.tiny_sd import TinySD, build_tiny_sd
from tests.ui.conftest import run

# A generation on the CPU of a loaded test machine takes seconds; a deadline that only
# guards against a hang, under the suite's per-test timeout (pyproject.toml).
GENERATION_S = 90.0

# As in tests/local/conftest.py: numpy 2.4 warns when diffusers' schedulers convert a
# torch tensor with np.array() (torch's __array__ has no `copy` parameter).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> TinySD:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    """Free the previous test's Qt objects now, not mid-test (see test_models_view.py)."""
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def panel(qtbot, qloop, make_ctx, sparklio_home: Path, tiny_sd: TinySD, monkeypatch):
    """The panel over the app's services, with the tiny checkpoint in the weights folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    ctx = make_ctx()
    view = images_view.create(ctx.services, executor=ctx.executor)
    ctx.extra_view_models.append(view.vm)  # ctx.aclose() then cancels and waits for it
    qtbot.addWidget(view)
    return ctx, view


def _fill(view: ImagesView, steps: int, seed: int = 42) -> None:
    view.prompt_edit.setPlainText("a cat")
    view.negative_edit.setPlainText("blurry")
    view.size_combo.setCurrentText(CUSTOM)
    view.width_spin.setValue(64)
    view.height_spin.setValue(64)
    view.steps_spin.setValue(steps)
    view.guidance_spin.setValue(5.0)
    view.random_seed_check.setChecked(False)
    view.seed_spin.setValue(seed)
    view.batch_spin.setValue(1)


def test_generates_a_64px_image_in_2_steps_with_a_thumbnail(qtbot, qloop, settle, panel) -> None:
    ctx, view = panel
    vm = view.vm
    _fill(view, steps=2)
    assert view.settings().size == "64x64" and view.settings().seed == 42
    progress: list[tuple[int, str]] = []
    completed: list[str] = []
    vm.progressChanged.connect(lambda percent, text: progress.append((percent, text)))
    vm.requestCompleted.connect(completed.append)
    finished: list[str] = []
    vm.notice.connect(finished.append)
    view.generate_button.click()
    settle(vm, lambda: bool(completed), timeout=GENERATION_S)
    assert view.thumbnails.count() == 1 and len(vm.images) == 1
    assert view.progress_bar.value() == 100
    assert progress[0] == (0, "starting…")
    assert progress[1:] == [(50, "step 1 of 2"), (100, "step 2 of 2"), (100, "1 image done")], progress
    assert view.warning_label.text() == CPU_WARNING  # no CUDA GPU on the test machine
    text = read_png_text(vm.images[0])
    assert (text["negative_prompt"], text["seed"], text["steps"], text["guidance"], text["size"]) == (
        "blurry",
        "42",
        "2",
        "5",
        "64x64",
    )
    (row,) = ctx.ledger.attempts(completed[0])
    assert row.outcome == "ok" and row.cost_usd == 0 and row.images == 1 and row.gpu_seconds > 0
    assert view.generate_button.isEnabled() and not view.cancel_button.isEnabled()
    assert finished[-1].startswith("Stable Diffusion: 1 image(s) in ")  # the model's name, not its id

    item: QListWidgetItem = view.thumbnails.item(0)
    assert item.data(Qt.ItemDataRole.UserRole) == 0
    viewer = view.open_viewer(0)
    assert viewer.image.width() == 64
    viewer.close()

    notices: list[str] = []
    vm.notice.connect(notices.append)
    view.unload_button.click()
    settle(vm, lambda: bool(notices), timeout=GENERATION_S)
    assert "unloaded" in notices[-1]
    assert ctx.local_images._service.engine.loaded is None  # the pipeline is gone


def test_showing_the_panel_checks_the_device_off_the_loop(qtbot, qloop, settle, panel) -> None:
    _, view = panel
    view.show()
    settle(view.vm, lambda: bool(view.warning_label.text()), timeout=60)
    assert view.warning_label.text() == CPU_WARNING and not view.cancel_button.isEnabled()


def test_cancel_after_the_first_step_stops_and_is_recorded(qtbot, qloop, settle, panel) -> None:
    ctx, view = panel
    vm = view.vm
    _fill(view, steps=8, seed=7)
    view.previews_check.setChecked(False)
    steps: list[str] = []
    completed: list[str] = []
    cancelled: list[bool] = []

    def on_progress(percent: int, text: str) -> None:
        if percent > 0 and not steps:
            view.cancel_button.click()  # what the user does after the first step
        if percent > 0:
            steps.append(text)

    vm.progressChanged.connect(on_progress)
    vm.requestCompleted.connect(completed.append)
    vm.cancelled.connect(lambda: cancelled.append(True))
    view.generate_button.click()
    settle(vm, lambda: bool(completed), timeout=GENERATION_S)
    assert cancelled and vm.images == [] and view.thumbnails.count() == 0
    assert steps[0] == "step 1 of 8" and len(steps) == 1  # a late step after the cancel is not shown
    assert view.progress_bar.value() < 100 and view.generate_button.isEnabled()
    (row,) = ctx.ledger.attempts(completed[0])
    assert row.outcome == "cancelled" and row.images == 0

    # The worker stopped between steps: the next run starts and finishes normally.
    _fill(view, steps=2)
    completed.clear()
    view.generate_button.click()
    settle(vm, lambda: bool(completed), timeout=GENERATION_S)
    assert view.thumbnails.count() == 1 and view.progress_bar.value() == 100


def test_batch_progress_spans_every_image() -> None:
    from sparklio_desktop.ui.viewmodels.images import _BatchProgress

    batch = _BatchProgress(2)
    seen = [batch.update(step, 4) for step in (1, 2, 3, 4, 1, 2, 3, 4)]
    assert [p for p, _ in seen] == [12, 25, 37, 50, 62, 75, 87, 100]
    assert seen[4][1] == "image 2 of 2 · step 1 of 4"


def _png(width: int, height: int, colour: str = "#3366cc") -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QColor, QImage

    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


@pytest.fixture
def shown(qtbot, qloop, make_ctx, monkeypatch):
    """The panel over the app's services with two finished images (no generation needed)."""
    ctx = make_ctx()
    view = images_view.create(ctx.services, executor=ctx.executor)
    ctx.extra_view_models.append(view.vm)
    qtbot.addWidget(view)
    announced: list[tuple[str, str]] = []
    monkeypatch.setattr(images_view, "notify_done", lambda w, title, message: announced.append((title, message)))
    pngs = [_png(1024, 768), _png(300, 200, "#cc3333")]
    view.vm.images = list(pngs)
    view.vm.imagesReady.emit(view.vm.images)
    return ctx, view, pngs, announced


def test_thumbnails_are_a_useful_size_and_a_finished_batch_is_announced(qtbot, shown) -> None:
    _, view, _, announced = shown
    assert view.thumbnails.count() == 2 and view.thumbnails.iconSize().width() == images_view.THUMBNAIL == 256
    assert view.thumbnails.isWrapping() and view.thumbnails.viewMode() == view.thumbnails.ViewMode.IconMode
    icon = view.thumbnails.item(0).icon().pixmap(256, 256)
    assert icon.width() == 256 and icon.height() == 192  # the aspect kept
    assert announced == [("Images ready", "2 images generated")]
    assert [a.text() for a in view.thumbnail_menu(1).actions()] == ["&Open", "&Save…", "&Copy"]


def test_copy_puts_the_image_on_the_clipboard(qtbot, shown) -> None:
    from PySide6.QtGui import QGuiApplication

    _, view, _, _ = shown
    QGuiApplication.clipboard().clear()
    view.thumbnails.setCurrentRow(1)
    assert view.copy_button.isEnabled()
    view.copy_button.click()
    copied = QGuiApplication.clipboard().image()
    assert not copied.isNull() and (copied.width(), copied.height()) == (300, 200)
    assert copied.pixelColor(5, 5).name() == "#cc3333"


def test_save_writes_the_original_png(qtbot, qloop, settle, shown, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    _, view, pngs, _ = shown
    target = tmp_path / "kept.png"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "PNG (*.png)")))
    view.thumbnails.setCurrentRow(0)
    view.save_button.click()
    settle(view.vm, lambda: target.exists())
    assert target.read_bytes() == pngs[0] and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_drag_carries_a_file_url_and_the_image(qtbot, qloop, shown) -> None:
    _, view, pngs, _ = shown
    mime = view.thumbnail_mime(1)
    assert mime.hasUrls() and mime.hasImage()
    [url] = mime.urls()
    assert url.isLocalFile()
    dragged = Path(url.toLocalFile())
    assert dragged.suffix == ".png" and dragged.read_bytes() == pngs[1]
    assert view.thumbnails.dragEnabled()
    run_close = view.vm.aclose()
    qloop.run_until_complete(run_close)
    assert not dragged.exists()  # the session's drag files go with the panel


def test_the_viewer_opens_fitted_and_zooms_to_100_percent(qtbot, shown) -> None:
    _, view, _, _ = shown
    viewer = view.open_viewer(0)
    qtbot.waitExposed(viewer)
    assert viewer.fitted and viewer.scale_factor() < 1.0  # a 1024 px image fits the window
    rect = viewer.view.mapFromScene(viewer.scene.sceneRect()).boundingRect()
    assert rect.width() <= viewer.view.viewport().width() + 1
    viewer.actual_size()
    assert viewer.scale_factor() == 1.0 and not viewer.fitted
    viewer.fit()
    assert viewer.scale_factor() < 1.0
    viewer.close()


def test_without_the_local_extra_the_panel_says_how_to_install_it(qloop, panel, monkeypatch) -> None:
    _, view = panel
    monkeypatch.setitem(sys.modules, "torch", None)  # as if the `local` extra were not installed
    run(qloop, view.vm.check_device())
    text = view.warning_label.text()
    assert text.startswith("Local image generation is not installed here (missing: torch).")
    assert "[local]" in text and CPU_WARNING not in text


def test_a_second_generate_queues_behind_the_first_and_can_be_taken_out(qtbot, qloop, settle, panel) -> None:
    ctx, view = panel
    vm = view.vm
    _fill(view, steps=3, seed=3)
    view.previews_check.setChecked(False)
    completed: list[str] = []
    seen: list[list[tuple[str, str, int]]] = []
    clicked: list[bool] = []
    vm.requestCompleted.connect(completed.append)

    def on_queue(jobs: list) -> None:
        seen.append([(j.label, "running" if j.running else "waiting", j.place) for j in jobs])
        if len(jobs) == 2 and not clicked:
            clicked.append(True)
            # What the creator does: the waiting job's own ✕ in the GPU queue list.
            assert view.queue_panel.isVisibleTo(view)
            (button,) = [b for b in view.queue_panel.findChildren(QToolButton)
                         if b.accessibleName() == "Cancel GPU job 2" and not b.isHidden()]  # fmt: skip
            button.click()

    vm.queueChanged.connect(on_queue)
    view.generate_button.click()
    view.prompt_edit.setPlainText("a dog")
    assert view.generate_button.isEnabled()  # another press queues a job
    view.generate_button.click()
    settle(vm, lambda: len(completed) == 2 and not vm.busy, timeout=GENERATION_S)
    both = next(jobs for jobs in seen if len(jobs) == 2)
    assert [(state, place) for _, state, place in both] == [("running", 0), ("waiting", 1)]
    drawn, dropped = both[0][0], both[1][0]
    assert {drawn, dropped} == {"a cat", "a dog"}
    rows = {ctx.ledger.attempts(request_id)[0].outcome: request_id for request_id in completed}
    assert set(rows) == {"ok", "cancelled"}  # one was drawn; the other never reached the GPU
    assert view.thumbnails.count() == 1
    assert read_png_text(vm.images[0])["prompt"] == drawn
    assert not view.queue_panel.isVisibleTo(view) and seen[-1] == []


def test_the_vram_plan_follows_the_form(qtbot, qloop, settle, panel) -> None:
    _, view = panel
    vm = view.vm
    plans: list[object] = []
    vm.planReady.connect(plans.append)
    view.show()
    settle(vm, lambda: bool(plans), timeout=60)
    assert view.plan_line.isVisible() and view.plan_line.label.text().startswith("Fits: ~")
    plans.clear()
    view.size_combo.setCurrentText(CUSTOM)
    view.width_spin.setValue(128)
    settle(vm, lambda: bool(plans), timeout=60)
    assert "128×512" in view.plan_line.label.text()
    assert "weights" in view.plan_line.toolTip()


def test_a_plan_that_will_not_fit_offers_the_cloud_model(qtbot, qloop, settle, panel) -> None:
    from sparklio_desktop.core.local.sd.families import ModelType
    from sparklio_desktop.core.local.sd.vram_plan import plan_image_job
    from sparklio_desktop.core.local.vram import GpuMemory

    _, view = panel
    cloud = view.vm.cloud_alternative()
    assert cloud is not None and not cloud.startswith("local/")
    request = view.vm.cloud_settings(view.settings())
    assert request.model == cloud and request.image_options is None
    plan = plan_image_job(
        ModelType.SDXL_BASE, 1024, 1024, gpu=GpuMemory(4.0, 2.0, "nvml"), cloud_alternative="GPT Image"
    )
    view.plan_line.show_plan(PlanPayload.of(plan))
    assert view.plan_line.cloud_button.isVisibleTo(view)
    assert view.plan_line.cloud_button.text() == "Use GPT Image instead"
    assert view.plan_line.label.text().startswith("Will not fit")
    said: list[str] = []
    view.vm.errorRaised.connect(said.append)
    view.vm.notice.connect(said.append)
    completed: list[str] = []
    view.vm.requestCompleted.connect(completed.append)
    _fill(view, steps=2)
    view.plan_line.cloud_button.click()  # no cloud key on the test machine: the cloud model says so
    settle(view.vm, lambda: bool(completed), timeout=30)
    ctx, _ = panel
    (row,) = ctx.ledger.attempts(completed[0])
    assert row.model_id == cloud and row.cost_usd == 0  # sent to the cloud model, not to the GPU
    assert said, "the creator is told why nothing was drawn"
