"""Seconds per image and peak VRAM of real-shaped SD pipelines on a CUDA GPU.

Random weights, real architectures: the UNet/VAE/CLIP configs are the ones Sparklio ships
in resources/sd_configs (SD 1.5 and SDXL base 1.0), built on the meta device and
materialised on the GPU in fp16, so no download is needed and no fp32 copy is ever made.

    python benchmarks/gpu_sd.py                 # SD 1.5 @ 512 and SDXL @ 1024, 25 steps
    python benchmarks/gpu_sd.py --budget-gb 8   # SDXL savers chosen for an 8 GB card
    python benchmarks/gpu_sd.py --smoke         # CPU, fp32, 64 px, 1 step: checks the script
    python benchmarks/gpu_sd.py --modes txt2img,img2img,hires   # the image studio's modes too

Rows:
- SD 1.5 at 512×512, savers as ``choose_savers`` picks for the budget (none on 12 GB).
- SDXL base at 1024×1024 with the savers ``choose_savers`` picks for the budget (12 GB:
  VAE tiling); target peak under 11 GB. Peak = ``torch.cuda.max_memory_allocated``.
- ``--modes``: image-to-image (strength 0.75, from the same pipeline via ``from_pipe``, as
  the app does) and the hires pass (SD 1.5: 512 → 1024, SDXL: 1024 → 1536; generate,
  Lanczos upscale, image-to-image at 0.35), savers chosen for the final size.
The "estimate" column is ``vram.estimate_sd_peak_gib`` for the same settings, to
recalibrate the constants in vram.py against the measurement.

Without CUDA (and without ``--smoke``) it says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.sd.configs import shipped_config_dir
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.local.sd.runtime import apply_savers


def _materialise(model: Any, device: str, dtype: Any, seed: int) -> Any:
    """Meta → real tensors on ``device``, filled with small random values. Buffers (CLIP's
    ``position_ids``) were built for real under ``init_empty_weights``: they are kept."""
    import torch

    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.to_empty(device=device)
    model.to(dtype)
    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02, generator=gen)
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return model.eval()


def _tokenizer(folder: Path, sub: str, vocab_dir: Path) -> Any:
    """A CLIP tokenizer with the shipped settings and a tiny stand-in vocabulary: token
    ids only need to be valid, and prompt length is padded to 77 either way."""
    import json

    from transformers import CLIPTokenizer

    settings = json.loads((folder / sub / "tokenizer_config.json").read_text())
    tok = CLIPTokenizer(vocab=str(vocab_dir / "vocab.json"), merges=str(vocab_dir / "merges.txt"))
    tok.pad_token = settings["pad_token"]
    tok.model_max_length = 77
    return tok


def build_pipeline(model_type: ModelType, device: str, dtype: Any) -> Any:
    import diffusers
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from tests.local.tiny_sd import _write_tokenizer_files

    folder = shipped_config_dir(model_type)
    vocab_dir = Path(tempfile.mkdtemp(prefix="sparklio-vocab-"))
    _write_tokenizer_files(vocab_dir)
    parts: dict[str, Any] = {}
    with init_empty_weights():
        parts["unet"] = diffusers.UNet2DConditionModel.from_config(
            diffusers.UNet2DConditionModel.load_config(folder / "unet")
        )
        parts["vae"] = diffusers.AutoencoderKL.from_config(diffusers.AutoencoderKL.load_config(folder / "vae"))
        if (folder / "text_encoder").is_dir():
            parts["text_encoder"] = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
        if (folder / "text_encoder_2").is_dir():
            parts["text_encoder_2"] = CLIPTextModelWithProjection(
                CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            )
    for i, name in enumerate(list(parts)):
        parts[name] = _materialise(parts[name], device, dtype, seed=i)
    for sub in ("tokenizer", "tokenizer_2"):
        if (folder / sub).is_dir():
            parts[sub] = _tokenizer(folder, sub, vocab_dir)
    parts["scheduler"] = diffusers.EulerDiscreteScheduler.from_pretrained(folder, subfolder="scheduler")
    pipe: Any
    if model_type is ModelType.SD1:
        pipe = diffusers.StableDiffusionPipeline(
            **parts, safety_checker=None, feature_extractor=None, requires_safety_checker=False
        )
    else:
        pipe = diffusers.StableDiffusionXLPipeline(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


HIRES_SCALE = {ModelType.SD1: 2.0, ModelType.SDXL_BASE: 1.5}


def run_row(
    model_type: ModelType, size: int, steps: int, images: int, budget_gb: float, smoke: bool, mode: str = "txt2img"
) -> dict[str, Any]:
    import torch
    from PIL import Image

    from sparklio_desktop.core.local.sd.modes import HIRES_STRENGTH, derive, hires_size

    device = "cpu" if smoke else "cuda"
    dtype = torch.float32 if smoke else torch.float16
    final = hires_size(size, size, HIRES_SCALE[model_type])[0] if mode == "hires" else size
    savers = vram.choose_savers(model_type, final, final, budget_gb)
    if not smoke:
        torch.cuda.empty_cache()
    pipe = build_pipeline(model_type, "cpu" if savers.model_cpu_offload or smoke else device, dtype)
    if not smoke:
        apply_savers(pipe, savers, offloaded=False, placed=False)
    kwargs: dict[str, Any] = {"prompt": "a cat in a hat", "negative_prompt": "blurry", "width": size, "height": size}
    noise = Image.effect_noise((size, size), 64).convert("RGB")
    second = derive(pipe, "img2img") if mode != "txt2img" else None
    base_pipe = pipe

    def generate(steps: int, seed: int) -> None:
        gen = torch.Generator("cpu").manual_seed(seed)
        if mode == "img2img":
            second(
                prompt=kwargs["prompt"], image=noise, strength=0.75, num_inference_steps=max(steps, 2), generator=gen
            )
            return
        image = base_pipe(**kwargs, num_inference_steps=steps, generator=gen).images[0]
        if mode == "hires":
            up = image.resize((final, final), Image.Resampling.LANCZOS)
            second(prompt=kwargs["prompt"], image=up, strength=HIRES_STRENGTH, num_inference_steps=max(steps, 3),
                   generator=torch.Generator("cpu").manual_seed(seed))  # fmt: skip

    generate(2, 0)  # warm-up: kernels
    if not smoke:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for i in range(images):
        started = time.perf_counter()
        generate(steps, i)
        if not smoke:
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / vram.GIB if not smoke else float("nan")
    reserved = torch.cuda.max_memory_reserved() / vram.GIB if not smoke else float("nan")
    name = {ModelType.SD1: "SD 1.5", ModelType.SDXL_BASE: "SDXL base"}[model_type]
    return {
        "model": name if mode == "txt2img" else f"{name} {mode}",
        "size": f"{final}x{final}",
        "steps": steps,
        "savers": ", ".join(savers.names) or "none",
        "s/image": statistics.median(seconds),
        "it/s": steps / statistics.median(seconds),
        "peak GiB": peak,
        "reserved GiB": reserved,
        "estimate GiB": savers.estimated_peak_gb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--images", type=int, default=3, help="timed images per row (median reported)")
    parser.add_argument("--budget-gb", type=float, default=12.0, help="VRAM budget the savers are chosen for")
    parser.add_argument("--modes", default="txt2img", help="comma-separated: txt2img, img2img, hires")
    parser.add_argument("--smoke", action="store_true", help="CPU, fp32, 64 px, 1 step, SD 1.5 only")
    args = parser.parse_args()

    try:
        import torch
    except ImportError:
        print("gpu_sd: torch is not installed (pip install 'sparklio-desktop[local]')", file=sys.stderr)
        return 2
    if not args.smoke and not torch.cuda.is_available():
        print("gpu_sd: no CUDA GPU here; this benchmark needs one (or --smoke to check the script)", file=sys.stderr)
        return 2

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if args.smoke:
        rows = [run_row(ModelType.SD1, 64, 1, 1, args.budget_gb, smoke=True, mode=m) for m in modes]
    else:
        print(f"GPU: {torch.cuda.get_device_name(0)}, budget for savers: {args.budget_gb:g} GB", flush=True)
        rows = [
            run_row(model_type, size, args.steps, args.images, args.budget_gb, smoke=False, mode=mode)
            for mode in modes
            for model_type, size in ((ModelType.SD1, 512), (ModelType.SDXL_BASE, 1024))
        ]
    print(f"{'model':<18} {'size':>9} {'steps':>5} {'savers':<32} {'s/image':>8} {'it/s':>6} "
          f"{'peak GiB':>8} {'reserved':>8} {'estimate':>8}")  # fmt: skip
    for r in rows:
        numbers = f"{r['s/image']:>8.2f} {r['it/s']:>6.2f} {r['peak GiB']:>8.2f} {r['reserved GiB']:>8.2f}"
        print(f"{r['model']:<18} {r['size']:>9} {r['steps']:>5} {r['savers']:<32} {numbers} {r['estimate GiB']:>8.2f}")
    sdxl = [r for r in rows if r["model"] == "SDXL base"]
    if sdxl and args.budget_gb <= 12.0 and not sdxl[0]["peak GiB"] * vram.GIB < 11e9:
        print("SDXL peak is above the 11 GB (10.24 GiB) target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
