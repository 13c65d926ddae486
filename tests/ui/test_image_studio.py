"""The Images form's studio controls on real widgets over the app's services: the tiny
checkpoint listed with its type and defaults, every control reaching the ImageOptions the
view-model hands the dispatcher, a painted mask exported pixel for pixel, an A1111 or
ComfyUI PNG dropped on the page filling the form, and an init image from the Gallery."""

from __future__ import annotations

import gc
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDropEvent, QImage
from PySide6.QtTest import QTest

from sparklio_desktop.core.local.model_hash import sha256_file
from sparklio_desktop.core.local.sd.service import ImageOptions
from sparklio_desktop.ui.viewmodels.image_studio import (
    CheckpointChoice,
    LoraChoice,
    default_checkpoint,
    match_checkpoint,
    scheduler_choice,
)
from sparklio_desktop.ui.views import images_view
from sparklio_desktop.ui.views.images_view import CUSTOM, ImagesView
from sparklio_desktop.ui.widgets.mask_painter import MaskPainter
from tests.local.tiny_sd import TinySD, build_tiny_sd

SDXL = CheckpointChoice("juggernaut-xl", "/w/juggernaut-xl.safetensors", "sdxl_base", "sdxl_base", 1024, 30, 6.0)
LORAS = [
    LoraChoice("ink", "sd1", ("ink drawing", "lineart")),
    LoraChoice("xl-detail", "sdxl_base", ()),
]


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory: pytest.TempPathFactory) -> TinySD:
    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd"))


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()


@pytest.fixture
def studio(qtbot, qloop, settle, make_ctx, sparklio_home: Path, tiny_sd: TinySD) -> ImagesView:
    """The Images form over the app's services, the tiny SD 1.x checkpoint installed and listed."""
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    ctx = make_ctx()
    view = images_view.create(ctx.services, executor=ctx.executor)
    ctx.extra_view_models.append(view.vm)
    qtbot.addWidget(view)
    view.vm.load_studio()
    settle(view.vm, lambda: view.vm.checkpoints != [])
    return view


def _png(path: Path, width: int, height: int, text: dict[str, str] | None = None, colour: str = "#3366cc") -> Path:
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor(colour))
    for key, value in (text or {}).items():
        image.setText(key, value)
    assert image.save(str(path), "PNG")
    return path


def _drop(view: ImagesView, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    view.dropEvent(event)


def _drag(widget, start: QPoint, end: QPoint, steps: int = 8) -> None:
    QTest.mousePress(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    for i in range(1, steps + 1):
        QTest.mouseMove(widget, start + (end - start) * i / steps)
    QTest.mouseRelease(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, end)


def _grey(png: bytes, x: int, y: int) -> int:
    image = QImage()
    assert image.loadFromData(png)
    return image.pixelColor(x, y).value()


def test_the_checkpoint_list_shows_types_and_applies_their_defaults(studio: ImagesView) -> None:
    view = studio
    (tiny,) = view.vm.checkpoints
    assert view.checkpoint_combo.count() == 1 and view.checkpoint_combo.currentText() == "tiny-sd · SD 1.x"
    assert view.checkpoint() == tiny and tiny.model_type == "sd1"
    assert (view.settings().width, view.settings().steps, view.settings().guidance) == (512, 25, 7.0)
    assert not view.refiner_check.isEnabled()

    view.steps_spin.setValue(12)  # the creator's own steps stay when the checkpoint changes
    view.vm.checkpointsReady.emit([tiny, SDXL], tiny, True)
    view.checkpoint_combo.setCurrentIndex(1)
    settings = view.settings()
    assert (settings.width, settings.height, settings.guidance, settings.steps) == (1024, 1024, 6.0, 12)
    assert view.size_combo.currentText() == "1024x1024" and view.refiner_check.isEnabled()
    view.refiner_check.setChecked(True)
    view.checkpoint_combo.setCurrentIndex(0)
    assert not view.refiner_check.isEnabled() and not view.settings().refiner
    assert view.settings().width == 512
    inpaint = CheckpointChoice("sd15-inpainting", "/w/sd15-inpainting.safetensors", "inpaint", "sd1", 512, 25, 7.0)
    view.vm.checkpointsReady.emit([tiny, inpaint], tiny, False)
    assert not view.init_section.expanded
    view.checkpoint_combo.setCurrentIndex(1)
    assert view.checkpoint_combo.currentText() == "sd15-inpainting · inpainting"
    assert view.init_section.expanded and "inpainting checkpoint" in view.notice_label.text()
    view.vm.checkpointsReady.emit([SDXL], SDXL, False)  # SDXL, but no refiner installed
    assert view.checkpoint() == SDXL and not view.refiner_check.isEnabled()
    assert view.refiner_check.toolTip().startswith("Install an SDXL refiner")


def test_every_control_reaches_the_image_options(studio: ImagesView, settle, tmp_path: Path) -> None:
    view = studio
    view.vm.checkpointsReady.emit([*view.vm.checkpoints, SDXL], SDXL, True)
    assert view.checkpoint() == view.vm.checkpoints[0]  # a list read again keeps the creator's choice
    view.checkpoint_combo.setCurrentIndex(1)
    view.vm.lorasReady.emit(LORAS)
    assert view.checkpoint() == SDXL
    ink, xl = view.lora_panel.checks
    assert (
        not ink.isEnabled() and ink.toolTip() == "LoRA ink is for SD 1.x checkpoints; this one is SDXL"
    )  # an SD 1.x LoRA on SDXL
    xl.setChecked(True)
    view.lora_panel.weights[1].setValue(0.6)
    view.prompt_edit.setPlainText("a lighthouse")
    view.scheduler_combo.setCurrentText("DPM++ 2M Karras")
    view.hires_combo.setCurrentIndex(2)
    view.refiner_check.setChecked(True)
    assert not view.init_panel.strength_row.isVisibleTo(view)  # no init image: no strength

    init = _png(tmp_path / "start.png", 96, 64)
    view.init_panel.fileChosen.emit(str(init))  # what choosing or dropping the file does
    settle(view.vm, lambda: view.init_panel.init is not None)
    assert view.init_panel.strength_row.isVisibleTo(view) and view.init_section.expanded
    view.init_panel.strength_slider.setValue(40)
    view.init_panel.inpaint_check.setChecked(True)
    view.init_panel.painter.invert_mask()  # everything to repaint

    request = view.settings().request(lambda *_: None)
    options = request.image_options
    assert isinstance(options, ImageOptions)
    assert options.checkpoint == SDXL.path and options.scheduler == "DPM++ 2M Karras"
    assert options.init_image == init.read_bytes() and options.init_image_path == init
    assert options.strength == 0.4 and options.hires == 2.0 and options.refiner is True
    assert options.loras == (("xl-detail", 0.6),)
    assert options.mask_image is not None and options.mask_path is None
    mask = QImage()
    mask.loadFromData(options.mask_image)
    assert (mask.width(), mask.height()) == (96, 64) and mask.pixelColor(5, 5).value() == 255
    assert options.steps == 30 and options.guidance == 6.0 and request.route.image_size == "1024x1024"

    view.init_panel.clear_button.click()
    options = view.settings().request(lambda *_: None).image_options
    assert options.init_image is None and options.strength is None and options.mask_image is None
    assert not view.init_panel.strength_row.isVisibleTo(view)


def test_a_painted_mask_is_exported_white_on_black_at_the_image_size(qtbot) -> None:
    painter = MaskPainter()
    qtbot.addWidget(painter)
    painter.resize(400, 200)
    painter.set_image(QImage(200, 100, QImage.Format.Format_RGB32))  # drawn at half scale
    painter.painting = True
    painter.brush = 20  # 20 px on screen: 10 px in the image
    assert painter.mask_png() is None  # nothing painted: no inpainting

    _drag(painter, QPoint(100, 100), QPoint(300, 100))  # image row 50, x 50..150
    png = painter.mask_png()
    assert png is not None
    image = QImage()
    image.loadFromData(png)
    assert (image.width(), image.height()) == (200, 100) and image.isGrayscale()
    assert _grey(png, 50, 50) == 255 and _grey(png, 100, 50) == 255 and _grey(png, 150, 50) == 255
    assert _grey(png, 100, 46) == 255 and _grey(png, 100, 40) == 0  # the brush is 10 image px wide
    assert _grey(png, 10, 10) == 0 and _grey(png, 190, 90) == 0 and _grey(png, 170, 50) == 0

    painter.erasing = True
    _drag(painter, QPoint(180, 80), QPoint(220, 120))  # through the stroke's middle
    png = painter.mask_png()
    assert png is not None and _grey(png, 100, 50) == 0 and _grey(png, 60, 50) == 255

    painter.invert_mask()
    png = painter.mask_png()
    assert png is not None and _grey(png, 10, 10) == 255 and _grey(png, 60, 50) == 0
    painter.clear_mask()
    assert painter.mask_png() is None

    painter.painting = False  # inpainting off: a drag paints nothing
    _drag(painter, QPoint(100, 100), QPoint(300, 100))
    assert painter.mask_png() is None

    painter.set_image(QImage(203, 101, QImage.Format.Format_RGB32))  # rows padded to 204 bytes
    assert painter.mask_png() is None  # the padding is not paint
    painter.painting, painter.erasing = True, False
    _drag(painter, QPoint(200, 100), QPoint(210, 100))
    png = painter.mask_png()
    assert png is not None and QImage.fromData(png).width() == 203


def test_a_mask_file_is_scaled_to_the_init_image(qtbot, tmp_path: Path) -> None:
    painter = MaskPainter()
    qtbot.addWidget(painter)
    painter.set_image(QImage(64, 32, QImage.Format.Format_RGB32))
    mask = QImage(128, 64, QImage.Format.Format_RGB32)
    mask.fill(QColor("black"))
    for x in range(64, 128):
        for y in range(64):
            mask.setPixelColor(x, y, QColor("white"))
    path = tmp_path / "mask.png"
    mask.save(str(path))
    assert painter.load_mask(path.read_bytes(), str(path))
    png = painter.mask_png()
    assert png is not None and _grey(png, 5, 5) == 0 and _grey(png, 50, 20) == 255
    assert painter.from_file == str(path)


A1111 = (
    "a castle on a hill, ink drawing\n"
    "Negative prompt: blurry, text\n"
    "Steps: 31, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234, Size: 640x448, "
    'Model hash: 0123456789, Model: tiny-sd, Lora hashes: "ink: aaaa", Version: v1.10.1'
)


def test_dropping_an_a1111_png_fills_the_form(studio: ImagesView, settle, tmp_path: Path) -> None:
    view = studio
    view.vm.lorasReady.emit(LORAS)
    dropped = _png(tmp_path / "00012-1234.png", 640, 448, {"parameters": A1111})
    _drop(view, dropped)
    menu = view.drop_menu
    assert menu is not None and [a.text() for a in menu.actions()] == ["Use its &settings", "Use as &init image"]
    menu.actions()[0].trigger()
    settle(view.vm, lambda: view.prompt_edit.toPlainText() != "")
    settings = view.settings()
    assert settings.prompt == "a castle on a hill, ink drawing" and settings.negative_prompt == "blurry, text"
    assert (settings.seed, settings.steps, settings.guidance) == (1234, 31, 6.5)
    assert (settings.width, settings.height) == (640, 448) and view.size_combo.currentText() == CUSTOM
    assert settings.scheduler == "DPM++ 2M Karras"
    assert settings.checkpoint == view.vm.checkpoints[0].path  # "Model: tiny-sd" is installed
    assert settings.loras == (("ink", 1.0),)
    assert settings.init_image is None  # its settings, not the picture
    assert "a1111" in view.notice_label.text()


def test_dropping_a_comfyui_png_fills_the_form_and_a_png_can_be_the_init_image(
    studio: ImagesView, settle, tmp_path: Path
) -> None:
    view = studio
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 77, "steps": 18, "cfg": 5.0,
              "sampler_name": "euler_ancestral", "scheduler": "normal", "positive": ["6", 0],
              "negative": ["7", 0], "model": ["4", 0], "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "not-here.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 768, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox in a forest", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "lowres", "clip": ["4", 1]}},
    }  # fmt: skip
    dropped = _png(tmp_path / "ComfyUI_00001_.png", 32, 32, {"prompt": json.dumps(graph)})
    _drop(view, dropped)
    assert view.drop_menu is not None
    view.drop_menu.actions()[0].trigger()
    settle(view.vm, lambda: view.prompt_edit.toPlainText() != "")
    settings = view.settings()
    assert (settings.prompt, settings.negative_prompt, settings.seed, settings.steps) == (
        "a fox in a forest",
        "lowres",
        77,
        18,
    )
    assert (settings.width, settings.height, settings.guidance, settings.scheduler) == (768, 512, 5.0, "Euler a")
    assert settings.checkpoint == view.vm.checkpoints[0].path  # not installed: the chosen one stays
    assert "not-here is not installed" in view.notice_label.text()

    _drop(view, dropped)
    view.drop_menu.actions()[1].trigger()  # the same file, as the picture to start from
    settle(view.vm, lambda: view.init_panel.init is not None)
    assert view.settings().init_image == dropped.read_bytes()


def test_use_as_init_image_from_the_gallery_switches_to_the_form(qtbot, qloop, make_ctx, tmp_path: Path) -> None:
    from sparklio_desktop.app import build_window
    from sparklio_desktop.core.gallery import GalleryImage, GalleryStore
    from tests.ui.conftest import settle_all

    ctx = make_ctx()
    picture = _png(tmp_path / "made.png", 80, 48, colour="#22aa44")
    with GalleryStore.open_default() as store:
        store.add(GalleryImage(path=picture, prompt="a green field", width=80, height=48, seed=5, steps=20))
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show_page("images")
    page = window.views["images"]
    page.setCurrentWidget(window.views["gallery"])
    gallery = window.views["gallery"].ensure_built()
    settle_all(qloop, ctx, lambda: gallery.vm.model.total == 1)
    gallery.select_row(0)
    settle_all(qloop, ctx, lambda: gallery.init_button.isEnabled())
    gallery.init_button.click()
    studio = window.views["image_studio"].ensure_built()
    settle_all(qloop, ctx, lambda: studio.init_panel.init is not None)
    assert page.currentWidget() is window.views["image_studio"]
    assert studio.init_panel.init.path == str(picture) and studio.init_panel.init.width == 80
    assert studio.settings().init_image == picture.read_bytes()
    assert studio.init_panel.strength_row.isVisibleTo(studio)


def test_a_checkpoint_is_matched_by_name_or_by_its_hash(tmp_path: Path, sparklio_home: Path) -> None:
    single = tmp_path / "Deliberate_v2.safetensors"
    single.write_bytes(b"not really weights, but a file to hash")
    choice = CheckpointChoice("Deliberate_v2", str(single), "sd1", "sd1", 512, 25, 7.0)
    assert match_checkpoint([choice], "deliberate_v2") == choice
    assert match_checkpoint([choice], "models\\Stable-diffusion\\Deliberate_v2.safetensors") == choice
    assert match_checkpoint([choice], "renamed", sha256_file(single)[:10]) == choice
    assert match_checkpoint([choice], "renamed", "0000000000") is None
    other = CheckpointChoice("sd15", "/w/sd15.safetensors", "sd1", "sd1", 512, 25, 7.0)
    assert default_checkpoint([other, choice], "Deliberate_v2") == choice  # the local.sd_checkpoint setting
    assert default_checkpoint([other, choice], "not-installed") == other and default_checkpoint([], None) is None
    assert scheduler_choice("euler_a") == "Euler a" and scheduler_choice("dpmpp_2m karras") == "DPM++ 2M Karras"
    assert scheduler_choice("heunpp2") is None and scheduler_choice("Heun") == "Heun"


def test_trigger_words_go_into_the_prompt_and_tab_follows_the_form(studio: ImagesView) -> None:
    view = studio
    view.vm.lorasReady.emit(LORAS)  # on the tiny SD 1.x checkpoint: ink fits, xl-detail does not
    ink, xl = view.lora_panel.checks
    assert ink.isEnabled() and not xl.isEnabled() and "is for SDXL checkpoints; this one is SD 1.x" in xl.toolTip()
    assert not view.lora_panel.trigger_buttons[1].isEnabled()
    view.prompt_edit.setPlainText("a harbour at dawn")
    view.lora_panel.trigger_buttons[0].click()
    assert view.prompt_edit.toPlainText() == "a harbour at dawn, ink drawing, lineart"

    order, widget = [], view.checkpoint_combo
    for _ in range(8):
        order.append(widget)
        widget = widget.nextInFocusChain()
        while widget.focusPolicy() == Qt.FocusPolicy.NoFocus or widget.parent() is None:
            widget = widget.nextInFocusChain()
    assert order[:4] == [view.checkpoint_combo, view.prompt_edit, view.negative_edit, view.size_combo]


def test_a_picture_dropped_on_the_prompt_box_is_offered_to_the_page(studio: ImagesView, tmp_path: Path) -> None:
    view = studio
    dropped = _png(tmp_path / "a.png", 16, 16, {"parameters": A1111})
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    # Qt delivers a drop only during a real drag; the page's filter on the prompt box is called
    # as Qt calls it (QApplication.sendEvent drops a synthetic drop before any filter).
    assert view.eventFilter(view.prompt_edit.viewport(), event)
    assert view.prompt_edit.toPlainText() == "" and view.drop_menu is not None  # not the file's name as text
    plain = QMimeData()
    plain.setText("just words")
    words = QDropEvent(
        QPointF(5, 5), Qt.DropAction.CopyAction, plain, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    assert not view.eventFilter(view.prompt_edit.viewport(), words)  # text still drops into the box


def _lora(path: Path, context: int, triggers: str = "") -> Path:
    import numpy as np
    from safetensors.numpy import save_file

    key = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    tensors = {
        f"{key}.lora_down.weight": np.zeros((4, context), dtype=np.float16),
        f"{key}.lora_up.weight": np.zeros((320, 4), dtype=np.float16),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"modelspec.trigger_phrase": triggers} if triggers else None)
    return path


def test_the_lora_files_in_the_weights_folder_are_listed_with_what_fits(
    studio: ImagesView, settle, sparklio_home: Path
) -> None:
    view = studio
    folder = sparklio_home / "weights" / "lora"
    _lora(folder / "ink-sd15.safetensors", 768, "ink drawing, lineart")
    _lora(folder / "detail-xl.safetensors", 2048)
    view.vm.load_studio()
    settle(view.vm, lambda: len(view.vm.loras) == 2)
    assert [c.text() for c in view.lora_panel.checks] == ["detail-xl", "ink-sd15"]
    xl, ink = view.lora_panel.checks
    assert ink.isEnabled() and not xl.isEnabled()  # on the tiny SD 1.x checkpoint
    assert xl.toolTip() == "LoRA detail-xl is for SDXL checkpoints; this one is SD 1.x"
    assert view.vm.loras[1].triggers == ("ink drawing", "lineart")
    ink.setChecked(True)
    view.lora_panel.weights[1].setValue(0.8)
    assert view.settings().request(lambda *_: None).image_options.loras == (("ink-sd15", 0.8),)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_image_to_image_and_a_painted_inpainting_run_on_the_tiny_model(
    studio: ImagesView, settle, tmp_path: Path, monkeypatch
) -> None:
    """The form's init image, strength and painted mask reach the real pipeline: each run
    makes an image whose A1111 parameters carry the strength (and the sampler chosen)."""
    from sparklio_desktop.core.local import read_png_text

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    view = studio
    view.prompt_edit.setPlainText("a cat")
    view.size_combo.setCurrentText(CUSTOM)
    view.width_spin.setValue(64)
    view.height_spin.setValue(64)
    view.steps_spin.setValue(4)
    view.random_seed_check.setChecked(False)
    view.seed_spin.setValue(3)
    view.previews_check.setChecked(False)
    view.scheduler_combo.setCurrentText("Euler a")
    view.init_panel.fileChosen.emit(str(_png(tmp_path / "start.png", 64, 64)))
    settle(view.vm, lambda: view.init_panel.init is not None)
    view.init_panel.strength_slider.setValue(50)
    completed: list[str] = []
    view.vm.requestCompleted.connect(completed.append)
    view.generate_button.click()
    settle(view.vm, lambda: bool(completed), timeout=90)
    assert len(view.vm.images) == 1, view.notice_label.text()
    parameters = read_png_text(view.vm.images[0])["parameters"]
    assert "Denoising strength: 0.5" in parameters and "Sampler: Euler a" in parameters

    view.init_panel.inpaint_check.setChecked(True)
    painter = view.init_panel.painter
    painter.resize(256, 256)
    _drag(painter, painter.target().center(), painter.target().center() + QPoint(40, 0))
    assert view.settings().mask_image is not None
    dispatcher = view.vm._dispatcher
    real_stream, sent = dispatcher.stream, []

    def recording(request, *args, **kwargs):  # the real dispatcher, with the request kept
        sent.append(request)
        return real_stream(request, *args, **kwargs)

    monkeypatch.setattr(dispatcher, "stream", recording)
    completed.clear()
    view.generate_button.click()  # the mask is encoded off the loop by the view-model
    settle(view.vm, lambda: bool(completed), timeout=90)
    assert len(view.vm.images) == 1, view.notice_label.text()
    (request,) = sent
    mask = QImage.fromData(request.image_options.mask_image)
    assert (mask.width(), mask.height()) == (64, 64) and mask.isGrayscale()
    assert request.image_options.mask_image == view.settings().mask_image
    assert "Denoising strength: 0.5" in read_png_text(view.vm.images[0])["parameters"]
