"""The one table of attachable image types (core/providers/base.py): the CLI's ``--image``,
the composer's attach button and a drop on its editor all read it."""

from __future__ import annotations

from pathlib import Path

from sparklio_desktop.core.providers.base import IMAGE_MIME_TYPES, image_mime_type


def test_the_mime_type_comes_from_the_suffix_whatever_its_case() -> None:
    assert image_mime_type("photos/Cat.JPG") == "image/jpeg"
    assert image_mime_type(Path("diagram.webp")) == "image/webp"
    assert image_mime_type("anim.gif") == "image/gif"


def test_other_files_have_none() -> None:
    for name in ("notes.txt", "png", "archive.png.zip", ".png"):
        assert image_mime_type(name) is None, name


def test_every_type_is_an_image_type() -> None:
    assert set(IMAGE_MIME_TYPES) == {".png", ".jpg", ".jpeg", ".webp", ".gif"}
    assert all(kind.startswith("image/") for kind in IMAGE_MIME_TYPES.values())
