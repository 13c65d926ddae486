"""The values the gallery store hands out, and its errors.

:class:`GalleryImage` is frozen so the Gallery view-model can pass it across threads and
compare it; the store builds it from rows and never hands out a row. Money is a Decimal
here and INTEGER picodollars in the file, as in the ledger.

    SparklioError
    ├── GalleryImageNotFound    an id (or id prefix) that names no image
    └── DatabaseFileError       (core.ledger.sqlite_file) the file cannot be used
        └── GalleryFileError        ... said for the gallery file
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError, FileProblem

__all__ = ["SOURCES", "GalleryFileError", "GalleryImage", "GalleryImageNotFound", "ImageSource", "LoraUse"]

ImageSource = Literal["local", "cloud", "imported"]
SOURCES: tuple[ImageSource, ...] = ("local", "cloud", "imported")


@dataclass(frozen=True)
class LoraUse:
    """One LoRA applied to an image: its name, weight and AutoV2 hash (when known)."""

    name: str
    weight: float = 1.0
    hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "hash": self.hash}


@dataclass(frozen=True)
class GalleryImage:
    """One generated (or imported) image and the settings that made it.

    ``id`` and ``created_at`` are given by the store on :meth:`GalleryStore.add`; build a
    new one with the defaults. ``path`` is where the image file is (it may have been moved
    or deleted since: the row stays until ``remove``).
    """

    path: Path
    prompt: str = ""
    negative_prompt: str = ""
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    scheduler: str | None = None
    checkpoint: str | None = None  # the checkpoint's name (file stem), local or as another tool wrote it
    checkpoint_hash: str | None = None  # AutoV2: the first 10 hex digits of the file's SHA-256
    loras: tuple[LoraUse, ...] = ()
    init_image: Path | None = None
    strength: float | None = None
    mask: Path | None = None
    request_id: str | None = None
    model_id: str | None = None  # the catalog model that answered (cloud or local)
    provider: str | None = None
    cost_usd: Decimal | None = None  # what this image cost; None when unknown (imported)
    source: ImageSource = "local"
    id: str = ""
    created_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # other fields read from the PNG

    def parameters(self) -> dict[str, Any]:
        """The settings as plain JSON values (money as exact text), for ``--json`` and the view."""
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": self.width,
            "height": self.height,
            "seed": self.seed,
            "steps": self.steps,
            "guidance": self.guidance,
            "scheduler": self.scheduler,
            "checkpoint": self.checkpoint,
            "checkpoint_hash": self.checkpoint_hash,
            "loras": [lora.to_dict() for lora in self.loras],
            "init_image": str(self.init_image) if self.init_image is not None else None,
            "strength": self.strength,
            "mask": str(self.mask) if self.mask is not None else None,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat() if self.created_at is not None else None,
            "path": str(self.path),
            "source": self.source,
            "request_id": self.request_id,
            "model_id": self.model_id,
            "provider": self.provider,
            "cost_usd": format(self.cost_usd, "f") if self.cost_usd is not None else None,
            "parameters": self.parameters(),
        }


class GalleryImageNotFound(SparklioError):
    """No gallery image has that id (or the prefix names several)."""

    def __init__(self, image_id: str, why: str = "") -> None:
        self.image_id = image_id
        super().__init__(why or f"no image {image_id} in the gallery (sparklio images list shows them)")


class GalleryFileError(DatabaseFileError):
    """The gallery file cannot be used. The images themselves are files beside it, so a
    damaged gallery loses no image: set the file aside and ``sparklio images import`` them."""

    def __init__(self, path: Path, problem: FileProblem, detail: str) -> None:
        super().__init__(path, "gallery file", problem, detail)
        if problem == "damaged":
            self.args = (
                f"the gallery file {path} is damaged ({detail}); move it aside (the images are kept "
                f"under {path.parent / 'images'}) and `sparklio images import` them into a new one",
            )

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def wrap(cls, error: DatabaseFileError) -> GalleryFileError:
        return cls(error.path, error.problem, error.detail)
