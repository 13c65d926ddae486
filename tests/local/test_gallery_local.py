"""A local Stable Diffusion run is recorded in the gallery with the settings its PNG carries,
the checkpoint's AutoV2 ``Model hash`` among them (tiny random-weight model, CPU)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from sparklio_desktop.core.dispatch import Finished, RunRequest
from sparklio_desktop.core.gallery import GalleryStore
from sparklio_desktop.core.gallery.parameters import read_png_parameters
from sparklio_desktop.core.gallery.recorder import GalleryRecorder
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local import read_png_text
from sparklio_desktop.core.local.model_hash import CACHE_FILENAME
from sparklio_desktop.core.local.sd.pipeline import LocalImageEngine
from sparklio_desktop.core.local.sd.service import ImageOptions, StableDiffusionService
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.workspace import Workspace
from tests.local.local_dispatch import TinyConfigEngine, local_dispatcher
from tests.local.tiny_sd import TinySD

MODEL = "local/stable-diffusion"


def _run(checkpoint: Path, engine: LocalImageEngine, tmp_path: Path, seed: int = 42) -> tuple[Any, GalleryRecorder]:
    workspace = Workspace()
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    service = StableDiffusionService(checkpoint=checkpoint, engine=engine)
    recorder = GalleryRecorder()
    dispatcher = local_dispatcher(
        workspace, ledger, service, unusable=lambda m: m.provider != "diffusers", gallery=recorder
    )
    route = RouteRequest(task="image_generation_bulk", prompt="a cat", images=2, image_size="64x64", explore=False)
    options = ImageOptions(negative_prompt="blurry", seed=seed, guidance=5.0, steps=2)
    request = RunRequest(route=route, model=MODEL, image_options=options)

    async def go() -> Any:
        async for event in dispatcher.stream(request):
            if isinstance(event, Finished):
                return event.result
        return None

    try:
        result = asyncio.run(go())
    finally:
        service.close()
        ledger.close()
    assert result is not None and result.ok, result and result.error
    return result, recorder


def test_a_local_run_is_recorded_with_its_parameters_and_model_hash(
    tiny_sd: TinySD, sparklio_home: Path, offline: None, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "tiny-sd1.safetensors"
    shutil.copy2(tiny_sd.single_file, checkpoint)
    autov2 = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    result, recorder = _run(checkpoint, TinyConfigEngine(tiny_sd.config_dir), tmp_path)
    assert result.gallery_warning is None and len(result.gallery_ids) == 2 and len(result.image_files) == 2
    store = recorder.store()
    rows = store.by_request(result.request_id)
    assert [r.id for r in rows] == list(result.gallery_ids)
    first = rows[0]
    assert first.path == Path(result.image_files[0]) and first.path.read_bytes() == result.images[0]
    assert first.path.parent.parent == sparklio_home / "images" and first.path.name == f"{result.request_id}-1.png"
    assert (first.source, first.model_id, first.provider, first.cost_usd) == ("local", MODEL, "diffusers", 0)
    assert (first.prompt, first.negative_prompt, first.width, first.height) == ("a cat", "blurry", 64, 64)
    assert (first.seed, rows[1].seed, first.steps, first.guidance) == (42, 43, 2, 5.0)
    assert (first.checkpoint, first.checkpoint_hash, first.scheduler) == ("tiny-sd1", autov2, "Euler")
    # the PNG says the same, in A1111's words, and our reader agrees
    parameters = read_png_text(first.path.read_bytes())["parameters"]
    assert f"Model hash: {autov2}, Model: tiny-sd1" in parameters
    assert read_png_parameters(first.path)["checkpoint_hash"] == autov2
    # the hash is computed once: the cache holds it by path, size and modification time
    cache = json.loads((sparklio_home / CACHE_FILENAME).read_text())
    entry = cache[str(checkpoint.resolve())]
    assert entry["sha256"][:10] == autov2 and entry["size"] == checkpoint.stat().st_size
    recorder.close()
    with GalleryStore.open_default() as again:
        assert again.count() == 2 and again.checkpoints() == [("tiny-sd1", 2)]
        assert [r.id for r in again.page(0, 10, query="cat", checkpoint="tiny-sd1")] == [rows[1].id, rows[0].id]


def test_a_diffusers_folder_has_no_model_hash(tiny_sd: TinySD, sparklio_home: Path, offline: None, tmp_path: Path):
    result, recorder = _run(tiny_sd.diffusers_dir, LocalImageEngine(device="cpu"), tmp_path)
    rows = recorder.store().by_request(result.request_id)
    assert rows[0].checkpoint == tiny_sd.diffusers_dir.name and rows[0].checkpoint_hash is None
    assert "Model hash" not in read_png_text(rows[0].path.read_bytes())["parameters"]
    recorder.close()
