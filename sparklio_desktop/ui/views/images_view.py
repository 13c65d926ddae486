"""The Images panel: local Stable Diffusion with a step progress bar and a live preview.

The form: the checkpoint (listed with its type; choosing one puts its type's size, steps
and guidance in the fields the creator has not changed), prompt, size, steps, guidance,
sampler, seed and batch; "Start from an image" (image_studio_panels.py: the init image,
its strength and a mask painted over it) and "Advanced" (hires fix, the SDXL refiner,
LoRAs) fold away. A PNG dropped on the page asks whether to use its settings (A1111,
ComfyUI) or the picture as the init image.

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

from PySide6.QtCore import QEvent, QMimeData, QObject, QPoint, QSize, Qt, QTimer, QUrl
from PySide6.QtGui import (
    QDrag,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QHideEvent,
    QIcon,
    QImage,
    QKeySequence,
    QPixmap,
    QShortcut,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.image_studio import HIRES_CHOICES, SCHEDULERS, CheckpointChoice, InitImage
from sparklio_desktop.ui.viewmodels.images import ImageSettings, ImagesViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.seams import PanelServices
from sparklio_desktop.ui.views.gpu_panels import GpuQueuePanel, PlanLine
from sparklio_desktop.ui.views.image_studio_panels import InitImagePanel, LoraPanel
from sparklio_desktop.ui.widgets.collapsible import CollapsibleSection
from sparklio_desktop.ui.widgets.image_viewer import ImageViewer
from sparklio_desktop.ui.widgets.mask_painter import dropped_image_path
from sparklio_desktop.ui.widgets.notifier import notify_done

SIZE_PRESETS = ("512x512", "768x768", "1024x1024")
PLAN_DELAY_MS = 300  # the VRAM plan follows the form once the creator pauses
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
        self._applying = False  # the form is being filled by the program, not the creator
        self._set_by_user: set[QWidget] = set()  # size/steps/guidance the creator changed
        self._checkpoints: list[CheckpointChoice] = []
        self._refiner_installed = False
        self._wanted_checkpoint: str | None = None  # asked for before the list was read
        self.drop_menu: QMenu | None = None
        self.setAcceptDrops(True)
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
        for edit in (self.prompt_edit, self.negative_edit):  # a picture dropped on text is for the page
            edit.viewport().installEventFilter(self)
        self._tab_order()
        vm.settingsApplied.connect(self.show_settings)
        vm.checkpointsReady.connect(self._on_checkpoints)
        vm.lorasReady.connect(lambda loras: self.lora_panel.set_loras(loras, self.checkpoint()))
        vm.initImageChanged.connect(self._on_init_image)
        vm.maskLoaded.connect(self._on_mask_loaded)
        vm.planReady.connect(self.plan_line.show_plan)
        vm.planUnavailable.connect(self.plan_line.show_unavailable)
        vm.queueChanged.connect(self.queue_panel.show_jobs)
        self.queue_panel.cancelWanted.connect(vm.cancel_job)
        self.plan_line.cloudWanted.connect(self._on_generate_in_cloud)
        self._plan_timer = QTimer(self)
        self._plan_timer.setSingleShot(True)
        self._plan_timer.setInterval(PLAN_DELAY_MS)
        self._plan_timer.timeout.connect(lambda: self.vm.check_plan(self.settings(with_mask=False)))
        for changed in (self.checkpoint_combo.currentIndexChanged, self.width_spin.valueChanged,
                        self.height_spin.valueChanged, self.hires_combo.currentIndexChanged,
                        self.refiner_check.toggled):  # fmt: skip
            changed.connect(self._plan_soon)
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
        self._build_studio_controls()
        form = QFormLayout()
        form.addRow("&Checkpoint", self.checkpoint_combo)
        form.addRow("&Prompt", self.prompt_edit)
        form.addRow("&Negative", self.negative_edit)
        form.addRow("Si&ze", size_row)
        form.addRow("&Steps", self.steps_spin)
        form.addRow("G&uidance", self.guidance_spin)
        form.addRow("Sa&mpler", self.scheduler_combo)
        form.addRow("S&eed", seed_row)
        form.addRow("&Batch", self.batch_spin)
        form.addRow("", self.previews_check)
        self._tooltips()
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
        fields = QWidget()
        inner = QVBoxLayout(fields)
        inner.addLayout(form)
        inner.addWidget(self.init_section)
        inner.addWidget(self.advanced_section)
        inner.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(fields)
        fields.setAutoFillBackground(False)  # the page's own background, not a grey box
        scroll.viewport().setAutoFillBackground(False)
        column = QVBoxLayout()
        column.addWidget(scroll, 1)
        column.addLayout(buttons)
        self.plan_line = PlanLine()
        self.queue_panel = GpuQueuePanel()
        column.addWidget(self.plan_line)
        column.addWidget(self.warning_label)
        column.addWidget(self.queue_panel)
        return column

    def _build_studio_controls(self) -> None:
        """Checkpoint and sampler, the init image section, and the folded Advanced section."""
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.setAccessibleName("Checkpoint")
        self.checkpoint_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.checkpoint_combo.setMinimumContentsLength(18)
        self.checkpoint_combo.currentIndexChanged.connect(lambda _i: self._on_checkpoint())
        self.scheduler_combo = QComboBox()
        self.scheduler_combo.setAccessibleName("Sampler")
        self.scheduler_combo.addItem("The checkpoint's own", None)
        for name in SCHEDULERS:
            self.scheduler_combo.addItem(name, name)
        self.init_panel = InitImagePanel()
        self.init_panel.fileChosen.connect(self.vm.use_init_image)
        self.init_panel.maskFileChosen.connect(self.vm.load_mask)
        self.init_panel.cleared.connect(self.vm.clear_init_image)
        self.init_section = CollapsibleSection("S&tart from an image", self.init_panel)
        self.hires_combo = QComboBox()
        self.hires_combo.setAccessibleName("Hires fix")
        for text, factor in HIRES_CHOICES:
            self.hires_combo.addItem(text, factor)
        self.refiner_check = QCheckBox("Finish &with the SDXL refiner")
        self.refiner_check.setAccessibleName("Use the SDXL refiner")
        self.lora_panel = LoraPanel()
        self.lora_panel.triggerWanted.connect(self._insert_words)
        advanced = QWidget()
        advanced_form = QFormLayout(advanced)
        advanced_form.setContentsMargins(0, 0, 0, 0)
        advanced_form.addRow("Hires fi&x", self.hires_combo)
        advanced_form.addRow("", self.refiner_check)
        advanced_form.addRow("LoRAs", self.lora_panel)
        self.advanced_section = CollapsibleSection("Advanced", advanced)
        for widget in (self.steps_spin, self.guidance_spin, self.width_spin, self.height_spin):
            widget.valueChanged.connect(lambda _v, w=widget: self._touched(w))
        self.size_combo.currentIndexChanged.connect(lambda _i: self._touched(self.size_combo))
        self._on_checkpoint()

    def _tooltips(self) -> None:
        for widget, tip in (
            (self.checkpoint_combo, "The model that draws: its type sets the usual size, steps and guidance"),
            (self.prompt_edit, "Describe the picture: subject, style, light, framing"),
            (self.negative_edit, "Things you do not want to see"),
            (self.size_combo, "The picture's size in pixels; each checkpoint draws best at the size it learnt"),
            (self.steps_spin, "More steps add detail and take longer; 20–30 is usual"),
            (self.guidance_spin, "How closely to follow the prompt: higher is more literal, lower more free"),
            (self.scheduler_combo, "How the noise is removed step by step; Euler a and DPM++ 2M Karras are popular"),
            (self.seed_spin, "The same seed with the same settings gives the same picture"),
            (self.batch_spin, "How many pictures to make, one after another"),
            (self.hires_combo, "Make the picture, enlarge it, then redraw the detail at the larger size"),
        ):
            widget.setToolTip(tip)

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
        self.vm.load_studio()  # each time: a checkpoint or LoRA added on the Models page shows
        self._plan_timer.start()  # the plan of what the form holds now

    # -- the studio's controls -------------------------------------------------------------
    def checkpoint(self) -> CheckpointChoice | None:
        data = self.checkpoint_combo.currentData()
        return data if isinstance(data, CheckpointChoice) else None

    def _on_checkpoints(
        self, choices: list[CheckpointChoice], default: CheckpointChoice | None, refiner: bool = False
    ) -> None:
        self._checkpoints = list(choices)
        self._refiner_installed = refiner
        current = self.checkpoint()  # a list read again keeps the creator's choice
        kept = current if current is not None and current in choices else default
        wanted = self._wanted_checkpoint or (kept.path if kept is not None else None)
        self.checkpoint_combo.blockSignals(True)
        self.checkpoint_combo.clear()
        for choice in choices:
            self.checkpoint_combo.addItem(choice.label, choice)
            self.checkpoint_combo.setItemData(
                self.checkpoint_combo.count() - 1, choice.path, Qt.ItemDataRole.ToolTipRole
            )
        if not choices:
            self.checkpoint_combo.addItem("None installed (see Models)", None)
        self.checkpoint_combo.blockSignals(False)
        self._wanted_checkpoint = None
        self._select_checkpoint(wanted)
        self._on_checkpoint()

    def _select_checkpoint(self, path: str | None) -> bool:
        for index in range(self.checkpoint_combo.count()):
            choice = self.checkpoint_combo.itemData(index)
            if isinstance(choice, CheckpointChoice) and path in (choice.path, choice.name):
                self.checkpoint_combo.setCurrentIndex(index)
                return True
        return False

    def _on_checkpoint(self) -> None:
        """A checkpoint was chosen: its type's size, steps and guidance (those the creator
        has not changed), the refiner for SDXL, and which LoRAs fit."""
        choice = self.checkpoint()
        sdxl = choice is not None and choice.sdxl
        self.refiner_check.setEnabled(sdxl and self._refiner_installed)
        if not self.refiner_check.isEnabled():
            self.refiner_check.setChecked(False)
        self.refiner_check.setToolTip(
            "SDXL only: a second model polishes the last steps"
            if self._refiner_installed
            else "Install an SDXL refiner checkpoint (Models page) to polish SDXL images with it"
        )
        self.lora_panel.fit(choice)
        if choice is None:
            return
        if choice.inpainting and self.init_panel.init is None:
            self.init_section.set_expanded(True)
            self.notice_label.setText("An inpainting checkpoint repaints a picture: choose one, then paint the area.")
        self._applying = True
        try:
            if self.size_combo not in self._set_by_user and not {self.width_spin, self.height_spin} & self._set_by_user:
                size = f"{choice.size}x{choice.size}"
                self.size_combo.setCurrentText(size if size in SIZE_PRESETS else CUSTOM)
                self.width_spin.setValue(choice.size)
                self.height_spin.setValue(choice.size)
            if self.steps_spin not in self._set_by_user:
                self.steps_spin.setValue(choice.steps)
            if self.guidance_spin not in self._set_by_user:
                self.guidance_spin.setValue(choice.guidance)
        finally:
            self._applying = False

    def _touched(self, widget: QWidget) -> None:
        if not self._applying:
            self._set_by_user.add(widget)

    def _on_init_image(self, init: InitImage | None) -> None:
        self.init_panel.set_init_image(init)
        if init is not None:
            self.init_section.set_expanded(True)

    def _on_mask_loaded(self, data: bytes, path: str) -> None:
        if not self.init_panel.load_mask(data, path):
            self.notice_label.setText("Choose an init image first, then its mask (a black-and-white image).")

    def _insert_words(self, words: str) -> None:
        text = self.prompt_edit.toPlainText().rstrip()
        self.prompt_edit.setPlainText(f"{text}, {words}" if text else words)

    def _tab_order(self) -> None:
        """Top to bottom as the form reads: checkpoint, prompt, size, …, the sections, Generate."""
        chain = [
            self.checkpoint_combo, self.prompt_edit, self.negative_edit, self.size_combo, self.width_spin,
            self.height_spin, self.steps_spin, self.guidance_spin, self.scheduler_combo, self.random_seed_check,
            self.seed_spin, self.batch_spin, self.previews_check, self.init_section.toggle,
            self.init_panel.choose_button, self.init_panel.clear_button, self.init_panel.strength_slider,
            self.init_panel.inpaint_check, self.init_panel.brush_slider, self.advanced_section.toggle,
            self.hires_combo, self.refiner_check, self.generate_button, self.cancel_button, self.unload_button,
        ]  # fmt: skip
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)
        self.prompt_edit.setTabChangesFocus(True)  # Tab moves on; a prompt needs no tab characters
        self.negative_edit.setTabChangesFocus(True)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """A picture dropped on the prompt boxes goes to the page (not in as a file name)."""
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove, QEvent.Type.Drop) and isinstance(event, QDropEvent):
            if dropped_image_path(event.mimeData()) is not None:
                if kind == QEvent.Type.Drop:
                    self.dropEvent(event)
                else:
                    event.acceptProposedAction()
                return True
        return super().eventFilter(watched, event)

    # -- a file dropped on the page -----------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if dropped_image_path(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        path = dropped_image_path(event.mimeData())
        if path is None:
            return
        event.acceptProposedAction()
        if not path.lower().endswith(".png"):
            self.vm.use_init_image(path)  # a JPEG or WebP carries no settings Sparklio reads
            return
        menu = self.dropped_png_menu(path)
        menu.popup(self.mapToGlobal(event.position().toPoint()))

    def dropped_png_menu(self, path: str) -> QMenu:
        """What to do with a PNG dropped on the page: its settings, or the picture itself."""
        if self.drop_menu is not None:
            self.drop_menu.deleteLater()
        menu = QMenu(self)
        menu.addAction("Use its &settings", lambda: self.vm.use_png_settings(path, self.settings(with_mask=False)))
        menu.addAction("Use as &init image", lambda: self.vm.use_init_image(path))
        self.drop_menu = menu
        return menu

    # -- reading the form ----------------------------------------------------------------
    def settings(self, *, with_mask: bool = True) -> ImageSettings:
        """The form as one value; ``with_mask=False`` leaves a painted mask out (not encoded)
        but keeps a mask file's path."""
        mask, mask_path = self.init_panel.mask_choice() if with_mask else (None, self.init_panel.mask_file())
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
            checkpoint=choice.path if (choice := self.checkpoint()) is not None else None,
            scheduler=self.scheduler_combo.currentData(),
            init_image=init.data if (init := self.init_panel.init) is not None else None,
            init_image_path=init.path if init is not None else None,
            strength=self.init_panel.strength(),
            mask_image=mask,
            mask_path=mask_path,
            hires=self.hires_combo.currentData(),
            loras=self.lora_panel.chosen(),
            refiner=self.refiner_check.isEnabled() and self.refiner_check.isChecked(),
        )

    def show_settings(self, settings: ImageSettings) -> None:
        """Put ``settings`` in the form (the view-model's ``settingsApplied``): the checkpoint
        first (its type's defaults), then the values, which count as the creator's own."""
        if settings.checkpoint and not self._select_checkpoint(settings.checkpoint):
            self._wanted_checkpoint = settings.checkpoint  # the list is not read yet
        if settings.scheduler is not None:
            if self.scheduler_combo.findData(settings.scheduler) < 0:  # one of the core's others ("Heun")
                self.scheduler_combo.addItem(settings.scheduler, settings.scheduler)
            self.scheduler_combo.setCurrentIndex(self.scheduler_combo.findData(settings.scheduler))
        if settings.loras:
            self.lora_panel.choose(settings.loras)
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
        # The mask is encoded by the view-model off the loop (a large one takes 100 ms).
        self.vm.generate(self.settings(with_mask=False), self.init_panel.painted_mask())

    def _plan_soon(self) -> None:
        """Ask for the VRAM plan once the creator pauses; a hidden form needs none."""
        if self.isVisible():
            self._plan_timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt override
        self._plan_timer.stop()
        super().hideEvent(event)

    def _on_generate_in_cloud(self) -> None:
        """The plan said local will not fit: the same prompt, on the cloud image model."""
        self.vm.generate(self.settings(with_mask=False), cloud=True)

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
        # Generate stays enabled: another press queues a job behind the running one.
        self.generate_button.setToolTip("Queue another job behind this one" if busy else "")
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
