"""The local image options of ``sparklio run``: checkpoint, scheduler, init image, mask,
strength, hires fix, LoRAs and the SDXL refiner (docs/local_images.md).

Kept apart from run.py, which is about routing and answers. Each option is checked by its
argparse type where it can be (a scheduler name, a strength, a LoRA weight), so a typo
is a usage error before any work starts; files are read here, bounded, so a missing init
image is one line and nothing is sent.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sparklio_desktop.commands._args import float_in, int_in
from sparklio_desktop.commands._input import MAX_IMAGE_BYTES, read_bounded
from sparklio_desktop.core.errors import SparklioError

__all__ = ["MAX_STEPS", "add_image_options", "image_options"]

MAX_STEPS = 150
HIRES_CHOICES = ("1.5", "2")


def _scheduler(text: str) -> str:
    from sparklio_desktop.core.local.sd.schedulers import UnknownSampler, sampler_name

    try:
        return sampler_name(text)
    except UnknownSampler as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _lora(text: str) -> tuple[str, float]:
    name, sep, weight = text.rpartition(":")
    if not sep or not name or len(weight) > 8 or "/" in weight or "\\" in weight:
        return text, 1.0  # NAME alone (a Windows path keeps its drive colon)
    try:
        value = float_in(-4, 4)(weight)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--lora {text}: the weight after ':' must be a number from -4 to 4") from None
    return name, value


def add_image_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--steps",
        type=int_in(1, MAX_STEPS),
        metavar="N",
        help=f"denoising steps for local images, 1 to {MAX_STEPS} (default: the checkpoint type's, 25 or 30)",
    )
    parser.add_argument("--negative", metavar="TEXT", default="", help="negative prompt for local images")
    parser.add_argument(
        "--guidance",
        type=float_in(0, 50),
        metavar="X",
        help="guidance (CFG) scale for local images, 0 to 50 (default: the checkpoint type's, 6 or 7)",
    )
    # --seed is taken: the routing options use it to seed the A/B exploration draw.
    parser.add_argument(
        "--image-seed",
        type=int_in(0, 2**32 - 1),
        metavar="N",
        help="seed for local images (default random; image i of a batch uses N+i)",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="NAME",
        help="local checkpoint: a name from `sparklio models sd list`, or a path (default: local.sd_checkpoint)",
    )
    parser.add_argument(
        "--scheduler", type=_scheduler, metavar="NAME", help="sampler, as A1111 names them: Euler a, DPM++ 2M Karras, …"
    )
    parser.add_argument("--init-image", metavar="PATH", help="image-to-image: start from this image (local only)")
    parser.add_argument(
        "--strength",
        type=float_in(0, 1, low_open=True),
        metavar="X",
        help="how much of the init image is repainted, above 0 up to 1 (default 0.75; 1.0 with --mask)",
    )
    parser.add_argument("--mask", metavar="PATH", help="inpainting: white repaints, black keeps (needs --init-image)")
    parser.add_argument(
        "--hires", choices=HIRES_CHOICES, help="hires fix: generate, upscale by 1.5 or 2, refine at strength 0.35"
    )
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        type=_lora,
        metavar="NAME[:WEIGHT]",
        help="apply a LoRA (repeatable; weight default 1)",
    )
    parser.add_argument("--refiner", action="store_true", help="SDXL: finish with the installed refiner")


def image_options(args: argparse.Namespace) -> Any:
    """Local image settings, or None when none was given (the request stays as before)."""
    given = (args.negative, args.guidance, args.image_seed, args.steps, args.checkpoint, args.scheduler,
             args.init_image, args.strength, args.mask, args.hires, args.lora, args.refiner)  # fmt: skip
    if not any(value not in (None, "", [], False) for value in given):
        return None
    if args.mask and not args.init_image:
        raise SparklioError("--mask needs --init-image: the image the mask paints into")
    if args.strength is not None and not args.init_image:
        raise SparklioError("--strength needs --init-image")
    if args.hires and args.init_image:
        raise SparklioError("--hires is for text-to-image; with --init-image, set --size instead")
    from sparklio_desktop.core.local.sd.service import ImageOptions  # asyncio and the SD package

    init = read_bounded(args.init_image, "--init-image", MAX_IMAGE_BYTES) if args.init_image else None
    mask = read_bounded(args.mask, "--mask", MAX_IMAGE_BYTES) if args.mask else None
    return ImageOptions(
        negative_prompt=args.negative,
        guidance=args.guidance,
        seed=args.image_seed,
        steps=args.steps,
        checkpoint=args.checkpoint,
        scheduler=args.scheduler,
        init_image=init,
        init_image_path=Path(args.init_image).resolve() if args.init_image else None,
        strength=args.strength,
        mask_image=mask,
        mask_path=Path(args.mask).resolve() if args.mask else None,
        hires=float(args.hires) if args.hires else None,
        loras=tuple(args.lora),
        refiner=args.refiner,
    )
