"""``sparklio estimate``: what one model call costs, from the catalog's unit prices."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._args import MAX_IMAGES, MAX_TOKENS, image_size, int_in
from sparklio_desktop.commands._output import print_json, safe_text, warn_fallbacks
from sparklio_desktop.core.money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, metavar="ID", help="catalog model id (see `sparklio catalog`)")
    parser.add_argument("--input-tokens", type=int_in(0, MAX_TOKENS), default=0, metavar="N")
    parser.add_argument("--output-tokens", type=int_in(0, MAX_TOKENS), default=0, metavar="N")
    parser.add_argument(
        "--images", type=int_in(0, MAX_IMAGES), default=None, metavar="N", help="images generated or attached"
    )
    parser.add_argument("--size", type=image_size, metavar="WxH", help="image size, e.g. 1024x1024")
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    # the catalog and its pricing (pydantic): only to price a call, not for --help
    from sparklio_desktop.core.policy.catalog import Capability
    from sparklio_desktop.core.pricing import expected_latency_s, price_call
    from sparklio_desktop.core.workspace import Workspace

    # The workspace's catalog: a broken user catalog leaves the last good one in force, with a warning.
    workspace = Workspace()
    warn_fallbacks(workspace, policy=False)
    model = workspace.catalog.get_model(args.model)
    images = args.images
    if images is None:
        images = 1 if model.has(Capability.IMAGE_GENERATION) else 0
    size = args.size or ("1024x1024" if model.has(Capability.IMAGE_GENERATION) else None)
    est = price_call(model, args.input_tokens, args.output_tokens, images, size)
    latency = expected_latency_s(model, est.output_tokens, est.input_tokens, images)
    if args.json:
        print_json(
            {
                "model": model.id,
                "input_tokens": est.input_tokens,
                "output_tokens": est.output_tokens,
                "images": images,
                "size": size if images else None,
                "input_cost_usd": est.input_cost,
                "output_cost_usd": est.output_cost,
                "image_cost_usd": est.image_cost,
                "cost_usd": est.cost_usd,
                "unit_prices": {
                    "input_per_mtok": est.input_price_per_mtok,
                    "output_per_mtok": est.output_price_per_mtok,
                    "per_image": est.image_price,
                },
                "latency_s": latency,
            }
        )
        return 0
    print(f"{safe_text(model.name)} ({safe_text(model.id)})")
    if est.input_tokens:
        print(
            f"  input   {est.input_tokens:>9,} tokens x ${est.input_price_per_mtok}/1M = {format_usd(est.input_cost)}"
        )
    if est.output_tokens:
        unit = f"${est.output_price_per_mtok}/1M"
        print(f"  output  {est.output_tokens:>9,} tokens x {unit} = {format_usd(est.output_cost)}")
    if est.images and est.image_price is not None:
        print(f"  images  {est.images:>9} x ${est.image_price} ({size}) = {format_usd(est.image_cost)}")
    print(f"  total   {format_usd(est.cost_usd)}  (exact: {est.cost_usd.normalize():f} USD)")
    if latency is not None:
        print(f"  time    about {latency:.1f} s")
    return 0
