"""A tiny random-weight SD 1.x model, written the three ways users have them on disk.

``build_tiny_sd(root)`` makes, in a few seconds on a CPU:

- ``root/diffusers``          a diffusers folder (model_index.json, unet/, vae/, ...)
- ``root/config``             the same folder without weights: the config folder that
                              ``from_single_file(config=...)`` needs to work offline
- ``root/tiny-sd1.safetensors`` one original-layout (LDM) file, as AUTOMATIC1111 and
                              ComfyUI keep them

Each component has the real architecture at the smallest sizes diffusers accepts, with random
weights, so loading and running them exercises the real code paths. Torch, diffusers and
transformers are imported inside the function so collecting tests stays fast.
"""

from __future__ import annotations

import json
import shutil
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.local.ldm_export import clip_to_ldm, unet_to_ldm, vae_to_ldm


@dataclass(frozen=True)
class TinySD:
    diffusers_dir: Path
    config_dir: Path
    single_file: Path


def _write_tokenizer_files(folder: Path) -> int:
    """A CLIP-style BPE vocabulary of single letters and a few merges; returns its size."""
    letters = string.ascii_lowercase
    tokens = list(letters) + [c + "</w>" for c in letters]
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]
    tokens += [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]  # endoftext last: the highest id, as in real CLIP
    vocab = {tok: i for i, tok in enumerate(tokens)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(vocab)


def build_tiny_sd(root: Path) -> TinySD:
    """Build (once) the tiny model in ``root``; returns where each form lives."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    unet: Any = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae: Any = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=32,
        sample_size=64,
    )
    tok_dir = root / "_tokenizer_src"
    vocab_size = _write_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer(vocab=str(tok_dir / "vocab.json"), merges=str(tok_dir / "merges.txt"))
    tokenizer.model_max_length = 77
    text_config = CLIPTextConfig(
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        vocab_size=vocab_size,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )
    text_encoder = CLIPTextModel(text_config)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )
    pipe: Any = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    diffusers_dir = root / "diffusers"
    pipe.save_pretrained(diffusers_dir)

    config_dir = root / "config"
    shutil.copytree(
        diffusers_dir, config_dir, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"), dirs_exist_ok=True
    )

    state: dict[str, torch.Tensor] = {}
    state.update(unet_to_ldm(unet.state_dict(), unet.config))
    state.update(vae_to_ldm(vae.state_dict(), vae.config, lambda t: t[..., None, None]))
    state.update(clip_to_ldm(text_encoder.state_dict()))
    single_file = root / "tiny-sd1.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(single_file))
    shutil.rmtree(tok_dir)
    return TinySD(diffusers_dir=diffusers_dir, config_dir=config_dir, single_file=single_file)


def build_tiny_inpaint(tiny: TinySD, root: Path) -> Path:
    """A diffusers folder of a tiny SD 1.x inpainting model: the tiny model's parts with a
    9-channel UNet (latents + mask + masked image), saved as an inpainting pipeline."""
    import torch
    from diffusers import StableDiffusionInpaintPipeline, UNet2DConditionModel

    base: Any = StableDiffusionInpaintPipeline.from_pretrained(tiny.diffusers_dir, local_files_only=True)
    torch.manual_seed(1)
    config = dict(base.unet.config)
    config["in_channels"] = 9
    base.unet = UNet2DConditionModel.from_config(config)
    base.register_modules(unet=base.unet)
    folder = root / "tiny-inpaint"
    base.save_pretrained(folder)
    return folder


def build_tiny_lora(tiny: TinySD, path: Path, *, rank: int = 4, trigger: str = "") -> Path:
    """A kohya-format LoRA (as A1111 and ComfyUI users have them) for the tiny model's
    first cross-attention block: ``lora_unet_…`` keys with ``lora_down``/``lora_up``/``alpha``,
    kohya's ``ss_`` metadata, and weights large enough to change the image."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file

    unet: Any = UNet2DConditionModel.from_pretrained(tiny.diffusers_dir / "unet")
    block = "down_blocks.0.attentions.0.transformer_blocks.0"
    generator = torch.Generator().manual_seed(3)
    state: dict[str, torch.Tensor] = {}
    for name in ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q", "attn2.to_k", "attn2.to_v"):
        linear = unet.get_submodule(f"{block}.{name}")
        key = "lora_unet_" + f"{block}.{name}".replace(".", "_")
        state[f"{key}.lora_down.weight"] = torch.randn(rank, linear.in_features, generator=generator)
        state[f"{key}.lora_up.weight"] = torch.randn(linear.out_features, rank, generator=generator)
        state[f"{key}.alpha"] = torch.tensor(float(rank))
    meta = {"ss_network_dim": str(rank), "ss_tag_frequency": json.dumps({"10_cats": {"tinycat": 9, "whiskers": 4}})}
    if trigger:
        meta["modelspec.trigger_phrase"] = trigger
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    return path


@dataclass(frozen=True)
class TinySDXL:
    base: Path  # a diffusers folder of an SDXL base pipeline
    refiner: Path  # an SDXL refiner (img2img, second text encoder only, aesthetic score)


def build_tiny_sdxl(root: Path) -> TinySDXL:
    """A tiny SDXL base and refiner as diffusers folders (diffusers' own test shapes), the
    refiner sharing the base's VAE and second text encoder, as the real pair does."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    def unet(time_ids: int, cross: int) -> Any:
        return UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
            addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
            projection_class_embeddings_input_dim=time_ids * 8 + 32, cross_attention_dim=cross, norm_num_groups=1,
        )  # fmt: skip

    vae: Any = AutoencoderKL(
        block_out_channels=(32, 64), in_channels=3, out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4, sample_size=128,
    )  # fmt: skip
    tok_dir = root / "_tokenizer_src"
    vocab_size = _write_tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer(vocab=str(tok_dir / "vocab.json"), merges=str(tok_dir / "merges.txt"))
    tokenizer.model_max_length = 77
    config = CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=vocab_size,
        max_position_embeddings=77, projection_dim=32, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
    )  # fmt: skip
    text_encoder_2 = CLIPTextModelWithProjection(config)

    def scheduler() -> Any:
        return EulerDiscreteScheduler(
            beta_start=0.00085,
            beta_end=0.012,
            beta_schedule="scaled_linear",
            steps_offset=1,
            timestep_spacing="leading",
        )

    base: Any = StableDiffusionXLPipeline(
        vae=vae, text_encoder=CLIPTextModel(config), tokenizer=tokenizer, text_encoder_2=text_encoder_2,
        tokenizer_2=tokenizer, unet=unet(6, 64), scheduler=scheduler(),
    )  # fmt: skip
    refiner: Any = StableDiffusionXLImg2ImgPipeline(
        vae=vae, text_encoder=None, tokenizer=None, text_encoder_2=text_encoder_2, tokenizer_2=tokenizer,
        unet=unet(5, 32), scheduler=scheduler(), requires_aesthetics_score=True,
    )  # fmt: skip
    base.save_pretrained(root / "tiny-sdxl")
    refiner.save_pretrained(root / "tiny-sdxl-refiner")
    shutil.rmtree(tok_dir)
    return TinySDXL(root / "tiny-sdxl", root / "tiny-sdxl-refiner")
