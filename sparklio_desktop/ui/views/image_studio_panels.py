"""The Images form's studio parts: the init image with its strength and mask, and the LoRAs.

Each part is a widget the Images view places and reads; neither talks to the core. The
init image panel shows what the view-model loaded (``set_init_image``) and asks it to load
a file (``fileChosen``); the LoRA panel lists the view-model's LoRAs and greys those that
do not fit the chosen checkpoint, with the reason as the tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.image_studio import CheckpointChoice, InitImage, LoraChoice, lora_problem
from sparklio_desktop.ui.widgets.mask_painter import MaskPainter

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp)"
DEFAULT_STRENGTH = 75  # percent: image-to-image keeps the composition, changes the detail


class InitImagePanel(QWidget):
    """Drop or choose a start image; set how much changes; paint what to repaint."""

    fileChosen = Signal(str)  # an image file to load as the init image
    maskFileChosen = Signal(str)  # a mask file to load
    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.init: InitImage | None = None
        self.painter = MaskPainter()
        self.painter.setToolTip("Drop a picture here to start from it instead of from noise")
        self.painter.imageDropped.connect(self.fileChosen)
        self.choose_button = QPushButton("Choose &image…")
        self.choose_button.setAccessibleName("Choose an init image")
        self.choose_button.setToolTip("Start from a picture of yours (PNG, JPEG or WebP)")
        self.choose_button.clicked.connect(self._choose)
        self.clear_button = QPushButton("Remove")
        self.clear_button.setAccessibleName("Remove the init image")
        self.clear_button.setToolTip("Go back to making an image from the prompt alone")
        self.clear_button.clicked.connect(self.cleared)
        top = QHBoxLayout()
        top.addWidget(self.choose_button)
        top.addWidget(self.clear_button)
        top.addStretch(1)

        self.strength_slider = QSlider(Qt.Orientation.Horizontal)
        self.strength_slider.setRange(1, 100)  # 0 would change nothing: the core refuses it
        self.strength_slider.setValue(DEFAULT_STRENGTH)
        self.strength_slider.setAccessibleName("Strength")
        self.strength_slider.setToolTip(
            "How much may change: low keeps your picture almost as it is, high keeps only its rough layout"
        )
        self.strength_value = QLabel()
        self.strength_slider.valueChanged.connect(lambda v: self.strength_value.setText(f"{v / 100:.2f}"))
        self.strength_value.setText(f"{DEFAULT_STRENGTH / 100:.2f}")
        self.strength_row = QWidget()
        strength = QHBoxLayout(self.strength_row)
        strength.setContentsMargins(0, 0, 0, 0)
        strength.addWidget(QLabel("Strength"))
        strength.addWidget(self.strength_slider, 1)
        strength.addWidget(self.strength_value)

        self.inpaint_check = QCheckBox("Paint the area to &repaint")
        self.inpaint_check.setAccessibleName("Paint a mask")
        self.inpaint_check.setToolTip("Brush over the parts to redraw; the rest of the picture is kept")
        self.inpaint_check.toggled.connect(self._on_inpaint)
        self.brush_slider = QSlider(Qt.Orientation.Horizontal)
        self.brush_slider.setRange(4, 96)
        self.brush_slider.setValue(self.painter.brush)
        self.brush_slider.setAccessibleName("Brush size")
        self.brush_slider.setToolTip("Brush size")
        self.brush_slider.valueChanged.connect(self._on_brush)
        self.erase_button = QToolButton()
        self.erase_button.setText("Erase")
        self.erase_button.setCheckable(True)
        self.erase_button.setAccessibleName("Erase the mask")
        self.erase_button.setToolTip("Brush strokes take the red away instead of adding it")
        self.erase_button.toggled.connect(self._on_erase)
        self.clear_mask_button = QToolButton()
        self.clear_mask_button.setText("Clear")
        self.clear_mask_button.setAccessibleName("Clear the mask")
        self.clear_mask_button.setToolTip("Take away all the red")
        self.clear_mask_button.clicked.connect(self.painter.clear_mask)
        self.invert_button = QToolButton()
        self.invert_button.setText("Invert")
        self.invert_button.setAccessibleName("Invert the mask")
        self.invert_button.setToolTip("Repaint everything except what is red now")
        self.invert_button.clicked.connect(self.painter.invert_mask)
        self.mask_file_button = QToolButton()
        self.mask_file_button.setText("Mask file…")
        self.mask_file_button.setAccessibleName("Load a mask file")
        self.mask_file_button.setToolTip("Use a black-and-white picture as the mask: white is repainted")
        self.mask_file_button.clicked.connect(self._choose_mask)
        self.mask_tools = QWidget()
        tools = QGridLayout(self.mask_tools)
        tools.setContentsMargins(0, 0, 0, 0)
        tools.addWidget(QLabel("Brush"), 0, 0)
        tools.addWidget(self.brush_slider, 0, 1, 1, 3)
        for column, button in enumerate(
            (self.erase_button, self.clear_mask_button, self.invert_button, self.mask_file_button)
        ):
            tools.addWidget(button, 1, column)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.painter)
        layout.addLayout(top)
        layout.addWidget(self.strength_row)
        layout.addWidget(self.inpaint_check)
        layout.addWidget(self.mask_tools)
        self.set_init_image(None)

    def set_init_image(self, init: InitImage | None) -> None:
        """Show ``init`` (None: no init image, the strength and mask controls hide)."""
        self.init = init
        image = QImage()
        if init is not None:  # decoded by the view-model off the loop; bytes only from elsewhere
            image = init.image if init.image is not None else QImage.fromData(init.data)
        self.painter.set_image(None if init is None else image)
        has = init is not None
        self.clear_button.setEnabled(has)
        self.strength_row.setVisible(has)
        self.inpaint_check.setVisible(has)
        if not has:
            self.inpaint_check.setChecked(False)
        self._on_inpaint(self.inpaint_check.isChecked())

    def _on_inpaint(self, on: bool) -> None:
        self.painter.painting = on
        self.painter.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        self.mask_tools.setVisible(on and self.init is not None)

    def _on_brush(self, size: int) -> None:
        self.painter.brush = size

    def _on_erase(self, on: bool) -> None:
        self.painter.erasing = on

    def _choose(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from an image", "", IMAGE_FILTER)
        if path:
            self.fileChosen.emit(path)

    def _choose_mask(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Mask: white is repainted", "", IMAGE_FILTER)
        if path:
            self.maskFileChosen.emit(path)

    def load_mask(self, data: bytes, path: str) -> bool:
        loaded = self.painter.load_mask(data, path)
        if loaded:
            self.inpaint_check.setChecked(True)
        return loaded

    # -- what the form reads ------------------------------------------------------------------
    def strength(self) -> float | None:
        return self.strength_slider.value() / 100 if self.init is not None else None

    def inpainting(self) -> bool:
        return self.init is not None and self.inpaint_check.isChecked()

    def mask_choice(self) -> tuple[bytes | None, str | None]:
        """(the mask PNG, the file it came from): (None, None) without inpainting."""
        if not self.inpainting():
            return None, None
        return self.painter.mask_png(), self.painter.from_file

    def mask_file(self) -> str | None:
        """The mask file in use, not painted over since (None: painted, or no inpainting)."""
        return self.painter.from_file if self.inpainting() else None

    def painted_mask(self) -> QImage | None:
        """The mask to encode off the loop (None without inpainting or paint)."""
        return self.painter.painted() if self.inpainting() else None


class LoraPanel(QWidget):
    """One row per LoRA: use it, its weight, and its trigger words into the prompt."""

    triggerWanted = Signal(str)  # words to put into the prompt

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loras: list[LoraChoice] = []
        self.checks: list[QCheckBox] = []
        self.weights: list[QDoubleSpinBox] = []
        self.trigger_buttons: list[QToolButton] = []
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self.empty_label = QLabel(
            "No LoRAs found. Put .safetensors LoRA files in the weights/lora folder, "
            "or add your A1111/ComfyUI folders under Settings."
        )
        self.empty_label.setWordWrap(True)
        self.set_loras([])

    def set_loras(self, loras: list[LoraChoice], checkpoint: CheckpointChoice | None = None) -> None:
        wanted = dict(self.chosen())
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None and widget is not self.empty_label:
                widget.deleteLater()
        self.loras, self.checks, self.weights, self.trigger_buttons = list(loras), [], [], []
        self._grid.addWidget(self.empty_label, 0, 0, 1, 3)
        self.empty_label.setVisible(not loras)
        for row, lora in enumerate(loras, start=1):
            check = QCheckBox(lora.name.replace("&", "&&"))  # a name is not a mnemonic
            check.setAccessibleName(f"Use LoRA {lora.name}")
            weight = QDoubleSpinBox()
            weight.setRange(-2.0, 3.0)
            weight.setSingleStep(0.05)
            weight.setValue(wanted.get(lora.name, 1.0))
            weight.setAccessibleName(f"Weight of {lora.name}")
            weight.setToolTip("How strongly the LoRA pulls: 1 as trained, lower for a lighter touch")
            check.setChecked(lora.name in wanted)
            trigger = QToolButton()
            trigger.setText("+ words")
            trigger.setAccessibleName(f"Insert the trigger words of {lora.name}")
            trigger.setEnabled(bool(lora.triggers))
            trigger.setToolTip(
                f"Put its trigger words into the prompt: {', '.join(lora.triggers)}"
                if lora.triggers
                else "This LoRA names no trigger words"
            )
            trigger.clicked.connect(lambda _=False, words=lora.triggers: self.triggerWanted.emit(", ".join(words)))
            self._grid.addWidget(check, row, 0)
            self._grid.addWidget(weight, row, 1)
            self._grid.addWidget(trigger, row, 2)
            self.checks.append(check)
            self.weights.append(weight)
            self.trigger_buttons.append(trigger)
        self._grid.setColumnStretch(0, 1)
        self.fit(checkpoint)

    def fit(self, checkpoint: CheckpointChoice | None) -> None:
        """Grey the LoRAs that do not go with ``checkpoint``, the reason as their tooltip."""
        for lora, check, weight, trigger in zip(
            self.loras, self.checks, self.weights, self.trigger_buttons, strict=True
        ):
            problem = lora_problem(lora, checkpoint)
            for widget in (check, weight):
                widget.setEnabled(not problem)
            trigger.setEnabled(not problem and bool(lora.triggers))
            check.setToolTip(problem or f"{lora.base_label} LoRA: tick to use it")
            if problem:
                check.setChecked(False)

    def chosen(self) -> tuple[tuple[str, float], ...]:
        return tuple(
            (lora.name, weight.value())
            for lora, check, weight in zip(self.loras, self.checks, self.weights, strict=True)
            if check.isChecked() and check.isEnabled()
        )

    def choose(self, loras: tuple[tuple[str, float], ...]) -> None:
        """Tick the LoRAs named (a PNG's or a gallery row's) that are installed and fit."""
        wanted = dict(loras)
        for lora, check, weight in zip(self.loras, self.checks, self.weights, strict=True):
            if check.isEnabled():
                check.setChecked(lora.name in wanted)
                if lora.name in wanted:
                    weight.setValue(wanted[lora.name])
