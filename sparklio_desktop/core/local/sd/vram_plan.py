"""Before an image job: will it fit on this GPU, and with which savers?

The creator with a 12 GB card wants to know *before* pressing Generate whether 1024×1024
SDXL with a refiner and two LoRAs will run, run slowly (model CPU offload), or not at all.
:func:`plan_image_job` answers with the same arithmetic the engine uses to pick its savers
(core/local/vram.py), so what the preview says is what the engine does, and breaks the
estimate into the parts a creator can act on: weights, the denoiser's working memory at
this size, the VAE decode, the extras (LoRAs, the refiner) and the reserve.

The estimate is per image: a batch is generated one image after another, so its size does
not change the peak. The hires pass runs image-to-image at the upscaled size, so its peak
is the larger size's. The refiner shares the VAE and the second text encoder with the base
model but brings its own UNet; without offload both UNets are resident.

Pure and torch-free: the Images view calls it on every change of size or checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.sd.families import TYPICAL_PARAMS, ComponentParams, ModelType

__all__ = ["Fit", "ImagePlan", "plan_image_job"]

_FP16 = 2  # bytes per parameter of the weights on the GPU


class Fit(StrEnum):
    FITS = "fits"
    SAVERS = "fits with savers"
    WONT_FIT = "will not fit"


_SAVER_WORDS = {
    "vae_tiling": "VAE tiling",
    "model_cpu_offload": "model CPU offload (slower: weights move to the GPU for each step of the pipeline)",
    "attention_slicing": "attention slicing",
}


@dataclass(frozen=True)
class ImagePlan:
    """The verdict and the numbers behind it, in GiB."""

    fit: Fit
    budget_gb: float  # what the job may use: free memory, else the configured card size
    gpu_source: str  # "nvml", "torch" or "configured"
    peak_gb: float  # with the chosen savers
    peak_without_savers_gb: float
    weights_gb: float
    extras_gb: float  # LoRAs and the refiner's UNet
    width: int
    height: int
    savers: tuple[str, ...] = ()
    cloud_alternative: str | None = None  # the image model the chain would use instead
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line for the Images view and the CLI."""
        size = f"{self.width}×{self.height}"
        if self.fit is Fit.FITS:
            return f"Fits: ~{self.peak_gb:.1f} of {self.budget_gb:.1f} GB at {size}"
        if self.fit is Fit.SAVERS:
            words = ", ".join(_SAVER_WORDS[s].split(" (")[0] for s in self.savers)
            return f"Fits with {words}: ~{self.peak_gb:.1f} of {self.budget_gb:.1f} GB at {size}"
        tail = f"; use {self.cloud_alternative} in the cloud instead" if self.cloud_alternative else ""
        return f"Will not fit: ~{self.peak_gb:.1f} GB needed even with every saver, {self.budget_gb:.1f} GB free{tail}"

    def lines(self) -> list[str]:
        """The estimate part by part, for the plan's details."""
        out = [
            self.summary(),
            f"weights ~{self.weights_gb:.1f} GB (fp16)",
            f"without savers ~{self.peak_without_savers_gb:.1f} GB",
        ]
        if self.extras_gb:
            out.append(f"LoRAs and refiner ~{self.extras_gb:.1f} GB")
        out += [f"saver: {_SAVER_WORDS[s]}" for s in self.savers]
        out += list(self.notes)
        out.append(f"memory figure from {self.gpu_source}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "fit": self.fit.value,
            "summary": self.summary(),
            "budget_gb": round(self.budget_gb, 2),
            "gpu_source": self.gpu_source,
            "peak_gb": round(self.peak_gb, 2),
            "peak_without_savers_gb": round(self.peak_without_savers_gb, 2),
            "weights_gb": round(self.weights_gb, 2),
            "extras_gb": round(self.extras_gb, 2),
            "width": self.width,
            "height": self.height,
            "savers": list(self.savers),
            "cloud_alternative": self.cloud_alternative,
            "notes": list(self.notes),
        }


def plan_image_job(
    model_type: ModelType,
    width: int,
    height: int,
    *,
    gpu: vram.GpuMemory,
    params: ComponentParams | None = None,
    hires: float | None = None,
    refiner: ComponentParams | None = None,
    lora_bytes: int = 0,
    cloud_alternative: str | None = None,
) -> ImagePlan:
    """The plan for one image of ``width``×``height`` with ``model_type``'s pipeline.

    ``gpu``: what :func:`vram.gpu_memory` measured (free memory is the budget when known:
    Ollama or another program may hold the rest); ``hires``: the upscale factor of the
    hires pass; ``refiner``: the refiner's parameter counts when the job ends with one;
    ``lora_bytes``: the LoRA files' sizes (their weights are merged in fp16, about their
    file size on the GPU).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image size {width}x{height} must be positive")
    p = params if params is not None and params.total else TYPICAL_PARAMS.get(model_type, TYPICAL_PARAMS[ModelType.SD1])
    budget = gpu.free_gb if gpu.free_gb is not None else gpu.total_gb
    notes: list[str] = []
    w, h = width, height
    if hires:
        w, h = _round8(width * hires), _round8(height * hires)
        notes.append(f"hires pass at {w}×{h} sets the peak")
    extras = lora_bytes / vram.GIB
    if refiner is not None:
        # The refiner's UNet joins the base pipeline (its VAE and text encoder are shared).
        extras += refiner.unet * _FP16 / vram.GIB
        notes.append("the refiner's UNet is resident beside the base model unless offloaded")
    savers = vram.choose_savers(model_type, w, h, max(budget - extras, 0.0), params=p)
    bare = vram.estimate_sd_peak_gib(model_type, w, h, vram.Savers(), p) + extras
    # With model CPU offload only one component (UNet or the refiner's) is on the GPU.
    offload_extras = lora_bytes / vram.GIB if savers.model_cpu_offload else extras
    peak = savers.estimated_peak_gb + offload_extras
    if peak > budget + 1e-9:
        fit = Fit.WONT_FIT
    elif savers.names:
        fit = Fit.SAVERS
    else:
        fit = Fit.FITS
    if gpu.source == "configured":
        notes.append("no GPU measured: the configured card size (gpu.vram_gb) is the budget")
    return ImagePlan(
        fit=fit, budget_gb=budget, gpu_source=gpu.source, peak_gb=peak, peak_without_savers_gb=bare,
        weights_gb=p.total * _FP16 / vram.GIB, extras_gb=extras, width=w, height=h,
        savers=tuple(savers.names), cloud_alternative=cloud_alternative if fit is Fit.WONT_FIT else None,
        notes=tuple(notes),
    )  # fmt: skip


def _round8(value: float) -> int:
    return max(64, int(round(value / 8)) * 8)
