"""Local image options through the dispatcher, on the tiny model: negative prompt, seed,
guidance and steps reach the PNG; one seed gives the same bytes; step progress arrives
on the event loop's thread; cancelling between steps is recorded as cancelled."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyring.backends import null
from PIL import Image

from sparklio_desktop.core.dispatch import Dispatcher, Finished, RunRequest
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local import read_png_text
from sparklio_desktop.core.local.sd.service import ImageOptions, StableDiffusionService
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.local.tiny_sd import TinySD

MODEL = "local/stable-diffusion"
OPTIONS = ImageOptions(negative_prompt="blurry", seed=42, guidance=5.0, steps=2)


@dataclass
class Local:
    dispatcher: Dispatcher
    ledger: LedgerStore
    service: StableDiffusionService


@pytest.fixture
def local(tiny_sd: TinySD, sparklio_home: Path, offline: None, tmp_path: Path) -> Iterator[Local]:
    """A dispatcher whose only available models are local; the tiny checkpoint is installed."""
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    workspace = Workspace()
    unavailable = {m.id: (Rule.NO_API_KEY, "test") for m in workspace.catalog.values() if m.provider != "diffusers"}
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    service = StableDiffusionService.from_settings(workspace.settings)
    dispatcher = Dispatcher(
        workspace,
        ledger=ledger,
        keys=KeyStore(backend=null.Keyring()),
        live=lambda: LiveState(unavailable=unavailable),
        local_images=service,
    )
    yield Local(dispatcher, ledger, service)
    service.close()
    ledger.close()


def _request(options: ImageOptions = OPTIONS, progress=None) -> RunRequest:
    route = RouteRequest(task="image_generation_bulk", prompt="a cat", images=1, image_size="64x64", explore=False)
    return RunRequest(route=route, model=MODEL, image_options=options, image_progress=progress)


async def _run(dispatcher: Dispatcher, request: RunRequest):
    result = None
    async for event in dispatcher.stream(request):
        if isinstance(event, Finished):
            result = event.result
    assert result is not None and result.ok, result and result.error
    return result


def test_options_reach_the_png_and_one_seed_gives_the_same_image(local: Local) -> None:
    async def go():
        return await _run(local.dispatcher, _request()), await _run(local.dispatcher, _request())

    first, second = asyncio.run(go())
    (png,) = first.images
    assert second.images == (png,)  # same seed, same settings: the same bytes
    text = read_png_text(png)
    assert (text["prompt"], text["negative_prompt"], text["seed"]) == ("a cat", "blurry", "42")
    assert (text["steps"], text["guidance"], text["size"]) == ("2", "5", "64x64")
    assert "Negative prompt: blurry" in text["parameters"] and "Seed: 42" in text["parameters"]
    (row,) = local.ledger.attempts(first.request_id)
    assert row.outcome == "ok" and row.cost_usd == 0 and row.images == 1 and row.gpu_seconds > 0


def test_another_seed_gives_another_image(local: Local) -> None:
    async def go():
        a = await _run(local.dispatcher, _request())
        b = await _run(
            local.dispatcher, _request(ImageOptions(negative_prompt="blurry", seed=43, guidance=5.0, steps=2))
        )
        return a, b

    a, b = asyncio.run(go())
    assert a.images != b.images and read_png_text(b.images[0])["seed"] == "43"


def test_progress_arrives_on_the_loop_thread_with_a_preview(local: Local) -> None:
    calls: list[tuple[int, int, bool, int]] = []

    def progress(step: int, total: int, preview: bytes | None) -> None:
        calls.append((step, total, preview is not None, threading.get_ident()))

    options = ImageOptions(seed=1, steps=2, preview_every=1)
    asyncio.run(_run(local.dispatcher, _request(options, progress)))
    loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
    assert [(s, t) for s, t, _, _ in calls] == [(1, 2), (2, 2)]
    assert all(has_preview for _, _, has_preview, _ in calls)
    assert {thread for *_, thread in calls} == {loop_thread}


def test_cancelling_after_the_first_step_stops_and_is_recorded(local: Local) -> None:
    steps: list[int] = []

    async def go() -> str:
        first_step = asyncio.Event()
        request_ids: list[str] = []

        def progress(step: int, total: int, preview: bytes | None) -> None:
            steps.append(step)
            first_step.set()

        async def consume() -> None:
            async for event in local.dispatcher.stream(_request(ImageOptions(seed=7, steps=6), progress)):
                request_ids.append(getattr(event, "request_id", ""))

        task = asyncio.create_task(consume())
        await asyncio.wait_for(first_step.wait(), 120)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The worker stops at the next step; another image then starts at once.
        await _run(local.dispatcher, _request())
        return request_ids[0]

    request_id = asyncio.run(go())
    assert 1 <= len(steps) < 6
    (row,) = local.ledger.attempts(request_id)
    assert row.outcome == "cancelled" and row.cost_usd == 0 and row.images == 0


@pytest.mark.timeout(360)  # a torch process that generates: its own deadline below is 300 s
def test_the_command_line_writes_options_into_the_png(tiny_sd: TinySD, sparklio_home: Path, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    init = tmp_path / "start.png"
    Image.new("RGB", (64, 64), "blue").save(init)
    env = dict(os.environ, HF_HUB_OFFLINE="1", SPARKLIO_HOME=str(sparklio_home))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparklio_desktop",
            "run",
            "--task",
            "image_generation_bulk",
            "--prompt",
            "a cat",
            "--size",
            "64x64",
            "--steps",
            "2",
            "--negative",
            "blurry",
            "--guidance",
            "5",
            "--image-seed",
            "42",
            "--checkpoint",
            "tiny-sd",
            "--scheduler",
            "euler_a",
            "--init-image",
            str(init),
            "--strength",
            "0.5",
            "--out",
            str(tmp_path / "out"),
            "--json",
            "--no-explore",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (path,) = json.loads(result.stdout)["files"]
    text = read_png_text(Path(path))
    assert (text["negative_prompt"], text["seed"], text["steps"], text["guidance"]) == ("blurry", "42", "2", "5")
    assert (text["sampler"], text["model"]) == ("Euler a", "tiny-sd")
    assert "Denoising strength: 0.5" in text["parameters"]
