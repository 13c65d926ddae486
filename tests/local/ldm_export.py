"""Diffusers → original (LDM / CompVis) key names, for building test single files.

Real ``.safetensors`` checkpoints from AUTOMATIC1111/ComfyUI use the original layout
(``model.diffusion_model.input_blocks.1.1...``); diffusers only ships the opposite
direction. This is the inverse of ``diffusers.loaders.single_file_utils``'s converters,
parametrised by the UNet/VAE configs so it works for the tiny test model and for the
real SD/SDXL shapes the probe benchmark uses.

Values are passed through untouched, so the same functions map real tensors (to write a
loadable file) and plain shape tuples (to write a header-only file). Torch is not needed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "cond_stage_model.transformer.text_model."


def _unet_prefix_map(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(diffusers prefix, ldm prefix) pairs, longest first so nothing matches early."""
    per = int(config["layers_per_block"])
    downs = list(config["down_block_types"])
    ups = list(config["up_block_types"])
    pairs: list[tuple[str, str]] = [
        ("time_embedding.linear_1.", "time_embed.0."),
        ("time_embedding.linear_2.", "time_embed.2."),
        ("add_embedding.linear_1.", "label_emb.0.0."),
        ("add_embedding.linear_2.", "label_emb.0.2."),
        ("conv_in.", "input_blocks.0.0."),
        ("conv_norm_out.", "out.0."),
        ("conv_out.", "out.2."),
        ("mid_block.attentions.0.", "middle_block.1."),
        ("mid_block.resnets.0.", "middle_block.0."),
        ("mid_block.resnets.1.", "middle_block.2."),
    ]
    for i, kind in enumerate(downs):
        for j in range(per):
            ldm = (per + 1) * i + j + 1
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{ldm}.0."))
            if kind.startswith("CrossAttn"):
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{ldm}.1."))
        if i < len(downs) - 1:
            pairs.append((f"down_blocks.{i}.downsamplers.0.conv.", f"input_blocks.{(per + 1) * (i + 1)}.0.op."))
    for i, kind in enumerate(ups):
        has_attn = kind.startswith("CrossAttn")
        for j in range(per + 1):
            ldm = (per + 1) * i + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{ldm}.0."))
            if has_attn:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{ldm}.1."))
        if i < len(ups) - 1:
            slot = 2 if has_attn else 1
            pairs.append((f"up_blocks.{i}.upsamplers.0.", f"output_blocks.{(per + 1) * i + per}.{slot}."))
    return sorted(pairs, key=lambda p: -len(p[0]))


_RESNET_PARTS = [
    ("norm1.", "in_layers.0."),
    ("conv1.", "in_layers.2."),
    ("norm2.", "out_layers.0."),
    ("conv2.", "out_layers.3."),
    ("time_emb_proj.", "emb_layers.1."),
    ("conv_shortcut.", "skip_connection."),
]


def unet_to_ldm(state: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a diffusers UNet state dict to ``model.diffusion_model.*`` keys."""
    pairs = _unet_prefix_map(config)
    out: dict[str, Any] = {}
    for key, value in state.items():
        for hf, ldm in pairs:
            if key.startswith(hf):
                rest = key[len(hf) :]
                if ".resnets." in hf:
                    for a, b in _RESNET_PARTS:
                        if rest.startswith(a):
                            rest = b + rest[len(a) :]
                            break
                out[UNET_PREFIX + ldm + rest] = value
                break
        else:
            raise KeyError(f"no LDM name for UNet key {key}")
    return out


def _vae_attention(rest: str) -> str:
    for a, b in [
        ("group_norm.", "norm."),
        ("to_q.", "q."),
        ("to_k.", "k."),
        ("to_v.", "v."),
        ("to_out.0.", "proj_out."),
    ]:
        if rest.startswith(a):
            return b + rest[len(a) :]
    raise KeyError(rest)


def vae_to_ldm(state: Mapping[str, Any], config: Mapping[str, Any], to_conv: Callable[[Any], Any]) -> dict[str, Any]:
    """Rename a diffusers AutoencoderKL state dict; ``to_conv`` turns a linear weight 1×1-conv shaped."""
    n = len(config["block_out_channels"])
    out: dict[str, Any] = {}
    for key, value in state.items():
        part, _, rest = key.partition(".")
        new: str
        if part in ("quant_conv", "post_quant_conv"):
            new = key
        else:
            new = part + "." + _vae_inner(rest, n)
        if ".attn_1." in new and new.endswith("weight") and not new.split(".")[-2] == "norm":
            value = to_conv(value)
        out[VAE_PREFIX + new] = value
    return out


def _vae_inner(rest: str, n: int) -> str:
    simple = {"conv_norm_out.": "norm_out.", "conv_in.": "conv_in.", "conv_out.": "conv_out."}
    for a, b in simple.items():
        if rest.startswith(a):
            return b + rest[len(a) :]
    if rest.startswith("mid_block.attentions.0."):
        return "mid.attn_1." + _vae_attention(rest[len("mid_block.attentions.0.") :])
    if rest.startswith("mid_block.resnets."):
        mid, _, tail = rest[len("mid_block.resnets.") :].partition(".")
        return f"mid.block_{int(mid) + 1}." + tail.replace("conv_shortcut", "nin_shortcut")
    block, _, tail = rest.partition(".")
    idx_s, _, tail = tail.partition(".")
    idx = int(idx_s)
    if block == "down_blocks":
        head = f"down.{idx}."
    elif block == "up_blocks":
        head = f"up.{n - 1 - idx}."
    else:
        raise KeyError(rest)
    if tail.startswith("resnets."):
        j, _, t2 = tail[len("resnets.") :].partition(".")
        return head + f"block.{j}." + t2.replace("conv_shortcut", "nin_shortcut")
    if tail.startswith("downsamplers.0."):
        return head + "downsample." + tail[len("downsamplers.0.") :]
    if tail.startswith("upsamplers.0."):
        return head + "upsample." + tail[len("upsamplers.0.") :]
    raise KeyError(rest)


def clip_to_ldm(state: Mapping[str, Any], prefix: str = CLIP_L_PREFIX) -> dict[str, Any]:
    """CLIP-L text encoder keys; transformers 5 saves them without ``text_model.``."""
    return {prefix + key.removeprefix("text_model."): value for key, value in state.items()}


def open_clip_shapes(
    prefix: str, width: int, layers: int, proj_dim: int, vocab: int = 49408
) -> dict[str, tuple[int, ...]]:
    """Header entries of an OpenCLIP text tower (SD 2.x ViT-H, SDXL bigG): shapes only."""
    out: dict[str, tuple[int, ...]] = {
        prefix + "positional_embedding": (77, width),
        prefix + "token_embedding.weight": (vocab, width),
        prefix + "ln_final.weight": (width,),
        prefix + "ln_final.bias": (width,),
        prefix + "text_projection": (width, proj_dim),
        prefix + "logit_scale": (),
    }
    for i in range(layers):
        b = f"{prefix}transformer.resblocks.{i}."
        out.update(
            {
                b + "attn.in_proj_weight": (3 * width, width),
                b + "attn.in_proj_bias": (3 * width,),
                b + "attn.out_proj.weight": (width, width),
                b + "attn.out_proj.bias": (width,),
                b + "ln_1.weight": (width,),
                b + "ln_1.bias": (width,),
                b + "ln_2.weight": (width,),
                b + "ln_2.bias": (width,),
                b + "mlp.c_fc.weight": (4 * width, width),
                b + "mlp.c_fc.bias": (4 * width,),
                b + "mlp.c_proj.weight": (width, 4 * width),
                b + "mlp.c_proj.bias": (width,),
            }
        )
    return out
