"""Image-to-image, inpainting and the hires pass, on the pipeline that is already loaded.

A text-to-image pipeline holds everything image-to-image and inpainting need (UNet, VAE,
text encoders, scheduler); diffusers' ``AutoPipelineFor….from_pipe`` builds the matching
pipeline class around the *same* modules, so a mode switch costs no second load of the
weights and no memory. The derived pipelines are kept by the engine until it unloads.

Input images come from the user (a file, a paste, a painted mask): anything that is not a
readable image is :class:`BadInputImage`, one line, before torch runs. A size that does
not match the job is not an error: the image is resized (Lanczos), as A1111 does.
"""

from __future__ import annotations

import io
from typing import Any, Literal

from sparklio_desktop.core.local.errors import BadInputImage
from sparklio_desktop.core.local.sd.families import ModelType

__all__ = ["HIRES_SCALES", "HIRES_STRENGTH", "Mode", "derive", "hires_size", "input_image", "mode_of", "snap8"]

Mode = Literal["txt2img", "img2img", "inpaint"]

HIRES_SCALES = (1.5, 2.0)
HIRES_STRENGTH = 0.35  # A1111's usual hires denoising: detail added, composition kept
MAX_INPUT_PIXELS = 4096 * 4096  # a decompression bomb is refused before it is decoded

_AUTO = {"img2img": "AutoPipelineForImage2Image", "inpaint": "AutoPipelineForInpainting"}


def mode_of(model_type: ModelType, has_init: bool, has_mask: bool) -> Mode:
    """What a job does: inpainting checkpoints always inpaint, the refiner refines."""
    if model_type is ModelType.INPAINT or has_mask:
        return "inpaint"
    if model_type is ModelType.SDXL_REFINER or has_init:
        return "img2img"
    return "txt2img"


def derive(pipe: Any, mode: Mode) -> Any:
    """The pipeline for ``mode`` sharing ``pipe``'s modules (no weights are loaded)."""
    import diffusers

    cls = getattr(diffusers, _AUTO[mode])
    derived = cls.from_pipe(pipe)
    derived.set_progress_bar_config(disable=True)
    return derived


def input_image(data: bytes, what: str, *, mode: str = "RGB") -> Any:
    """``data`` decoded as a Pillow image in ``mode``, or :class:`BadInputImage`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_INPUT_PIXELS:
                raise BadInputImage(f"the {what} is {img.width}x{img.height}, larger than Sparklio takes (4096x4096)")
            img.load()
            return img.convert(mode)
    except BadInputImage:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        why = "not an image Sparklio can read (PNG, JPEG, WebP)" if isinstance(err, UnidentifiedImageError) else err
        raise BadInputImage(f"the {what} is {why}".splitlines()[0]) from None


def snap8(value: float) -> int:
    """The nearest multiple of 8 (SD's latent grid), at least 64."""
    return max(64, int(round(value / 8)) * 8)


def hires_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return snap8(width * scale), snap8(height * scale)
