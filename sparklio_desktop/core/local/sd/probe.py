"""Tell what a checkpoint is from its safetensors header alone, without loading tensors.

A ``.safetensors`` file starts with an 8-byte little-endian length and a JSON header
listing every tensor's name, dtype, shape and byte range. Names and shapes say the
architecture: the UNet's cross-attention context width is 768 (SD 1.x, CLIP-L), 1024
(SD 2.x, OpenCLIP-H), 2048 (SDXL base, CLIP-L + bigG) or 1280 (SDXL refiner, bigG), and
an inpainting UNet takes 9 input channels. Reading only the header keeps probing a 7 GB
checkpoint in milliseconds, and never runs or maps anything from the file.

Diffusers folders are probed from ``model_index.json`` and ``unet/config.json``, and
their component weight headers for precision and parameter counts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.errors import CheckpointUnreadable
from sparklio_desktop.core.local.sd.diffusers_dirs import read_diffusers_folder
from sparklio_desktop.core.local.sd.families import DEFAULT_RESOLUTION, ComponentParams, ModelType
from sparklio_desktop.core.local.sd.header import (
    FLOAT_DTYPES,
    TensorInfo,
    precision_of,
    read_safetensors_header,
)
from sparklio_desktop.core.local.sd.store import CheckpointStore

_CONTEXT_DIMS = {768: ModelType.SD1, 1024: ModelType.SD2, 2048: ModelType.SDXL_BASE, 1280: ModelType.SDXL_REFINER}
UNET_PREFIX = "model.diffusion_model."
PICKLE_SUFFIXES = frozenset({".ckpt", ".bin", ".pt", ".pth"})
_ATTN2_K = re.compile(r"\.attn2\.to_k\.weight$")


@dataclass(frozen=True)
class ProbeResult:
    """Everything the UI shows about a checkpoint before the user loads it."""

    path: Path
    model_type: ModelType  # what Sparklio will load it as (the override when set)
    detected_type: ModelType  # what the probe concluded
    family: ModelType  # the base family; differs from model_type only for inpainting
    overridden: bool
    precision: str  # fp16 / fp32 / bf16 / ... (by bytes), or "unknown"
    params: ComponentParams
    size_bytes: int
    default_resolution: int
    est_vram_bytes: int  # fp16 inference at the default resolution, no memory savers
    has_ema: bool = False
    reasons: tuple[str, ...] = field(default=())

    @property
    def param_count(self) -> int:
        return self.params.total


def classify(tensors: Mapping[str, TensorInfo]) -> tuple[ModelType, ModelType, list[str]]:
    """(model type, family, reasons) from original-layout (LDM) tensor names and shapes."""
    reasons: list[str] = []
    unet = [k for k in tensors if k.startswith(UNET_PREFIX)]
    if not unet:
        return ModelType.UNKNOWN, ModelType.UNKNOWN, [_not_a_checkpoint(tensors)]
    conv_in = tensors.get(UNET_PREFIX + "input_blocks.0.0.weight")
    in_channels = conv_in.shape[1] if conv_in and len(conv_in.shape) == 4 else None
    context = next((tensors[k].shape[-1] for k in unet if _ATTN2_K.search(k) and tensors[k].shape), None)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in tensors)

    family = _CONTEXT_DIMS.get(context or -1, ModelType.UNKNOWN)
    if family is not ModelType.UNKNOWN:
        reasons.append(f"UNet cross-attention context {context}")
    else:
        if context is not None:
            reasons.append(f"unusual cross-attention context {context}; judged by the text encoder")
        if has("conditioner.embedders.1."):
            family = ModelType.SDXL_BASE
        elif has("conditioner.embedders.0.model."):
            family = ModelType.SDXL_REFINER
        elif has("cond_stage_model.model."):
            family = ModelType.SD2
        elif has("cond_stage_model.transformer."):
            family = ModelType.SD1
        if family is not ModelType.UNKNOWN:
            reasons.append(f"text encoder layout of {family.value}")
    if family is ModelType.UNKNOWN:
        reasons.append("no known UNet context width or text encoder")
        return ModelType.UNKNOWN, family, reasons
    if in_channels == 9:
        reasons.append("UNet takes 9 input channels (inpainting)")
        return ModelType.INPAINT, family, reasons
    if in_channels not in (None, 4):
        reasons.append(f"UNet takes {in_channels} input channels; not a text-to-image model")
        return ModelType.UNKNOWN, family, reasons
    return family, family, reasons


def _not_a_checkpoint(tensors: Mapping[str, TensorInfo]) -> str:
    keys = list(tensors)
    if any("lora_" in k or ".lora_down." in k or ".lora_A." in k for k in keys[:200]):
        return "a LoRA, not a full checkpoint"
    if any(k.startswith(("encoder.conv_in", "decoder.conv_in")) for k in keys):
        return "a VAE only, not a full checkpoint"
    if any(k.startswith(("conv_in.", "down_blocks.")) for k in keys):
        return "a diffusers-layout UNet only, not a full checkpoint"
    return "no Stable Diffusion UNet in this file"


_COMPONENT_OF = {"model": 0, "first_stage_model": 1, "vae": 1, "cond_stage_model": 2, "conditioner": 2}


def component_params(tensors: Mapping[str, TensorInfo]) -> tuple[ComponentParams, bool]:
    """Float parameter counts per component; EMA copies are not counted (not loaded)."""
    counts = [0, 0, 0, 0]  # unet, vae, text, other
    has_ema = False
    component_of = _COMPONENT_OF
    for name, info in tensors.items():
        head = name.partition(".")[0]
        if head == "model_ema":
            has_ema = True
        elif info.dtype in FLOAT_DTYPES:
            counts[component_of.get(head, 3)] += info.numel
    return ComponentParams(unet=counts[0], vae=counts[1], text_encoders=counts[2]), has_ema


def _result(
    path: Path,
    detected: ModelType,
    family: ModelType,
    params: ComponentParams,
    precision: str,
    size: int,
    has_ema: bool,
    reasons: list[str],
    store: CheckpointStore | None,
) -> ProbeResult:
    override = store.type_override(path) if store is not None else None
    model_type = override or detected
    if override is not None:
        reasons.append(f"type set by the user to {override.value}")
        family = override if override is not ModelType.INPAINT else family
    res = DEFAULT_RESOLUTION[model_type]
    est = vram.estimate_sd_peak_gib(model_type, res, res, vram.Savers(), params=params if params.total else None)
    return ProbeResult(
        path=path,
        model_type=model_type,
        detected_type=detected,
        family=family,
        overridden=override is not None,
        precision=precision,
        params=params,
        size_bytes=size,
        default_resolution=res,
        est_vram_bytes=int(est * vram.GIB),
        has_ema=has_ema,
        reasons=tuple(reasons),
    )


def probe_safetensors(path: Path, store: CheckpointStore | None = None) -> ProbeResult:
    """Probe one single-file checkpoint from its header (≈ms even for 7 GB files)."""
    header = read_safetensors_header(path)
    detected, family, reasons = classify(header.tensors)
    params, has_ema = component_params(header.tensors)
    precision = precision_of([header.tensors])
    size = path.stat().st_size
    return _result(path, detected, family, params, precision, size, has_ema, reasons, store)


def probe(path: Path, store: CheckpointStore | None = None) -> ProbeResult:
    """Probe a ``.safetensors`` file or a diffusers folder. Pickle files are never opened
    here (unpickling is what runs code): their type is UNKNOWN unless the user sets it."""
    path = Path(path)
    if path.is_dir():
        facts = read_diffusers_folder(path)
        return _result(
            path,
            facts.detected,
            facts.family,
            facts.params,
            facts.precision,
            facts.size,
            False,
            list(facts.reasons),
            store,
        )
    if path.suffix.lower() in PICKLE_SUFFIXES:
        reasons = ["pickle files are not opened to probe them; set the type by hand"]
        size = path.stat().st_size
        return _result(
            path, ModelType.UNKNOWN, ModelType.UNKNOWN, ComponentParams(0, 0, 0), "unknown", size, False, reasons, store
        )
    if path.suffix.lower() != ".safetensors":
        raise CheckpointUnreadable(path, "only .safetensors, pickle checkpoints and diffusers folders are known")
    return probe_safetensors(path, store)
