"""Generation with the tiny model on the CPU: offline loading, progress, cancel, metadata."""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from sparklio_desktop.core.local import (
    CheckpointUnreadable,
    GenerationCancelled,
    GenerationRequest,
    LocalImageEngine,
    LocalModelError,
    ModelConfigMissing,
    ModelType,
    parse_a1111_parameters,
    read_png_text,
)
from sparklio_desktop.core.local.sd.pipeline import _validate
from tests.local.headers import write_safetensors
from tests.local.tiny_sd import TinySD

TINY = GenerationRequest(prompt="a cat", negative_prompt="a dog", steps=2, guidance=7.5, width=64, height=64, seed=42)


@pytest.fixture
def engine() -> LocalImageEngine:
    warnings: list[str] = []
    eng = LocalImageEngine(device="auto", on_warning=warnings.append)
    eng.test_warnings = warnings  # type: ignore[attr-defined]
    return eng


def test_single_file_loads_offline_and_generates_64px_in_2_steps(
    offline: None, tiny_sd: TinySD, engine: LocalImageEngine
) -> None:
    steps: list[tuple[int, int, bool]] = []
    request = replace(TINY, preview_every=1)
    images = engine.generate(
        tiny_sd.single_file,
        request,
        config_dir=tiny_sd.config_dir,
        progress=lambda s, t, p: steps.append((s, t, p is not None)),
    )
    assert steps == [(1, 2, True), (2, 2, True)]
    (image,) = images
    assert (image.width, image.height, image.seed) == (64, 64, 42) and image.gpu_seconds > 0
    assert image.png.startswith(b"\x89PNG")
    text = read_png_text(image.png)
    assert (text["prompt"], text["negative_prompt"], text["seed"], text["steps"]) == ("a cat", "a dog", "42", "2")
    assert (text["guidance"], text["size"], text["model"], text["sampler"]) == ("7.5", "64x64", "tiny-sd1", "Euler")
    parsed = parse_a1111_parameters(text["parameters"])
    assert parsed["Seed"] == "42" and parsed["Model"] == "tiny-sd1" and parsed["negative_prompt"] == "a dog"
    info = engine.loaded
    assert info is not None and info.model_type is ModelType.SD1 and (info.device, info.dtype) == ("cpu", "float32")
    assert any("CPU" in w for w in engine.test_warnings)  # type: ignore[attr-defined]


def test_pipeline_stays_loaded_and_batches_use_consecutive_seeds(tiny_sd: TinySD, engine: LocalImageEngine) -> None:
    first = engine.generate(tiny_sd.diffusers_dir, TINY)
    info = engine.loaded
    pipe = engine._pipe
    batch = engine.generate(tiny_sd.diffusers_dir, replace(TINY, batch_count=2))
    assert engine.loaded is info and engine._pipe is pipe  # not reloaded
    assert engine.residency() is None  # on the CPU: nothing for the VRAM scheduler to count
    assert [im.seed for im in batch] == [42, 43]
    assert batch[0].png == first[0].png  # same seed, same image
    assert batch[1].png != batch[0].png
    engine.unload()
    assert engine.loaded is None and engine._pipe is None


def test_single_file_and_folder_give_the_same_image(tiny_sd: TinySD, engine: LocalImageEngine) -> None:
    from_folder = engine.generate(tiny_sd.diffusers_dir, TINY)[0]
    from_file = engine.generate(tiny_sd.single_file, TINY, config_dir=tiny_sd.config_dir)[0]
    assert engine.loaded is not None and engine.loaded.checkpoint == tiny_sd.single_file  # switched
    a = Image.open(io.BytesIO(from_folder.png)).tobytes()
    b = Image.open(io.BytesIO(from_file.png)).tobytes()
    assert a == b  # the LDM conversion round-trips every weight


def test_cancel_after_step_1_of_3_stops_there(tiny_sd: TinySD, engine: LocalImageEngine) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def progress(step: int, total: int, preview: bytes | None) -> None:
        seen.append(step)
        if step == 1:
            cancel.set()

    request = replace(TINY, steps=3, batch_count=2)
    with pytest.raises(GenerationCancelled) as caught:
        engine.generate(tiny_sd.diffusers_dir, request, progress=progress, cancel=cancel)
    assert seen == [1]
    assert (caught.value.step, caught.value.total, caught.value.completed, caught.value.images) == (1, 3, 0, ())
    # The pipeline survives a cancel and generates again.
    assert engine.generate(tiny_sd.diffusers_dir, TINY)[0].seed == 42


def test_a_cancel_set_before_starting_does_nothing(tiny_sd: TinySD, engine: LocalImageEngine) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        engine.generate(tiny_sd.diffusers_dir, TINY, cancel=cancel)
    assert engine.loaded is None  # nothing was loaded for a cancelled request


def test_single_file_without_a_complete_config_says_what_is_missing(offline: None, tiny_sd: TinySD) -> None:
    engine = LocalImageEngine(device="cpu")
    with pytest.raises(ModelConfigMissing, match="vocab.json"):
        engine.load(tiny_sd.single_file)


def test_inpainting_model_repaints_the_masked_area(tiny_inpaint: Path, engine: LocalImageEngine) -> None:
    def png(color: str, mode: str = "RGB") -> bytes:
        buf = io.BytesIO()
        Image.new(mode, (64, 64), color).save(buf, format="PNG")
        return buf.getvalue()

    request = replace(TINY, init_image=png("blue"), mask_image=png("white", "L"))
    (image,) = engine.generate(tiny_inpaint, request)
    assert engine.loaded is not None and engine.loaded.model_type is ModelType.INPAINT
    assert type(engine._pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert (image.width, image.height) == (64, 64) and read_png_text(image.png)["model_type"] == "inpaint"


def test_a_bad_size_is_refused_before_anything_loads(tiny_sd: TinySD, engine: LocalImageEngine) -> None:
    with pytest.raises(LocalModelError, match="multiples of 8"):
        engine.generate(tiny_sd.diffusers_dir, replace(TINY, width=65))
    assert engine.loaded is None


def test_a_checkpoint_that_does_not_match_its_config_fails_in_one_line(
    offline: None, tiny_sd: TinySD, engine: LocalImageEngine, tmp_path: Path
) -> None:
    wrong = write_safetensors(
        tmp_path / "wrong.safetensors",
        {
            "model.diffusion_model.input_blocks.0.0.weight": ("F32", (320, 4, 3, 3)),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F32", (320, 768)),
        },
    )
    with pytest.raises(CheckpointUnreadable, match="could not load as sd1") as caught:
        engine.load(wrong, config_dir=tiny_sd.config_dir)
    assert "\n" not in str(caught.value) and engine.loaded is None


def test_bad_requests_are_refused_before_generating() -> None:
    with pytest.raises(LocalModelError, match="multiples of 8"):
        _validate(TINY, 65, 64, ModelType.SD1)
    with pytest.raises(LocalModelError, match="input image"):
        _validate(TINY, 1024, 1024, ModelType.SDXL_REFINER)
    with pytest.raises(LocalModelError, match="mask"):
        _validate(GenerationRequest(prompt="x", init_image=b"png"), 512, 512, ModelType.INPAINT)


def test_importing_the_package_does_not_import_torch_or_diffusers() -> None:
    code = (
        "import sys, sparklio_desktop.core.local as m; "
        "heavy = [n for n in ('torch', 'diffusers', 'transformers', 'PIL') if n in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stdout + done.stderr
