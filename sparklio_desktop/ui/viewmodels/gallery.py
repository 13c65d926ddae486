"""The Gallery tab's view-model: pages of the gallery store, filters, the chosen image's
parameters, delete, and "use these settings" handed to the Images form.

Why pages of 200 read through the serial executor: a gallery of 10,000 rows read at once
costs a loop stall the creator feels (the issue's 50 ms budget); the list model asks for
the page a scrolled-to row is in, and the rows arrive as an awaited value.
Why thumbnails decode in a thread pool with ``QImageReader.setScaledSize``: a full 1024 px
PNG decoded on the loop takes tens of milliseconds; the reader decodes straight to 160 px
off the loop, the model shows a placeholder until then and keeps an LRU of the results.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QImage, QImageReader, QPixmap
from qasync import asyncSlot

from sparklio_desktop.core.gallery import GalleryImage, GalleryStore
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.images import ImageSettings

__all__ = ["DATE_RANGES", "PAGE", "THUMB", "GalleryItem", "GalleryListModel", "GalleryTile", "GalleryViewModel"]

PAGE = 200  # rows read at a time
THUMB = 160  # thumbnail side in px
FRAME_MS = 16  # decoded thumbnails are shown together at most this often
CACHE = 600  # scaled thumbnails kept (about 60 MB at most)
DATE_RANGES = ("All", "Today", "Last 7 days", "Last 30 days")
ALL_CHECKPOINTS = ""
_ROLES = (
    Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.AccessibleTextRole,
    Qt.ItemDataRole.UserRole,
)


@dataclass(frozen=True)
class GalleryItem:
    """One image as the view shows it: the file and its parameters in words."""

    id: str
    path: str
    prompt: str
    created: str  # local time, "2026-12-02 19:44"
    parameters: tuple[tuple[str, str], ...]  # (label, value) in display order
    settings: ImageSettings  # for "Use these settings"
    init_image: str | None


@dataclass(frozen=True, slots=True)
class GalleryTile:
    """One grid cell: as little as the grid needs (10,000 of them stay in memory, and each
    object more is one more for the garbage collector to walk: a gen-2 pass over full
    :class:`GalleryItem` rows took 70 ms, a loop stall)."""

    id: str
    path: str
    prompt: str


def _text(value: object) -> str:
    return "—" if value is None or value == "" else str(value)


def item_of(image: GalleryImage) -> GalleryItem:
    """The display payload of a store row (the view never sees the core's types)."""
    size = f"{image.width}×{image.height}" if image.width and image.height else None
    loras = ", ".join(f"{lora.name}:{lora.weight:g}" for lora in image.loras) or None
    checkpoint = image.checkpoint
    if checkpoint and image.checkpoint_hash:
        checkpoint = f"{checkpoint} [{image.checkpoint_hash}]"
    init = None
    if image.init_image is not None:
        init = (
            f"{image.init_image} (strength {image.strength:g})" if image.strength is not None else str(image.init_image)
        )
    created = image.created_at.astimezone().strftime("%Y-%m-%d %H:%M") if image.created_at else ""
    rows = (
        ("Prompt", image.prompt),
        ("Negative", image.negative_prompt),
        ("Seed", image.seed),
        ("Steps", image.steps),
        ("Guidance", f"{image.guidance:g}" if image.guidance is not None else None),
        ("Size", size),
        ("Scheduler", image.scheduler),
        ("Checkpoint", checkpoint),
        ("LoRAs", loras),
        ("Init image", init),
        ("Mask", image.mask),
        ("Model", image.model_id),
        ("Cost", format_usd(image.cost_usd) if image.cost_usd is not None else None),
        ("Request", image.request_id),
        ("Created", created),
        ("File", image.path),
    )
    settings = ImageSettings(
        prompt=image.prompt,
        negative_prompt=image.negative_prompt,
        steps=image.steps or 25,
        guidance=image.guidance if image.guidance is not None else 7.0,
        width=image.width or 512,
        height=image.height or 512,
        seed=image.seed,
        checkpoint=image.checkpoint or None,  # a name: the Images form matches it to an installed file
        scheduler=image.scheduler or None,
        loras=tuple((lora.name, lora.weight) for lora in image.loras),
    )
    return GalleryItem(
        id=image.id,
        path=str(image.path),
        prompt=image.prompt,
        created=created,
        parameters=tuple((label, _text(value)) for label, value in rows),
        settings=settings,
        init_image=str(image.path),
    )


def since_for(choice: str, now: datetime | None = None) -> datetime | None:
    """The start of a date filter: local midnight for Today, N days back otherwise."""
    local = (now or datetime.now(UTC)).astimezone()
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    days = {"Today": 0, "Last 7 days": 6, "Last 30 days": 29}.get(choice)
    return None if days is None else midnight - timedelta(days=days)


# -- thumbnails ---------------------------------------------------------------------------------
class _Decoded(QObject):
    """Carries a decoded image from a pool thread back to the loop (a queued signal)."""

    done = Signal(str, int, QImage)  # key, generation, image (null when unreadable)


class _Decode(QRunnable):
    def __init__(self, key: str, path: str, size: int, generation: int, out: _Decoded) -> None:
        super().__init__()
        self._key, self._path, self._size, self._generation, self._out = key, path, size, generation, out

    def run(self) -> None:
        reader = QImageReader(self._path)
        reader.setAutoTransform(True)
        original = reader.size()
        if original.isValid() and (original.width() > self._size or original.height() > self._size):
            reader.setScaledSize(original.scaled(self._size, self._size, Qt.AspectRatioMode.KeepAspectRatio))
        self._out.done.emit(self._key, self._generation, reader.read())


def decode_async(pool: QThreadPool, key: str, path: str, size: int, generation: int, out: _Decoded) -> None:
    pool.start(_Decode(key, path, size, generation, out))


class GalleryListModel(QAbstractListModel):
    """The grid's rows: ``total`` rows, read a page at a time as they are looked at."""

    pageWanted = Signal(int)  # offset of a page not read yet

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.total = 0
        self.generation = 0
        self._pages: dict[int, list[GalleryTile]] = {}
        self._rows: dict[str, int] = {}  # image id -> row, over the pages read
        self._asked: set[int] = set()
        self._changed: set[int] = set()  # rows whose thumbnail arrived, told the grid at most once a frame
        self._tell = QTimer(self)
        self._tell.setSingleShot(True)
        self._tell.setInterval(FRAME_MS)
        self._tell.timeout.connect(self._tell_changed)
        self._thumbs: OrderedDict[str, QPixmap] = OrderedDict()
        self._decoding: set[str] = set()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._decoded = _Decoded(self)
        self._decoded.done.connect(self._on_decoded)
        placeholder = QPixmap(THUMB, THUMB)
        placeholder.fill(QColor("#d4d4d8"))
        self.placeholder = placeholder

    def reset(self, total: int, first: list[GalleryTile]) -> None:
        """New filter results (or a refresh): ``first`` is the page at offset 0."""
        self.beginResetModel()
        self.generation += 1
        self.total = total
        self._pages = {0: first} if first else {}
        self._rows = {item.id: i for i, item in enumerate(first)}
        self._asked = {0}
        self._changed.clear()
        self.endResetModel()

    def add_page(self, generation: int, offset: int, items: list[GalleryTile]) -> None:
        if generation != self.generation:
            return  # read for filters since changed
        self._pages[offset] = items
        self._rows.update((item.id, offset + i) for i, item in enumerate(items))
        if items:
            last = min(self.total, offset + len(items)) - 1
            self.dataChanged.emit(self.index(offset), self.index(last))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex | None = None) -> int:  # noqa: N802 - Qt
        return 0 if parent is not None and parent.isValid() else self.total

    def item(self, row: int) -> GalleryTile | None:
        offset = row - row % PAGE
        page = self._pages.get(offset)
        if page is None:
            if offset not in self._asked:
                self._asked.add(offset)
                self.pageWanted.emit(offset)
            return None
        return page[row - offset] if row - offset < len(page) else None

    def row_of(self, image_id: str) -> int | None:
        return self._rows.get(image_id)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or role not in _ROLES:
            return None  # the roles the grid does not show never read a page
        item = self.item(index.row())
        if role == Qt.ItemDataRole.DecorationRole:
            if item is None:
                return self.placeholder
            return self.thumbnail(item)
        if role in (Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.AccessibleTextRole):
            return item.prompt if item is not None else "loading…"
        if role == Qt.ItemDataRole.UserRole:
            return item
        return None

    def thumbnail(self, item: GalleryTile) -> QPixmap:
        found = self._thumbs.get(item.id)
        if found is not None:
            self._thumbs.move_to_end(item.id)
            return found
        if item.id not in self._decoding:
            self._decoding.add(item.id)
            decode_async(self._pool, item.id, item.path, THUMB, self.generation, self._decoded)
        return self.placeholder

    def _on_decoded(self, key: str, _generation: int, image: QImage) -> None:
        self._decoding.discard(key)
        pixmap = QPixmap.fromImage(image) if not image.isNull() else self.placeholder
        self._thumbs[key] = pixmap
        while len(self._thumbs) > CACHE:
            self._thumbs.popitem(last=False)
        row = self.row_of(key)
        if row is not None:
            self._changed.add(row)
            if not self._tell.isActive():
                self._tell.start()

    def _tell_changed(self) -> None:
        """One ``dataChanged`` over the rows decoded this frame (one per image cost the loop
        a repaint each: 0.5 ms apiece while scrolling 10,000)."""
        if self._changed:
            first, last = min(self._changed), max(self._changed)
            self._changed.clear()
            if last < self.total:
                self.dataChanged.emit(self.index(first), self.index(last), [Qt.ItemDataRole.DecorationRole])

    def cached(self, image_id: str) -> bool:
        return image_id in self._thumbs

    def wait_decoded(self, msecs: int = 5000) -> bool:
        """Tests and benchmarks: wait for the pool (then let the loop deliver the signals)."""
        return self._pool.waitForDone(msecs)

    def size_hint(self) -> QSize:
        return QSize(THUMB, THUMB)


# -- the view-model -----------------------------------------------------------------------------
class GalleryViewModel(ViewModel):
    """Reads the gallery store through the serial executor; the view shows what this emits."""

    checkpointsReady = Signal(list)  # [(name, count)]
    countChanged = Signal(int)  # images matching the filters
    chosen = Signal(object)  # GalleryItem, or None when nothing is selected
    largeReady = Signal(str, QImage)  # image id, the chosen image scaled for the large view
    removed = Signal(str)  # image id
    settingsChosen = Signal(object)  # ImageSettings for the Images form
    initImageChosen = Signal(str)  # a file for the Images form's init image (see images.py)
    notice = Signal(str)

    def __init__(self, executor: SerialExecutor, store: GalleryStore | None = None, parent: QObject | None = None):
        """``store``: the gallery file; None opens ``<data>/gallery.sqlite`` on first use (off the loop)."""
        super().__init__(executor, parent)
        self._store = store
        self.model = GalleryListModel(self)
        self.model.pageWanted.connect(self.fetch)
        self.query = ""
        self.checkpoint = ALL_CHECKPOINTS
        self.date_range = DATE_RANGES[0]
        self._current: GalleryItem | None = None
        self._chosen_id: str | None = None
        self._large = _Decoded(self)
        self._large.done.connect(self._on_large)

    def _open(self) -> GalleryStore:
        if self._store is None:
            self._store = GalleryStore.open_default()
        return self._store

    def _filters(self) -> dict[str, Any]:
        return {"query": self.query or None, "checkpoint": self.checkpoint or None, "since": since_for(self.date_range)}

    def _read(self, offset: int, filters: dict[str, Any]) -> list[GalleryTile]:
        return [GalleryTile(i.id, str(i.path), i.prompt) for i in self._open().page(offset, PAGE, **filters)]

    def _first(self, filters: dict[str, Any]) -> tuple[int, list[GalleryTile], list[tuple[str, int]]]:
        store = self._open()
        return store.count(**filters), self._read(0, filters), store.checkpoints()

    # -- reading ------------------------------------------------------------------------------
    def set_filters(self, query: str | None = None, checkpoint: str | None = None, date_range: str | None = None):
        if query is not None:
            self.query = query
        if checkpoint is not None:
            self.checkpoint = checkpoint
        if date_range is not None:
            self.date_range = date_range
        self.reload()

    @asyncSlot()
    async def reload(self) -> None:
        """Read the count and the first page for the filters (also a refresh: a new image)."""
        self._track()
        filters = self._filters()
        total, first, checkpoints = await self._executor.call(self._first, filters)
        if filters != self._filters():
            return  # the filters changed while reading: the newer reload shows
        self.model.reset(total, first)
        self.countChanged.emit(total)
        self.checkpointsReady.emit(checkpoints)

    @asyncSlot(int)
    async def fetch(self, offset: int) -> None:
        self._track()
        generation = self.model.generation
        items = await self._executor.call(self._read, offset, self._filters())
        self.model.add_page(generation, offset, items)

    def ledger_changed(self, _change: object = None) -> None:
        """The app's ledger hub: a run finished, maybe with new images."""
        self.reload()

    # -- the chosen image ---------------------------------------------------------------------
    @asyncSlot(int)
    async def choose(self, row: int) -> None:
        """The grid's current row: its full parameters are read (off the loop), then shown."""
        self._track()
        tile = self.model.item(row) if 0 <= row < self.model.total else None
        self._chosen_id = tile.id if tile is not None else None
        item = None
        if tile is not None:
            item = item_of(await self._executor.call(self._open().get, tile.id))
            if self._chosen_id != tile.id:
                return  # another image was chosen meanwhile
        self._current = item
        self.chosen.emit(item)
        if item is not None:
            decode_async(self.model._pool, item.id, item.path, 768, 0, self._large)

    def _on_large(self, key: str, _generation: int, image: QImage) -> None:
        if self._current is not None and self._current.id == key:
            self.largeReady.emit(key, image)

    @property
    def current(self) -> GalleryItem | None:
        return self._current

    def use_settings(self) -> None:
        if self._current is not None:
            self.settingsChosen.emit(self._current.settings)

    def use_as_init(self) -> None:
        if self._current is not None:
            self.initImageChosen.emit(self._current.path)

    def folder_of_current(self) -> str | None:
        return str(Path(self._current.path).parent) if self._current is not None else None

    @asyncSlot(str, bool)
    async def delete(self, image_id: str, delete_file: bool) -> None:
        self._track()
        image = await self._executor.call(self._open().remove, image_id, delete_file)
        if self._current is not None and self._current.id == image_id:
            self._current = None
            self.chosen.emit(None)
        self.notice.emit(
            f"Deleted the image{' and its file' if delete_file else ' from the gallery'}: {image.path.name}"
        )
        self.removed.emit(image_id)
        await self.reload()
