"""The Gallery tab of the Images page: every generated image as a grid of thumbnails,
searched by prompt and filtered by checkpoint and date, with the chosen image large beside
its parameters and "Use these settings", "Use as init image", "Open file location", Delete.

Everything shown comes from :class:`GalleryViewModel` (views never read the core). The
grid is a ``QListView`` over the view-model's lazily paged model; typing in the search
box waits 200 ms of quiet before asking again, so a word typed is one read, not five.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QImage, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels._base import SerialExecutor
from sparklio_desktop.ui.viewmodels.gallery import DATE_RANGES, THUMB, GalleryItem, GalleryViewModel
from sparklio_desktop.ui.widgets.image_viewer import ImageViewer

SEARCH_DEBOUNCE_MS = 200
LARGE = 384


class GalleryGrid(QListView):
    """Thumbnails in a wrapping grid; Enter opens the large view, Delete asks to delete."""

    def __init__(self, view: GalleryView) -> None:
        super().__init__(view)
        self._view = view
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setGridSize(QSize(THUMB + 12, THUMB + 12))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(400)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt override
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._view.open_large()
        elif event.key() == Qt.Key.Key_Delete:
            self._view.ask_delete()
        else:
            super().keyPressEvent(event)


class GalleryView(QWidget):
    """Filters above the grid, the chosen image and its parameters on the right."""

    def __init__(self, vm: GalleryViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.delete_box: QMessageBox | None = None
        self.delete_check: QCheckBox | None = None
        self._viewers: list[ImageViewer] = []
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(lambda: vm.set_filters(query=self.search_edit.text()))
        self._saved_scroll: int | None = None
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self._build_grid())
        split.addWidget(self._build_details())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        vm.checkpointsReady.connect(self._on_checkpoints)
        vm.countChanged.connect(self._on_count)
        vm.chosen.connect(self._on_chosen)
        vm.largeReady.connect(self._on_large)
        vm.notice.connect(self.notice_label.setText)
        vm.errorRaised.connect(self.notice_label.setText)
        vm.model.modelAboutToBeReset.connect(self._keep_scroll)
        vm.model.modelReset.connect(self._restore_scroll)
        self._on_chosen(None)
        vm.reload()

    # -- building ----------------------------------------------------------------------------
    def _build_grid(self) -> QWidget:
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search the prompts")
        self.search_edit.setAccessibleName("Search the gallery")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(lambda _text: self._search_timer.start())
        self.checkpoint_combo = QComboBox()
        self.checkpoint_combo.setAccessibleName("Checkpoint filter")
        self.checkpoint_combo.addItem("All checkpoints", "")
        self.checkpoint_combo.currentIndexChanged.connect(self._on_checkpoint_choice)
        self.date_combo = QComboBox()
        self.date_combo.setAccessibleName("Date filter")
        self.date_combo.addItems(DATE_RANGES)
        self.date_combo.currentTextChanged.connect(lambda text: self.vm.set_filters(date_range=text))
        search_label = QLabel("Sea&rch")
        search_label.setBuddy(self.search_edit)
        checkpoint_label = QLabel("Chec&kpoint")
        checkpoint_label.setBuddy(self.checkpoint_combo)
        date_label = QLabel("&When")
        date_label.setBuddy(self.date_combo)
        filters = QHBoxLayout()
        for widget in (search_label, self.search_edit, checkpoint_label, self.checkpoint_combo):
            filters.addWidget(widget)
        filters.addWidget(date_label)
        filters.addWidget(self.date_combo)
        self.grid = GalleryGrid(self)
        self.grid.setAccessibleName("Gallery images")
        self.grid.setModel(self.vm.model)
        self.grid.selectionModel().currentChanged.connect(lambda current, _prev: self.vm.choose(current.row()))
        self.grid.doubleClicked.connect(lambda _index: self.open_large())
        self.count_label = QLabel()
        self.count_label.setAccessibleName("Images shown")
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(filters)
        column.addWidget(self.grid, 1)
        column.addWidget(self.count_label)
        holder = QWidget()
        holder.setLayout(column)
        return holder

    def _button(self, text: str, name: str, slot: object) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.clicked.connect(slot)
        return button

    def _build_details(self) -> QWidget:
        self.large_label = QLabel()
        self.large_label.setAccessibleName("Chosen image")
        self.large_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.large_label.setMinimumSize(LARGE // 2, LARGE // 2)
        self.params_form = QFormLayout()
        self.params_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        params = QWidget()
        params.setLayout(self.params_form)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(params)
        scroll.setAccessibleName("Image parameters")
        self.use_button = self._button(
            "&Use these settings", "Use these settings in the Images form", self.vm.use_settings
        )
        self.init_button = self._button("Use as i&nit image", "Use as the init image", self.vm.use_as_init)
        self.folder_button = self._button("Open file loca&tion", "Open the image's folder", self.open_folder)
        self.delete_button = self._button("D&elete…", "Delete the image", self.ask_delete)
        buttons = QHBoxLayout()
        for button in (self.use_button, self.init_button, self.folder_button, self.delete_button):
            buttons.addWidget(button)
        self.notice_label = QLabel()
        self.notice_label.setAccessibleName("Gallery notice")
        self.notice_label.setWordWrap(True)
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.large_label, 2)
        column.addWidget(scroll, 2)
        column.addLayout(buttons)
        column.addWidget(self.notice_label)
        holder = QWidget()
        holder.setLayout(column)
        return holder

    # -- showing the view-model ---------------------------------------------------------------
    def _on_checkpoints(self, checkpoints: list[tuple[str, int]]) -> None:
        chosen = self.checkpoint_combo.currentData()
        self.checkpoint_combo.blockSignals(True)
        self.checkpoint_combo.clear()
        self.checkpoint_combo.addItem("All checkpoints", "")
        for name, count in checkpoints:
            self.checkpoint_combo.addItem(f"{name} ({count})", name)
        found = self.checkpoint_combo.findData(chosen)
        self.checkpoint_combo.setCurrentIndex(max(0, found))
        self.checkpoint_combo.blockSignals(False)

    def _on_checkpoint_choice(self, _index: int) -> None:
        self.vm.set_filters(checkpoint=self.checkpoint_combo.currentData() or "")

    def _on_count(self, count: int) -> None:
        self.count_label.setText(f"{count:,} image{'s' if count != 1 else ''}")

    def _keep_scroll(self) -> None:
        self._saved_scroll = self.grid.verticalScrollBar().value()

    def _restore_scroll(self) -> None:
        if self._saved_scroll is not None:
            value = self._saved_scroll
            QTimer.singleShot(0, lambda: self.grid.verticalScrollBar().setValue(value))

    def _on_chosen(self, item: GalleryItem | None) -> None:
        while self.params_form.rowCount():
            self.params_form.removeRow(0)
        for button in (self.use_button, self.init_button, self.folder_button, self.delete_button):
            button.setEnabled(item is not None)
        if item is None:
            self.large_label.setPixmap(QPixmap())
            self.large_label.setText("Choose an image to see it large with its settings.")
            return
        self.large_label.setText("loading…")
        for label, value in item.parameters:
            field = QLabel(value)
            field.setWordWrap(True)
            field.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            field.setAccessibleName(label)
            self.params_form.addRow(f"{label}:", field)

    def _on_large(self, _image_id: str, image: QImage) -> None:
        if image.isNull():
            self.large_label.setText("The image file cannot be read (moved or deleted?).")
            return
        side = max(LARGE // 2, min(self.large_label.width(), self.large_label.height()))
        pixmap = QPixmap.fromImage(image).scaled(
            side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.large_label.setPixmap(pixmap)

    # -- actions -----------------------------------------------------------------------------
    def parameter(self, label: str) -> str | None:
        """The shown value of a parameter row (tests, screenshots)."""
        for row in range(self.params_form.rowCount()):
            field = self.params_form.itemAt(row, QFormLayout.ItemRole.FieldRole)
            widget = field.widget() if field is not None else None
            if isinstance(widget, QLabel) and widget.accessibleName() == label:
                return widget.text()
        return None

    def select_row(self, row: int) -> None:
        self.grid.setCurrentIndex(self.vm.model.index(row))

    def open_large(self) -> ImageViewer | None:
        item = self.vm.current
        if item is None:
            return None
        viewer = ImageViewer(QImage(item.path), item.prompt[:60] or item.id, self)  # one image, the user asked
        self._viewers.append(viewer)
        viewer.finished.connect(lambda _result: self._viewers.remove(viewer) if viewer in self._viewers else None)
        viewer.show()
        return viewer

    def open_folder(self) -> None:
        folder = self.vm.folder_of_current()
        if folder:
            QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def ask_delete(self) -> QMessageBox | None:
        """Asks (window-modal, not blocking the loop); Yes deletes, with the file when ticked."""
        item = self.vm.current
        if item is None:
            return None
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Delete image")
        box.setText(f"Delete this image from the gallery?\n{item.prompt[:120]}")
        box.setInformativeText("This cannot be undone.")
        self.delete_check = QCheckBox("Also delete the &file")
        box.setCheckBox(self.delete_check)
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        image_id = item.id

        check = self.delete_check

        def answered(_result: int) -> None:
            if box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes:
                self.vm.delete(image_id, check.isChecked())
            self.delete_box = None

        box.finished.connect(answered)
        self.delete_box = box
        box.open()
        return box


def create(
    services: object = None, parent: QWidget | None = None, executor: SerialExecutor | None = None, **_: object
) -> GalleryView:
    """The Gallery tab over ``<data>/gallery.sqlite`` (opened off the loop on first read)."""
    vm = GalleryViewModel(executor or SerialExecutor("sparklio-gallery"))
    view = GalleryView(vm, parent)
    vm.setParent(view)
    return view
