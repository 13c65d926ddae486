"""The gallery store on real SQLite files: add, get by prefix, pages, search, filters, remove."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from sparklio_desktop.core.gallery import (
    GalleryFileError,
    GalleryImage,
    GalleryImageNotFound,
    GalleryStore,
    LoraUse,
)


@pytest.fixture
def store(sparklio_home):
    with GalleryStore.open_default() as opened:
        yield opened


def _image(tmp_path, name, prompt, **more):
    path = tmp_path / f"{name}.png"
    path.write_bytes(b"not really a png")
    return GalleryImage(path=path, prompt=prompt, **more)


def test_add_and_get_keep_every_field_and_exact_money(store, tmp_path, sparklio_home):
    image = _image(
        tmp_path, "a", "a red fox in snow", negative_prompt="blurry", width=512, height=768, seed=42, steps=25,
        guidance=7.5, scheduler="Euler a", checkpoint="dreamshaper_8", checkpoint_hash="879db523c3",
        loras=(LoraUse("add_detail", 0.6, "7c6f0ab5b3"),), init_image=tmp_path / "init.png", strength=0.45,
        mask=tmp_path / "mask.png", request_id="ab" * 8, model_id="sd-local", provider="diffusers",
        cost_usd=Decimal("0.000000000001"), source="local",
    )  # fmt: skip
    new_id = store.add(image)
    assert (sparklio_home / "gallery.sqlite").is_file()
    got = store.get(new_id)
    assert got.id == new_id and len(new_id) == 12
    assert got.created_at is not None and got.created_at.tzinfo is not None
    for name in ("prompt", "negative_prompt", "width", "height", "seed", "steps", "guidance", "scheduler",
                 "checkpoint", "checkpoint_hash", "loras", "init_image", "strength", "mask", "request_id",
                 "model_id", "provider", "cost_usd", "source", "path"):  # fmt: skip
        assert getattr(got, name) == getattr(image, name), name
    assert Decimal(got.to_dict()["cost_usd"]) == Decimal("0.000000000001")
    # a second process reads the same file
    with GalleryStore.open_default() as again:
        assert again.get(new_id).prompt == "a red fox in snow"
    raw = sqlite3.connect(sparklio_home / "gallery.sqlite")
    assert raw.execute("SELECT cost_usd FROM images").fetchone()[0] == 1  # picodollars
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_ids_accept_a_unique_prefix_and_refuse_an_ambiguous_one(store, tmp_path):
    ids = [store.add(_image(tmp_path, str(i), f"image {i}")) for i in range(40)]
    first = ids[0]
    assert store.get(first[:8]).id == first
    assert store.get(first.upper()).id == first
    with pytest.raises(GalleryImageNotFound, match="no image ffffffffffff"):
        store.get("ffffffffffff")
    with pytest.raises(GalleryImageNotFound, match="an image id is needed"):
        store.get("  ")
    # with 40 random ids, some 1-digit prefix is shared; 4 digits is the shortest prefix tried
    shared = next(p for p in "0123456789abcdef" if sum(i.startswith(p) for i in ids) > 1)
    with pytest.raises(GalleryImageNotFound):
        store.get(shared)  # too short to be a prefix
    pairs = [(a, b) for a in ids for b in ids if a < b and a[:4] == b[:4]]
    if pairs:
        with pytest.raises(GalleryImageNotFound, match="names several images"):
            store.get(pairs[0][0][:4])


def test_pages_are_newest_first_and_filter_by_checkpoint_and_date(store, tmp_path):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(30):
        store.add(
            _image(tmp_path, str(i), f"picture {i}", checkpoint="sdxl" if i % 3 == 0 else "sd15"),
            created_at=start + timedelta(days=i),
        )
    newest = store.page(0, 5)
    assert [im.prompt for im in newest] == [f"picture {i}" for i in (29, 28, 27, 26, 25)]
    assert [im.prompt for im in store.page(5, 2)] == ["picture 24", "picture 23"]
    assert store.count() == 30
    assert store.checkpoints() == [("sd15", 20), ("sdxl", 10)]
    assert {im.checkpoint for im in store.page(0, 100, checkpoint="sdxl")} == {"sdxl"}
    assert store.count(checkpoint="sdxl") == 10
    window = store.page(0, 100, since=start + timedelta(days=10), until=start + timedelta(days=13))
    assert [im.prompt for im in window] == ["picture 12", "picture 11", "picture 10"]
    assert store.count(since=start + timedelta(days=10), until=start + timedelta(days=13)) == 3
    assert store.page(0, 0) == []


def test_search_finds_prompt_words_prefixes_and_negative_prompts_and_survives_any_text(store, tmp_path):
    a = store.add(_image(tmp_path, "a", "A lighthouse at dusk, oil painting", negative_prompt="watermark"))
    b = store.add(_image(tmp_path, "b", "Café terrace at night"))
    store.add(_image(tmp_path, "c", "a cat"))
    assert [im.id for im in store.page(0, 10, query="lighthouse")] == [a]
    assert [im.id for im in store.page(0, 10, query="light")] == [a]  # the last word is a prefix
    assert [im.id for im in store.page(0, 10, query="watermark")] == [a]
    assert [im.id for im in store.page(0, 10, query="cafe")] == [b]  # diacritics folded
    assert store.count(query="dusk oil") == 1
    for hostile in ("c++ (draft", '"quote', "NEAR(", "prompt:", "*", "AND OR NOT", "^a", "--"):
        store.page(0, 10, query=hostile)  # never a syntax error
        store.count(query=hostile)
    assert store.page(0, 10, query="*") == []
    assert store.page(0, 10, query="lighthouse", checkpoint="other") == []


def test_remove_keeps_or_deletes_the_file_and_the_search_index_follows(store, tmp_path):
    kept = _image(tmp_path, "kept", "mountain lake")
    gone = _image(tmp_path, "gone", "mountain road")
    kept_id, gone_id = store.add(kept), store.add(gone)
    assert store.remove(kept_id[:6]).id == kept_id
    assert kept.path.is_file()
    store.remove(gone_id, delete_file=True)
    assert not gone.path.exists()
    assert store.count() == 0 and store.page(0, 10, query="mountain") == []
    with pytest.raises(GalleryImageNotFound):
        store.remove(kept_id)
    # a file already gone is not an error
    third = store.add(_image(tmp_path, "third", "x"))
    (tmp_path / "third.png").unlink()
    store.remove(third, delete_file=True)


def test_a_file_that_is_not_sqlite_is_one_line(sparklio_home):
    (sparklio_home / "gallery.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(GalleryFileError, match="gallery file .* is damaged"):
        GalleryStore.open_default()


def test_thumbnails_are_made_once_with_pillow(store, tmp_path):
    pil = pytest.importorskip("PIL.Image")
    path = tmp_path / "big.png"
    pil.new("RGB", (640, 480), (200, 10, 10)).save(path)
    image = store.get(store.add(GalleryImage(path=path, prompt="red")))
    thumb = store.thumbnail_path(image, 128)
    assert thumb is not None and thumb.parent.name == "gallery-thumbs"
    with pil.open(thumb) as small:
        assert small.size == (128, 96)
    mtime = thumb.stat().st_mtime_ns
    assert store.thumbnail_path(image, 128) == thumb and thumb.stat().st_mtime_ns == mtime
    store.remove(image.id)
    assert not thumb.exists()
    broken = store.get(store.add(_image(tmp_path, "broken", "x")))
    assert store.thumbnail_path(broken) is None
