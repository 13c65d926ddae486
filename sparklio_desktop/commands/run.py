"""``sparklio run``: route a task, send it, stream the answer, record what it cost."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "run a task: the answer streams to standard output; every attempt lands in the ledger"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from sparklio_desktop.cli import add_route_options

    add_route_options(parser)
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT")
    prompt.add_argument("--prompt-file", metavar="PATH")
    parser.add_argument("--image", action="append", default=[], metavar="PATH", help="attach an image (repeatable)")
    parser.add_argument("--model", metavar="ID", help="force this catalog model")
    parser.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    parser.add_argument("--max-output-tokens", type=int, metavar="N")
    parser.add_argument("--images", type=int, default=1, metavar="N", help="images to generate")
    parser.add_argument("--size", metavar="WxH", help="image size to generate")
    parser.add_argument("--steps", type=int, metavar="N", help="denoising steps for local images (default 25)")
    parser.add_argument("--negative", metavar="TEXT", default="", help="negative prompt for local images")
    parser.add_argument("--guidance", type=float, metavar="X", help="guidance (CFG) scale for local images (default 7)")
    # --seed is taken: the routing options use it to seed the A/B exploration draw.
    parser.add_argument("--image-seed", type=int, metavar="N",
                        help="seed for local images (default random; image i of a batch uses N+i)")
    parser.add_argument("--out", metavar="DIR", help="folder for generated images")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")


def _prompt(args: argparse.Namespace) -> str:
    from sparklio_desktop.commands.route import read_prompt
    from sparklio_desktop.core.errors import SparklioError

    text = read_prompt(args)
    if text is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise SparklioError("give a prompt: --prompt TEXT, --prompt-file PATH or standard input")
        text = sys.stdin.read()
    if not text.strip():
        raise SparklioError("the prompt is empty")
    return text


def _images(paths: list[str]):
    from sparklio_desktop.core.errors import SparklioError
    from sparklio_desktop.core.providers.base import ImageInput

    found = []
    for name in paths:
        path = Path(name)
        kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
                ".gif": "image/gif"}.get(path.suffix.lower())
        if kind is None:
            raise SparklioError(f"--image {name}: not a PNG, JPEG, WebP or GIF file")
        try:
            found.append(ImageInput(path.read_bytes(), kind))
        except OSError as exc:
            raise SparklioError(f"--image {name}: {exc.strerror}") from None
    return tuple(found)


def _image_options(args: argparse.Namespace):
    """Local image settings, or None when none was given (the request stays as before)."""
    from sparklio_desktop.core.errors import SparklioError

    if not args.negative and args.guidance is None and args.image_seed is None:
        return None
    if args.image_seed is not None and not 0 <= args.image_seed < 2**32:
        raise SparklioError(f"--image-seed {args.image_seed}: expected a whole number from 0 to {2**32 - 1}")
    if args.guidance is not None and not 0 <= args.guidance <= 50:
        raise SparklioError(f"--guidance {args.guidance:g}: expected a number from 0 to 50")
    from sparklio_desktop.core.local.sd_service import ImageOptions

    return ImageOptions(negative_prompt=args.negative, guidance=args.guidance, seed=args.image_seed,
                        steps=args.steps)


def run(args: argparse.Namespace) -> int:
    import asyncio

    from sparklio_desktop.commands._output import print_json
    from sparklio_desktop.commands.route import request_from_args
    from sparklio_desktop.core.dispatch import AttemptFailed, Finished, RunRequest, TextChunk
    from sparklio_desktop.core.services import open_services

    prompt = _prompt(args)
    images = _images(args.image)
    image_options = _image_options(args)
    route = request_from_args(argparse.Namespace(**{**vars(args), "input_tokens": None, "output_tokens": None,
                                                     "images": None}), None)
    request = RunRequest(route=route, prompt=prompt, images=images, model=args.model, use_cache=not args.no_cache,
                         max_output_tokens=args.max_output_tokens, image_size=args.size, n_images=args.images,
                         steps=args.steps, image_options=image_options)
    services = open_services()

    async def go():
        from sparklio_desktop.core.dispatch import interrupts

        interrupts.install()  # SIGTERM/SIGHUP: record the attempt in flight as interrupted, exit 128 + signum
        result = None
        try:
            async for event in services.dispatcher.stream(request):
                if isinstance(event, TextChunk) and not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
                elif isinstance(event, AttemptFailed):
                    info = event.info
                    then = f"retrying in {event.wait_s:g} s" if event.next_action == "retry" else event.next_action
                    print(f"\n[{info.model}: {info.error_class}: {info.error}; {then}]", file=sys.stderr)
                elif isinstance(event, Finished):
                    result = event.result
        finally:
            await services.dispatcher.aclose()
        return result

    try:
        result = asyncio.run(go())
    finally:
        services.close()
    written = []
    if result.images:
        out = Path(args.out or ".")
        out.mkdir(parents=True, exist_ok=True)
        for index, data in enumerate(result.images, start=1):
            path = out / f"{result.request_id[:12]}-{index}.png"
            path.write_bytes(data)
            written.append(str(path))
    if args.json:
        payload = result.to_dict()
        payload["files"] = written
        print_json(payload)
    else:
        if result.output and not result.output.endswith("\n"):
            print()
        for path in written:
            print(path)
        if result.ok:
            print(f"[{result.model}{' (cache)' if result.cache_hit else ''}; ${result.cost_usd:f}; "
                  f"request {result.request_id}]", file=sys.stderr)
    if result.budget_alert:
        print(result.budget_alert, file=sys.stderr)
    if not result.ok:
        print(f"sparklio: error: {result.error}", file=sys.stderr)
        return 1
    return 0
