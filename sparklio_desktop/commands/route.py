"""``sparklio route``: which model would serve this task, and why (nothing is sent)."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._args import MAX_IMAGES, MAX_TOKENS, image_size, int_in
from sparklio_desktop.commands._input import read_prompt_file
from sparklio_desktop.commands._output import print_json, safe_text, table, warn_fallbacks
from sparklio_desktop.commands._route_options import add_route_options
from sparklio_desktop.core.money import format_usd


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_route_options(parser)
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEXT")
    prompt.add_argument("--prompt-file", metavar="PATH")
    prompt.add_argument("--input-tokens", type=int_in(0, MAX_TOKENS), metavar="N")
    parser.add_argument(
        "--output-tokens", type=int_in(0, MAX_TOKENS), metavar="N", help="expected output tokens (default: per task)"
    )
    parser.add_argument("--images", type=int_in(0, MAX_IMAGES), metavar="N", help="images to generate or attached")
    parser.add_argument("--size", type=image_size, metavar="WxH", help="image size for image generation")
    parser.add_argument(
        "--all-available", action="store_true", help="plan as if every key were set and every local model installed"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def read_prompt(args: argparse.Namespace) -> str | None:
    """``--prompt`` or the contents of ``--prompt-file`` (bounded: see commands/_input.py)."""
    if getattr(args, "prompt_file", None):
        return read_prompt_file(args.prompt_file)
    return getattr(args, "prompt", None)


def request_from_args(args: argparse.Namespace, prompt: str | None, attachments: tuple = ()):
    from sparklio_desktop.core.routing.router import RouteRequest  # the policy's models: pydantic

    return RouteRequest(
        task=args.task,
        complexity=args.complexity,
        budget=args.budget,
        speed=args.speed,
        quality=args.quality,
        prompt=prompt,
        input_tokens=getattr(args, "input_tokens", None),
        output_tokens=getattr(args, "output_tokens", None),
        images=getattr(args, "images", None),
        image_size=getattr(args, "size", None),
        attachments=attachments,
        explore=not args.no_explore,
        seed=args.seed,
    )


def print_decision(decision) -> None:
    """The decision for a person: models by name (each id beside its name, for ``--model``);
    ``--json`` keeps the ids everywhere."""
    o = decision.options
    print(
        f"task {o.task} ({o.capability}): complexity {o.complexity or '-'}, budget {o.budget}, "
        f"speed {o.speed}, quality {o.quality}"
    )
    candidates = decision.candidates
    names = {c.id: c.name for c in candidates}
    if decision.chain:
        print(
            "chain: "
            + " -> ".join(safe_text(names.get(m, m)) for m in decision.chain)
            + ("   [A/B exploration]" if decision.exploration else "")
        )
    else:
        print("chain: (no model fits)")
    rows = []
    for c in candidates:
        s = c.scores
        where = (
            f"#{c.chain_position + 1} {c.role}"
            if c.chain_position is not None
            else (f"excluded: {c.excluded_by.text} ({c.exclusion_detail})" if c.excluded_by else "eligible")
        )
        rows.append(
            (
                safe_text(c.name),
                c.id,
                f"{s.complexity:.2f}",
                f"{s.cost:.2f}",
                f"{s.speed:.2f}",
                f"{s.quality:.2f}",
                f"{s.total:.3f}",
                format_usd(c.cost_usd),
                where,
            )
        )
    print(table(rows, ("candidate", "id", "cmplx", "cost", "speed", "qual", "total", "est. cost", "")))
    e = decision.estimate
    print(
        f"estimate: {e.input_tokens:,} input tokens ({e.token_method}), {e.output_tokens:,} output tokens, "
        f"{format_usd(e.cost_usd)}, " + (f"{e.latency_s:.1f} s" if e.latency_s is not None else "time unknown")
    )
    print()
    print(safe_text(decision.explanation, keep_newlines=True))


def run(args: argparse.Namespace) -> int:
    # the catalog, the policy and the settings (pydantic): only to route, not for --help
    from sparklio_desktop.core.services import route_planner
    from sparklio_desktop.core.workspace import Workspace

    workspace = Workspace()
    prompt = read_prompt(args)
    request = request_from_args(args, prompt)
    decision = route_planner(workspace, all_available=args.all_available).plan(request)
    warn_fallbacks(workspace)
    if args.json:
        payload = decision.to_dict(all_candidates=True)  # every candidate; the stored trace keeps the top ones
        for field in ("policy_error", "catalog_error"):
            error = getattr(workspace, field)
            if error is not None:
                payload[field] = str(error)
        print_json(payload)
    else:
        print_decision(decision)
    return 0 if decision.chain else 3
