"""Every generated image, kept in the data folder: ``gallery.sqlite``.

Why a file of its own: the ledger is money and is never rewritten behind the user's
back; the gallery is a catalogue of files the user deletes, moves and imports, and its
full-text index grows with it. Why plain ``sqlite3``: FTS5 and its triggers are SQL that
SQLite alone understands, and a page of the grid is one indexed query (10,000 rows:
benchmarks/bench_gallery.py). The migrations are the shared runner's
(core/ledger/plain_migrations.py), as for conversations and batches.

One store may be used by one thread at a time (the window calls it through its database
executor, the dispatcher's recorder from a worker thread, the CLI directly); a lock makes
a mistake there safe rather than corrupting.

Thumbnails: Pillow arrives only with the ``local`` extra, and the core may not use Qt.
So :meth:`GalleryStore.thumbnail_path` makes a JPEG thumbnail under
``<data>/gallery-thumbs/`` when Pillow is installed and answers None when it is not; the
Gallery view then scales the image itself (QImageReader) and may keep its own cache.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sparklio_desktop.core.conversations.fts_query import fts_query
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.gallery.records import (
    SOURCES,
    GalleryFileError,
    GalleryImage,
    GalleryImageNotFound,
    LoraUse,
)
from sparklio_desktop.core.gallery.schema import MIGRATIONS
from sparklio_desktop.core.ledger.plain_migrations import PlainStore, open_migrated
from sparklio_desktop.core.ledger.sqlite_file import file_error
from sparklio_desktop.core.money import from_picodollars, to_picodollars
from sparklio_desktop.core.settings import paths

__all__ = ["FILENAME", "THUMBS_FOLDER", "GalleryStore"]

FILENAME = "gallery.sqlite"
THUMBS_FOLDER = "gallery-thumbs"
LABEL = "gallery file"
MIN_PREFIX = 4
THUMB_SIZE = 256
_FTS_BROKEN = re.compile(r"vtable constructor failed: images_fts|no such table: \w+\.images_fts_\w+")
_COLUMNS = (
    "id, created_at, path, width, height, prompt, negative_prompt, seed, steps, guidance, scheduler, checkpoint,"
    " checkpoint_hash, loras_json, init_image, strength, mask, request_id, model_id, provider, cost_usd, source,"
    " extra_json"
)


def _time_text(when: datetime | None = None) -> str:
    utc = (when or datetime.now(UTC)).astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def _loras_json(loras: Sequence[LoraUse]) -> str:
    return json.dumps([lora.to_dict() for lora in loras])


def _loras(text: str) -> tuple[LoraUse, ...]:
    try:
        items = json.loads(text)
        return tuple(LoraUse(str(i["name"]), float(i.get("weight", 1.0)), i.get("hash")) for i in items)
    except (ValueError, TypeError, KeyError):
        return ()


def _image(row: Sequence[Any]) -> GalleryImage:
    return GalleryImage(
        id=row[0],
        created_at=datetime.fromisoformat(row[1]).astimezone(UTC),
        path=Path(row[2]),
        width=row[3],
        height=row[4],
        prompt=row[5],
        negative_prompt=row[6],
        seed=row[7],
        steps=row[8],
        guidance=row[9],
        scheduler=row[10],
        checkpoint=row[11],
        checkpoint_hash=row[12],
        loras=_loras(row[13]),
        init_image=Path(row[14]) if row[14] is not None else None,
        strength=row[15],
        mask=Path(row[16]) if row[16] is not None else None,
        request_id=row[17],
        model_id=row[18],
        provider=row[19],
        cost_usd=from_picodollars(row[20]) if row[20] is not None else None,
        source=row[21],
        extra=json.loads(row[22] or "{}"),
    )


class GalleryStore(PlainStore):
    """SQLite file ``data_dir()/gallery.sqlite`` (WAL), FTS5 over prompts, thumbnails beside it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.thumbs_dir = self.path.parent / THUMBS_FOLDER
        self._lock = threading.RLock()
        self._conn = open_migrated(
            self.path,
            LABEL,
            MIGRATIONS,
            _time_text(),
            classify=self._file_error,
            make=lambda problem, detail: GalleryFileError(self.path, problem, detail),
        )

    @classmethod
    def open_default(cls) -> GalleryStore:
        return cls(paths.data_dir() / FILENAME)

    # -- the file -------------------------------------------------------------------

    def _file_error(self, exc: BaseException) -> GalleryFileError | None:
        found = file_error(self.path, LABEL, exc)
        if found is None and isinstance(exc, sqlite3.OperationalError) and _FTS_BROKEN.search(str(exc)):
            return GalleryFileError(self.path, "damaged", f"its search index is damaged: {exc}")
        return GalleryFileError.wrap(found) if found is not None else None

    # -- writing ----------------------------------------------------------------------

    def add(self, image: GalleryImage, *, created_at: datetime | None = None) -> str:
        """Record ``image``; returns its new id (12 hex digits). ``created_at``: now by default."""
        if image.source not in SOURCES:
            raise SparklioError(f"an image's source is one of {', '.join(SOURCES)}, not {image.source!r}")
        cost = to_picodollars(image.cost_usd) if image.cost_usd is not None else None
        values = (
            _time_text(created_at or image.created_at),
            str(image.path),
            image.width,
            image.height,
            image.prompt or "",
            image.negative_prompt or "",
            image.seed,
            image.steps,
            image.guidance,
            image.scheduler,
            image.checkpoint,
            image.checkpoint_hash,
            _loras_json(image.loras),
            str(image.init_image) if image.init_image is not None else None,
            image.strength,
            str(image.mask) if image.mask is not None else None,
            image.request_id,
            image.model_id,
            image.provider,
            cost,
            image.source,
            json.dumps(image.extra or {}, sort_keys=True),
        )
        with self._tx(write=True) as conn:
            while True:
                new_id = secrets.token_hex(6)
                try:
                    conn.execute(f"INSERT INTO images ({_COLUMNS}) VALUES ({', '.join('?' * 23)})", (new_id, *values))
                    return new_id
                except sqlite3.IntegrityError as exc:
                    if "images.id" not in str(exc):
                        raise SparklioError(f"the image could not be recorded: {exc}") from None
                    # 48 random bits collided: draw again

    def remove(self, image_id: str, delete_file: bool = False) -> GalleryImage:
        """Forget the image (and its thumbnail); with ``delete_file``, delete the file too.
        Returns the image as it was. A file already gone is not an error."""
        with self._tx(write=True) as conn:
            full = self._resolve(conn, image_id)
            image = _image(conn.execute(f"SELECT {_COLUMNS} FROM images WHERE id = ?", (full,)).fetchone())
            conn.execute("DELETE FROM images WHERE id = ?", (full,))
        for thumb in self.thumbs_dir.glob(f"{full}-*.jpg"):
            thumb.unlink(missing_ok=True)
        if delete_file:
            try:
                image.path.unlink(missing_ok=True)
            except OSError as exc:
                raise SparklioError(
                    f"image {full} was removed from the gallery but its file {image.path} could not be deleted: "
                    f"{exc.strerror or exc}"
                ) from None
        return image

    # -- reading ----------------------------------------------------------------------

    def _resolve(self, conn: sqlite3.Connection, image_id: str) -> str:
        """The full id ``image_id`` names (a unique prefix of at least 4 characters)."""
        wanted = image_id.strip().lower() if isinstance(image_id, str) else ""
        if not wanted:
            raise GalleryImageNotFound("", "an image id is needed (sparklio images list shows them)")
        row = conn.execute("SELECT id FROM images WHERE id = ?", (wanted,)).fetchone()
        if row is None and len(wanted) >= MIN_PREFIX and re.fullmatch(r"[0-9a-f]+", wanted):
            rows = conn.execute("SELECT id FROM images WHERE id GLOB ? LIMIT 2", (wanted + "*",)).fetchall()
            if len(rows) > 1:
                raise GalleryImageNotFound(wanted, f"the id prefix {wanted} names several images; give more of the id")
            row = rows[0] if rows else None
        if row is None:
            raise GalleryImageNotFound(image_id.strip())
        return str(row[0])

    def get(self, image_id: str) -> GalleryImage:
        """The image; raises :class:`GalleryImageNotFound` (a unique id prefix works)."""
        with self._tx() as conn:
            full = self._resolve(conn, image_id)
            return _image(conn.execute(f"SELECT {_COLUMNS} FROM images WHERE id = ?", (full,)).fetchone())

    @staticmethod
    def _where(
        query: str | None, checkpoint: str | None, since: datetime | None, until: datetime | None
    ) -> tuple[str, list[Any]] | None:
        """The WHERE clause of a filtered read, or None when the search can match nothing."""
        clauses: list[str] = []
        params: list[Any] = []
        if query is not None and query.strip():
            match = fts_query(query)
            if match is None:
                return None
            clauses.append("seq IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            params.append(match)
        if checkpoint:
            clauses.append("checkpoint = ?")
            params.append(checkpoint)
        if since is not None:
            clauses.append("created_at >= ?")
            params.append(_time_text(since))
        if until is not None:
            clauses.append("created_at < ?")
            params.append(_time_text(until))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def page(
        self,
        offset: int = 0,
        limit: int = 200,
        query: str | None = None,
        checkpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[GalleryImage]:
        """Images newest first, ``limit`` of them from ``offset``; ``query`` is searched in
        the prompts (any typed text is safe; the last word is a prefix), ``checkpoint`` is a
        name as :meth:`checkpoints` lists it, ``since`` is inclusive and ``until`` exclusive."""
        where = self._where(query, checkpoint, since, until)
        if where is None or limit <= 0:
            return []
        clause, params = where
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM images{clause} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?",
                (*params, int(limit), max(0, int(offset))),
            ).fetchall()
        return [_image(row) for row in rows]

    def count(
        self,
        query: str | None = None,
        checkpoint: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many images :meth:`page` would page through with these filters."""
        where = self._where(query, checkpoint, since, until)
        if where is None:
            return 0
        clause, params = where
        with self._tx() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM images{clause}", params).fetchone()[0])

    def checkpoints(self) -> list[tuple[str, int]]:
        """Each checkpoint name the gallery holds images of, with their number, by name."""
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT checkpoint, COUNT(*) FROM images WHERE checkpoint IS NOT NULL GROUP BY checkpoint"
                " ORDER BY checkpoint COLLATE NOCASE"
            ).fetchall()
        return [(str(name), int(n)) for name, n in rows]

    def by_request(self, request_id: str) -> list[GalleryImage]:
        """The images one request made, in the order they were generated."""
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM images WHERE request_id = ? ORDER BY seq", (request_id,)
            ).fetchall()
        return [_image(row) for row in rows]

    # -- thumbnails -----------------------------------------------------------------------

    def thumbnail_path(self, image: GalleryImage, size: int = THUMB_SIZE) -> Path | None:
        """A JPEG thumbnail (longest side ``size``) of ``image``, made on first use and kept
        under ``<data>/gallery-thumbs/``; None when Pillow is not installed or the image
        file cannot be read (the view then scales the file itself)."""
        try:
            from PIL import Image as PILImage
        except ImportError:
            return None
        thumb = self.thumbs_dir / f"{image.id}-{size}.jpg"
        try:
            source_mtime = image.path.stat().st_mtime
        except OSError:
            return thumb if thumb.is_file() else None
        with suppress(OSError):
            if thumb.stat().st_mtime >= source_mtime:
                return thumb
        try:
            self.thumbs_dir.mkdir(parents=True, exist_ok=True)
            with PILImage.open(image.path) as img:
                img.thumbnail((size, size))
                tmp = thumb.with_suffix(f".{secrets.token_hex(4)}.tmp")
                img.convert("RGB").save(tmp, format="JPEG", quality=85)
            tmp.replace(thumb)
        except (OSError, ValueError, PILImage.DecompressionBombError):
            return None
        return thumb
