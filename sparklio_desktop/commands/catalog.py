"""``sparklio catalog``: every model the router knows, by family, with prices and where they come from.

``sparklio catalog [--json] [--family F] [--all]`` lists the catalog (retired models
only with ``--all``); ``--json`` stays a list of models, one object each, with the
family, retired flag and date, price source and as-of date, and genai-prices' list
price where it differs. ``sparklio catalog refresh [--json] [--update-prices]`` asks
the providers for their model lists (core/catalog_refresh.py) and prints what changed.
"""

from __future__ import annotations

import argparse
import sys

from sparklio_desktop.commands._output import print_json, safe_text, table, warn_fallbacks
from sparklio_desktop.core.settings.key_index import default_env_var_names, key_name_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--family", metavar="F", help="only this family's members")
    parser.add_argument("--all", action="store_true", help="show retired models too")
    sub = parser.add_subparsers(dest="catalog_command", parser_class=type(parser))
    refresh = sub.add_parser(
        "refresh",
        help="ask each provider with a key for its models; add new family members, retire vanished models",
        description="ask each provider with a key for its model list and bring your catalog up to date",
    )
    # SUPPRESS: `catalog --json refresh` keeps the --json given before the word.
    refresh.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the report as JSON")
    refresh.add_argument(
        "--update-prices", action="store_true", help="fetch genai-prices' newer price data first (when online)"
    )


def key_for(model, settings) -> str | None:
    """Which key a model's requests carry: its provider's, or (for an entry whose own
    ``base_url`` points elsewhere) the key named for the entry; ``None``: no key."""
    from sparklio_desktop.core.settings.config import effective_base_url  # pydantic

    if model.local:
        return None
    name = key_name_for(model.provider, model.id, model.base_url, effective_base_url(model.provider, settings))
    return f"{name} (keyring) or ${default_env_var_names(name)[0]}"


def model_to_dict(model, settings=None) -> dict:
    price = None
    if model.price is not None:
        p = model.price
        price = {
            "input_per_mtok": p.input_per_mtok,
            "output_per_mtok": p.output_per_mtok,
            "per_image": p.per_image,
            "as_of": p.as_of,
            "source": p.source,
        }
    return {
        "id": model.id,
        "name": model.name,
        "provider": model.provider,
        "api_name": model.api_name,
        "capabilities": [c.value for c in model.capabilities],
        "complex_capable": model.complex_capable,
        "price": price,
        "unpriced": model.unpriced,
        "speed": None if model.speed is None else {"seconds": list(model.speed.seconds), "per": model.speed.per},
        "context_tokens": model.context_tokens,
        "quality": model.quality,
        "embedding_dimensions": model.embedding_dimensions,
        "local": model.local,
        "vram_gb": model.vram_gb,
        "notes": model.notes or None,
        "base_url": model.base_url,
        "key": None if settings is None else key_for(model, settings),
    }


def _price_text(model) -> str:
    p = model.price
    if p is None:
        return "UNPRICED"
    if p.is_free:
        return "free"
    parts = []
    if p.input_per_mtok is not None:
        parts.append(f"${p.input_per_mtok}/1M in")
    if p.output_per_mtok is not None:
        parts.append(f"${p.output_per_mtok}/1M out")
    for size, amount in (p.per_image or {}).items():
        parts.append(f"${amount}/image" + ("" if size == "*" else f" {size}"))
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "catalog_command", None) == "refresh":
        return _refresh(args)
    from sparklio_desktop.core.catalog_view import catalog_rows
    from sparklio_desktop.core.errors import UnknownNameError
    from sparklio_desktop.core.workspace import Workspace  # the catalog's models: pydantic

    # The workspace's catalog: a broken user catalog leaves the last good one listed, with a warning.
    workspace = Workspace()
    catalog = workspace.catalog
    settings = workspace.settings
    warn_fallbacks(workspace, policy=False)
    try:
        groups = catalog_rows(catalog, family=args.family, include_retired=args.all, measured=_measured(catalog))
    except UnknownNameError as exc:  # a bad argument, as argparse reports one
        print(f"sparklio catalog: error: {safe_text(exc)}", file=sys.stderr)
        return 2
    members = [(group, row) for group in groups for row in group.members]
    resolved = _resolved(workspace)
    if args.json:
        print_json(
            [
                {**model_to_dict(catalog[row.id], settings), **row.as_json(), "resolved": resolved.get(row.id)}
                for _, row in members
            ]
        )
        return 0
    rows = [
        (
            group.name if group.id else "-",
            row.id,
            row.name,
            row.released.isoformat() if row.released else "-",
            row.price + (f" (genai-prices: {row.list_price})" if row.list_price else ""),
            _source_text(row),
            f"{catalog[row.id].context_tokens:,}" if catalog[row.id].context_tokens else "-",
            f"{row.quality:g}",
            _status_text(row) + (" · the family's pick" if row.id in resolved else ""),
        )
        for group, row in members
    ]
    print(table(rows, ("family", "id", "name", "released", "price (USD)", "source", "context", "quality", "status")))
    hidden = len(catalog.retired) if not args.all else 0
    if hidden:
        print(f"\n{hidden} retired model{'s' if hidden != 1 else ''} hidden; --all shows them")
    custom = [m for m in catalog.values() if m.base_url is not None and not m.local]
    if custom:
        print("\ncustom endpoints and the key each one uses:")
        print(table([(m.id, m.base_url, key_for(m, settings) or "-") for m in custom], ("id", "base_url", "key")))
    return 0


def _measured(catalog) -> dict[str, str]:
    """Model id -> its measured speed in words, where 20 or more calls measured it (core/speed.py)."""
    from sparklio_desktop.core.settings import paths
    from sparklio_desktop.core.speed import measured_speeds_at, measured_words

    return measured_words(catalog, measured_speeds_at(paths.ledger_path()))


def _resolved(workspace) -> dict[str, str]:
    """Model id -> why its family picks it on this machine now (keys, installed models,
    retired ones)."""
    from sparklio_desktop.core.policy.families import catalog_usable, family_picks
    from sparklio_desktop.core.services import route_planner

    catalog = workspace.catalog
    usable = catalog_usable(catalog, route_planner(workspace).live_state().unavailable)
    return {r.model_id: r.why for r in family_picks(catalog, usable).values() if r.model_id is not None}


SOURCE_WIDTH = 40  # the table shows the start of a long source; --json has it whole


def _source_text(row) -> str:
    if row.price_source is None:
        return "-"
    source = row.price_source
    if len(source) > SOURCE_WIDTH:
        source = source[: SOURCE_WIDTH - 1] + "…"
    return f"{source}, {row.price_as_of.isoformat()}" if row.price_as_of else source


def _status_text(row) -> str:
    parts = []
    if row.retired:
        parts.append(f"retired {row.retired_since.isoformat()}" if row.retired_since else "retired")
    elif row.local:
        parts.append("local")
    if row.measured:
        parts.append(row.measured)
    return "; ".join(parts) or "cloud"


def _refresh(args: argparse.Namespace) -> int:
    import asyncio

    from sparklio_desktop.core.catalog_refresh import refresh_catalog

    report = asyncio.run(refresh_catalog(update_prices=args.update_prices))
    # Provider failures and notes go to standard error: standard output stays the report alone.
    for result in report.providers:
        if result.error is not None:
            print(f"sparklio: warning: {result.provider}: {safe_text(result.error)}", file=sys.stderr)
    for note in report.notes:
        print(f"sparklio: {safe_text(note)}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json(report.as_json())
        return 1 if report.errors else 0
    for result in report.providers:
        if result.listed is not None:
            status = f"{len(result.listed)} models listed ({result.seconds:.2f} s)"
        elif result.error is not None:
            status = "failed (see above)"
        else:
            status = f"skipped: {result.skipped}"
        print(f"{result.provider}: {safe_text(status)}")
    sections = (
        ("added", report.added),
        ("retired", report.retired),
        ("back in the list (no longer retired)", report.unretired),
        ("unpriced (never routed until priced)", report.unpriced),
    )
    for title, ids in sections:
        if ids:
            print(f"\n{title}:")
            for model_id in ids:
                print(f"  {safe_text(model_id)}")
    if report.repriced:
        print("\nrepriced:")
        print(table([(r.id, r.old, r.new) for r in report.repriced], ("id", "old", "new")))
    if not (report.added or report.retired or report.unretired or report.repriced):
        print("\nno changes")
    return 1 if report.errors else 0
