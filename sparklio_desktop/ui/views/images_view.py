"""The Images panel: local Stable Diffusion with a step progress bar and a live preview.

The view reads its form into an :class:`ImageSettings` and hands it to the view-model;
everything it shows comes from the view-model's signals. Thumbnails (256 px, in a
wrapping grid) open the shared viewer fitted to its window on double-click or Enter;
their context menu and the buttons under them save, copy (an image on the clipboard)
and open; a thumbnail dragged out carries a file URL of the PNG and the image itself.
Saving writes the generated PNG bytes as they are, so the prompt, negative prompt, seed,
steps and guidance stay in the file's text chunks (a re-encoded ``QImage`` would drop
them). A finished batch is announced when the window is not active (widgets/notifier).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QMimeData, QPoint, QSize, Qt, QUrl
from PySide6.QtGui import QDrag, QGuiApplication, QIcon, QImage, QKeySequence, QPixmap, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.images import ImageSettings, ImagesViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.seams import PanelServices
from sparklio_desktop.ui.widgets.image_viewer import ImageViewer
from sparklio_desktop.ui.widgets.notifier import notify_done

SIZE_PRESETS = ("512x512", "768x768", "1024x1024")
CUSTOM = "Custom"
THUMBNAIL = 256
PREVIEW = 256
MAX_SEED = 2**31 - 1  # QSpinBox holds a C int


def _image(png: bytes) -> QImage:
    image = QImage()
    image.loadFromData(png, "PNG")
    return image


class _PngViewer(ImageViewer):
    """The shared viewer, saving the original PNG bytes through the view-model."""

    def __init__(self, vm: ImagesViewModel, index: int, parent: QWidget | None = None) -> None:
        self._vm, self._index = vm, index
        super().__init__(_image(vm.images[index]), f"Image {index + 1}", parent)

    def save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save image", f"image-{self._index + 1}.png", "PNG (*.png)")
        if path:
            self._vm.save(self._index, path)


class ThumbnailGrid(QListWidget):
    """Thumbnails in a wrapping grid; dragging one out hands over the PNG file and image."""

    def __init__(self, mime_for: Callable[[int], QMimeData], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._mime_for = mime_for
        self.setViewMode(QListWidget.ViewMode.IconMode)
        self.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.setGridSize(QSize(THUMBNAIL + 16, THUMBNAIL + 32))
        self.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.setMovement(QListWidget.Movement.Static)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def startDrag(self, supportedActions: Qt.DropAction) -> None:  # noqa: N802 - Qt override
        item = self.currentItem()
        if item is None:
            return
        drag = QDrag(self)
        drag.setMimeData(self._mime_for(int(item.data(Qt.ItemDataRole.UserRole))))
        drag.setPixmap(item.icon().pixmap(QSize(THUMBNAIL // 2, THUMBNAIL // 2)))
        drag.exec(Qt.DropAction.CopyAction)


class ImagesView(QWidget):
    """Prompt, settings, Generate/Cancel, progress, preview and the finished thumbnails."""

    def __init__(self, vm: ImagesViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._viewers: list[ImageViewer] = []
        self._device_asked = False
        layout = QHBoxLayout(self)
        layout.addLayout(self._build_form(), 1)
        layout.addLayout(self._build_output(), 2)
        vm.busyChanged.connect(self._on_busy)
        vm.progressChanged.connect(self._on_progress)
        vm.previewReady.connect(self._on_preview)
        vm.imagesReady.connect(self._on_images)
        vm.warningChanged.connect(self._on_warning)
        vm.notice.connect(self.notice_label.setText)
        vm.errorRaised.connect(self.notice_label.setText)
        vm.settingsApplied.connect(self.show_settings)
        self._on_busy(vm.busy)
        self._on_warning(vm.warning)

    # -- building ------------------------------------------------------------------------
    def _button(self, text: str, name: str, slot: Callable[[], object]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    def _build_form(self) -> QVBoxLayout:
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setAccessibleName("Image prompt")
        self.prompt_edit.setPlaceholderText("What to draw")
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setAccessibleName("Negative prompt")
        self.negative_edit.setPlaceholderText("What to avoid (blurry, text, watermark…)")
        self.negative_edit.setMaximumHeight(70)
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, 150)
        self.steps_spin.setValue(25)
        self.steps_spin.setAccessibleName("Steps")
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 30.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(7.0)
        self.guidance_spin.setAccessibleName("Guidance")
        self.size_combo = QComboBox()
        self.size_combo.addItems([*SIZE_PRESETS, CUSTOM])
        self.size_combo.setAccessibleName("Image size")
        self.width_spin, self.height_spin = QSpinBox(), QSpinBox()
        for spin, name in ((self.width_spin, "Width"), (self.height_spin, "Height")):
            spin.setRange(64, 2048)
            spin.setSingleStep(8)
            spin.setValue(512)
            spin.setAccessibleName(name)
        size_row = QHBoxLayout()
        for widget in (self.size_combo, self.width_spin, QLabel("×"), self.height_spin):
            size_row.addWidget(widget)
        self.size_combo.currentTextChanged.connect(self._on_size_choice)
        self._on_size_choice(self.size_combo.currentText())
        self.random_seed_check = QCheckBox("Random")
        self.random_seed_check.setChecked(True)
        self.random_seed_check.setAccessibleName("Random seed")
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, MAX_SEED)
        self.seed_spin.setAccessibleName("Seed")
        self.random_seed_check.toggled.connect(lambda random: self.seed_spin.setEnabled(not random))
        self.seed_spin.setEnabled(False)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.random_seed_check)
        seed_row.addWidget(self.seed_spin, 1)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 16)
        self.batch_spin.setAccessibleName("Batch count")
        self.previews_check = QCheckBox("Show a preview while generating")
        self.previews_check.setChecked(True)
        self.previews_check.setAccessibleName("Show previews")
        form = QFormLayout()
        form.addRow("&Prompt", self.prompt_edit)
        form.addRow("&Negative", self.negative_edit)
        form.addRow("&Steps", self.steps_spin)
        form.addRow("G&uidance", self.guidance_spin)
        form.addRow("Si&ze", size_row)
        form.addRow("S&eed", seed_row)
        form.addRow("&Batch", self.batch_spin)
        form.addRow("", self.previews_check)
        self.generate_button = self._button("&Generate", "Generate images", self._on_generate)
        self.cancel_button = self._button("Cancel", "Cancel generation", self.vm.cancel)
        self.unload_button = self._button("Unload pipeline", "Unload the Stable Diffusion pipeline", self.vm.unload)
        buttons = QHBoxLayout()
        for button in (self.generate_button, self.cancel_button, self.unload_button):
            buttons.addWidget(button)
        self.warning_label = QLabel()
        self.warning_label.setAccessibleName("Device warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setStyleSheet("color: #b45309;")
        self.warning_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)  # commands to copy
        column = QVBoxLayout()
        column.addLayout(form)
        column.addLayout(buttons)
        column.addWidget(self.warning_label)
        column.addStretch(1)
        return column

    def _build_output(self) -> QVBoxLayout:
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setAccessibleName("Generation progress")
        self.step_label = QLabel()
        self.step_label.setAccessibleName("Step")
        self.preview_label = QLabel("The preview shows here while generating.")
        self.preview_label.setAccessibleName("Preview")
        self.preview_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview_label.setMinimumSize(PREVIEW, PREVIEW)
        self.thumbnails = ThumbnailGrid(self.thumbnail_mime)
        self.thumbnails.setAccessibleName("Generated images")
        self.thumbnails.setMinimumHeight(THUMBNAIL + 40)
        self.thumbnails.itemActivated.connect(self._on_thumbnail)  # double-click or Enter
        self.thumbnails.customContextMenuRequested.connect(self._thumbnail_menu)
        for keys, action in (
            (QKeySequence.StandardKey.Copy, self._copy_current),
            (QKeySequence.StandardKey.Save, self._save_current),
        ):
            shortcut = QShortcut(QKeySequence(keys), self.thumbnails)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)  # Ctrl+C in the prompt still copies text
            shortcut.activated.connect(action)
        self.thumbnails.currentRowChanged.connect(lambda row: self._on_current(row))
        self.open_button = self._button("&Open", "Open the image fitted to a window", self._open_current)
        self.save_button = self._button("S&ave…", "Save the image", self._save_current)
        self.copy_button = self._button("Cop&y", "Copy the image", self._copy_current)
        self.save_all_button = self._button("Save all…", "Save all images", self._on_save_all)
        self.save_all_button.setEnabled(False)
        image_buttons = QHBoxLayout()
        for button in (self.open_button, self.save_button, self.copy_button):
            button.setEnabled(False)
            image_buttons.addWidget(button)
        image_buttons.addStretch(1)
        image_buttons.addWidget(self.save_all_button)
        self.notice_label = QLabel()
        self.notice_label.setAccessibleName("Last action")
        self.notice_label.setWordWrap(True)
        column = QVBoxLayout()
        column.addWidget(self.progress_bar)
        column.addWidget(self.step_label)
        column.addWidget(self.preview_label, 1)
        column.addWidget(self.thumbnails, 2)
        column.addLayout(image_buttons)
        column.addWidget(self.notice_label)
        return column

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if not self._device_asked:  # torch is imported off the loop, first time the panel shows
            self._device_asked = True
            self.vm.refresh_device()

    # -- reading the form ----------------------------------------------------------------
    def settings(self) -> ImageSettings:
        if self.size_combo.currentText() == CUSTOM:
            width, height = self.width_spin.value(), self.height_spin.value()
        else:
            width, height = (int(part) for part in self.size_combo.currentText().split("x"))
        return ImageSettings(
            prompt=self.prompt_edit.toPlainText(),
            negative_prompt=self.negative_edit.toPlainText(),
            steps=self.steps_spin.value(),
            guidance=self.guidance_spin.value(),
            width=width,
            height=height,
            seed=None if self.random_seed_check.isChecked() else self.seed_spin.value(),
            batch_count=self.batch_spin.value(),
            previews=self.previews_check.isChecked(),
        )

    def show_settings(self, settings: ImageSettings) -> None:
        """Put ``settings`` in the form (the view-model's ``settingsApplied``)."""
        self.prompt_edit.setPlainText(settings.prompt)
        self.negative_edit.setPlainText(settings.negative_prompt)
        self.steps_spin.setValue(settings.steps)
        self.guidance_spin.setValue(settings.guidance)
        size = settings.size
        self.size_combo.setCurrentText(size if size in SIZE_PRESETS else CUSTOM)
        self.width_spin.setValue(settings.width)
        self.height_spin.setValue(settings.height)
        self.random_seed_check.setChecked(settings.seed is None)
        if settings.seed is not None:
            self.seed_spin.setValue(min(settings.seed, MAX_SEED))

    def _on_generate(self) -> None:
        self.vm.generate(self.settings())

    def _on_size_choice(self, text: str) -> None:
        custom = text == CUSTOM
        self.width_spin.setEnabled(custom)
        self.height_spin.setEnabled(custom)
        if not custom:
            width, height = (int(part) for part in text.split("x"))
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)

    # -- showing the view-model ----------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        self.generate_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.unload_button.setEnabled(not busy)

    def _on_progress(self, percent: int, text: str) -> None:
        self.progress_bar.setValue(percent)
        self.step_label.setText(text)

    def _on_preview(self, png: bytes) -> None:
        pixmap = QPixmap.fromImage(_image(png))
        self.preview_label.setPixmap(
            pixmap.scaled(
                PREVIEW, PREVIEW, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def _on_images(self, images: list[bytes]) -> None:
        self.thumbnails.clear()
        for index, png in enumerate(images):
            image = _image(png)
            pixmap = QPixmap.fromImage(image).scaled(
                THUMBNAIL, THUMBNAIL, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            item = QListWidgetItem(QIcon(pixmap), f"{index + 1}")
            item.setData(Qt.ItemDataRole.UserRole, index)
            item.setToolTip(
                f"Image {index + 1}, {image.width()}×{image.height()}: double-click to open; "
                "right-click to save or copy; drag it out"
            )
            self.thumbnails.addItem(item)
        if images:
            self._on_preview(images[-1])
            self.thumbnails.setCurrentRow(0)
            count = f"{len(images)} image{'s' if len(images) != 1 else ''}"
            notify_done(self, "Images ready", f"{count} generated")
        self.save_all_button.setEnabled(bool(images))
        self._on_current(self.thumbnails.currentRow())

    def _on_thumbnail(self, item: QListWidgetItem) -> None:
        self.open_viewer(int(item.data(Qt.ItemDataRole.UserRole)))

    def _on_current(self, row: int) -> None:
        for button in (self.open_button, self.save_button, self.copy_button):
            button.setEnabled(0 <= row < len(self.vm.images))

    def _current(self) -> int | None:
        item = self.thumbnails.currentItem()
        return None if item is None else int(item.data(Qt.ItemDataRole.UserRole))

    def _open_current(self) -> None:
        if (index := self._current()) is not None:
            self.open_viewer(index)

    def _save_current(self) -> None:
        if (index := self._current()) is not None:
            self.save_image(index)

    def _copy_current(self) -> None:
        if (index := self._current()) is not None:
            self.copy_image(index)

    def _thumbnail_menu(self, position: QPoint) -> None:
        item = self.thumbnails.itemAt(position)
        if item is None:
            return
        index = int(item.data(Qt.ItemDataRole.UserRole))
        menu = self.thumbnail_menu(index)
        menu.exec(self.thumbnails.viewport().mapToGlobal(position))
        menu.deleteLater()

    def thumbnail_menu(self, index: int) -> QMenu:
        """The thumbnail's context menu: Open, Save…, Copy."""
        menu = QMenu(self)
        menu.addAction("&Open", lambda: self.open_viewer(index))
        menu.addAction("&Save…", lambda: self.save_image(index))
        menu.addAction("&Copy", lambda: self.copy_image(index))
        return menu

    def save_image(self, index: int) -> None:
        """Ask where, then write the original PNG (its settings stay in the file)."""
        path, _ = QFileDialog.getSaveFileName(self, "Save image", f"image-{index + 1}.png", "PNG (*.png)")
        if path:
            self.vm.save(index, path)

    def copy_image(self, index: int) -> None:
        QGuiApplication.clipboard().setImage(_image(self.vm.images[index]))
        self.notice_label.setText(f"Image {index + 1} copied.")

    def thumbnail_mime(self, index: int) -> QMimeData:
        """What a drag out carries: the PNG as a file URL (file managers, chat apps) and the image."""
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(self.vm.drag_file(index)))])
        mime.setImageData(_image(self.vm.images[index]))
        return mime

    def open_viewer(self, index: int) -> ImageViewer:
        viewer = _PngViewer(self.vm, index, self)
        self._viewers.append(viewer)  # non-modal: keep it referenced until it is closed
        viewer.finished.connect(lambda _result: self._forget(viewer))
        viewer.show()
        viewer.fit()
        return viewer

    def _forget(self, viewer: ImageViewer) -> None:
        if viewer in self._viewers:
            self._viewers.remove(viewer)
            viewer.deleteLater()

    def _on_warning(self, text: str) -> None:
        self.warning_label.setText(text)
        self.warning_label.setVisible(bool(text))

    def _on_save_all(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save images to")
        if folder:
            self.vm.save_all(folder)


def create(
    services: PanelServices,
    parent: QWidget | None = None,
    executor: SerialExecutor | None = None,
    events: LedgerEvents | None = None,
) -> ImagesView:
    """The Images panel over a :class:`core.services.Services` (the main window adds it as a
    tab). ``events``: the app's ledger hub, told of each finished run."""

    vm = ImagesViewModel(
        executor or SerialExecutor("sparklio-images"), services.dispatcher, services.local_images, events=events
    )
    view = ImagesView(vm, parent)
    vm.setParent(view)
    return view
