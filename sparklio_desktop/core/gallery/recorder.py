"""Every image the dispatcher answers with, written under ``<data>/images`` and recorded.

The dispatcher (core/dispatch/runner.py) hands the images of every successful image
request to :meth:`GalleryRecorder.record`, whatever front end sent it (``sparklio run``,
the Images view, a recipe's image step, a batch), so none can forget to. Each image is
written to ``<data>/images/YYYY-MM/<request id>-<n>.png`` (never over an existing file)
and a gallery row is added with the request's settings, the model and the image's share
of the attempt's cost.

Local images already carry their settings (core/local/png_meta.py: A1111's
``parameters`` with ``Model hash``); they are read back from the PNG, so the row says
exactly what the file says. A cloud image gets Sparklio's own chunks (prompt, size, model)
before it is written, by hand (core/gallery/png_chunks.py), so Pillow is not needed.

The images are paid for: a failure here (a full disk, a damaged gallery file) never
loses them or the answer. :class:`RecordedImages` says what was kept and, on a failure,
a one-line ``warning`` the front end shows; the dispatcher never raises from here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.gallery.parameters import read_png_parameters
from sparklio_desktop.core.gallery.png_chunks import is_png, png_size, with_text_chunks
from sparklio_desktop.core.gallery.records import GalleryImage, ImageSource, LoraUse
from sparklio_desktop.core.gallery.store import GalleryStore
from sparklio_desktop.core.local.png_meta import SOFTWARE
from sparklio_desktop.core.money import from_picodollars
from sparklio_desktop.core.settings import paths

__all__ = ["IMAGES_FOLDER", "GalleryRecorder", "ImagesMade", "RecordedImages", "image_row", "split_cost"]

log = logging.getLogger(__name__)

IMAGES_FOLDER = "images"


@dataclass(frozen=True)
class ImagesMade:
    """What one answered image request made, as the dispatcher knows it."""

    request_id: str
    prompt: str
    images: tuple[bytes, ...] = field(repr=False)
    model_id: str
    model_name: str
    provider: str
    local: bool
    size: str | None = None
    cost_usd: Decimal = Decimal(0)  # the answering attempt's cost, for all the images
    negative_prompt: str = ""
    seed: int | None = None  # image i of a batch used seed + i
    steps: int | None = None
    guidance: float | None = None
    init_image: Path | None = None  # image-to-image and inpainting, when the request had them
    strength: float | None = None
    mask: Path | None = None
    loras: tuple[LoraUse, ...] = ()  # what the request asked for: their weights (the PNG has the hashes)


@dataclass(frozen=True)
class RecordedImages:
    """Where the images were written and their gallery ids (in order); ``warning`` says
    what could not be done (the images written are kept either way)."""

    paths: tuple[Path, ...] = ()
    ids: tuple[str, ...] = ()
    warning: str | None = None


def split_cost(total: Decimal, count: int) -> list[Decimal]:
    """``total`` shared exactly between ``count`` images (whole picodollars; the first
    takes the remainder), so the rows add up to what the ledger billed."""
    if count <= 0:
        return []
    picos = int((total * 10**12).to_integral_value(ROUND_HALF_EVEN))
    share, remainder = divmod(picos, count)
    return [from_picodollars(share + (remainder if i == 0 else 0)) for i in range(count)]


def _cloud_chunks(made: ImagesMade, size: tuple[int, int] | None) -> dict[str, str]:
    chunks = {"prompt": made.prompt, "model": made.model_name}
    if size is not None:
        chunks["size"] = f"{size[0]}x{size[1]}"
    elif made.size:
        chunks["size"] = made.size
    chunks["model_id"] = made.model_id
    chunks["Software"] = SOFTWARE
    return chunks


def image_row(
    path: Path, data: bytes, source: ImageSource, *, fallback: dict[str, Any] | None = None, **known: Any
) -> GalleryImage:
    """A gallery row for the PNG ``data`` stored at ``path``: the settings it carries,
    then what the caller ``known`` (request id, model, cost; these win); ``fallback``
    fills what neither gives."""
    found = read_png_parameters(data)
    asked = {lora.name: lora for lora in (fallback or {}).get("loras", ())}
    loras = tuple(
        LoraUse(
            str(item["name"]),
            asked[item["name"]].weight if item["name"] in asked else float(item.get("weight", 1.0)),
            item.get("hash"),
        )
        for item in found.get("loras", ())
    ) or tuple(asked.values())
    fields: dict[str, Any] = {
        key: found[key]
        for key in ("prompt", "negative_prompt", "width", "height", "seed", "steps", "guidance", "scheduler",
                    "checkpoint", "checkpoint_hash", "strength", "extra")
        if key in found
    }  # fmt: skip
    fields.update({key: value for key, value in known.items() if value is not None})
    for key, value in (fallback or {}).items():
        if key != "loras" and value is not None and fields.get(key) is None:
            fields[key] = value
    return GalleryImage(path=path, source=source, loras=loras, **fields)


class GalleryRecorder:
    """Writes answered images into the data folder and records them in the gallery.

    The store is opened on the first image (a text-only session never creates the file)
    and kept; :meth:`close` closes it. Safe to call from a worker thread.
    """

    def __init__(
        self,
        open_store: Callable[[], GalleryStore] = GalleryStore.open_default,
        images_dir: Callable[[], Path] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._open_store = open_store
        self._images_dir = images_dir or (lambda: paths.data_dir() / IMAGES_FOLDER)
        self._now = now
        self._store: GalleryStore | None = None
        self._lock = threading.Lock()

    def store(self) -> GalleryStore:
        with self._lock:
            if self._store is None:
                self._store = self._open_store()
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _write(self, folder: Path, request_id: str, index: int, data: bytes) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{request_id}-{index}"
        for attempt in range(100):
            path = folder / (f"{stem}.png" if attempt == 0 else f"{stem}-{attempt}.png")
            try:
                with open(path, "xb") as handle:  # never over a file that is already there
                    handle.write(data)
                return path
            except FileExistsError:
                continue
        raise OSError(f"no free name for {stem}.png in {folder}")

    def record(self, made: ImagesMade) -> RecordedImages:
        """Write and record ``made``'s images; never raises (see :class:`RecordedImages`)."""
        when = self._now()
        costs = split_cost(made.cost_usd, len(made.images))
        written: list[Path] = []
        ids: list[str] = []
        try:
            folder = self._images_dir() / f"{when:%Y-%m}"
            for index, data in enumerate(made.images, start=1):
                if not made.local and is_png(data):
                    data = with_text_chunks(data, _cloud_chunks(made, png_size(data)))
                written.append(self._write(folder, made.request_id, index, data))
        except OSError as exc:
            why = f"the images could not be saved in the gallery folder: {exc.strerror or exc}"
            log.warning("%s", why)
            return RecordedImages(tuple(written), (), why)
        try:
            store = self.store()
            for index, (path, cost) in enumerate(zip(written, costs, strict=True)):
                data = made.images[index]
                known: dict[str, Any] = {
                    "request_id": made.request_id,
                    "model_id": made.model_id,
                    "provider": made.provider,
                    "cost_usd": cost,
                }
                if not made.local:
                    known["prompt"] = made.prompt
                    known["negative_prompt"] = made.negative_prompt
                fallback = {
                    "prompt": made.prompt,
                    "negative_prompt": made.negative_prompt,
                    "seed": made.seed + index if made.seed is not None else None,
                    "steps": made.steps,
                    "guidance": made.guidance,
                    "init_image": made.init_image,
                    "strength": made.strength,
                    "mask": made.mask,
                    "loras": made.loras,
                }
                source: ImageSource = "local" if made.local else "cloud"
                row = image_row(path, data, source, fallback=fallback, **known)
                ids.append(store.add(row, created_at=when))
        except (SparklioError, OSError, ValueError) as exc:
            why = f"the images were saved in {written[0].parent} but not recorded in the gallery: {exc}"
            log.warning("%s", why)
            return RecordedImages(tuple(written), tuple(ids), why)
        return RecordedImages(tuple(written), tuple(ids))
