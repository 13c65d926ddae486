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
guidance, seed, previews, and the image studio's checkpoint, scheduler, init image,
mask, strength, hires, LoRAs and refiner: docs/local_images.md). The service resolves
names to files before anything loads (the checkpoint, an inpainting checkpoint of the
same family for a mask, the refiner, LoRAs checked against the checkpoint's family); a
request that cannot work as asked is an :class:`InvalidRequestError`.

Step progress is reported by the engine on the worker thread; the service hops it back
onto the event loop (``call_soon_threadsafe``) before the caller's callback runs, so a
view-model may emit Qt signals from it directly.
"""

from __future__ import annotations

import asyncio
import difflib
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.errors import (
    BadInputImage,
    BadLora,
    CheckpointUnreadable,
    GenerationCancelled,
    LocalEngineUnavailable,
    LocalModelError,
    ModelConfigMissing,
    PickleRefused,
)
from sparklio_desktop.core.local.gpu_arbiter import GpuArbiter
from sparklio_desktop.core.local.gpu_queue import GpuQueue
from sparklio_desktop.core.local.model_hash import autov2_hash
from sparklio_desktop.core.local.sd.families import DEFAULT_RESOLUTION, TEXT_TO_IMAGE, ModelType
from sparklio_desktop.core.local.sd.loras import (
    LoraChoice,
    default_lora_dir,
    find_loras,
    lora_folders,
    probe_lora,
    why_incompatible,
)
from sparklio_desktop.core.local.sd.modes import input_image
from sparklio_desktop.core.local.sd.pipeline import GenerationRequest, LocalImageEngine
from sparklio_desktop.core.local.sd.probe import probe
from sparklio_desktop.core.local.sd.runtime import import_runtime
from sparklio_desktop.core.local.sd.schedulers import UnknownSampler, sampler_name
from sparklio_desktop.core.local.sd.vram_plan import ImagePlan, plan_image_job
from sparklio_desktop.core.local.sd.weights import ProbedCheckpoint, probe_checkpoints
from sparklio_desktop.core.local.vram import DEFAULT_GPU_GB, GIB, gpu_memory
from sparklio_desktop.core.providers.errors import InvalidRequestError
from sparklio_desktop.core.routing.ollama_hosts import ollama_base_url

__all__ = ["TEXT_TO_IMAGE", "ImageOptions", "ImageProgress", "LazyStableDiffusion", "StableDiffusionService"]

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
    source: str = "images"  # who asked, for the GPU queue's list: "images", "recipe", "batch", "cli"


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
        steps: int | None = None,  # None: the checkpoint type's default
        engine: LocalImageEngine | None = None,
        arbiter: Any | None = None,
        queue: GpuQueue | None = None,
    ) -> None:
        self._folders = tuple(user_folders)
        self.queue = (
            queue if queue is not None else GpuQueue()
        )  # (empty is falsy) every job waits its turn for the GPU here
        self.arbiter = arbiter  # GpuArbiter: shares the card with Ollama; None on CPU-only machines
        self._checkpoint = checkpoint
        self.steps = steps
        self._engine = engine
        self._failed: dict[Path, str] = {}  # checkpoints that would not load, and why
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sparklio-gpu")

    @classmethod
    def from_settings(cls, settings: Any, queue: GpuQueue | None = None) -> StableDiffusionService:
        service = cls(tuple(Path(p) for p in settings.local.sd_weight_dirs), queue=queue)
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
        self.arbiter = GpuArbiter(
            total, lambda: OllamaAdmin(host), self.engine.residency, self.engine.unload, host=host
        )
        return self.arbiter

    def _is_local_ollama(self, host: str | None) -> bool:
        """Whether Ollama ``host`` (None: the local one) runs on this machine's GPU."""
        if host is None:
            return True
        if self.arbiter is not None:
            return bool(self.arbiter.serves(host))
        local = self.settings.providers.ollama.host if self.settings is not None else None
        return ollama_base_url(host).lower() == ollama_base_url(local).lower()

    async def make_room_for_ollama(self, name: str, vram_gb: float, host: str | None = None) -> None:
        """Called before an Ollama model answers: frees the idle pipeline if needed. A model
        on a LAN Ollama host (``host``) runs on that box's GPU: nothing here waits or unloads."""
        if not self._is_local_ollama(host):
            return
        arbiter = self.arbiter
        if arbiter is None and (self._engine is None or self._engine.residency() is None):
            return  # nothing of ours on the GPU
        arbiter = arbiter or self._gpu_arbiter()
        if arbiter is not None:
            await arbiter.before_ollama(name, int(vram_gb * (1 << 30)), host)

    @property
    def engine(self) -> LocalImageEngine:
        if self._engine is None:
            self._engine = LocalImageEngine()
        return self._engine

    def candidates(self, options: ImageOptions | None = None) -> list[Path]:
        """The checkpoints to try, best first: the chosen one (``options.checkpoint``, else
        the ``local.sd_checkpoint`` setting, else the one this service was built with),
        else every usable text-to-image one. With a mask, an installed inpainting
        checkpoint of the same family goes first."""
        return self._plan(options or ImageOptions()).checkpoints

    def _rows(self) -> list[ProbedCheckpoint]:
        return probe_checkpoints(self._folders)

    def _plan(self, options: ImageOptions) -> _Plan:
        """Checkpoints, refiner and LoRAs for ``options``; a request that cannot work is an
        :class:`InvalidRequestError` (no other model would take it either)."""
        rows: list[ProbedCheckpoint] | None = None

        def usable() -> list[ProbedCheckpoint]:
            nonlocal rows
            if rows is None:
                rows = [r for r in self._rows() if r.usable and r.checkpoint.loadable and r.probe is not None]
            return rows

        setting = getattr(getattr(self.settings, "local", None), "sd_checkpoint", None) if self.settings else None
        wanted, explicit = (options.checkpoint, True) if options.checkpoint else (setting, False)
        has_init, has_mask = options.init_image is not None, options.mask_image is not None
        if wanted:
            chosen, mtype, family = self._named(wanted, explicit, usable)
            _check_type(chosen, mtype, has_init, has_mask, options.refiner)
            checkpoints = [chosen]
        elif self._checkpoint is not None:
            found = probe(self._checkpoint)
            checkpoints, mtype, family = [self._checkpoint], found.model_type, found.family
        else:
            rows_t2i = [r for r in usable() if r.probe is not None and r.probe.model_type in TEXT_TO_IMAGE
                        and r.checkpoint.path not in self._failed]  # fmt: skip
            checkpoints = [r.checkpoint.path for r in rows_t2i]
            first = rows_t2i[0].probe if rows_t2i else None
            mtype = first.model_type if first is not None else ModelType.UNKNOWN
            family = first.family if first is not None else ModelType.UNKNOWN
            if options.refiner:
                xl = [
                    r.checkpoint.path
                    for r in rows_t2i
                    if r.probe is not None and r.probe.model_type is ModelType.SDXL_BASE
                ]
                if not xl:
                    raise InvalidRequestError(
                        "the refiner finishes SDXL images, and no SDXL base checkpoint is installed",
                        provider="diffusers",
                    )
                checkpoints, mtype, family = xl, ModelType.SDXL_BASE, ModelType.SDXL_BASE
        if has_mask and mtype is not ModelType.INPAINT:
            inpaint = [r.checkpoint.path for r in usable() if r.probe is not None
                       and r.probe.model_type is ModelType.INPAINT and r.probe.family is family]  # fmt: skip
            checkpoints = inpaint[:1] + checkpoints
        refiner = self._refiner(usable, mtype) if options.refiner else None
        loras = self._loras(options.loras, family) if options.loras else ()
        return _Plan(checkpoints, refiner, loras)

    def _named(
        self, wanted: str, explicit: bool, usable: Callable[[], list[ProbedCheckpoint]]
    ) -> tuple[Path, ModelType, ModelType]:
        rows = usable()
        for row in rows:
            if row.checkpoint.name.lower() == wanted.lower() and row.probe is not None:
                return row.checkpoint.path, row.probe.model_type, row.probe.family
        path = Path(wanted).expanduser()
        if path.exists():
            try:
                found = probe(path)
            except SparklioError as err:
                raise _invalid(f"checkpoint {wanted}: {err}", explicit) from None
            return path, found.model_type, found.family
        names = [row.checkpoint.name for row in rows]
        close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.4)
        hint = (
            f"; did you mean {', '.join(close)}?"
            if close
            else (f"; installed: {', '.join(names[:8])}" if names else "")
        )
        where = "" if explicit else " (the local.sd_checkpoint setting)"
        raise _invalid(f"no checkpoint named {wanted!r}{where}{hint} (see `sparklio models sd list`)", explicit)

    def _refiner(self, usable: Callable[[], list[ProbedCheckpoint]], mtype: ModelType) -> Path:
        if mtype is not ModelType.SDXL_BASE:
            raise InvalidRequestError(
                f"the refiner finishes SDXL base images; this checkpoint is {mtype.value}", provider="diffusers"
            )
        for row in usable():
            if row.probe is not None and row.probe.model_type is ModelType.SDXL_REFINER:
                return row.checkpoint.path
        raise InvalidRequestError(
            "no SDXL refiner checkpoint is installed; add one with `sparklio models sd import PATH`",
            provider="diffusers",
        )

    def _loras(self, wanted: tuple[tuple[str, float], ...], family: ModelType) -> tuple[LoraChoice, ...]:
        files = find_loras(lora_folders(self._folders))
        chosen: list[LoraChoice] = []
        for name, weight in wanted:
            path = Path(name).expanduser()
            lora = probe_lora(path) if path.suffix.lower() == ".safetensors" and path.is_file() else next(
                (f for f in files if f.name.lower() == name.lower()), None)  # fmt: skip
            if lora is None:
                close = difflib.get_close_matches(name, [f.name for f in files], n=3, cutoff=0.4)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise InvalidRequestError(
                    f"no LoRA named {name!r}{hint} (LoRAs live in {default_lora_dir()})", provider="diffusers"
                )
            why = why_incompatible(lora, family)
            if why is not None:
                raise InvalidRequestError(why, provider="diffusers")
            chosen.append(LoraChoice(lora.name, lora.path, weight, autov2_hash(lora.path) or ""))
        return tuple(chosen)

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
            width, height = _size(size) if size else (None, None)
        except SparklioError as err:
            raise InvalidRequestError(str(err), provider="diffusers") from None
        options = options or ImageOptions()
        try:
            if options.scheduler is not None:
                sampler_name(options.scheduler)
            if options.init_image is not None:
                await asyncio.to_thread(input_image, options.init_image, "init image")
            if options.mask_image is not None:
                await asyncio.to_thread(input_image, options.mask_image, "mask", mode="L")
        except (BadInputImage, UnknownSampler) as err:
            raise InvalidRequestError(str(err), provider="diffusers") from None
        try:
            plan = await asyncio.to_thread(self._plan, options)
        except LocalModelError as err:  # a chosen checkpoint that does not probe
            raise LocalEngineUnavailable(str(err)) from err
        request = GenerationRequest(
            prompt,
            negative_prompt=options.negative_prompt,
            steps=options.steps or steps or self.steps,
            guidance=options.guidance,
            width=width,
            height=height,
            seed=options.seed,
            batch_count=max(1, n),
            preview_every=max(0, options.preview_every),
            init_image=options.init_image,
            mask_image=options.mask_image,
            strength=options.strength,
            scheduler=options.scheduler,
            hires=options.hires,
            loras=plan.loras,
            refiner=plan.refiner,
        )
        explicit = options.checkpoint is not None or self._checkpoint is not None

        async def job() -> tuple[tuple[bytes, ...], float]:
            for checkpoint in plan.checkpoints:
                try:
                    return await self._generate_with(checkpoint, request, progress)
                except (CheckpointUnreadable, ModelConfigMissing, PickleRefused) as err:
                    if explicit:
                        raise
                    self._failed[checkpoint] = str(err)  # a bad file: the next usable one answers
            raise LocalEngineUnavailable(self._nothing_usable())

        try:
            # One job on the GPU at a time; the arbitration with Ollama runs inside the job,
            # so it sees the card as the previous job left it.
            return await self.queue.run(job, label=_job_label(prompt, n), source=options.source)
        except GenerationCancelled:
            raise
        except (BadInputImage, BadLora, UnknownSampler) as err:  # the request, not the machine
            raise InvalidRequestError(str(err), provider="diffusers") from None
        except LocalModelError as err:  # no runtime, out of memory, a chosen checkpoint that is bad
            raise LocalEngineUnavailable(str(err)) from err

    def vram_plan(
        self, size: str, options: ImageOptions | None = None, *, cloud_alternative: str | None = None
    ) -> ImagePlan:
        """The VRAM plan of a job with these settings on this machine's GPU (blocking: it
        probes the checkpoint's header; run it in a thread). The checkpoint, refiner and
        LoRAs are the ones the job itself would use, so the plan is about the real job."""
        options = options or ImageOptions()
        try:
            width, height = _size(size) if size else (None, None)
        except SparklioError as err:
            raise InvalidRequestError(str(err), provider="diffusers") from None
        plan = self._plan(options)
        if not plan.checkpoints:
            raise LocalEngineUnavailable(self._nothing_usable())
        found = probe(plan.checkpoints[0])
        native = DEFAULT_RESOLUTION[found.model_type]
        refiner = probe(plan.refiner).params if plan.refiner is not None else None
        lora_bytes = 0
        for lora in plan.loras:
            try:
                lora_bytes += lora.path.stat().st_size
            except OSError:
                pass  # the job itself will say the file is gone
        configured = self.settings.gpu.vram_gb if self.settings is not None else DEFAULT_GPU_GB
        return plan_image_job(
            found.model_type, width or native, height or native, gpu=gpu_memory(configured), params=found.params,
            hires=options.hires, refiner=refiner, lora_bytes=lora_bytes, cloud_alternative=cloud_alternative,
        )  # fmt: skip

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


@dataclass(frozen=True)
class _Plan:
    checkpoints: list[Path]
    refiner: Path | None = None
    loras: tuple[LoraChoice, ...] = ()


def _invalid(message: str, explicit: bool) -> SparklioError:
    """A checkpoint the request named is the request's problem; a stale setting only
    means local generation cannot run (the chain moves on)."""
    return InvalidRequestError(message, provider="diffusers") if explicit else LocalEngineUnavailable(message)


_KIND = {
    ModelType.SDXL_REFINER: "an SDXL refiner, which finishes an image",
    ModelType.INPAINT: "an inpainting model, which repaints the masked part of an image",
}


def _check_type(path: Path, mtype: ModelType, has_init: bool, has_mask: bool, refiner: bool) -> None:
    """A chosen checkpoint that cannot do what was asked, said before anything loads."""
    name = path.name if path.is_dir() else path.stem
    if mtype is ModelType.UNKNOWN:
        raise InvalidRequestError(f"{name}: its type is unknown; set it in the Models view", provider="diffusers")
    if mtype is ModelType.INPAINT and not has_mask:
        raise InvalidRequestError(
            f"{name} is {_KIND[mtype]}: give --init-image and --mask, or choose a text-to-image checkpoint",
            provider="diffusers",
        )
    if mtype is ModelType.SDXL_REFINER and not has_init:
        raise InvalidRequestError(
            f"{name} is {_KIND[mtype]}: give --init-image, or choose a text-to-image checkpoint "
            "(--refiner uses it after an SDXL base)",
            provider="diffusers",
        )
    if refiner and mtype is not ModelType.SDXL_BASE:
        raise InvalidRequestError(
            f"the refiner finishes SDXL base images; {name} is {mtype.value}", provider="diffusers"
        )


def _job_label(prompt: str, n: int) -> str:
    """The queue's line for a job: the prompt's start (one line), and the count."""
    head = " ".join(prompt.split())
    head = head if len(head) <= 48 else head[:47] + "…"
    return f"{head} ×{n}" if n > 1 else head


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
        self.queue = GpuQueue()  # there before the service, so the window can watch it from the start

    async def _get(self) -> StableDiffusionService:
        if self._service is None:
            self._service = await asyncio.to_thread(StableDiffusionService.from_settings, self._settings, self.queue)
        return self._service

    async def vram_plan(
        self, size: str, options: ImageOptions | None = None, *, cloud_alternative: str | None = None
    ) -> ImagePlan:
        """The VRAM plan of a job with these settings (probing happens off the loop)."""
        service = await self._get()
        return await asyncio.to_thread(service.vram_plan, size, options, cloud_alternative=cloud_alternative)

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

    async def make_room_for_ollama(self, name: str, vram_gb: float, host: str | None = None) -> None:
        if self._service is not None:  # nothing of ours is loaded before the first image
            await self._service.make_room_for_ollama(name, vram_gb, host)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()
