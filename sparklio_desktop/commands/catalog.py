"""``sparklio catalog``: every model the router knows, with prices and figures."""

from __future__ import annotations

import argparse

from sparklio_desktop.commands._output import print_json, table, warn_fallbacks
from sparklio_desktop.core.settings.key_index import default_env_var_names, key_name_for


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


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
    from sparklio_desktop.core.workspace import Workspace  # the catalog's models: pydantic

    # The workspace's catalog: a broken user catalog leaves the last good one listed, with a warning.
    workspace = Workspace()
    catalog = workspace.catalog
    settings = workspace.settings
    warn_fallbacks(workspace, policy=False)
    if args.json:
        print_json([model_to_dict(m, settings) for m in catalog.values()])
        return 0
    rows = [
        (
            m.id,
            m.name,
            ",".join(c.value for c in m.capabilities),
            _price_text(m),
            f"{m.context_tokens:,}" if m.context_tokens else "-",
            f"{m.quality:g}",
            "local" if m.local else "cloud",
        )
        for m in catalog.values()
    ]
    print(table(rows, ("id", "name", "capabilities", "price (USD)", "context", "quality", "where")))
    custom = [m for m in catalog.values() if m.base_url is not None and not m.local]
    if custom:
        print("\ncustom endpoints and the key each one uses:")
        print(table([(m.id, m.base_url, key_for(m, settings) or "-") for m in custom], ("id", "base_url", "key")))
    return 0
