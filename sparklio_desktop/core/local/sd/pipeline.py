"""Generate images with a local Stable Diffusion checkpoint, keeping the pipeline loaded.

torch and diffusers take 3–5 s to import, so they are imported inside methods:
importing this module (or ``sparklio_desktop.core.local``) stays instant.

One :class:`LocalImageEngine` holds at most one pipeline, keyed by checkpoint, type,
config and device; generating again with the same checkpoint reuses it. Calls block:
run them in the app's single GPU worker thread, never on the event loop.

Cancellation: the progress hook runs after every denoising step; when the caller's
``threading.Event`` is set it raises an internal exception that unwinds out of the
diffusers call at once (``pipe._interrupt`` would skip the remaining steps but still
decode the latents, wasting a VAE pass), and the engine turns it into
:class:`GenerationCancelled`, carrying the images finished before it.
"""

from __future__ import annotations

import gc
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.errors import (
    BadLora,
    CheckpointUnreadable,
    GenerationCancelled,
    LocalModelError,
    PickleRefused,
)
from sparklio_desktop.core.local.model_hash import autov2_hash
from sparklio_desktop.core.local.png_meta import ImageMeta, encode_png
from sparklio_desktop.core.local.sd.configs import prepare_config_dir
from sparklio_desktop.core.local.sd.diffusers_dirs import folder_weights, is_diffusers_folder
from sparklio_desktop.core.local.sd.families import (
    DEFAULT_RESOLUTION,
    TEXT_TO_IMAGE,
    TYPE_DEFAULTS,
    TYPICAL_PARAMS,
    ComponentParams,
    ModelType,
)
from sparklio_desktop.core.local.sd.loras import LoraChoice
from sparklio_desktop.core.local.sd.modes import HIRES_STRENGTH, Mode, derive, hires_size, input_image, mode_of, snap8
from sparklio_desktop.core.local.sd.probe import PICKLE_SUFFIXES, ProbeResult, probe
from sparklio_desktop.core.local.sd.runtime import apply_savers, import_runtime, latents_preview_png
from sparklio_desktop.core.local.sd.schedulers import UnknownSampler, sampler_of, use_sampler
from sparklio_desktop.core.local.sd.store import CheckpointStore
from sparklio_desktop.core.local.vram_scheduler import LoadedModel

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int, bytes | None], None]
"""(step done, total steps, PNG preview or None): called from the worker thread."""

PIPELINE_CLASSES: dict[ModelType, str] = {
    ModelType.SD1: "StableDiffusionPipeline",
    ModelType.SD2: "StableDiffusionPipeline",
    ModelType.SDXL_BASE: "StableDiffusionXLPipeline",
    ModelType.SDXL_REFINER: "StableDiffusionXLImg2ImgPipeline",
    ModelType.INPAINT: "StableDiffusionInpaintPipeline",
}
_HAS_SAFETY_CHECKER = {ModelType.SD1, ModelType.SD2, ModelType.INPAINT}
DEFAULT_STRENGTH: dict[Mode, float] = {"img2img": 0.75, "inpaint": 1.0, "txt2img": 1.0}
REFINER_STRENGTH = 0.3  # the refiner alone, on a finished image
REFINER_SWITCH = 0.8  # base + refiner: the base denoises the first 80 %, the refiner the rest


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    steps: int | None = None  # None: the checkpoint type's default (families.TYPE_DEFAULTS)
    guidance: float | None = None  # None: likewise
    width: int | None = None  # None: the type's size (image-to-image: the init image's)
    height: int | None = None
    seed: int | None = None  # None: random; image i of a batch uses seed + i
    batch_count: int = 1
    init_image: bytes | None = None  # image-to-image, inpainting and the refiner start from an image
    mask_image: bytes | None = None  # inpainting: white = repaint
    strength: float | None = None  # None: 0.75 image-to-image, 0.3 refiner, 1.0 inpainting
    preview_every: int = 0  # 0: no previews; n: a preview every n steps
    scheduler: str | None = None  # an A1111 sampler name; None: the checkpoint's own
    hires: float | None = None  # 1.5 or 2: generate, upscale (Lanczos), image-to-image again
    hires_strength: float = HIRES_STRENGTH
    loras: tuple[LoraChoice, ...] = ()
    refiner: Path | None = None  # SDXL base: an SDXL refiner checkpoint finishes the image
    refiner_switch: float = REFINER_SWITCH


@dataclass(frozen=True)
class GeneratedImage:
    png: bytes  # with the settings in PNG text chunks
    seed: int
    gpu_seconds: float  # wall time of the diffusers call on the device (encode, denoise, decode)
    width: int
    height: int
    meta: ImageMeta


@dataclass(frozen=True)
class LoadedInfo:
    checkpoint: Path
    model_type: ModelType
    device: str
    dtype: str
    savers: vram.Savers
    load_seconds: float
    params: ComponentParams
    notes: tuple[str, ...] = field(default=())


class _Cancelled(Exception):
    def __init__(self, step: int, total: int) -> None:
        self.step, self.total = step, total


class LocalImageEngine:
    """Loads one checkpoint at a time and generates with it; thread-safe, blocking."""

    def __init__(
        self,
        *,
        device: str = "auto",
        store: CheckpointStore | None = None,
        free_vram_gb: float | None = None,
        search_folders: tuple[Path, ...] = (),
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self._device_pref = device
        self._store = store
        self._free_vram_gb = free_vram_gb  # None: measure (NVML/torch) before loading
        self._search = search_folders
        self._on_warning = on_warning
        self._lock = threading.RLock()
        self._pipe: Any = None
        self._key: tuple[Any, ...] | None = None
        self._info: LoadedInfo | None = None
        self._budget_gb = 0.0
        self._busy = False
        self._offloaded = False
        self._savers = vram.Savers()  # what the job in progress runs with (the OOM retry raises it)
        self._derived: dict[str, Any] = {}  # image-to-image / inpainting around the loaded modules
        self._base_scheduler: Any = None  # the checkpoint's own scheduler: --scheduler builds on it
        self._refiner: tuple[str, Any] | None = None  # (resolved path, SDXL refiner pipeline)

    @property
    def loaded(self) -> LoadedInfo | None:
        return self._info

    @property
    def busy(self) -> bool:
        return self._busy

    def estimated_vram_bytes(self) -> int:
        """What the loaded pipeline holds on the GPU, for the VRAM scheduler (0 on CPU)."""
        info = self._info
        if info is None or info.device != "cuda":
            return 0
        return int(info.savers.estimated_peak_gb * vram.GIB)

    def residency(self) -> LoadedModel | None:
        """The loaded pipeline as :class:`VramScheduler` counts it; None when nothing is on a GPU."""
        info = self._info
        if info is None or info.device != "cuda":
            return None
        return LoadedModel("sd", str(info.checkpoint), self.estimated_vram_bytes(), busy=self._busy)

    def _warn(self, message: str) -> None:
        logger.warning("%s", message)
        if self._on_warning is not None:
            self._on_warning(message)

    def _store_or_default(self) -> CheckpointStore:
        if self._store is None:
            self._store = CheckpointStore()
        return self._store

    # ------------------------------------------------------------------ loading

    def load(
        self, checkpoint: Path, *, model_type: ModelType | None = None, config_dir: Path | None = None
    ) -> LoadedInfo:
        """Load (or keep) ``checkpoint``. ``config_dir`` overrides the shipped config folder."""
        with self._lock:
            path = Path(checkpoint)
            probed, mtype, is_pickle = self._resolve(path, model_type)
            torch, _ = import_runtime()
            device = self._resolve_device(torch)
            key = (str(path.resolve()), mtype, str(config_dir), device)
            if self._key == key and self._pipe is not None and self._info is not None:
                return self._info
            self.unload()
            started = time.perf_counter()
            dtype = torch.float16 if device == "cuda" else torch.float32
            pipe = self._build(path, mtype, config_dir, dtype, is_pickle)
            pipe.set_progress_bar_config(disable=True)
            notes: list[str] = []
            savers = vram.Savers()
            params = probed.params if probed.params.total else TYPICAL_PARAMS[mtype]
            if device == "cuda":
                mem = vram.gpu_memory()
                self._budget_gb = self._free_vram_gb or mem.free_gb or mem.total_gb
                res = DEFAULT_RESOLUTION[mtype]
                savers = vram.choose_savers(mtype, res, res, self._budget_gb, params=params)
                self._apply_savers(pipe, savers, placed=False)
            else:
                pipe.to("cpu")
                notes.append("no CUDA GPU: generating on the CPU in fp32, which takes minutes per image")
                self._warn(notes[-1])
            self._pipe, self._key = pipe, key
            self._base_scheduler = pipe.scheduler
            self._info = LoadedInfo(
                checkpoint=path, model_type=mtype, device=device, dtype=str(dtype).removeprefix("torch."),
                savers=savers, load_seconds=time.perf_counter() - started, params=params, notes=tuple(notes),
            )  # fmt: skip
            return self._info

    def _resolve(self, path: Path, model_type: ModelType | None) -> tuple[ProbeResult, ModelType, bool]:
        """Refuse untrusted pickles and unknown types before anything heavy is imported."""
        store = self._store_or_default()
        is_pickle = path.suffix.lower() in PICKLE_SUFFIXES or (
            is_diffusers_folder(path) and folder_weights(path).is_pickle
        )
        if is_pickle and not store.is_pickle_trusted(path):
            raise PickleRefused(path)
        probed = probe(path, store)
        mtype = ModelType(model_type) if model_type is not None else probed.model_type
        if mtype is ModelType.UNKNOWN:
            raise CheckpointUnreadable(path, "unknown model type; " + "; ".join(probed.reasons))
        return probed, mtype, is_pickle

    def _resolve_device(self, torch: Any) -> str:
        if self._device_pref != "auto":
            return self._device_pref
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _build(self, path: Path, mtype: ModelType, config_dir: Path | None, dtype: Any, is_pickle: bool) -> Any:
        _, diffusers = import_runtime()
        cls = getattr(diffusers, PIPELINE_CLASSES[mtype])
        extra: dict[str, Any] = {}
        if mtype in _HAS_SAFETY_CHECKER:
            # Like A1111 and ComfyUI, no NSFW classifier: it needs torchvision and 1.2 GB more.
            extra = {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
        try:
            if path.is_dir():
                weights = folder_weights(path)
                return cls.from_pretrained(
                    path, dtype=dtype, local_files_only=True, use_safetensors=not is_pickle,
                    variant=weights.variant, **extra,
                )  # fmt: skip
            config = config_dir or prepare_config_dir(mtype, search_folders=self._search)
            return cls.from_single_file(str(path), config=str(config), local_files_only=True, dtype=dtype, **extra)
        except LocalModelError:
            raise
        except Exception as err:  # diffusers raises many types; the user needs one line
            raise CheckpointUnreadable(path, f"could not load as {mtype.value}: {err}".splitlines()[0]) from err

    def _apply_savers(self, pipe: Any, savers: vram.Savers, *, placed: bool) -> None:
        self._offloaded = apply_savers(pipe, savers, offloaded=self._offloaded, placed=placed)

    def unload(self) -> None:
        """Drop the pipeline and give its memory back (CUDA cache included)."""
        with self._lock:
            had = self._pipe is not None
            device = self._info.device if self._info else "cpu"
            self._pipe = self._key = self._info = self._base_scheduler = self._refiner = None
            self._derived = {}
            self._offloaded = False
            if had:
                gc.collect()
                if device == "cuda":
                    import torch

                    torch.cuda.empty_cache()

    # --------------------------------------------------------------- generating

    def generate(
        self,
        checkpoint: Path,
        request: GenerationRequest,
        *,
        model_type: ModelType | None = None,
        config_dir: Path | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[GeneratedImage]:
        """``request.batch_count`` images, one after another (memory stays flat)."""
        with self._lock:
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(0, 0, request.steps or 0)
            _, mtype, _ = self._resolve(Path(checkpoint), model_type)
            job = plan_job(request, mtype)  # before loading: a bad size or image costs nothing
            info = self.load(checkpoint, model_type=model_type, config_dir=config_dir)
            torch, _ = import_runtime()
            self._savers = vram.Savers()
            if info.device == "cuda":
                width, height = job.hires_size or (job.width, job.height)
                self._savers = vram.choose_savers(info.model_type, width, height, self._budget_gb, params=info.params)
                self._apply_savers(self._pipe, self._savers, placed=True)
                if not self._savers.fits:
                    self._warn(f"{width}x{height} may not fit in {self._budget_gb:.1f} GB of GPU memory")
            base_seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
            results: list[GeneratedImage] = []
            self._busy = True
            try:
                with self._loras(request.loras):
                    for i in range(request.batch_count):
                        if cancel is not None and cancel.is_set():
                            raise GenerationCancelled(len(results), 0, job.steps)
                        seed = (base_seed + i) % 2**32
                        try:
                            results.append(self._one_or_retry(torch, info, request, job, seed, progress, cancel))
                        except _Cancelled as stop:
                            raise GenerationCancelled(len(results), stop.step, stop.total, tuple(results)) from None
            finally:
                self._busy = False
            return results

    def _one_or_retry(
        self,
        torch: Any,
        info: LoadedInfo,
        req: GenerationRequest,
        job: Job,
        seed: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> GeneratedImage:
        """One image; out of GPU memory, the cache is emptied and the image tried once more
        with the next saver level (core/local/vram.py's ladder), else the job fails."""
        size = "x".join(map(str, job.hires_size or (job.width, job.height)))
        try:
            return self._one(torch, info, req, job, seed, progress, cancel)
        except torch.cuda.OutOfMemoryError as oom:
            torch.cuda.empty_cache()
            stronger = vram.stronger_savers(self._savers)
            if stronger is None:
                raise LocalModelError(
                    f"out of GPU memory at {size} with every memory saver on; try a smaller size or close other "
                    "GPU programs"
                ) from oom
            self._warn(f"out of GPU memory at {size}; trying once more with {', '.join(stronger.names)}")
            self._savers = stronger
            if info.device == "cuda":
                self._apply_savers(self._pipe, stronger, placed=True)
                self._derived = {}  # built again around the re-placed modules
        try:
            return self._one(torch, info, req, job, seed, progress, cancel)
        except torch.cuda.OutOfMemoryError as again:
            torch.cuda.empty_cache()
            raise LocalModelError(
                f"out of GPU memory at {size} even with {', '.join(self._savers.names)}; try a smaller size "
                "or close other GPU programs"
            ) from again

    @contextmanager
    def _loras(self, loras: tuple[LoraChoice, ...]) -> Iterator[None]:
        """Apply ``loras`` for one job and take them off afterwards, so the next job is clean."""
        pipe = self._pipe
        names: list[str] = []
        try:
            for index, lora in enumerate(loras):
                adapter = f"lora{index}_{re.sub(r'[^0-9A-Za-z_]', '_', lora.name)[:40]}"
                try:
                    pipe.load_lora_weights(str(lora.path), adapter_name=adapter)
                except Exception as err:  # diffusers/peft raise many types; the user needs one line
                    raise BadLora(f"LoRA {lora.name} could not be loaded: {err}".splitlines()[0]) from err
                names.append(adapter)
            if names:
                pipe.set_adapters(names, adapter_weights=[lora.weight for lora in loras])
            yield
        finally:
            if names:
                pipe.unload_lora_weights()

    def _pipe_for(self, mode: Mode, info: LoadedInfo) -> Any:
        """The loaded pipeline for its own mode, else one derived from it (no new weights)."""
        native = mode_of(info.model_type, False, False)
        if mode == native:
            return self._pipe
        if mode not in self._derived:
            self._derived[mode] = derive(self._pipe, mode)
        return self._derived[mode]

    def _use_scheduler(self, pipe: Any, name: str | None) -> None:
        if name is None:
            pipe.scheduler = self._base_scheduler
            return
        try:
            use_sampler(pipe, name, self._base_scheduler.config)
        except UnknownSampler:
            raise
        except Exception as err:  # a scheduler that does not take this checkpoint's config
            raise LocalModelError(f"the {name} scheduler does not work with this checkpoint: {err}") from err

    def _refiner_pipe(self, path: Path, info: LoadedInfo) -> Any:
        """The SDXL refiner, sharing the base's VAE and second text encoder; on a GPU where
        base and refiner do not fit together, both move to model CPU offload."""
        key = str(Path(path).resolve())
        if self._refiner is not None and self._refiner[0] == key:
            return self._refiner[1]
        self._refiner = None
        torch, diffusers = import_runtime()
        cls = diffusers.StableDiffusionXLImg2ImgPipeline
        base = self._pipe
        shared = {"text_encoder_2": base.text_encoder_2, "vae": base.vae}
        dtype = torch.float16 if info.device == "cuda" else torch.float32
        try:
            if Path(path).is_dir():
                pipe = cls.from_pretrained(path, dtype=dtype, local_files_only=True, **shared)
            else:
                config = prepare_config_dir(ModelType.SDXL_REFINER, search_folders=self._search)
                pipe = cls.from_single_file(str(path), config=str(config), local_files_only=True, dtype=dtype, **shared)
        except LocalModelError:
            raise
        except Exception as err:
            raise CheckpointUnreadable(path, f"could not load as the SDXL refiner: {err}".splitlines()[0]) from err
        pipe.set_progress_bar_config(disable=True)
        if info.device == "cuda":
            refiner_gb = TYPICAL_PARAMS[ModelType.SDXL_REFINER].unet * 2 / vram.GIB
            if self._savers.estimated_peak_gb + refiner_gb > self._budget_gb:
                self._warn("base and refiner do not fit together in GPU memory: both use model CPU offload")
                self._savers = vram.Savers(vae_tiling=True, model_cpu_offload=True)
                self._apply_savers(base, self._savers, placed=True)
                pipe.enable_model_cpu_offload()
            else:
                pipe.to("cuda")
        else:
            pipe.to(info.device)
        self._refiner = (key, pipe)
        return pipe

    def _one(
        self,
        torch: Any,
        info: LoadedInfo,
        req: GenerationRequest,
        job: Job,
        seed: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> GeneratedImage:
        def hook(offset: int) -> Callable[..., dict[str, Any]]:
            def on_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                step, total = offset + i + 1, offset + int(getattr(p, "num_timesteps", 0) or job.steps)
                if progress is not None:
                    preview = None
                    if req.preview_every and step % req.preview_every == 0 and "latents" in tensors:
                        preview = latents_preview_png(tensors["latents"], info.model_type)
                    progress(step, total, preview)
                if cancel is not None and cancel.is_set():
                    raise _Cancelled(step, total)
                return {}

            return on_step

        def common(offset: int) -> dict[str, Any]:
            return {
                "prompt": req.prompt,
                "negative_prompt": req.negative_prompt or None,
                "num_inference_steps": job.steps,
                "guidance_scale": job.guidance,
                "generator": torch.Generator(device="cpu").manual_seed(seed),  # same image on any device
                "callback_on_step_end": hook(offset),
            }

        pipe = self._pipe_for(job.mode, info)
        self._use_scheduler(pipe, req.scheduler)
        kwargs = common(0)
        size = (job.width, job.height)
        if job.mode == "img2img":
            kwargs.update(image=job.init.resize(size, _lanczos()), strength=job.strength)
            kwargs["num_inference_steps"] = _steps_for(job.steps, job.strength)
        elif job.mode == "inpaint":
            kwargs.update(image=job.init.resize(size, _lanczos()), mask_image=job.mask.resize(size, _lanczos()),
                          strength=job.strength, width=job.width, height=job.height)  # fmt: skip
        else:
            kwargs.update(width=job.width, height=job.height)
        refiner = self._refiner_pipe(req.refiner, info) if req.refiner is not None else None
        if refiner is not None:
            kwargs.update(denoising_end=req.refiner_switch, output_type="latent")
        cuda = info.device == "cuda"
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            out = pipe(**kwargs).images
            done = int(getattr(pipe, "num_timesteps", 0) or job.steps)
            if refiner is not None:
                assert req.refiner is not None
                rkw = common(done)
                rkw.update(image=out, denoising_start=req.refiner_switch)
                image = refiner(**rkw).images[0]
            else:
                image = out[0]
            if job.hires_size is not None:
                upscaled = image.resize(job.hires_size, _lanczos())
                second = self._pipe_for("img2img", info)
                self._use_scheduler(second, req.scheduler)
                hkw = common(done)
                hkw.update(image=upscaled, strength=req.hires_strength)
                hkw["num_inference_steps"] = _steps_for(job.steps, req.hires_strength)
                image = second(**hkw).images[0]
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        strength = job.strength if job.mode != "txt2img" else (req.hires_strength if job.hires_size else None)
        meta = ImageMeta(
            prompt=req.prompt, negative_prompt=req.negative_prompt, seed=seed, steps=job.steps,
            guidance=job.guidance, width=image.width, height=image.height, model=_model_name(info.checkpoint),
            sampler=sampler_of(pipe.scheduler), model_type=info.model_type.value,
            model_hash=autov2_hash(info.checkpoint) or "",
            lora_hashes=tuple((lora.name, lora.hash) for lora in req.loras if lora.hash),
            denoising_strength=strength, hires_upscale=req.hires if job.hires_size else None,
            hires_upscaler="Lanczos" if job.hires_size else "",
            refiner=_refiner_label(req.refiner) if req.refiner is not None else "",
            refiner_switch=req.refiner_switch if req.refiner is not None else None,
        )  # fmt: skip
        return GeneratedImage(encode_png(image, meta), seed, seconds, image.width, image.height, meta)


@dataclass(frozen=True)
class Job:
    """A request with every default filled in for its checkpoint type, images decoded."""

    mode: Mode
    steps: int
    guidance: float
    width: int
    height: int
    strength: float | None
    init: Any = None  # PIL images
    mask: Any = None
    hires_size: tuple[int, int] | None = None


def plan_job(req: GenerationRequest, mtype: ModelType) -> Job:
    """What the engine will do for ``req`` on a ``mtype`` checkpoint; refuses what cannot work."""
    defaults = TYPE_DEFAULTS[mtype]
    steps = req.steps if req.steps is not None else defaults.steps
    guidance = req.guidance if req.guidance is not None else defaults.guidance
    mode = mode_of(mtype, req.init_image is not None, req.mask_image is not None)
    init = input_image(req.init_image, "init image") if req.init_image is not None else None
    mask = input_image(req.mask_image, "mask", mode="L") if req.mask_image is not None else None
    width = req.width or (snap8(init.width) if init is not None else defaults.size)
    height = req.height or (snap8(init.height) if init is not None else defaults.size)
    _validate(req, width, height, mtype)
    strength = req.strength
    if strength is None and mode != "txt2img":
        strength = REFINER_STRENGTH if mtype is ModelType.SDXL_REFINER else DEFAULT_STRENGTH[mode]
    hires = hires_size(width, height, req.hires) if req.hires is not None else None
    return Job(mode, steps, guidance, width, height, strength, init, mask, hires)


def _validate(req: GenerationRequest, width: int, height: int, mtype: ModelType) -> None:
    if width % 8 or height % 8 or width < 64 or height < 64:
        raise LocalModelError(f"image size {width}x{height} must be multiples of 8, at least 64")
    if (req.steps is not None and req.steps < 1) or req.batch_count < 1:
        raise LocalModelError("steps and batch count must be at least 1")
    if mtype in (ModelType.SDXL_REFINER, ModelType.INPAINT) and req.init_image is None:
        raise LocalModelError(f"a {mtype.value} model works on an input image; none was given")
    if mtype is ModelType.INPAINT and req.mask_image is None:
        raise LocalModelError("inpainting needs a mask image")
    if req.mask_image is not None and req.init_image is None:
        raise LocalModelError("a mask needs an init image to paint into")
    if req.strength is not None and not 0.0 < req.strength <= 1.0:
        raise LocalModelError(f"strength {req.strength:g} must be above 0 and at most 1")
    if req.hires is not None:
        if not 1.0 < req.hires <= 4.0:
            raise LocalModelError(f"hires scale {req.hires:g} must be above 1 and at most 4 (1.5 or 2 are usual)")
        if req.init_image is not None or mtype not in TEXT_TO_IMAGE:
            raise LocalModelError("the hires fix is for text-to-image; with an init image, set the size instead")
    if req.refiner is not None and (mtype is not ModelType.SDXL_BASE or req.init_image is not None):
        raise LocalModelError("the refiner finishes SDXL base text-to-image jobs only")


def _steps_for(steps: int, strength: float | None) -> int:
    """Steps to ask of an image-to-image pass so it runs at least one: diffusers runs
    ``int(steps * strength)`` of them (2 steps at the hires strength 0.35 would be none)."""
    if not strength:
        return steps
    return max(steps, math.ceil(1 / strength))


def _lanczos() -> Any:
    from PIL import Image

    return Image.Resampling.LANCZOS


def _refiner_label(path: Path) -> str:
    digest = autov2_hash(path)
    return f"{_model_name(path)} [{digest}]" if digest else _model_name(path)


def _model_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem
