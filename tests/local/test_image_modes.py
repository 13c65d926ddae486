"""The image studio's modes on the tiny model, engine level: schedulers, image-to-image,
inpainting with the base model, the hires pass, LoRAs on and off, the out-of-memory
retry (a real ``torch.cuda.OutOfMemoryError`` raised from the pipeline's step callback)."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sparklio_desktop.core.local import LocalImageEngine, LocalModelError, ModelType, read_png_text
from sparklio_desktop.core.local.errors import BadInputImage
from sparklio_desktop.core.local.png_meta import parse_a1111_parameters
from sparklio_desktop.core.local.sd.families import TYPE_DEFAULTS
from sparklio_desktop.core.local.sd.loras import LoraChoice
from sparklio_desktop.core.local.sd.pipeline import GenerationRequest, plan_job
from tests.local.tiny_sd import TinySD, build_tiny_lora

TINY = GenerationRequest(prompt="a cat", steps=2, guidance=7.5, width=64, height=64, seed=42)


def _png(color: str, mode: str = "RGB", size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def _params(png: bytes) -> dict[str, str]:
    return parse_a1111_parameters(read_png_text(png)["parameters"])


@pytest.fixture(scope="module")
def engine() -> LocalImageEngine:
    return LocalImageEngine(device="cpu")


@pytest.fixture(scope="module")
def plain(engine: LocalImageEngine, tiny_sd: TinySD) -> bytes:
    return engine.generate(tiny_sd.diffusers_dir, TINY)[0].png


def test_defaults_come_from_the_checkpoint_type_and_the_request_wins() -> None:
    job = plan_job(GenerationRequest(prompt="x"), ModelType.SDXL_BASE)
    assert (job.mode, job.width, job.steps, job.guidance) == ("txt2img", 1024, 30, 6.0)
    assert plan_job(GenerationRequest(prompt="x"), ModelType.SD2).width == TYPE_DEFAULTS[ModelType.SD2].size == 768
    job = plan_job(GenerationRequest(prompt="x", init_image=_png("red", size=(120, 60))), ModelType.SD1)
    assert (job.mode, job.width, job.height, job.strength) == ("img2img", 120, 64, 0.75)  # the init image's size
    job = plan_job(GenerationRequest(prompt="x", steps=3, guidance=2, width=128, height=64), ModelType.SD1)
    assert (job.steps, job.guidance, job.width) == (3, 2, 128)
    with pytest.raises(BadInputImage, match="init image is not an image"):
        plan_job(GenerationRequest(prompt="x", init_image=b"GIF89a not really"), ModelType.SD1)
    with pytest.raises(LocalModelError, match="hires fix is for text-to-image"):
        plan_job(GenerationRequest(prompt="x", init_image=_png("red"), hires=2), ModelType.SD1)


def test_a_scheduler_is_swapped_for_one_job_and_recorded(
    engine: LocalImageEngine, tiny_sd: TinySD, plain: bytes
) -> None:
    (image,) = engine.generate(tiny_sd.diffusers_dir, replace(TINY, scheduler="DPM++ 2M Karras"))
    assert _params(image.png)["Sampler"] == "DPM++ 2M Karras" and image.png != plain
    assert engine.generate(tiny_sd.diffusers_dir, TINY)[0].png == plain  # the checkpoint's own again


def test_image_to_image_and_base_model_inpainting_share_the_loaded_modules(
    engine: LocalImageEngine, tiny_sd: TinySD, plain: bytes
) -> None:
    (img2img,) = engine.generate(
        tiny_sd.diffusers_dir, replace(TINY, init_image=_png("blue", size=(80, 72)), strength=0.5)
    )
    derived = engine._derived["img2img"]
    assert type(derived).__name__ == "StableDiffusionImg2ImgPipeline" and derived.unet is engine._pipe.unet
    assert (img2img.width, img2img.height) == (64, 64) and img2img.png != plain  # resized to the job's size
    assert _params(img2img.png)["Denoising strength"] == "0.5"
    request = replace(TINY, init_image=_png("blue"), mask_image=_png("white", "L"))
    (inpainted,) = engine.generate(tiny_sd.diffusers_dir, request)
    assert type(engine._derived["inpaint"]).__name__ == "StableDiffusionInpaintPipeline"
    assert engine._derived["inpaint"].vae is engine._pipe.vae
    assert _params(inpainted.png)["Denoising strength"] == "1"


def test_hires_generates_upscales_and_refines_with_the_same_seed(engine: LocalImageEngine, tiny_sd: TinySD) -> None:
    steps: list[tuple[int, int]] = []
    (image,) = engine.generate(
        tiny_sd.diffusers_dir, replace(TINY, hires=2.0), progress=lambda s, t, p: steps.append((s, t))
    )
    assert (image.width, image.height) == (128, 128)
    assert steps[:2] == [(1, 2), (2, 2)] and len(steps) > 2  # the base pass, then the hires pass
    params = _params(image.png)
    assert (params["Hires upscale"], params["Hires upscaler"], params["Denoising strength"]) == ("2", "Lanczos", "0.35")
    assert params["Size"] == "128x128" and params["Seed"] == "42"


def test_out_of_memory_once_is_retried_with_stronger_savers(
    engine: LocalImageEngine, tiny_sd: TinySD, plain: bytes
) -> None:
    import torch

    warnings: list[str] = []
    engine._on_warning = warnings.append
    raised: list[int] = []

    def progress(step: int, total: int, preview: bytes | None) -> None:
        if not raised:
            raised.append(step)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    try:
        (image,) = engine.generate(tiny_sd.diffusers_dir, TINY, progress=progress)
    finally:
        engine._on_warning = None
    assert raised == [1] and image.png == plain  # the retry made the same image
    assert any("out of GPU memory" in w and "vae_tiling" in w for w in warnings)


def test_out_of_memory_twice_fails_in_one_line(engine: LocalImageEngine, tiny_sd: TinySD) -> None:
    import torch

    def progress(step: int, total: int, preview: bytes | None) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    with pytest.raises(LocalModelError, match="out of GPU memory at 64x64 even with vae_tiling") as caught:
        engine.generate(tiny_sd.diffusers_dir, TINY, progress=progress)
    assert "\n" not in str(caught.value)


def test_a_lora_changes_the_image_is_recorded_and_is_gone_after_the_job(
    engine: LocalImageEngine, tiny_sd: TinySD, plain: bytes, tmp_path: Path
) -> None:
    path = build_tiny_lora(tiny_sd, tmp_path / "tinycat.safetensors")
    request = replace(TINY, loras=(LoraChoice("tinycat", path, 0.8, "0123456789"),))
    (image,) = engine.generate(tiny_sd.diffusers_dir, request)
    assert image.png != plain
    assert 'Lora hashes: "tinycat: 0123456789"' in read_png_text(image.png)["parameters"]
    assert engine.generate(tiny_sd.diffusers_dir, TINY)[0].png == plain  # unloaded: the next job is clean
