"""Write safetensors files by hand: exact headers, with zero, garbage or sparse data.

The probe must decide from the header alone, so tests build headers for model types
we have no weights for, and data sections that are garbage or a 7 GB hole.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Literal

Spec = dict[str, tuple[str, tuple[int, ...]]]
_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1}


def write_safetensors(
    path: Path,
    tensors: Spec,
    data: Literal["zeros", "garbage", "sparse"] = "zeros",
    metadata: dict[str, str] | None = None,
    min_data_bytes: int = 0,
) -> Path:
    """A valid safetensors layout; ``sparse`` leaves the data section as a hole."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = math.prod(shape) * _BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    total = max(offset, min_data_bytes)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        if data == "sparse":
            f.truncate(8 + len(raw) + total)
        elif data == "garbage":
            f.write(os.urandom(total))
        else:
            f.write(bytes(total))
    return path


def ldm_header(model_type: str) -> Spec:
    """The full original-layout header of a real SD family (fp16), from the shipped
    configs instantiated on the meta device: every real tensor name and shape."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sparklio_desktop.core.local.sd_configs import shipped_config_dir
    from tests.local.ldm_export import CLIP_L_PREFIX, clip_to_ldm, open_clip_shapes, unet_to_ldm, vae_to_ldm

    folder = shipped_config_dir(model_type)  # type: ignore[arg-type]
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        clip_l = None
        if (folder / "text_encoder").is_dir() and model_type != "sd2":
            clip_l = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    shapes: dict[str, tuple[int, ...]] = {}
    shapes.update(unet_to_ldm({k: tuple(v.shape) for k, v in unet.state_dict().items()}, unet.config))
    shapes.update(
        vae_to_ldm({k: tuple(v.shape) for k, v in vae.state_dict().items()}, vae.config, lambda s: (*s, 1, 1))
    )
    clip_shapes = {k: tuple(v.shape) for k, v in clip_l.state_dict().items()} if clip_l is not None else {}
    if model_type in ("sd1", "inpaint"):
        shapes.update(clip_to_ldm(clip_shapes, CLIP_L_PREFIX))
    elif model_type == "sd2":
        shapes.update(open_clip_shapes("cond_stage_model.model.", 1024, 24, 1024))
    elif model_type == "sdxl_base":
        shapes.update(clip_to_ldm(clip_shapes, "conditioner.embedders.0.transformer.text_model."))
        shapes.update(open_clip_shapes("conditioner.embedders.1.model.", 1280, 32, 1280))
    elif model_type == "sdxl_refiner":
        shapes.update(open_clip_shapes("conditioner.embedders.0.model.", 1280, 32, 1280))
    return {name: ("F16", shape) for name, shape in shapes.items()}
