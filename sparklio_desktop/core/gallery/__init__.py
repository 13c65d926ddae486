"""The gallery: every generated image recorded, searchable, with its settings.

``store.py`` keeps one row per image in ``gallery.sqlite`` (prompt, negative prompt,
seed, steps, guidance, size, scheduler, checkpoint and its AutoV2 hash, LoRAs, init image
and mask, request id, model, cost) with FTS5 over the prompts. docs/gallery.md is the spec.
"""

from __future__ import annotations

from sparklio_desktop.core.gallery.records import (
    SOURCES,
    GalleryFileError,
    GalleryImage,
    GalleryImageNotFound,
    ImageSource,
    LoraUse,
)
from sparklio_desktop.core.gallery.store import FILENAME, THUMBS_FOLDER, GalleryStore

__all__ = [
    "FILENAME", "SOURCES", "THUMBS_FOLDER", "GalleryFileError", "GalleryImage", "GalleryImageNotFound",
    "GalleryStore", "ImageSource", "LoraUse",
]  # fmt: skip
