"""``sparklio images`` and the gallery's record of every image run, against the loopback OpenAI fake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.gallery import GalleryStore
from sparklio_desktop.core.gallery.png_chunks import read_text_chunks, with_text_chunks
from tests.fakes.openai_server import TINY_PNG, OpenAIServer

IMAGE_ARGS = (
    "run", "--task", "image_generation_quality", "--prompt", "a fox in the snow", "--no-explore", "--no-cache",
)  # fmt: skip


def sparklio(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env_extra or {})),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def dalle():
    with OpenAIServer() as server:
        yield server, {"OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": server.api_url}


def _idat(data: bytes) -> bytes:
    start = data.index(b"IDAT") - 4
    return data[start:]


def test_a_cloud_image_run_is_written_under_the_data_folder_and_listed(dalle, sparklio_home, tmp_path):
    server, env = dalle
    result = sparklio(*IMAGE_ARGS, "--images", "2", "--json", "--out", str(tmp_path / "out"), env_extra=env)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    request_id = payload["request_id"]
    assert len(payload["gallery_ids"]) == 2 and "warning" not in result.stderr
    month_folders = list((sparklio_home / "images").iterdir())
    assert len(month_folders) == 1
    files = sorted(month_folders[0].iterdir())
    assert [f.name for f in files] == [f"{request_id}-1.png", f"{request_id}-2.png"]
    data = files[0].read_bytes()
    assert _idat(data) == _idat(TINY_PNG)  # the provider's pixels, byte for byte
    chunks = read_text_chunks(data)
    assert chunks["prompt"] == "a fox in the snow" and chunks["model"] == "DALL-E 3" and chunks["size"] == "1x1"

    listed = json.loads(sparklio("images", "list", "--json").stdout)
    assert [item["id"] for item in listed] == list(reversed(payload["gallery_ids"]))  # newest first
    first = next(item for item in listed if item["path"] == str(files[0]))
    assert first["source"] == "cloud" and first["request_id"] == request_id
    assert first["model_id"] == "openai/dall-e-3" and first["provider"] == "openai"
    assert first["parameters"]["prompt"] == "a fox in the snow" and first["parameters"]["width"] == 1
    assert sum(Decimal(item["cost_usd"]) for item in listed) == Decimal(payload["cost_usd"])
    assert all(isinstance(item["cost_usd"], str) for item in listed)

    shown = sparklio("images", "show", first["id"][:6])
    assert shown.returncode == 0 and f"file: {files[0]}" in shown.stdout and "a fox in the snow" in shown.stdout
    assert json.loads(sparklio("images", "show", first["id"], "--json").stdout)["path"] == str(files[0])

    table = sparklio("images")  # the bare command lists
    assert table.returncode == 0 and first["id"] in table.stdout and "DALL-E" not in table.stdout.splitlines()[0]
    assert len(json.loads(sparklio("images", "list", "--search", "fox", "--json").stdout)) == 2
    assert json.loads(sparklio("images", "list", "--search", "wolf", "--json").stdout) == []
    assert len(json.loads(sparklio("images", "list", "--limit", "1", "--json").stdout)) == 1


def test_bad_ids_are_one_line_and_exit_2(sparklio_home):
    for args in (("show", "abcdef"), ("rm", "abcdef"), ("show", "zz"), ("rm", "0000", "--delete-file")):
        result = sparklio("images", *args)
        assert result.returncode == 2, args
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("sparklio: error: ")
        assert "Traceback" not in result.stderr


def test_rm_keeps_the_file_unless_asked(sparklio_home, tmp_path):
    kept, gone = tmp_path / "kept.png", tmp_path / "gone.png"
    kept.write_bytes(TINY_PNG)
    gone.write_bytes(TINY_PNG)
    imported = json.loads(sparklio("images", "import", str(kept), str(gone), "--json").stdout)
    kept_id, gone_id = (item["id"] for item in imported)
    result = sparklio("images", "rm", kept_id[:5])
    assert result.returncode == 0 and "was kept" in result.stdout and kept.exists()
    result = sparklio("images", "rm", gone_id, "--delete-file", "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["file_deleted"] is True and not gone.exists()
    assert json.loads(sparklio("images", "list", "--json").stdout) == []


def test_import_reads_a1111_and_comfyui_settings(sparklio_home, tmp_path):
    a1111 = tmp_path / "a1111.png"
    a1111.write_bytes(
        with_text_chunks(
            TINY_PNG,
            {
                "parameters": "a castle on a hill <lora:add_detail:0.6>\nNegative prompt: fog\n"
                "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 768x512, "
                'Model hash: 879db523c3, Model: dreamshaper_8, Lora hashes: "add_detail: 7c6f0ab5b3", Version: v1.9.4'
            },
        )
    )
    comfy = tmp_path / "comfy.png"
    comfy.write_bytes(with_text_chunks(TINY_PNG, {"prompt": json.dumps(COMFY_GRAPH), "workflow": "{}"}))
    plain = tmp_path / "plain.png"
    plain.write_bytes(TINY_PNG)
    result = sparklio("images", "import", str(a1111), str(comfy), str(plain), "--json")
    assert result.returncode == 0, result.stderr
    first, second, third = json.loads(result.stdout)
    assert first["source"] == "imported" and first["cost_usd"] is None and first["path"] == str(a1111)
    p = first["parameters"]
    assert (p["prompt"], p["negative_prompt"], p["steps"], p["seed"], p["guidance"]) == (
        "a castle on a hill <lora:add_detail:0.6>", "fog", 30, 1234, 6.5,
    )  # fmt: skip
    assert (p["width"], p["height"], p["checkpoint"], p["checkpoint_hash"]) == (768, 512, "dreamshaper_8", "879db523c3")
    assert p["scheduler"] == "DPM++ 2M Karras"
    assert p["loras"] == [{"name": "add_detail", "weight": 0.6, "hash": "7c6f0ab5b3"}]
    q = second["parameters"]
    assert (q["prompt"], q["negative_prompt"], q["seed"], q["steps"], q["guidance"]) == (
        "a lighthouse, golden hour", "text, watermark", 99, 20, 8.0,
    )  # fmt: skip
    assert (q["width"], q["height"], q["checkpoint"], q["scheduler"]) == (1024, 1024, "sd_xl_base_1.0", "euler karras")
    assert q["loras"] == [{"name": "film_grain", "weight": 0.8, "hash": None}]
    assert third["parameters"]["prompt"] == "" and third["parameters"]["width"] == 1
    checkpoints = sparklio("images", "list", "--checkpoint", "dreamshaper_8", "--json")
    assert [item["id"] for item in json.loads(checkpoints.stdout)] == [first["id"]]
    bad = tmp_path / "not.png"
    bad.write_text("hello")
    result = sparklio("images", "import", str(a1111), str(bad))
    assert result.returncode == 2 and result.stderr.strip() == f"sparklio: error: {bad} is not a PNG file"
    with GalleryStore.open_default() as store:
        assert store.count() == 3  # the refused import recorded none of its files


def test_a_gallery_that_cannot_be_opened_loses_neither_the_images_nor_the_answer(dalle, sparklio_home, tmp_path):
    server, env = dalle
    (sparklio_home / "gallery.sqlite").mkdir()  # a folder in the file's place
    out = tmp_path / "out"
    result = sparklio(*IMAGE_ARGS, "--out", str(out), env_extra=env)
    assert result.returncode == 0, result.stderr
    assert "sparklio: warning: the images were saved in" in result.stderr
    assert "not recorded in the gallery" in result.stderr
    assert [Path(line).parent for line in result.stdout.splitlines()] == [out]
    saved = list((sparklio_home / "images").rglob("*.png"))
    assert len(saved) == 1 and _idat(saved[0].read_bytes()) == _idat(TINY_PNG)


COMFY_GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "SDXL\\sd_xl_base_1.0.safetensors"}},
    "10": {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "film_grain.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    },  # fmt: skip
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 1024, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a lighthouse, golden hour", "clip": ["10", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["10", 1]}},
    "3": {
        "class_type": "KSampler",
        "inputs": {
            "seed": 99,
            "steps": 20,
            "cfg": 8.0,
            "sampler_name": "euler",
            "scheduler": "karras",
            "denoise": 1.0,
            "model": ["10", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
    },  # fmt: skip
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}
