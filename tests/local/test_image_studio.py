"""The image studio through the service and the dispatcher (tiny model, CPU): checkpoint
by name, LoRA discovery and refusal, bad input files, init-image requests that never fall
back to a cloud model, and the settings that reach the gallery row."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sparklio_desktop.core.dispatch import Dispatcher, Finished, RunRequest
from sparklio_desktop.core.gallery.recorder import GalleryRecorder
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.local.sd.loras import find_loras, lora_folders, probe_lora, why_incompatible
from sparklio_desktop.core.local.sd.pipeline import LocalImageEngine
from sparklio_desktop.core.local.sd.service import ImageOptions, StableDiffusionService
from sparklio_desktop.core.providers.errors import InvalidRequestError
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.workspace import Workspace
from tests.local.headers import write_safetensors
from tests.local.local_dispatch import local_dispatcher
from tests.local.tiny_sd import TinySD, build_tiny_lora

MODEL = "local/stable-diffusion"


def _png(color: str, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (64, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def _sdxl_lora(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_safetensors(
        path,
        {
            "lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": ("F16", (8, 1280)),
            "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k.lora_down.weight": ("F16", (8, 2048)),
        },
        metadata={"modelspec.trigger_phrase": "pixel art, 8bit", "ss_base_model_version": "sdxl_base_v1-0"},
    )


def test_loras_are_found_beside_a1111_and_comfyui_folders_and_probed_from_the_header(
    tiny_sd: TinySD, sparklio_home: Path, tmp_path: Path
) -> None:
    a1111 = tmp_path / "webui" / "models"
    (a1111 / "Stable-diffusion").mkdir(parents=True)
    comfy = tmp_path / "comfy" / "models"
    (comfy / "checkpoints").mkdir(parents=True)
    build_tiny_lora(tiny_sd, sparklio_home / "weights" / "lora" / "tinycat.safetensors")
    _sdxl_lora(a1111 / "Lora" / "pixel.safetensors")
    (comfy / "loras").mkdir()
    write_safetensors(
        comfy / "loras" / "sd15style.safetensors",
        {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight": ("F16", (16, 768))},
    )
    write_safetensors(comfy / "loras" / "full.safetensors", {"model.diffusion_model.out.0.weight": ("F16", (4,))})
    folders = lora_folders([a1111 / "Stable-diffusion", comfy / "checkpoints"])
    found = {f.name: f for f in find_loras(folders)}
    assert set(found) == {"tinycat", "pixel", "sd15style", "full"}
    assert (found["pixel"].base, found["pixel"].rank, found["pixel"].triggers) == (
        ModelType.SDXL_BASE, 8, ("pixel art", "8bit"))  # fmt: skip
    assert (found["sd15style"].base, found["sd15style"].rank) == (ModelType.SD1, 16)
    assert found["tinycat"].triggers == ("tinycat", "whiskers") and found["tinycat"].base is None
    assert found["full"].problem == "a full checkpoint, not a LoRA"
    assert why_incompatible(found["pixel"], ModelType.SD1) == "LoRA pixel is for SDXL checkpoints; this one is SD 1.x"
    assert why_incompatible(found["sd15style"], ModelType.SD1) is None
    assert probe_lora(tmp_path / "missing.safetensors").problem is not None


@dataclass
class Local:
    dispatcher: Dispatcher
    ledger: LedgerStore
    service: StableDiffusionService
    recorder: GalleryRecorder


@pytest.fixture
def local(tiny_sd: TinySD, tiny_inpaint: Path, sparklio_home: Path, offline: None, tmp_path: Path) -> Iterator[Local]:
    """Local generation with the tiny checkpoint installed as "tiny-sd"; every cloud image
    model is left *available*, so a fallback to one would be attempted if allowed."""
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    workspace = Workspace()
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    service = StableDiffusionService.from_settings(workspace.settings)
    recorder = GalleryRecorder()
    dispatcher = local_dispatcher(
        workspace, ledger, service, unusable=lambda m: m.provider == "ollama", gallery=recorder
    )
    yield Local(dispatcher, ledger, service, recorder)
    recorder.close()
    service.close()
    ledger.close()


def test_request_errors_are_said_before_anything_loads(local: Local, tmp_path: Path) -> None:
    service = local.service

    def fails(**options: object) -> str:
        with pytest.raises(InvalidRequestError) as caught:
            asyncio.run(service.generate("a cat", "64x64", 1, options=ImageOptions(steps=1, **options)))  # type: ignore[arg-type]
        assert "\n" not in str(caught.value)
        return str(caught.value)

    assert "did you mean tiny-sd" in fails(checkpoint="tiny-sdd")
    assert "no SDXL base checkpoint is installed" in fails(refiner=True)
    assert "not an image" in fails(init_image=b"%PDF-1.4 not an image")
    assert "unknown scheduler 'Eulr'" in fails(scheduler="Eulr")
    _sdxl_lora(_lora_home() / "pixel.safetensors")
    assert "is for SDXL checkpoints; this one is SD 1.x" in fails(loras=(("pixel", 1.0),))
    assert "no LoRA named 'pixl'" in fails(loras=(("pixl", 1.0),))
    assert service.engine.loaded is None  # nothing was loaded for any of them


def _lora_home() -> Path:
    from sparklio_desktop.core.local.sd.loras import default_lora_dir

    return default_lora_dir()


def _run(local: Local, options: ImageOptions, progress=None):  # type: ignore[no-untyped-def]
    route = RouteRequest(task="image_generation_bulk", prompt="a cat", images=1, image_size="64x64", explore=False)

    async def go():  # type: ignore[no-untyped-def]
        result = None
        async for event in local.dispatcher.stream(
            RunRequest(route=route, image_options=options, image_progress=progress)
        ):
            if isinstance(event, Finished):
                result = event.result
        return result

    return asyncio.run(go())


class _OutOfMemoryEngine(LocalImageEngine):
    """The real engine; its step callback raises a real CUDA out-of-memory error, as a
    GPU that runs out mid-job does (the service hops progress to the loop, so the
    injection sits here, on the worker thread)."""

    def generate(self, checkpoint: Path, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        import torch

        def out_of_memory(step: int, total: int, preview: bytes | None) -> None:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")

        return super().generate(checkpoint, request, **{**kwargs, "progress": out_of_memory})


def test_an_init_image_request_that_fails_locally_is_not_sent_to_a_cloud_model(local: Local) -> None:
    local.service._engine = _OutOfMemoryEngine(device="cpu")
    result = _run(local, ImageOptions(steps=2, seed=1, init_image=_png("blue"), strength=0.5))
    assert not result.ok and "out of GPU memory" in result.error
    attempts = local.ledger.attempts(result.request_id)
    assert [a.provider for a in attempts] == ["diffusers"]  # no cloud image model was called
    # Without an init image, the same failure moves on down the chain (to a cloud model here).
    result = _run(local, ImageOptions(steps=2, seed=1))
    assert len(local.ledger.attempts(result.request_id)) > 1


def test_image_to_image_settings_reach_the_gallery_row(local: Local, tiny_sd: TinySD, tmp_path: Path) -> None:
    init = tmp_path / "start.png"
    init.write_bytes(_png("blue"))
    build_tiny_lora(tiny_sd, _lora_home() / "tinycat.safetensors")
    options = ImageOptions(
        steps=2, seed=5, checkpoint="tiny-sd", scheduler="Euler a", init_image=init.read_bytes(),
        init_image_path=init, strength=0.6, loras=(("tinycat", 0.7),),
    )  # fmt: skip
    result = _run(local, options)
    assert result.ok, result.error
    (row,) = local.recorder.store().by_request(result.request_id)
    assert (row.init_image, row.strength, row.scheduler, row.checkpoint) == (init, 0.6, "Euler a", "tiny-sd")
    (lora,) = row.loras
    assert (lora.name, lora.weight) == ("tinycat", 0.7) and lora.hash and len(lora.hash) == 10
    assert row.extra.get("denoising_strength") == "0.6"
    assert json.loads(json.dumps(row.to_dict()))["parameters"]["loras"][0]["weight"] == 0.7


def test_a_mask_prefers_an_installed_inpainting_checkpoint_of_the_same_family(
    local: Local, tiny_inpaint: Path, sparklio_home: Path
) -> None:
    options = ImageOptions(init_image=_png("blue"), mask_image=_png("white", "L"))
    assert [p.name for p in local.service._plan(options).checkpoints] == ["tiny-sd"]  # the base's inpaint pipeline
    shutil.copytree(tiny_inpaint, sparklio_home / "weights" / "sd" / "tiny-inpaint")
    assert [p.name for p in local.service._plan(options).checkpoints] == ["tiny-inpaint", "tiny-sd"]
    chosen = ImageOptions(checkpoint="tiny-sd", init_image=options.init_image, mask_image=options.mask_image)
    assert [p.name for p in local.service._plan(chosen).checkpoints] == ["tiny-inpaint", "tiny-sd"]
    assert "tiny-inpaint" not in [p.name for p in local.service._plan(ImageOptions()).checkpoints]
