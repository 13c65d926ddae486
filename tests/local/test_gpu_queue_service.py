"""The GPU queue and the VRAM plan through the real service and the tiny model (CPU)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from sparklio_desktop.core.local.gpu_queue import GpuJobView, JobState
from sparklio_desktop.core.local.sd.service import ImageOptions, LazyStableDiffusion, StableDiffusionService
from sparklio_desktop.core.local.sd.vram_plan import Fit
from sparklio_desktop.core.settings.config import Settings
from tests.local.local_dispatch import TinyConfigEngine, local_dispatcher
from tests.local.tiny_sd import TinySD


def test_two_jobs_wait_in_line_and_the_waiting_one_can_be_cancelled(tiny_sd: TinySD, offline: None) -> None:
    service = StableDiffusionService(checkpoint=tiny_sd.single_file, engine=TinyConfigEngine(tiny_sd.config_dir))
    seen: list[tuple[GpuJobView, ...]] = []
    service.queue.subscribe(seen.append)
    options = ImageOptions(seed=1, steps=1, source="recipe")

    async def main() -> tuple[tuple[bytes, ...], float]:
        async def ask(prompt: str, n: int, queued: int) -> asyncio.Task[tuple[tuple[bytes, ...], float]]:
            # One after another: each request checks its settings in a thread before it
            # queues, so requests made at the same instant may queue in any order.
            task = asyncio.create_task(service.generate(prompt, "64x64", n, options=options))
            while len(service.queue) < queued:
                await asyncio.sleep(0.01)
            return task

        # Hold the GPU worker thread, so the first job stays running while the others queue.
        gate = threading.Event()
        service._executor.submit(gate.wait, 60)
        first = await ask("a cat on a mat", 1, 1)
        second = await ask("a dog\nin the rain", 2, 2)
        third = await ask("a third", 1, 3)
        snap = service.queue.snapshot()
        assert [(v.label, v.state, v.place, v.source) for v in snap] == [
            ("a cat on a mat", JobState.RUNNING, 0, "recipe"),
            ("a dog in the rain ×2", JobState.WAITING, 1, "recipe"),
            ("a third", JobState.WAITING, 2, "recipe"),
        ]
        assert service.queue.cancel(snap[1].job_id)
        with pytest.raises(asyncio.CancelledError):
            await second
        assert [v.label for v in service.queue.snapshot()] == ["a cat on a mat", "a third"]
        gate.set()
        images, _ = await first
        await third
        return images

    try:
        images = asyncio.run(main())
    finally:
        service.close()
    assert len(images) == 1 and images[0].startswith(b"\x89PNG")
    assert seen[-1] == ()
    # The cancelled job never reached the GPU: only two jobs ever ran.
    ran = {views[0].label for views in seen if views and views[0].state is JobState.RUNNING}
    assert ran == {"a cat on a mat", "a third"}


def test_the_vram_plan_is_about_the_checkpoint_the_job_would_use(tiny_sd: TinySD, sparklio_home: Path) -> None:
    settings = Settings.model_validate({"gpu": {"vram_gb": 12.0}})
    service = StableDiffusionService(checkpoint=tiny_sd.single_file)
    service.settings = settings
    try:
        plan = service.vram_plan("64x64", ImageOptions(hires=2.0), cloud_alternative="gpt-image-1")
    finally:
        service.close()
    assert (plan.width, plan.height) == (128, 128)  # the hires pass's size sets the peak
    assert plan.fit is Fit.FITS
    assert plan.cloud_alternative is None
    assert plan.weights_gb < 0.01  # the tiny model's own parameter counts, from its header


def test_the_lazy_service_has_its_queue_before_the_first_image(sparklio_home: Path) -> None:
    lazy = LazyStableDiffusion(Settings())
    assert len(lazy.queue) == 0 and lazy.queue.snapshot() == ()
    lazy.close()


def test_the_queue_names_who_asked_through_the_dispatcher(tiny_sd: TinySD, offline: None, tmp_path: Path) -> None:
    from sparklio_desktop.core.dispatch import Finished, RunRequest
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.routing.router import RouteRequest
    from sparklio_desktop.core.workspace import Workspace

    workspace = Workspace()
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    service = StableDiffusionService(checkpoint=tiny_sd.single_file, engine=TinyConfigEngine(tiny_sd.config_dir))
    sources: set[str] = set()
    service.queue.subscribe(lambda jobs: sources.update(job.source for job in jobs))
    dispatcher = local_dispatcher(workspace, ledger, service, unusable=lambda m: m.provider != "diffusers")
    route = RouteRequest(task="image_generation_bulk", prompt="a cat", images=1, image_size="64x64", explore=False)
    # A batch row asks with no image options of its own: the queue still says it is a batch's.
    request = RunRequest(route=route, model="local/stable-diffusion", origin="batch")

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
    assert sources == {"batch"}
