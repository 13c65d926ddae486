"""The Stable Diffusion families Sparklio can run, and what is known about each.

Kept apart from the probe and the pipeline so the VRAM math, the weights store and
the UI can all name a model type without importing one another (or torch).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ModelType(StrEnum):
    """A checkpoint's architecture, as far as loading and generating are concerned.

    ``INPAINT`` is an SD 1.x UNet with 9 input channels (latents + mask + masked image);
    an SD 2.x or SDXL inpainting checkpoint is also ``INPAINT``, with its family in
    :attr:`~sparklio_desktop.core.local.sd.probe.ProbeResult.family`.
    """

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL_BASE = "sdxl_base"
    SDXL_REFINER = "sdxl_refiner"
    INPAINT = "inpaint"
    UNKNOWN = "unknown"


LOADABLE_TYPES: tuple[ModelType, ...] = (
    ModelType.SD1,
    ModelType.SD2,
    ModelType.SDXL_BASE,
    ModelType.SDXL_REFINER,
    ModelType.INPAINT,
)


@dataclass(frozen=True)
class ComponentParams:
    """Parameter counts per component: the VRAM estimate needs them apart because
    model CPU offload keeps only one component on the GPU at a time."""

    unet: int
    vae: int
    text_encoders: int

    @property
    def total(self) -> int:
        return self.unet + self.vae + self.text_encoders

    @property
    def largest(self) -> int:
        return max(self.unet, self.vae, self.text_encoders)


_VAE = 83_653_863
_CLIP_L = 123_060_480
_OPENCLIP_H_23 = 340_387_840  # SD 2.x drops the last of ViT-H's 24 text layers
_OPENCLIP_BIGG = 694_659_840

# Parameter counts of the real models; tests/local/test_shipped_configs.py checks that
# the shipped config folders instantiate to exactly these.
TYPICAL_PARAMS: dict[ModelType, ComponentParams] = {
    ModelType.SD1: ComponentParams(unet=859_520_964, vae=_VAE, text_encoders=_CLIP_L),
    ModelType.SD2: ComponentParams(unet=865_910_724, vae=_VAE, text_encoders=_OPENCLIP_H_23),
    ModelType.SDXL_BASE: ComponentParams(unet=2_567_463_684, vae=_VAE, text_encoders=_CLIP_L + _OPENCLIP_BIGG),
    ModelType.SDXL_REFINER: ComponentParams(unet=2_259_526_660, vae=_VAE, text_encoders=_OPENCLIP_BIGG),
    ModelType.INPAINT: ComponentParams(unet=859_535_364, vae=_VAE, text_encoders=_CLIP_L),
}

# The resolution each family was trained at: generating there gives the best images.
DEFAULT_RESOLUTION: dict[ModelType, int] = {
    ModelType.SD1: 512,
    ModelType.SD2: 768,
    ModelType.SDXL_BASE: 1024,
    ModelType.SDXL_REFINER: 1024,
    ModelType.INPAINT: 512,
    ModelType.UNKNOWN: 512,
}


@dataclass(frozen=True)
class TypeDefaults:
    """What a request leaves out is filled from its checkpoint's type: the size it was
    trained at, and the steps and guidance (CFG) its model cards and A1111 presets use."""

    size: int
    steps: int
    guidance: float


# docs/local_images.md lists these; a request's own size, steps or guidance always wins.
TYPE_DEFAULTS: dict[ModelType, TypeDefaults] = {
    ModelType.SD1: TypeDefaults(size=512, steps=25, guidance=7.0),
    ModelType.SD2: TypeDefaults(size=768, steps=25, guidance=7.0),
    ModelType.SDXL_BASE: TypeDefaults(size=1024, steps=30, guidance=6.0),
    ModelType.SDXL_REFINER: TypeDefaults(size=1024, steps=30, guidance=6.0),
    ModelType.INPAINT: TypeDefaults(size=512, steps=25, guidance=7.0),
    ModelType.UNKNOWN: TypeDefaults(size=512, steps=25, guidance=7.0),
}

# Checkpoints that make an image from a prompt alone; the others start from an image.
TEXT_TO_IMAGE: frozenset[ModelType] = frozenset({ModelType.SD1, ModelType.SD2, ModelType.SDXL_BASE})

# SDXL's VAE overflows in fp16, so diffusers upcasts it to fp32 for decoding
# (``force_upcast`` in its config): decoding then costs twice the memory.
VAE_DECODES_IN_FP32: frozenset[ModelType] = frozenset({ModelType.SDXL_BASE, ModelType.SDXL_REFINER})


def is_sdxl(model_type: ModelType) -> bool:
    return model_type in (ModelType.SDXL_BASE, ModelType.SDXL_REFINER)
