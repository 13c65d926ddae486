"""Stable Diffusion as the dispatcher sees it: ``await generate(prompt, size, n)``.

The dispatcher treats the local pipeline like any provider. This adapter picks the
checkpoint (the one it was given, else the first usable text-to-image one in the weights
folders: loadable, its header probes, its type known), keeps one engine so the pipeline
stays loaded between images, and runs torch in a single worker thread so the event loop
(and the window) never blocks. Cancelling the awaiting task stops generation between two
denoising steps.

A checkpoint that fails to load is remembered as bad for this service's life and the
next usable one is tried. When nothing can generate (no usable checkpoint, torch missing,
out of memory) the service raises :class:`LocalEngineUnavailable`, a provider error the
dispatcher records and answers by moving on to the next image model; an impossible image
size is an :class:`InvalidRequestError` (no other model would take it either).

:class:`ImageOptions` carries what only local generation knows (negative prompt,
guidance, seed, previews). Step progress is reported by the engine on the worker
thread; the service hops it back onto the event loop (``call_soon_threadsafe``) before
the caller's callback runs, so a view-model may emit Qt signals from it directly.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.errors import (
    CheckpointUnreadable,
    GenerationCancelled,
    LocalEngineUnavailable,
    LocalModelError,
    ModelConfigMissing,
    PickleRefused,
)
from sparklio_desktop.core.local.gpu_arbiter import GpuArbiter
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.local.sd.pipeline import GenerationRequest, LocalImageEngine
from sparklio_desktop.core.local.sd.probe import probe
from sparklio_desktop.core.local.sd.runtime import import_runtime
from sparklio_desktop.core.local.sd.weights import probe_checkpoints
from sparklio_desktop.core.local.vram import GIB, gpu_memory
from sparklio_desktop.core.providers.errors import InvalidRequestError

TEXT_TO_IMAGE = frozenset({ModelType.SD1, ModelType.SD2, ModelType.SDXL_BASE})

DEFAULT_STEPS = 25

ImageProgress = Callable[[int, int, bytes | None], None]
"""(step done, total steps, PNG preview or None): called on the event loop's thread."""


@dataclass(frozen=True)
class ImageOptions:
    """Local generation settings beyond prompt, size and count; None: the engine's default."""

    negative_prompt: str = ""
    guidance: float | None = None
    seed: int | None = None  # None: random; image i of a batch uses seed + i
    steps: int | None = None  # wins over the ``steps`` argument of ``generate``
    preview_every: int = 0  # 0: no previews; n: a PNG preview every n steps
    # The image studio (issue 15). None/empty: the setting, else the engine's default.
    checkpoint: str | None = None  # a name from `sparklio models sd list`, or a path
    scheduler: str | None = None  # an A1111 sampler name ("Euler a", "DPM++ 2M", …)
    init_image: bytes | None = None  # image-to-image / inpainting source (PNG, JPEG, WebP)
    init_image_path: Path | None = None  # where it came from, for the gallery (None: painted/pasted)
    strength: float | None = None  # 0.0–1.0; None: 0.75 image-to-image, 1.0 inpainting
    mask_image: bytes | None = None  # inpainting: white = repaint
    mask_path: Path | None = None
    hires: float | None = None  # 1.5 or 2: generate, upscale, image-to-image at low strength
    loras: tuple[tuple[str, float], ...] = ()  # (LoRA name, weight)
    refiner: bool = False  # SDXL: finish with the installed refiner


def _on_loop(loop: asyncio.AbstractEventLoop, progress: ImageProgress) -> ImageProgress:
    """A progress callback for the worker thread that runs ``progress`` on ``loop``."""

    def hop(step: int, total: int, preview: bytes | None) -> None:
        try:
            loop.call_soon_threadsafe(progress, step, total, preview)
        except RuntimeError:  # the loop closed while the worker finished a step
            pass

    return hop


def _consume(future: Future[Any] | asyncio.Future[Any]) -> None:
    """Retrieve a worker's outcome nobody awaits any more (after a cancel), so asyncio
    does not log "exception was never retrieved" for the expected GenerationCancelled."""
    if not future.cancelled():
        future.exception()


class StableDiffusionService:
    def __init__(
        self,
        user_folders: tuple[Path, ...] = (),
        checkpoint: Path | None = None,
        steps: int = DEFAULT_STEPS,
        engine: LocalImageEngine | None = None,
        arbiter: Any | None = None,
    ) -> None:
        self._folders = tuple(user_folders)
        self.arbiter = arbiter  # GpuArbiter: shares the card with Ollama; None on CPU-only machines
        self._checkpoint = checkpoint
        self.steps = steps
        self._engine = engine
        self._failed: dict[Path, str] = {}  # checkpoints that would not load, and why
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparklio-gpu")

    @classmethod
    def from_settings(cls, settings: Any) -> StableDiffusionService:
        service = cls(tuple(Path(p) for p in settings.local.sd_weight_dirs))
        service.settings = settings
        return service

    settings: Any = None

    def _gpu_arbiter(self) -> Any | None:
        """An arbiter once we know the pipeline runs on CUDA (asked only when generating)."""
        if self.arbiter is not None or self.settings is None:
            return self.arbiter

        torch, _ = import_runtime()  # LocalRuntimeMissing, not ImportError, without the extra

        if not torch.cuda.is_available():
            return None
        from sparklio_desktop.core.local.ollama_admin import OllamaAdmin

        total = int(gpu_memory(self.settings.gpu.vram_gb).total_gb * GIB)
        host = self.settings.providers.ollama.host
        self.arbiter = GpuArbiter(total, lambda: OllamaAdmin(host), self.engine.residency, self.engine.unload)
        return self.arbiter

    async def make_room_for_ollama(self, name: str, vram_gb: float) -> None:
        """Called before a local Ollama model answers: frees the idle pipeline if needed."""
        arbiter = self.arbiter
        if arbiter is None and (self._engine is None or self._engine.residency() is None):
            return  # nothing of ours on the GPU
        arbiter = arbiter or self._gpu_arbiter()
        if arbiter is not None:
            await arbiter.before_ollama(name, int(vram_gb * (1 << 30)))

    @property
    def engine(self) -> LocalImageEngine:
        if self._engine is None:
            self._engine = LocalImageEngine()
        return self._engine

    def candidates(self) -> list[Path]:
        """The checkpoints to try, best first: the chosen one, else every usable text-to-image one."""
        if self._checkpoint is not None:
            return [self._checkpoint]
        return [
            row.checkpoint.path
            for row in probe_checkpoints(self._folders)
            if row.usable and row.checkpoint.loadable and row.probe is not None
            and row.probe.model_type in TEXT_TO_IMAGE and row.checkpoint.path not in self._failed
        ]  # fmt: skip

    def checkpoint(self) -> Path:
        found = self.candidates()
        if found:
            return found[0]
        raise LocalEngineUnavailable(self._nothing_usable())

    def _nothing_usable(self) -> str:
        if self._failed:
            path, why = next(iter(self._failed.items()))
            more = f" (and {len(self._failed) - 1} more)" if len(self._failed) > 1 else ""
            return f"no Stable Diffusion checkpoint could be loaded: {why}{more}"
        return ("no usable Stable Diffusion checkpoint (see `sparklio models sd list`); "
                "add one with `sparklio models sd import PATH`")  # fmt: skip

    async def generate(
        self,
        prompt: str,
        size: str,
        n: int,
        steps: int | None = None,
        *,
        options: ImageOptions | None = None,
        progress: ImageProgress | None = None,
    ) -> tuple[tuple[bytes, ...], float]:
        try:
            width, height = _size(size)
        except SparklioError as err:
            raise InvalidRequestError(str(err), provider="diffusers") from None
        options = options or ImageOptions()
        extra: dict[str, Any] = {} if options.guidance is None else {"guidance": options.guidance}
        request = GenerationRequest(
            prompt,
            negative_prompt=options.negative_prompt,
            steps=options.steps or steps or self.steps,
            width=width,
            height=height,
            seed=options.seed,
            batch_count=max(1, n),
            preview_every=max(0, options.preview_every),
            **extra,
        )
        try:
            candidates = await asyncio.to_thread(self.candidates)
            for checkpoint in candidates:
                try:
                    return await self._generate_with(checkpoint, request, progress)
                except (CheckpointUnreadable, ModelConfigMissing, PickleRefused) as err:
                    if self._checkpoint is not None:
                        raise
                    self._failed[checkpoint] = str(err)  # a bad file: the next usable one answers
            raise LocalEngineUnavailable(self._nothing_usable())
        except GenerationCancelled:
            raise
        except LocalModelError as err:  # no runtime, out of memory, a chosen checkpoint that is bad
            raise LocalEngineUnavailable(str(err)) from err

    async def _generate_with(
        self, checkpoint: Path, request: GenerationRequest, progress: ImageProgress | None
    ) -> tuple[tuple[bytes, ...], float]:
        arbiter = await asyncio.to_thread(self._gpu_arbiter)  # importing torch must not block the loop
        if arbiter is not None:
            needed = (await asyncio.to_thread(probe, checkpoint)).est_vram_bytes
            await arbiter.before_sd(str(checkpoint), needed)
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        hop = None if progress is None else _on_loop(loop, progress)
        future = loop.run_in_executor(
            self._executor, lambda: self.engine.generate(checkpoint, request, progress=hop, cancel=cancel)
        )
        try:
            images = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # the worker stops at the next step
            future.add_done_callback(_consume)
            raise
        return tuple(image.png for image in images), sum(image.gpu_seconds for image in images)

    async def unload(self) -> None:
        """Give the pipeline's memory back; the next image loads it again. Runs on the
        worker thread, so it waits for a generation in progress instead of racing it."""
        if self._engine is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._engine.unload)

    async def cuda_available(self) -> bool:
        """Whether torch sees a CUDA GPU (importing torch happens off the loop)."""
        return await asyncio.to_thread(_cuda_available)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.unload()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _size(size: str) -> tuple[int | None, int | None]:
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise SparklioError(f"image size {size!r}: expected WIDTHxHEIGHT, e.g. 512x512") from None
    if width % 8 or height % 8 or not (64 <= width <= 2048 and 64 <= height <= 2048):
        raise SparklioError(f"image size {size}: width and height must be multiples of 8 between 64 and 2048")
    return width, height


class LazyStableDiffusion:
    """The service, built on the first image request, in a worker thread.

    Importing the generation stack has no place on the app's start-up path, and building
    it off the loop keeps the first image request from freezing the window.
    """

    def __init__(self, settings: Any) -> None:
        self._settings = settings
        self._service: StableDiffusionService | None = None

    async def _get(self) -> StableDiffusionService:
        if self._service is None:
            self._service = await asyncio.to_thread(StableDiffusionService.from_settings, self._settings)
        return self._service

    async def generate(
        self,
        prompt: str,
        size: str,
        n: int,
        steps: int | None = None,
        *,
        options: ImageOptions | None = None,
        progress: ImageProgress | None = None,
    ) -> tuple[tuple[bytes, ...], float]:
        return await (await self._get()).generate(prompt, size, n, steps, options=options, progress=progress)

    async def unload(self) -> None:
        if self._service is not None:  # nothing is loaded before the first image
            await self._service.unload()

    async def cuda_available(self) -> bool:
        return await asyncio.to_thread(_cuda_available)

    async def make_room_for_ollama(self, name: str, vram_gb: float) -> None:
        if self._service is not None:  # nothing of ours is loaded before the first image
            await self._service.make_room_for_ollama(name, vram_gb)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
