"""GPU memory arithmetic: how much there is, what a model needs, and what to switch on.

Pure functions, importable without torch: the UI shows "fits / partial offload / won't
fit" next to every local model before anything is loaded, and tests feed in simulated
GPUs. Sizes in this module are GiB (what nvidia-smi's MiB add up to), named ``_gb`` in
signatures because that is what users call them.

Stable Diffusion peak memory is modelled as resident weights plus the larger of the
UNet's working memory and the VAE decode, with a 10 % allowance for allocator
fragmentation and 0.5 GiB for the CUDA context and cuDNN workspaces. The per-megapixel
constants below are estimates for torch ≥ 2 (SDPA attention); benchmarks/gpu_sd.py
measures the real peaks on a GPU machine to recalibrate them.
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from dataclasses import dataclass
from enum import StrEnum

from sparklio_desktop.core.local.sd.families import (
    TYPICAL_PARAMS,
    VAE_DECODES_IN_FP32,
    ComponentParams,
    ModelType,
)

GIB = 1024**3
DEFAULT_GPU_GB = 12.0

_UNET_ACT_GIB_PER_MP = {ModelType.SDXL_BASE: 1.5, ModelType.SDXL_REFINER: 1.5}
_UNET_ACT_DEFAULT = 2.0  # SD 1.x/2.x: attention at the full latent resolution costs more
_VAE_DECODE_GIB_PER_MP_FP16 = 2.5
_TILE_PX = 512  # VAE tile edge when tiling is on (SDXL's VAE would default to 1024)
_SLICING_KEEPS = 0.75  # with SDPA, attention slicing saves little; it is the last resort
_CONTEXT_RESERVE_GIB = 0.5
_FRAGMENTATION = 1.10


# --------------------------------------------------------------------------- GPU size


@dataclass(frozen=True)
class GpuMemory:
    """Total and free memory of one GPU, and where the figures came from."""

    total_gb: float
    free_gb: float | None  # None when only a configured total is known
    source: str  # "nvml", "torch" or "configured"
    name: str | None = None


def gpu_memory(configured_total_gb: float = DEFAULT_GPU_GB, index: int = 0) -> GpuMemory:
    """NVML when ``pynvml`` (nvidia-ml-py) is installed; torch.cuda only if torch is
    already imported (importing it here would cost seconds at start-up); else the
    user's configured size."""
    found = _from_nvml(index)
    if found is None and "torch" in sys.modules:
        found = _from_torch(index)
    return found or GpuMemory(total_gb=configured_total_gb, free_gb=None, source="configured")


def _from_nvml(index: int) -> GpuMemory | None:
    if importlib.util.find_spec("pynvml") is None:
        return None
    try:
        with warnings.catch_warnings():
            # The old "pynvml" wrapper package warns that it is deprecated on import.
            warnings.simplefilter("ignore", FutureWarning)
            import pynvml  # type: ignore[import-not-found]
        pynvml.nvmlInit()
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            info = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - no driver, no GPU, old library: all mean "unknown"
        return None
    name_s = name.decode() if isinstance(name, bytes) else str(name)
    return GpuMemory(total_gb=info.total / GIB, free_gb=info.free / GIB, source="nvml", name=name_s)


def _from_torch(index: int) -> GpuMemory | None:
    torch = sys.modules["torch"]
    try:
        if not torch.cuda.is_available():
            return None
        free, total = torch.cuda.mem_get_info(index)
        name = torch.cuda.get_device_name(index)
    except Exception:  # noqa: BLE001 - a broken CUDA setup is "no GPU" here
        return None
    return GpuMemory(total_gb=total / GIB, free_gb=free / GIB, source="torch", name=name)


# ------------------------------------------------------------------ Stable Diffusion


@dataclass(frozen=True)
class Savers:
    """Memory savers for one pipeline, and the peak they lead to.

    ``fits`` is False when even every saver leaves the estimate above the budget: the
    engine still tries (the estimate is conservative) but warns first.
    """

    attention_slicing: bool = False
    vae_tiling: bool = False
    model_cpu_offload: bool = False
    estimated_peak_gb: float = 0.0
    fits: bool = True

    @property
    def names(self) -> list[str]:
        flags = [("vae_tiling", self.vae_tiling), ("model_cpu_offload", self.model_cpu_offload),
                 ("attention_slicing", self.attention_slicing)]  # fmt: skip
        return [n for n, on in flags if on]


def estimate_sd_peak_gib(
    model_type: ModelType,
    width: int,
    height: int,
    savers: Savers,
    params: ComponentParams | None = None,
) -> float:
    """Peak GPU memory of fp16 inference (classifier-free guidance, batch 1), in GiB."""
    p = params or TYPICAL_PARAMS.get(model_type, TYPICAL_PARAMS[ModelType.SD1])
    mp = width * height / 2**20
    fp32_vae = model_type in VAE_DECODES_IN_FP32
    unet_w = p.unet * 2 / GIB
    text_w = p.text_encoders * 2 / GIB
    vae_w = p.vae * (4 if fp32_vae else 2) / GIB
    unet_act = _UNET_ACT_GIB_PER_MP.get(model_type, _UNET_ACT_DEFAULT) * mp
    if savers.attention_slicing:
        unet_act *= _SLICING_KEEPS
    decode_mp = min(mp, _TILE_PX * _TILE_PX / 2**20) if savers.vae_tiling else mp
    decode = _VAE_DECODE_GIB_PER_MP_FP16 * decode_mp * (2 if fp32_vae else 1)
    if savers.model_cpu_offload:
        # One component on the GPU at a time: text encoders, then UNet, then VAE.
        peak = max(text_w + 0.1, unet_w + unet_act, vae_w + decode)
    else:
        peak = unet_w + text_w + max(p.vae * 2 / GIB + unet_act, vae_w + decode)
    return peak * _FRAGMENTATION + _CONTEXT_RESERVE_GIB


_SAVER_LADDER: tuple[Savers, ...] = (
    Savers(),
    Savers(vae_tiling=True),
    Savers(vae_tiling=True, model_cpu_offload=True),
    Savers(vae_tiling=True, model_cpu_offload=True, attention_slicing=True),
)


def choose_savers(
    model_type: ModelType,
    width: int,
    height: int,
    free_vram_gb: float,
    *,
    params: ComponentParams | None = None,
) -> Savers:
    """The cheapest savers whose estimated peak fits ``free_vram_gb``.

    Order of cost: VAE tiling (nearly free, only the decode changes), model CPU offload
    (moves weights over PCIe each image), attention slicing (slower, little gain with
    SDPA). A saver that does not lower the estimate at this size is left off.
    """

    def est(s: Savers) -> float:
        return estimate_sd_peak_gib(model_type, width, height, s, params)

    chosen = _SAVER_LADDER[-1]
    for candidate in _SAVER_LADDER:
        if est(candidate) <= free_vram_gb:
            chosen = candidate
            break
    flags = {"vae_tiling": chosen.vae_tiling, "model_cpu_offload": chosen.model_cpu_offload,
             "attention_slicing": chosen.attention_slicing}  # fmt: skip
    for name in list(flags):
        if flags[name]:
            without = Savers(**{**flags, name: False})
            if est(without) <= est(Savers(**flags)) + 1e-9 or est(without) <= free_vram_gb:
                flags[name] = False
    peak = est(Savers(**flags))
    return Savers(**flags, estimated_peak_gb=round(peak, 3), fits=peak <= free_vram_gb)


def stronger_savers(current: Savers) -> Savers | None:
    """The next rung of the ladder that keeps every saver of ``current`` and adds one,
    for a retry after an out-of-memory error; None when every saver is already on."""
    have = set(current.names)
    for rung in _SAVER_LADDER:
        if have < set(rung.names):
            return Savers(rung.attention_slicing, rung.vae_tiling, rung.model_cpu_offload, fits=False)
    return None


# ----------------------------------------------------------------------- Ollama fit


class Fit(StrEnum):
    FITS = "fits"
    PARTIAL = "partial offload"
    WONT_FIT = "won't fit"


# Below a quarter of the layers on the GPU, the CPU does three quarters of the work per
# token: the speed is close to CPU-only while VRAM is still taken, so we call it "won't
# fit" and suggest a smaller quantisation instead.
MIN_GPU_LAYER_FRACTION = 0.25
# Ollama's compute graph, the CUDA context and what the desktop itself uses.
DEFAULT_RESERVE_BYTES = 1 * GIB

KV_BYTES_PER_VALUE = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def kv_cache_bytes(layers: int, kv_heads: int, head_dim: int, context: int, bytes_per_value: float = 2.0) -> int:
    """Keys and values for every layer: 2 × layers × KV heads × head dim × context × bytes."""
    return int(2 * layers * kv_heads * head_dim * context * bytes_per_value)


@dataclass(frozen=True)
class FitCheck:
    verdict: Fit
    weights_bytes: int
    kv_bytes: int
    available_bytes: int
    gpu_layers: int
    total_layers: int

    @property
    def required_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes


def ollama_fit(
    weights_bytes: int,
    layers: int,
    kv_heads: int,
    head_dim: int,
    context: int,
    gpu_bytes: int,
    *,
    bytes_per_value: float = 2.0,
    reserve_bytes: int = DEFAULT_RESERVE_BYTES,
    ram_free_bytes: int | None = None,
) -> FitCheck:
    """Will this model at this context run on this GPU, fully or split with the CPU?

    Layers are taken as equal slices of weights + KV cache (embeddings and the output
    head are small next to them). ``gpu_bytes`` is the GPU's total (or what is free of
    it, to account for other programs); ``ram_free_bytes`` bounds the CPU part.
    """
    kv = kv_cache_bytes(layers, kv_heads, head_dim, context, bytes_per_value)
    need = weights_bytes + kv
    available = max(0, gpu_bytes - reserve_bytes)
    if need <= available:
        return FitCheck(Fit.FITS, weights_bytes, kv, available, layers, layers)
    per_layer = need / max(layers, 1)
    gpu_layers = min(layers, int(available // per_layer)) if per_layer > 0 else 0
    cpu_part = need - gpu_layers * per_layer
    enough_ram = ram_free_bytes is None or cpu_part <= ram_free_bytes
    partial = layers > 0 and gpu_layers / layers >= MIN_GPU_LAYER_FRACTION and enough_ram
    return FitCheck(Fit.PARTIAL if partial else Fit.WONT_FIT, weights_bytes, kv, available, gpu_layers, layers)
