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
import io
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.errors import (
    CheckpointUnreadable,
    GenerationCancelled,
    LocalModelError,
    PickleRefused,
)
from sparklio_desktop.core.local.model_hash import autov2_hash
from sparklio_desktop.core.local.png_meta import ImageMeta, encode_png
from sparklio_desktop.core.local.sd.configs import prepare_config_dir
from sparklio_desktop.core.local.sd.diffusers_dirs import folder_weights, is_diffusers_folder
from sparklio_desktop.core.local.sd.families import DEFAULT_RESOLUTION, TYPICAL_PARAMS, ComponentParams, ModelType
from sparklio_desktop.core.local.sd.probe import PICKLE_SUFFIXES, ProbeResult, probe
from sparklio_desktop.core.local.sd.runtime import apply_savers, import_runtime, latents_preview_png
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
_SAMPLER_NAMES = {  # scheduler class → the name A1111 users know
    "EulerDiscreteScheduler": "Euler",
    "EulerAncestralDiscreteScheduler": "Euler a",
    "DPMSolverMultistepScheduler": "DPM++ 2M",
    "DDIMScheduler": "DDIM",
    "PNDMScheduler": "PLMS",
    "LMSDiscreteScheduler": "LMS",
    "UniPCMultistepScheduler": "UniPC",
}


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    steps: int = 25
    guidance: float = 7.0
    width: int | None = None  # None: the model's native resolution
    height: int | None = None
    seed: int | None = None  # None: random; image i of a batch uses seed + i
    batch_count: int = 1
    init_image: bytes | None = None  # the refiner and inpainting start from an image
    mask_image: bytes | None = None  # inpainting: white = repaint
    strength: float | None = None  # img2img/inpaint: None = 0.3 for the refiner, 1.0 to inpaint
    preview_every: int = 0  # 0: no previews; n: a preview every n steps


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
            self._pipe = self._key = self._info = None
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
                raise GenerationCancelled(0, 0, request.steps)
            _, mtype, _ = self._resolve(Path(checkpoint), model_type)
            size = DEFAULT_RESOLUTION[mtype]
            width, height = request.width or size, request.height or size
            _validate(request, width, height, mtype)  # before loading: a bad size costs nothing
            info = self.load(checkpoint, model_type=model_type, config_dir=config_dir)
            torch, _ = import_runtime()
            if info.device == "cuda":
                savers = vram.choose_savers(info.model_type, width, height, self._budget_gb, params=info.params)
                self._apply_savers(self._pipe, savers, placed=True)
                if not savers.fits:
                    self._warn(f"{width}x{height} may not fit in {self._budget_gb:.1f} GB of GPU memory")
            base_seed = request.seed if request.seed is not None else secrets.randbelow(2**32)
            results: list[GeneratedImage] = []
            self._busy = True
            try:
                for i in range(request.batch_count):
                    if cancel is not None and cancel.is_set():
                        raise GenerationCancelled(len(results), 0, request.steps)
                    seed = (base_seed + i) % 2**32
                    try:
                        results.append(self._one(torch, info, request, width, height, seed, progress, cancel))
                    except _Cancelled as stop:
                        raise GenerationCancelled(len(results), stop.step, stop.total, tuple(results)) from None
                    except torch.cuda.OutOfMemoryError as oom:
                        torch.cuda.empty_cache()
                        raise LocalModelError(
                            f"out of GPU memory at {width}x{height}; try a smaller size or close other GPU programs"
                        ) from oom
            finally:
                self._busy = False
            return results

    def _one(
        self,
        torch: Any,
        info: LoadedInfo,
        req: GenerationRequest,
        width: int,
        height: int,
        seed: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> GeneratedImage:
        pipe = self._pipe

        def on_step(p: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            step, total = i + 1, int(getattr(p, "num_timesteps", 0) or req.steps)
            if progress is not None:
                preview = None
                if req.preview_every and step % req.preview_every == 0 and "latents" in tensors:
                    preview = latents_preview_png(tensors["latents"], info.model_type)
                progress(step, total, preview)
            if cancel is not None and cancel.is_set():
                raise _Cancelled(step, total)
            return {}

        kwargs: dict[str, Any] = {
            "prompt": req.prompt,
            "negative_prompt": req.negative_prompt or None,
            "num_inference_steps": req.steps,
            "guidance_scale": req.guidance,
            "generator": torch.Generator(device="cpu").manual_seed(seed),  # same image on any device
            "callback_on_step_end": on_step,
        }
        if info.model_type is ModelType.SDXL_REFINER:
            kwargs.update(image=_pil(req.init_image), strength=req.strength if req.strength is not None else 0.3)
        else:
            kwargs.update(width=width, height=height)
        if info.model_type is ModelType.INPAINT:
            kwargs.update(
                image=_pil(req.init_image).resize((width, height)),
                mask_image=_pil(req.mask_image).convert("L").resize((width, height)),
                strength=req.strength if req.strength is not None else 1.0,
            )
        cuda = info.device == "cuda"
        if cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.inference_mode():
            image = pipe(**kwargs).images[0]
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        sampler = _SAMPLER_NAMES.get(type(pipe.scheduler).__name__, type(pipe.scheduler).__name__)
        meta = ImageMeta(
            prompt=req.prompt, negative_prompt=req.negative_prompt, seed=seed, steps=req.steps,
            guidance=req.guidance, width=image.width, height=image.height, model=_model_name(info.checkpoint),
            sampler=sampler, model_type=info.model_type.value, model_hash=autov2_hash(info.checkpoint) or "",
        )  # fmt: skip
        return GeneratedImage(encode_png(image, meta), seed, seconds, image.width, image.height, meta)


def _validate(req: GenerationRequest, width: int, height: int, mtype: ModelType) -> None:
    if width % 8 or height % 8 or width < 64 or height < 64:
        raise LocalModelError(f"image size {width}x{height} must be multiples of 8, at least 64")
    if req.steps < 1 or req.batch_count < 1:
        raise LocalModelError("steps and batch count must be at least 1")
    if mtype in (ModelType.SDXL_REFINER, ModelType.INPAINT) and req.init_image is None:
        raise LocalModelError(f"a {mtype.value} model works on an input image; none was given")
    if mtype is ModelType.INPAINT and req.mask_image is None:
        raise LocalModelError("inpainting needs a mask image")


def _pil(data: bytes | None) -> Any:
    from PIL import Image

    assert data is not None  # checked by _validate
    return Image.open(io.BytesIO(data)).convert("RGB")


def _model_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem
