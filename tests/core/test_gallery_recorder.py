"""The dispatcher's gallery collaborator on its own: files, rows, fallbacks, failures that only warn."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.gallery import GalleryStore
from sparklio_desktop.core.gallery.png_chunks import read_text_chunks
from sparklio_desktop.core.gallery.recorder import GalleryRecorder, ImagesMade
from tests.fakes.openai_server import TINY_PNG

WHEN = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


def _made(**more) -> ImagesMade:
    base = dict(
        request_id="0123456789abcdef", prompt="a harbour at dawn", images=(TINY_PNG, TINY_PNG, TINY_PNG),
        model_id="local/stable-diffusion", model_name="Stable Diffusion (local)", provider="diffusers", local=True,
        size="64x64", cost_usd=Decimal("0.1"), negative_prompt="fog", seed=5, steps=3, guidance=4.5,
        init_image=Path("/tmp/init.png"), strength=0.4, mask=Path("/tmp/mask.png"),
    )  # fmt: skip
    base.update(more)
    return ImagesMade(**base)


def test_a_local_answer_without_settings_in_its_png_takes_the_requests(sparklio_home):
    recorder = GalleryRecorder(now=lambda: WHEN)
    kept = recorder.record(_made())
    assert kept.warning is None and len(kept.ids) == 3
    assert [p.relative_to(sparklio_home) for p in kept.paths] == [
        Path("images/2026-03") / f"0123456789abcdef-{n}.png" for n in (1, 2, 3)
    ]
    rows = recorder.store().by_request("0123456789abcdef")
    assert [r.seed for r in rows] == [5, 6, 7] and {r.steps for r in rows} == {3} and rows[0].guidance == 4.5
    assert (rows[0].prompt, rows[0].negative_prompt, rows[0].width) == ("a harbour at dawn", "fog", 1)
    assert (rows[0].init_image, rows[0].strength, rows[0].mask) == (Path("/tmp/init.png"), 0.4, Path("/tmp/mask.png"))
    assert sum(r.cost_usd for r in rows) == Decimal("0.1") and rows[0].created_at == WHEN
    assert read_text_chunks(kept.paths[0].read_bytes()) == {}  # a local PNG is written as the engine made it
    # the same request again: never over the files already there
    again = recorder.record(_made(images=(TINY_PNG,)))
    assert again.paths[0].name == "0123456789abcdef-1-1.png"
    recorder.close()


def test_a_cloud_answer_gets_sparklios_chunks(sparklio_home):
    recorder = GalleryRecorder(now=lambda: WHEN)
    kept = recorder.record(_made(local=False, images=(TINY_PNG,), model_id="openai/dall-e-3", model_name="DALL-E 3"))
    chunks = read_text_chunks(kept.paths[0].read_bytes())
    assert chunks == {
        "prompt": "a harbour at dawn", "model": "DALL-E 3", "size": "1x1", "model_id": "openai/dall-e-3",
        "Software": "Sparklio Desktop",
    }  # fmt: skip
    (row,) = recorder.store().by_request("0123456789abcdef")
    assert row.source == "cloud" and row.cost_usd == Decimal("0.1") and row.checkpoint is None
    recorder.close()


def test_failures_warn_and_keep_what_was_written(sparklio_home, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    unwritable = GalleryRecorder(images_dir=lambda: blocker / "images")
    kept = unwritable.record(_made())
    assert kept.ids == () and kept.warning is not None and "could not be saved" in kept.warning

    def broken_store() -> GalleryStore:
        return GalleryStore(blocker / "gallery.sqlite")  # its folder is a file

    unrecorded = GalleryRecorder(open_store=broken_store)
    kept = unrecorded.record(_made())
    assert len(kept.paths) == 3 and all(p.read_bytes() == TINY_PNG for p in kept.paths)
    assert kept.ids == () and kept.warning is not None and "not recorded in the gallery" in kept.warning
