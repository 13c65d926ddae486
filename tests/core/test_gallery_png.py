"""PNG text chunks written and read without Pillow, A1111's Model/Lora hashes, AutoV2 caching."""

from __future__ import annotations

import hashlib
import io
import json
import os
from decimal import Decimal

import pytest

from sparklio_desktop.core.gallery.parameters import parameters_from_chunks, read_png_parameters
from sparklio_desktop.core.gallery.png_chunks import png_size, read_text_chunks, with_text_chunks
from sparklio_desktop.core.gallery.recorder import split_cost
from sparklio_desktop.core.local.model_hash import CACHE_FILENAME, autov2_hash
from sparklio_desktop.core.local.png_meta import ImageMeta, a1111_parameters
from tests.fakes.openai_server import TINY_PNG

PIL = pytest.importorskip("PIL.Image")


def _pillow_png(**text: str) -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value, zip=key.startswith("z"))
    buf = io.BytesIO()
    PIL.new("RGB", (40, 30), (1, 2, 3)).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def test_chunks_written_by_hand_are_valid_for_pillow_and_keep_the_pixels():
    data = _pillow_png(prompt="old", keep="me")
    out = with_text_chunks(data, {"prompt": "un café ☕", "size": "40x30"})
    with PIL.open(io.BytesIO(out)) as img:
        img.load()  # a bad CRC or order would fail here
        assert img.text["prompt"] == "un café ☕" and img.text["size"] == "40x30" and img.text["keep"] == "me"
        assert img.getpixel((5, 5)) == (1, 2, 3)
    assert read_text_chunks(out) == {"prompt": "un café ☕", "size": "40x30", "keep": "me"}
    assert png_size(out) == (40, 30) and png_size(TINY_PNG) == (1, 1) and png_size(b"GIF89a") is None
    assert with_text_chunks(b"not a png", {"a": "b"}) == b"not a png"


def test_compressed_chunks_are_read_and_broken_files_are_not_an_error():
    data = _pillow_png(zprompt="a" * 5000)
    assert read_text_chunks(data)["zprompt"] == "a" * 5000
    truncated = with_text_chunks(TINY_PNG, {"parameters": "x\nSteps: 2, Seed: 1"})[:60]
    assert isinstance(read_text_chunks(truncated), dict)
    assert read_png_parameters(truncated)["format"] in ("none", "a1111")
    assert read_png_parameters(b"hello") == {"format": "none"}


def test_a1111_parameters_carry_model_and_lora_hashes_as_a1111_writes_them():
    meta = ImageMeta(
        prompt="a fox <lora:add_detail:0.5>", negative_prompt="", seed=7, steps=20, guidance=7.0, width=512,
        height=512, model="dreamshaper_8", model_hash="879db523c3",
        lora_hashes=(("add_detail", "7c6f0ab5b3"), ("film", "0123456789")),
    )  # fmt: skip
    text = a1111_parameters(meta)
    assert text.splitlines()[1] == (
        "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 7, Size: 512x512, Model hash: 879db523c3, "
        'Model: dreamshaper_8, Lora hashes: "add_detail: 7c6f0ab5b3, film: 0123456789", Version: Sparklio Desktop'
    )
    parsed = parameters_from_chunks({"parameters": text})
    assert parsed["checkpoint_hash"] == "879db523c3" and parsed["checkpoint"] == "dreamshaper_8"
    assert parsed["loras"] == [
        {"name": "add_detail", "weight": 0.5, "hash": "7c6f0ab5b3"},
        {"name": "film", "weight": 1.0, "hash": "0123456789"},
    ]
    assert "Model hash" not in a1111_parameters(ImageMeta("p", "", 1, 2, 3.0, 64, 64, "m"))


def test_comfyui_graph_without_a_sampler_or_with_bad_json_is_not_comfyui():
    assert parameters_from_chunks({"prompt": "{not json"}) == {"format": "none"}
    assert parameters_from_chunks({"prompt": json.dumps({"1": {"class_type": "SaveImage"}})}) == {"format": "none"}
    linked = {
        "1": {"class_type": "KSamplerAdvanced", "inputs": {"noise_seed": 5, "steps": 4, "cfg": 3, "positive": ["2", 0],
              "negative": ["3", 0], "sampler_name": "dpmpp_2m", "scheduler": "normal", "model": ["9", 0]}},
        "2": {"class_type": "CLIPTextEncodeSDXL", "inputs": {"text_g": "a boat", "text_l": "a boat"}},
        "3": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}},
    }  # fmt: skip
    found = parameters_from_chunks({"prompt": json.dumps(linked)})
    assert (found["prompt"], found["seed"], found["steps"], found["scheduler"]) == ("a boat", 5, 4, "dpmpp_2m")
    assert "checkpoint" not in found  # its model input leads nowhere


def test_autov2_is_computed_once_and_again_when_the_file_changes(sparklio_home, tmp_path):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"weights v1" * 1000)
    first = autov2_hash(weights)
    assert first == hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    cache = sparklio_home / CACHE_FILENAME
    entry = json.loads(cache.read_text())[str(weights.resolve())]
    # a cached entry is trusted while size and mtime match: prove it is read, not recomputed
    entry["sha256"] = "f" * 64
    cache.write_text(json.dumps({str(weights.resolve()): entry}))
    assert autov2_hash(weights) == "f" * 10
    weights.write_bytes(b"weights v2" * 1000)
    os.utime(weights, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    assert autov2_hash(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    cache.write_text("{damaged")
    assert autov2_hash(weights) == hashlib.sha256(weights.read_bytes()).hexdigest()[:10]
    assert autov2_hash(tmp_path) is None and autov2_hash(tmp_path / "missing") is None


@pytest.mark.parametrize(
    ("total", "count", "shares"),
    [
        (Decimal("0.08"), 2, [Decimal("0.04"), Decimal("0.04")]),
        (Decimal("0.1"), 3, [Decimal("0.033333333334"), Decimal("0.033333333333"), Decimal("0.033333333333")]),
        (Decimal(0), 2, [Decimal(0), Decimal(0)]),
    ],
)
def test_an_attempts_cost_is_shared_exactly_between_its_images(total, count, shares):
    assert split_cost(total, count) == shares and sum(shares) == total
