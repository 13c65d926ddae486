"""The Images panel's view-model: local Stable Diffusion through the dispatcher.

Why through the dispatcher and not the engine: each image must land in the ledger like
any other request (cost $0, GPU seconds recorded), and the router's forced-model path
already does that. The service runs torch on its own worker thread and hands step
progress back on the event loop's thread, so every signal here is emitted on the loop.

Cancel cancels the view's runs; the service sets its cancel event and the engine stops
after the current denoising step, and the dispatcher records the attempt as cancelled.
A new Generate while a run is in flight joins the GPU queue (core/local/gpu_queue.py)
behind it, beside the jobs of recipes and batches; ``queueChanged`` lists them all with
their place, and ``cancel_job`` takes one out. Before a run, ``check_plan`` gives the VRAM
plan of the form's settings (fits / fits with savers / will not fit, with the cloud
image model the Images task would use instead). A finished run is announced
on the app's ``ledgerChanged`` hub (ledger_events.py), which refreshes the spend panel and
the status bar.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from qasync import asyncSlot

from sparklio_desktop.core.dispatch import AttemptFailed, Dispatcher, Finished, Routed, RunRequest, RunResult
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.enable import cuda_torch_hint, local_runtime_advice
from sparklio_desktop.core.local.gpu_queue import GpuJobView, JobState
from sparklio_desktop.core.local.sd.service import ImageOptions, ImageProgress
from sparklio_desktop.core.local.sd.vram_plan import ImagePlan
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.naming import model_name
from sparklio_desktop.core.policy.catalog import Capability
from sparklio_desktop.core.policy.families import family_id, is_family_ref
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.image_studio import (
    CheckpointChoice,
    InitImage,
    LoraChoice,
    default_checkpoint,
    list_checkpoints,
    list_loras,
    match_checkpoint,
    png_bytes,
    read_init_image,
    read_png_settings,
    scheduler_choice,
)
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange
from sparklio_desktop.ui.viewmodels.seams import LocalImages

LOCAL_MODEL = "local/stable-diffusion"
TASK = "image_generation_bulk"
PREVIEW_EVERY = 5
CPU_WARNING = "slow: no CUDA GPU found — images are generated on the CPU and take minutes each"


@dataclass(frozen=True)
class ImageSettings:
    """What the panel's form holds; ``seed`` None means a random seed."""

    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    seed: int | None = None
    batch_count: int = 1
    previews: bool = True
    # The image studio (issue 15); None/empty: the setting, else the engine's default.
    checkpoint: str | None = None  # a checkpoint's path (or a name another tool gave)
    scheduler: str | None = None  # an A1111 sampler name; None: the checkpoint's own
    init_image: bytes | None = None
    init_image_path: str | None = None
    strength: float | None = None
    mask_image: bytes | None = None  # white = repaint, at the init image's size
    mask_path: str | None = None
    hires: float | None = None
    loras: tuple[tuple[str, float], ...] = ()
    refiner: bool = False

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    def request(self, progress: ImageProgress) -> RunRequest:
        options = ImageOptions(
            negative_prompt=self.negative_prompt.strip(),
            guidance=self.guidance,
            seed=self.seed,
            steps=self.steps,
            preview_every=PREVIEW_EVERY if self.previews else 0,
            checkpoint=self.checkpoint or None,
            scheduler=self.scheduler or None,
            init_image=self.init_image,
            init_image_path=Path(self.init_image_path) if self.init_image_path else None,
            strength=self.strength if self.init_image is not None else None,
            mask_image=self.mask_image if self.init_image is not None else None,
            mask_path=Path(self.mask_path) if self.mask_path and self.init_image is not None else None,
            hires=self.hires,
            loras=tuple(self.loras),
            refiner=self.refiner,
        )
        route = RouteRequest(
            task=TASK, prompt=self.prompt, images=self.batch_count, image_size=self.size, explore=False
        )
        return RunRequest(
            route=route, model=LOCAL_MODEL, use_cache=False, image_options=options, image_progress=progress
        )


@dataclass(frozen=True)
class PlanPayload:
    """The VRAM plan as the page shows it: ``fit`` is "fits", "fits with savers" or
    "will not fit"; ``cloud`` the model offered instead (only when it will not fit)."""

    fit: str
    summary: str
    lines: tuple[str, ...]
    cloud: str | None

    @classmethod
    def of(cls, plan: ImagePlan) -> PlanPayload:
        return cls(plan.fit.value, plan.summary(), tuple(plan.lines()), plan.cloud_alternative)


@dataclass(frozen=True)
class QueueRow:
    """One job of the GPU queue: ``place`` 0 is the running one."""

    job_id: str
    label: str
    source: str
    running: bool
    place: int

    @classmethod
    def of(cls, job: GpuJobView) -> QueueRow:
        return cls(job.job_id, job.label, job.source, job.state is JobState.RUNNING, job.place)


class ImagesViewModel(ViewModel):
    """Generate, cancel, save and unload; the view only shows what this emits."""

    busyChanged = Signal(bool)
    progressChanged = Signal(int, str)  # percent over the whole batch, "image 1 of 2 · step 3 of 25"
    previewReady = Signal(bytes)  # a PNG of the latents mid-run
    imagesReady = Signal(list)  # PNG bytes of the finished images, with their settings in text chunks
    cancelled = Signal()
    warningChanged = Signal(str)  # "" when there is nothing to warn about
    notice = Signal(str)
    requestCompleted = Signal(str)  # request id: the ledger has its rows
    settingsApplied = Signal(object)  # ImageSettings the form should show (a gallery row's, a dropped PNG's)
    checkpointsReady = Signal(list, object, bool)  # [CheckpointChoice], the default one (or None), a refiner?
    lorasReady = Signal(list)  # [LoraChoice]
    initImageChanged = Signal(object)  # InitImage, or None when cleared
    maskLoaded = Signal(bytes, str)  # a mask file's bytes and path
    queueChanged = Signal(list)  # [QueueRow]: every local image job, the running one first
    planReady = Signal(object)  # PlanPayload of the form's settings
    planUnavailable = Signal(str)  # why there is no plan (no checkpoint, a bad size, …)

    def __init__(
        self,
        executor: SerialExecutor,
        dispatcher: Dispatcher,
        local_images: LocalImages | None,
        *,
        events: LedgerEvents | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``events``: the app's ledger hub, told when a run ends (its rows are in the ledger)."""
        super().__init__(executor, parent)
        self._events = events or LedgerEvents(self)
        self._dispatcher = dispatcher
        self._local_images = local_images
        self._runs: list[asyncio.Task[Any]] = []  # this view's runs, in the order they were asked for
        self._plan_task: asyncio.Task[Any] | None = None
        queue = getattr(local_images, "queue", None)
        self._unsubscribe = queue.subscribe(self._queue_changed) if queue is not None else None
        self._queue = queue
        self._device_checked = False
        self.images: list[bytes] = []
        self.percent = 0
        self.warning = ""
        self._drag_folder: Path | None = None
        self.checkpoints: list[CheckpointChoice] = []
        self.refiner_installed = False
        self.loras: list[LoraChoice] = []
        self.init_image: InitImage | None = None

    @property
    def busy(self) -> bool:
        return bool(self._runs)

    # -- the GPU queue and the VRAM plan ------------------------------------------------
    def _queue_changed(self, jobs: tuple[Any, ...]) -> None:
        self.queueChanged.emit([QueueRow.of(job) for job in jobs])

    def cancel_job(self, job_id: str) -> None:
        """Take one job out of the GPU queue (this view's, a recipe's or a batch's)."""
        if self._queue is not None and not self._queue.cancel(job_id):
            self.notice.emit("That job has already finished.")

    def cloud_alternative(self) -> str | None:
        """The first cloud model of the Images task's chain: what runs when local cannot."""
        workspace = self._dispatcher.workspace
        try:
            chain = workspace.policy.task(TASK).chain
        except (SparklioError, KeyError):
            return None
        catalog = workspace.catalog
        for ref in chain:
            if is_family_ref(ref):  # "family/dall-e": its newest member that draws
                members = [m for m in catalog.members(family_id(ref)) if Capability.IMAGE_GENERATION in m.capabilities]
                spec = members[0] if members else None
            else:
                spec = catalog.get(ref)
            if spec is not None and spec.provider != "diffusers":
                return spec.id
        return None

    @asyncSlot(object)
    async def check_plan(self, settings: ImageSettings) -> None:
        """The VRAM plan of ``settings`` on this GPU; a newer call replaces one in flight."""
        task = self._track()
        if self._local_images is None or not hasattr(self._local_images, "vram_plan"):
            self.planUnavailable.emit("")
            return
        if self._plan_task is not None and not self._plan_task.done():
            self._plan_task.cancel()
        self._plan_task = task
        cloud = self.cloud_alternative()
        try:
            plan = await self._local_images.vram_plan(
                settings.size, settings.request(lambda *_: None).image_options,
                cloud_alternative=self._name(cloud) if cloud else None,
            )  # fmt: skip
        except asyncio.CancelledError:
            return
        except SparklioError as exc:  # a provider error's own words, without "diffusers: "
            self.planUnavailable.emit(str(getattr(exc, "message", None) or exc))
            return
        if self._plan_task is task:
            self.planReady.emit(PlanPayload.of(plan))

    def cloud_settings(self, settings: ImageSettings) -> RunRequest:
        """``settings`` as a request to the cloud alternative (no local-only options)."""
        cloud = self.cloud_alternative()
        route = RouteRequest(task=TASK, prompt=settings.prompt, images=settings.batch_count, explore=False)
        return RunRequest(route=route, model=cloud, use_cache=False)

    # -- the studio's choices -------------------------------------------------------------
    def _weights_setup(self) -> tuple[tuple[Path, ...], str | None]:
        """The user's weights folders and the default checkpoint setting (reads settings.json)."""
        local = self._dispatcher.workspace.settings.local
        return tuple(Path(p) for p in local.sd_weight_dirs), local.sd_checkpoint

    @asyncSlot()
    async def load_studio(self) -> None:
        """Read the installed checkpoints, then the LoRAs (headers: off the loop)."""
        self._track()
        folders, setting = await asyncio.to_thread(self._weights_setup)
        listed = await asyncio.to_thread(list_checkpoints, folders)
        self.checkpoints = [choice for choice in listed if not choice.refiner]
        self.refiner_installed = any(choice.refiner for choice in listed)
        default = default_checkpoint(self.checkpoints, setting)
        self.checkpointsReady.emit(list(self.checkpoints), default, self.refiner_installed)
        try:
            self.loras = await asyncio.to_thread(list_loras, folders)
        except (SparklioError, OSError) as err:
            self.notice.emit(f"LoRAs could not be listed: {err}")
            self.loras = []
        self.lorasReady.emit(list(self.loras))

    def use_settings(self, settings: ImageSettings) -> None:
        """Fill the form with ``settings`` (a gallery image's); the user then presses Generate.
        A checkpoint named by its name is matched to an installed one's path."""
        settings = replace(settings, scheduler=scheduler_choice(settings.scheduler))
        if settings.checkpoint:
            found = match_checkpoint(self.checkpoints, settings.checkpoint)
            if found is not None:
                settings = replace(settings, checkpoint=found.path)
            elif self.checkpoints:
                self.notice.emit(f"Checkpoint {settings.checkpoint} is not installed; the chosen one stays.")
                settings = replace(settings, checkpoint=None)
        self.settingsApplied.emit(settings)

    @asyncSlot(str, object)
    async def use_png_settings(self, path: str, base: ImageSettings) -> None:
        """Fill the form from the settings another tool (A1111, ComfyUI) or Sparklio left in
        the PNG at ``path``; ``base`` is the form as it is (what the PNG does not give stays)."""
        self._track()
        try:
            found = await asyncio.to_thread(read_png_settings, path, list(self.checkpoints), base)
        except (OSError, SparklioError, ValueError) as err:
            self.errorRaised.emit(f"{Path(path).name}: cannot read its settings ({err})")
            return
        name = Path(path).name
        if found.found == "none":
            self.notice.emit(f"{name} carries no generation settings.")
            return
        self.settingsApplied.emit(found.settings)
        told = f"Settings from {name} ({found.found})."
        if found.missing_checkpoint:
            told += f" Its checkpoint {found.missing_checkpoint} is not installed; the chosen one stays."
        self.notice.emit(told)

    @asyncSlot(str)
    async def use_init_image(self, path: str) -> None:
        """Take the image file at ``path`` as the init image (read and decoded off the loop)."""
        self._track()
        try:
            image = await asyncio.to_thread(read_init_image, path)
        except (OSError, ValueError) as err:
            self.errorRaised.emit(str(err) if isinstance(err, ValueError) else f"{Path(path).name}: {err.strerror}")
            return
        self.init_image = image
        self.initImageChanged.emit(image)
        self.notice.emit(f"Init image: {Path(path).name} ({image.width}×{image.height})")

    def clear_init_image(self) -> None:
        self.init_image = None
        self.initImageChanged.emit(None)

    @asyncSlot(str)
    async def load_mask(self, path: str) -> None:
        """Read a mask file (white = repaint) off the loop; the painter takes it."""
        self._track()
        try:
            data = await asyncio.to_thread(Path(path).read_bytes)
        except OSError as err:
            self.errorRaised.emit(f"{Path(path).name}: {err.strerror}")
            return
        self.maskLoaded.emit(data, path)

    # -- generating ------------------------------------------------------------------
    @asyncSlot()
    async def generate(self, settings: ImageSettings, mask: QImage | None = None, *, cloud: bool = False) -> None:
        """Run ``settings`` on the local model, streaming progress and previews out.
        ``mask``: a painted mask to encode as the PNG (off the loop: a 2048 px mask takes
        about 100 ms to encode) in place of ``settings.mask_image``. ``cloud``: run the
        prompt on the cloud alternative instead (the plan said local will not fit).
        A run asked for while another is in flight waits its turn in the GPU queue."""
        task = self._track()
        assert task is not None  # an asyncSlot runs as a task
        if not settings.prompt.strip():
            self.errorRaised.emit("Write a prompt first.")
            return
        if mask is not None:
            settings = replace(settings, mask_image=await asyncio.to_thread(png_bytes, mask))
        if cloud and self.cloud_alternative() is None:
            self.errorRaised.emit("No cloud image model is in the Images task's chain.")
            return
        self._runs.append(task)
        if len(self._runs) == 1:
            self._set_progress(0, "starting…")
        else:
            self.notice.emit("Queued: it starts when the GPU is free.")
        self.busyChanged.emit(True)
        request_id: str | None = None
        progress = _BatchProgress(settings.batch_count)

        def on_step(step: int, total: int, preview: bytes | None) -> None:
            if task not in self._runs:
                return  # a late step of a cancelled run
            self._set_progress(*progress.update(step, total))
            if preview is not None:
                self.previewReady.emit(preview)

        try:
            if not self._device_checked:
                await self.check_device()
            request = self.cloud_settings(settings) if cloud else settings.request(on_step)
            async for event in self._dispatcher.stream(request):
                if isinstance(event, Routed):
                    request_id = event.request_id
                elif isinstance(event, AttemptFailed):
                    self.notice.emit(f"{self._name(event.info.model)}: {event.info.error}")
                elif isinstance(event, Finished):
                    self._on_finished(event.result)
        except asyncio.CancelledError:
            self.cancelled.emit()  # the dispatcher recorded the attempt as cancelled
            self.notice.emit("Cancelled.")
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
        finally:
            if task in self._runs:
                self._runs.remove(task)
                if not self._runs:
                    self.busyChanged.emit(False)
            if request_id is not None:
                self.requestCompleted.emit(request_id)
                self._events.changed(LedgerChange("request", request_id))

    def _on_finished(self, result: RunResult) -> None:
        if not result.ok:
            self.errorRaised.emit(result.error or "image generation failed")
            return
        self.images = list(result.images)
        self._set_progress(100, f"{len(self.images)} image{'s' if len(self.images) != 1 else ''} done")
        self.imagesReady.emit(self.images)
        gpu = sum(a.latency_s or 0 for a in result.attempts if a.outcome == "ok")
        cost = format_usd(result.cost_usd)  # $0 on the local model; the cloud alternative's price
        self.notice.emit(f"{self._name(result.model)}: {len(self.images)} image(s) in {gpu:.1f} s, {cost}")

    def _name(self, model_id: str | None) -> str:
        """The model as the notice names it ("Stable Diffusion", not "local/stable-diffusion")."""
        return model_name(self._dispatcher.workspace.catalog, model_id or "")

    def _set_progress(self, percent: int, text: str) -> None:
        self.percent = percent
        self.progressChanged.emit(percent, text)

    def cancel(self) -> None:
        """Stop the running generation after the current step."""
        for run in list(self._runs):
            run.cancel()

    # -- the device and the pipeline --------------------------------------------------
    async def check_device(self) -> None:
        """Warn when local generation cannot run (the ``local`` extra is missing: how to
        install it here) or will run on the CPU (and, with an NVIDIA GPU present, how to get
        torch's CUDA build). Looking for packages and importing torch happen off the loop."""
        self._device_checked = True
        advice = await asyncio.to_thread(local_runtime_advice)
        if not advice.ready:
            self.warning = advice.text()
            self.warningChanged.emit(self.warning)
            return
        try:
            if self._local_images is not None:
                available = await self._local_images.cuda_available()
            else:
                available = await asyncio.to_thread(_cuda_available)
        except ImportError:
            available = False
        hint = "" if available else await asyncio.to_thread(cuda_torch_hint)
        self.warning = "" if available else "\n".join(filter(None, (CPU_WARNING, hint)))
        self.warningChanged.emit(self.warning)

    @asyncSlot()
    async def refresh_device(self) -> None:
        self._track()
        await self.check_device()

    @asyncSlot()
    async def unload(self) -> None:
        """Give the pipeline's memory back (it loads again with the next image)."""
        self._track()
        if self._local_images is None:
            return
        await self._local_images.unload()
        self.notice.emit("Stable Diffusion pipeline unloaded.")

    # -- saving ------------------------------------------------------------------------
    @asyncSlot()
    async def save(self, index: int, path: str) -> None:
        """Write image ``index`` as it came (its PNG text chunks keep the settings)."""
        self._track()
        await self._executor.call(Path(path).write_bytes, self.images[index])
        self.notice.emit(f"Saved {path}")

    def drag_file(self, index: int) -> Path:
        """Image ``index`` as a PNG file that a drag can carry out of the window.

        Why a file and synchronous: a drop target (a file manager, a chat app) reads a file
        URL the moment the drag starts, on the GUI thread; a few hundred KB written to a
        session temp folder is quick. The bytes are the original PNG, settings included.
        """
        if self._drag_folder is None:
            self._drag_folder = Path(tempfile.mkdtemp(prefix="sparklio-images-"))
        path = self._drag_folder / f"sparklio-image-{index + 1}.png"
        path.write_bytes(self.images[index])
        return path

    @asyncSlot()
    async def save_all(self, folder: str) -> None:
        self._track()
        written = await self._executor.call(_write_all, Path(folder), list(self.images))
        self.notice.emit(f"Saved {len(written)} image(s) to {folder}")

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.cancel()
        await self.wait_idle()
        if self._drag_folder is not None:
            shutil.rmtree(self._drag_folder, ignore_errors=True)
            self._drag_folder = None


class _BatchProgress:
    """Turns per-image (step, total) into one percentage over the batch."""

    def __init__(self, count: int) -> None:
        self.count, self.image, self.last = max(1, count), 0, 0

    def update(self, step: int, total: int) -> tuple[int, str]:
        if step <= self.last:
            self.image = min(self.image + 1, self.count - 1)  # the next image started
        self.last = step
        total = max(1, total)
        percent = int(100 * (self.image * total + step) / (self.count * total))
        where = f"image {self.image + 1} of {self.count} · " if self.count > 1 else ""
        return percent, f"{where}step {step} of {total}"


def _write_all(folder: Path, images: list[bytes]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = len(list(folder.glob("sparklio-*.png")))
    written = []
    for index, data in enumerate(images, start=1):
        path = folder / f"sparklio-{stamp + index:04d}.png"
        path.write_bytes(data)
        written.append(path)
    return written


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())
