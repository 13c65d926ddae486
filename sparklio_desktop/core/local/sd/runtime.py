"""The few helpers that touch torch and diffusers objects directly.

Kept apart from :mod:`sd_pipeline` so the GPU benchmark applies memory savers with the
very code the app uses. Every torch import happens inside a function.
"""

from __future__ import annotations

import io
from typing import Any

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.errors import LocalRuntimeMissing
from sparklio_desktop.core.local.sd.families import ModelType, is_sdxl

# Approximate latent → RGB projections (as in ComfyUI's previews): a preview without a VAE pass.
_PREVIEW_SD = (
    (0.3512, 0.2297, 0.3227),
    (0.3250, 0.4974, 0.2350),
    (-0.2829, 0.1762, 0.2721),
    (-0.2120, -0.2616, -0.7177),
)
_PREVIEW_XL = (
    (0.3651, 0.4232, 0.4341),
    (-0.2533, -0.0042, 0.1068),
    (0.1076, 0.1111, -0.0362),
    (-0.3165, -0.2492, -0.2188),
)


def import_runtime() -> tuple[Any, Any]:
    """(torch, diffusers), or :class:`LocalRuntimeMissing` saying how to install them."""
    try:
        import torch
    except ImportError as err:
        raise LocalRuntimeMissing("torch") from err
    try:
        import diffusers
    except ImportError as err:
        raise LocalRuntimeMissing("diffusers") from err
    return torch, diffusers


def apply_savers(pipe: Any, savers: vram.Savers, *, offloaded: bool, placed: bool) -> bool:
    """Put ``pipe`` on the GPU with ``savers``; returns whether model CPU offload is on.

    Offload is only ever added (taking it off again would mean moving every weight back);
    VAE tiling and attention slicing follow ``savers`` on every call, since they depend on
    the image size. SDXL's VAE tiles at 1024 px by default, which would not tile a 1024 px
    image at all, so tiles are capped at 512 px.
    """
    if savers.model_cpu_offload:
        if not offloaded:
            pipe.enable_model_cpu_offload()
            offloaded = True
    elif not placed and not offloaded:
        pipe.to("cuda")
    vae = pipe.vae
    if savers.vae_tiling:
        vae.enable_tiling()
        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        size = vae.tile_sample_min_size
        size = size[0] if isinstance(size, (list, tuple)) else size
        vae.tile_sample_min_size = min(int(size), 512)
        vae.tile_latent_min_size = vae.tile_sample_min_size // factor
    else:
        vae.disable_tiling()
    if savers.attention_slicing:
        pipe.enable_attention_slicing()
    else:
        pipe.disable_attention_slicing()
    return offloaded


def latents_preview_png(latents: Any, model_type: ModelType) -> bytes | None:
    """A latent-sized RGB preview from a fixed linear projection: no VAE pass, ~1 ms."""
    import torch
    from PIL import Image

    lat = latents[0].detach().float().cpu()
    if lat.shape[0] != 4:
        return None
    factors = torch.tensor(_PREVIEW_XL if is_sdxl(model_type) else _PREVIEW_SD)
    rgb = torch.einsum("chw,cr->hwr", lat, factors)
    pixels = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()
