"""The Gallery tab over a real gallery.sqlite seeded with rows and small PNG files: pages
load as the grid scrolls, search and filters narrow it, the large view shows the
parameters, "Use these settings" fills the Images form, Delete removes the row (and the
file when asked), a new image shows without losing the scroll position."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QMessageBox

from sparklio_desktop.core.gallery import GalleryImage, GalleryStore, LoraUse
from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.gallery import PAGE, GalleryViewModel
from sparklio_desktop.ui.viewmodels.images import ImagesViewModel
from sparklio_desktop.ui.views.gallery_view import GalleryView
from sparklio_desktop.ui.views.images_view import ImagesView
from tests.ui.conftest import wait_until

NOW = datetime.now(UTC)


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()


def png(path: Path, color: str, size: int = 48) -> Path:
    image = QImage(size, size, QImage.Format.Format_RGB32)
    image.fill(QColor(color))
    assert image.save(str(path), "PNG")
    return path


def seed(tmp_path: Path, n: int) -> GalleryStore:
    """``n`` images: every 3rd a castle on sdxl-base, the rest cats on sd15, a day apart
    from image 50 on (the first 50 are from the last hour); 5 distinct PNG files."""
    store = GalleryStore(tmp_path / "gallery.sqlite")
    files = [png(tmp_path / f"f{i}.png", color) for i, color in enumerate(("red", "green", "blue", "gray", "black"))]
    for i in range(n):
        castle = i % 3 == 0
        store.add(
            GalleryImage(
                path=files[i % 5],
                prompt=f"a {'castle on a hill' if castle else 'cat in the snow'} number {i}",
                negative_prompt="blurry",
                width=512,
                height=768,
                seed=1000 + i,
                steps=20 + i % 10,
                guidance=6.5,
                scheduler="euler_a",
                checkpoint="sdxl-base" if castle else "sd15",
                checkpoint_hash="abcdef0123",
                loras=(LoraUse("ink", 0.7),),
                request_id=f"req-{i}",
                model_id="local/stable-diffusion",
                cost_usd=Decimal("0"),
            ),
            created_at=NOW - (timedelta(minutes=i) if i < 50 else timedelta(days=i - 49)),
        )
    return store


@pytest.fixture
def gallery(qtbot, qloop, tmp_path):
    def make(n: int) -> tuple[GalleryView, GalleryStore]:
        store = seed(tmp_path, n)
        vm = GalleryViewModel(SerialExecutor("test-gallery"), store)
        view = GalleryView(vm)
        qtbot.addWidget(view)
        view.resize(1000, 700)
        view.show()
        wait_until(qloop, lambda: vm.model.total == store.count())
        return view, store

    return make


def loaded_rows(view: GalleryView) -> int:
    return sum(1 for row in range(view.vm.model.total) if view.vm.model._pages.get(row - row % PAGE))


def test_pages_load_as_the_grid_scrolls(gallery, qloop):
    view, _store = gallery(450)
    model = view.vm.model
    assert model.total == 450 and 0 in model._pages and 200 not in model._pages  # not read before it shows
    view.grid.scrollToBottom()
    wait_until(qloop, lambda: 400 in model._pages)
    assert 200 not in model._pages  # jumped over: never looked at
    view.grid.scrollTo(model.index(300))
    wait_until(qloop, lambda: 200 in model._pages)
    assert model.item(449) is not None and model.item(449).prompt.endswith("number 449")
    # Thumbnails decode off the loop into the cache, a placeholder until then.
    wait_until(qloop, lambda: model.cached(model.item(449).id))


def test_search_and_filters_narrow_the_grid(gallery, qloop):
    view, store = gallery(120)
    vm = view.vm
    view.search_edit.setText("castle")
    wait_until(qloop, lambda: vm.model.total == 40)  # after the 200 ms debounce
    assert all("castle" in vm.model.item(r).prompt for r in range(40))
    view.search_edit.setText("")
    wait_until(qloop, lambda: vm.model.total == 120)
    names = [view.checkpoint_combo.itemData(i) for i in range(view.checkpoint_combo.count())]
    assert names == ["", "sd15", "sdxl-base"]
    view.checkpoint_combo.setCurrentIndex(1)
    wait_until(qloop, lambda: vm.model.total == 80)
    view.checkpoint_combo.setCurrentIndex(0)
    wait_until(qloop, lambda: vm.model.total == 120)
    view.date_combo.setCurrentText("Last 7 days")
    wait_until(qloop, lambda: vm.model.total == store.count(since=vm_since(vm)))
    assert 50 <= vm.model.total < 60
    assert view.count_label.text() == f"{vm.model.total} images"


def vm_since(vm: GalleryViewModel):
    from sparklio_desktop.ui.viewmodels.gallery import since_for

    return since_for(vm.date_range)


def test_the_large_view_shows_every_parameter(gallery, qloop):
    view, _store = gallery(10)
    view.select_row(3)
    wait_until(qloop, lambda: view.parameter("Seed") == "1003")
    assert view.parameter("Prompt") == "a castle on a hill number 3"
    assert view.parameter("Negative") == "blurry"
    assert view.parameter("Size") == "512×768" and view.parameter("Steps") == "23"
    assert view.parameter("Guidance") == "6.5" and view.parameter("Scheduler") == "euler_a"
    assert view.parameter("Checkpoint") == "sdxl-base [abcdef0123]" and view.parameter("LoRAs") == "ink:0.7"
    assert view.parameter("Request") == "req-3" and view.parameter("Model") == "local/stable-diffusion"
    assert view.parameter("Cost") is not None and view.parameter("File").endswith("f3.png")
    wait_until(qloop, lambda: view.large_label.pixmap() is not None and not view.large_label.pixmap().isNull())


def test_use_these_settings_fills_the_images_form(gallery, qloop, qtbot):
    view, _store = gallery(5)
    images_vm = ImagesViewModel(SerialExecutor("test-images"), dispatcher=None, local_images=None)  # type: ignore[arg-type]
    form = ImagesView(images_vm)
    qtbot.addWidget(form)
    view.vm.settingsChosen.connect(images_vm.use_settings)
    view.select_row(2)
    wait_until(qloop, lambda: view.use_button.isEnabled())
    qtbot.mouseClick(view.use_button, Qt.MouseButton.LeftButton)
    settings = form.settings()
    assert settings.prompt == "a cat in the snow number 2" and settings.negative_prompt == "blurry"
    assert (settings.width, settings.height, settings.steps, settings.seed) == (512, 768, 22, 1002)
    assert settings.guidance == 6.5
    assert settings.scheduler == "Euler a"  # the row's "euler_a", as the form's sampler list names it
    chosen = view.vm.current
    assert chosen is not None and chosen.settings.checkpoint == "sd15" and chosen.settings.loras == (("ink", 0.7),)


@pytest.mark.parametrize("also_file", [False, True])
def test_delete_asks_then_removes_the_row_and_the_file_when_asked(gallery, qloop, also_file):
    view, store = gallery(6)
    view.select_row(0)
    wait_until(qloop, lambda: view.vm.current is not None)
    item = view.vm.current
    assert item is not None
    # Cancel keeps it.
    box = view.ask_delete()
    box.button(QMessageBox.StandardButton.Cancel).click()
    wait_until(qloop, lambda: view.delete_box is None)
    assert store.count() == 6
    box = view.ask_delete()
    box.checkBox().setChecked(also_file)
    box.button(QMessageBox.StandardButton.Yes).click()
    wait_until(qloop, lambda: view.vm.model.total == 5)
    assert store.count() == 5 and all(i.id != item.id for i in store.page(0, 10))
    assert Path(item.path).exists() is not also_file


def test_keys_move_open_and_ask_to_delete(gallery, qloop, qtbot):
    view, _store = gallery(12)
    view.grid.setFocus()
    view.select_row(0)
    qtbot.keyClick(view.grid, Qt.Key.Key_Right)
    assert view.grid.currentIndex().row() == 1
    wait_until(qloop, lambda: view.parameter("Seed") == "1001")
    qtbot.keyClick(view.grid, Qt.Key.Key_Return)
    assert view._viewers
    qtbot.keyClick(view.grid, Qt.Key.Key_Delete)
    assert view.delete_box is not None
    view.delete_box.button(QMessageBox.StandardButton.Cancel).click()


def test_a_new_image_shows_and_the_scroll_stays(gallery, qloop, tmp_path):
    view, store = gallery(300)
    bar = view.grid.verticalScrollBar()
    wait_until(qloop, lambda: bar.maximum() > 0)
    bar.setValue(bar.maximum() // 2)
    kept = bar.value()
    store.add(GalleryImage(path=tmp_path / "f0.png", prompt="a brand new dragon", checkpoint="sd15"))
    view.vm.ledger_changed(None)
    wait_until(qloop, lambda: view.vm.model.total == 301)
    wait_until(qloop, lambda: bar.value() == kept)
    assert view.vm.model.item(0).prompt == "a brand new dragon"
