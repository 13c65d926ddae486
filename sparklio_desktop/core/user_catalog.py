"""Adding, changing and removing models in the user's own catalog file.

A pulled Ollama model the shipped catalog does not know (say ``qwen2.5-coder:7b``)
becomes routable once it has an entry with a quality score and speed figures the
creator can edit. The file is validated together with the shipped catalog before it
is written, and written atomically, so a bad edit never leaves a broken catalog.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import yaml

from sparklio_desktop.core import paths
from sparklio_desktop.core.catalog import ModelSpec, load_catalog
from sparklio_desktop.core.errors import ConfigError, SparklioError
from sparklio_desktop.core.yaml_source import load_yaml

HEADER = (
    "# Your own models, added to Sparklio's catalog (models/catalog.yaml).\n"
    "# An entry with a shipped id replaces that entry. Edit quality and speed freely:\n"
    "# `sparklio policy check` and the app validate this file.\n"
)


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"version": 1, "models": []}
    data = load_yaml(path, empty_ok=True).data or {}  # the bounded loader: a hostile file is an error
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ConfigError(str(path), 1, "", "a catalog file is a mapping with a 'models' list; fix or remove it first")
    data.setdefault("version", 1)
    data.setdefault("models", [])
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        load_catalog(user=tmp)  # the merged catalog must stay valid
    except SparklioError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def ollama_entry(tag: str, *, quality: float, speed: tuple[float, float], context_tokens: int | None,
                 vram_gb: float, name: str | None = None, complex_capable: bool = False) -> dict[str, Any]:
    """A catalog entry for a pulled Ollama model (local, $0)."""
    return {
        "id": f"ollama/{tag}",
        "name": name or tag,
        "provider": "ollama",
        "api_name": tag,
        "capabilities": ["text"],
        "complex_capable": complex_capable,
        "local": True,
        "vram_gb": round(max(vram_gb, 0.1), 1),
        "price": {"input_per_mtok": "0", "output_per_mtok": "0", "as_of": dt.date.today().isoformat(),
                  "source": "local model: compute only"},
        "speed": {"seconds": [float(speed[0]), float(speed[1])], "per": "output_500"},
        "context_tokens": context_tokens,
        "quality": float(quality),
        "tokenizer": {"method": "scaled", "encoding": "cl100k_base", "factor": 1.0},
        "notes": "added from Ollama; quality and speed are yours to adjust",
    }


def upsert(entry: dict[str, Any], path: Path | None = None) -> ModelSpec:
    """Add ``entry`` to the user's catalog, replacing one with the same id."""
    path = path or paths.user_catalog_path()
    data = _read(path)
    data["models"] = [m for m in data["models"] if m.get("id") != entry["id"]] + [entry]
    _write(path, data)
    return load_catalog(user=path)[entry["id"]]


def update(model_id: str, path: Path | None = None, **changes: Any) -> ModelSpec:
    """Change fields (``quality``, ``speed``...) of a model in the user's catalog."""
    path = path or paths.user_catalog_path()
    data = _read(path)
    for model in data["models"]:
        if model.get("id") == model_id:
            model.update(changes)
            _write(path, data)
            return load_catalog(user=path)[model_id]
    raise SparklioError(f"{model_id} is not in your catalog ({path}); add it first")


def remove(model_id: str, path: Path | None = None) -> bool:
    path = path or paths.user_catalog_path()
    data = _read(path)
    kept = [m for m in data["models"] if m.get("id") != model_id]
    if len(kept) == len(data["models"]):
        return False
    data["models"] = kept
    _write(path, data)
    return True
