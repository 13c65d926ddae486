"""Adding, changing and removing models in the user's own catalog file.

A pulled Ollama model the shipped catalog does not know (say ``qwen2.5-coder:7b``)
becomes routable once it has an entry with a quality score and speed figures the
creator can edit. The file is validated together with the shipped catalog (and the
shipped policy, which the workspace checks it against) before it is written, and written
atomically, so a bad edit never leaves a broken catalog.

One model, one entry: :func:`add_ollama_model` (used by ``sparklio models ollama add``
and the Models panel alike) updates the entry that already runs as the tag (the shipped
Qwen 2.5 served by ``qwen2.5:latest``, resolved as the router resolves it) in place, and
drops other entries of the user's that run as the same tag, instead of adding a second
entry that would show as "not installed" beside it.

The ``retired:`` section is written here too: :func:`retire` (the dispatcher, on a
provider's "model not found") and :func:`apply_refresh` (``sparklio catalog refresh``:
new family members, vanished models, reappeared ones) in one validated, atomic write.
Writers hold one lock, so a worker thread and the refresh never interleave their
read-modify-write of the file.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sparklio_desktop.core.errors import ConfigError, ConfigErrors, SparklioError
from sparklio_desktop.core.policy.catalog import ModelSpec, RetiredModel, load_catalog
from sparklio_desktop.core.policy.yaml_source import load_yaml
from sparklio_desktop.core.provider_table import LOCAL_PROVIDERS
from sparklio_desktop.core.settings import paths

HEADER = (
    "# Your own models, added to Sparklio's catalog (models/catalog.yaml).\n"
    "# An entry with a shipped id replaces that entry. Edit quality and speed freely:\n"
    "# `sparklio policy check` and the app validate this file.\n"
)
# Every read-modify-write of the user's catalog in this process holds it (re-entrant:
# a writer may call another).
_LOCK = threading.RLock()


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {"version": 1, "models": []}
    data = load_yaml(path, empty_ok=True).data or {}  # the bounded loader: a hostile file is an error
    if not isinstance(data, dict) or not isinstance(data.get("models", []), list):
        raise ConfigError(str(path), 1, "", "a catalog file is a mapping with a 'models' list; fix or remove it first")
    data.setdefault("version", 1)
    data.setdefault("models", [])
    return data


def _relocated(exc: ConfigError, tmp: Path, path: Path) -> ConfigError:
    """``exc`` about the file being written, named as the user's file (not its temporary copy)."""

    def one(e: ConfigError) -> ConfigError:
        return ConfigError(str(path) if e.path == str(tmp) else e.path, e.line, e.field, e.message)

    return ConfigErrors([one(e) for e in exc.errors]) if isinstance(exc, ConfigErrors) else one(exc)


def _write(path: Path, data: dict[str, Any]) -> None:
    from sparklio_desktop.core.policy.routing_policy import load_policy

    with _LOCK:
        _write_locked(path, data, load_policy)


def _write_locked(path: Path, data: dict[str, Any], load_policy: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        try:
            catalog = load_catalog(user=tmp)  # the merged catalog must stay valid
        except ConfigError as exc:
            raise _relocated(exc, tmp, path) from None
        # ... and the shipped policy with it: the workspace refuses a user catalog that
        # breaks the shipped policy (core.policy.catalog.CatalogStore), so it is never written.
        try:
            load_policy(paths.shipped_policy_path(), catalog)
        except ConfigError as exc:
            where = f"{exc.path}:{exc.line}" if exc.line is not None else exc.path
            raise ConfigError(
                str(path),
                None,
                "",
                "not saved: with this change the shipped policy is invalid: "
                f"{exc.field + ': ' if exc.field else ''}{exc.message} ({where})",
            ) from None
    except SparklioError:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def ollama_entry(
    tag: str,
    *,
    quality: float,
    speed: tuple[float, float],
    context_tokens: int | None,
    vram_gb: float,
    name: str | None = None,
    complex_capable: bool = False,
) -> dict[str, Any]:
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
        "price": {
            "input_per_mtok": "0",
            "output_per_mtok": "0",
            "as_of": dt.date.today().isoformat(),
            "source": "local model: compute only",
        },
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


DEFAULT_QUALITY = 7.0
DEFAULT_SPEED = (2.0, 5.0)


@dataclass(frozen=True)
class AddedModel:
    """What :func:`add_ollama_model` did: the entry in force, whether an entry that already
    ran as the tag was updated (else one was added), and the duplicates it removed."""

    model: ModelSpec
    updated: bool
    removed: tuple[str, ...] = ()


def _shipped_entries() -> dict[str, dict[str, Any]]:
    """The shipped catalog's raw entries by id (to update one in place, all its fields kept)."""
    data = load_yaml(paths.shipped_catalog_path()).data
    entries = data.get("models", []) if isinstance(data, dict) else []
    return {e["id"]: dict(e) for e in entries if isinstance(e, dict) and isinstance(e.get("id"), str)}


def _named_by_a_user_policy(model_id: str) -> bool:
    """Whether a policy file of the user's may name ``model_id`` (then it is never removed:
    the policy would stop validating). A plain text search: at worst a duplicate stays."""
    from sparklio_desktop.core.settings.config import load_settings_lenient

    files = [paths.user_policy_path(), paths.data_dir() / "policy.last-good.yaml"]
    explicit = load_settings_lenient()[0].policy.path
    if explicit:
        files.append(Path(explicit))
    for file in files:
        try:
            if model_id in file.read_text(encoding="utf-8", errors="replace"):
                return True
        except OSError:
            continue
    return False


def add_ollama_model(
    tag: str,
    installed: Mapping[str, str],
    *,
    context_tokens: int | None,
    vram_gb: float,
    quality: float | None = None,
    speed: tuple[float, float] | None = None,
    name: str | None = None,
    complex_capable: bool | None = None,
    path: Path | None = None,
) -> AddedModel:
    """Make the installed Ollama ``tag`` routable, with one catalog entry for it.

    ``installed`` maps each installed tag to its digest (``/api/tags``), so that the tag
    resolves as the router resolves it (:func:`core.routing.live.resolve_ollama_tag`). When a
    catalog entry already runs as ``tag`` (a shipped one first: the policy's chains name
    it), that entry is updated in place under its own id: ``api_name`` becomes ``tag``
    and the figures given here replace its own (``None``: keep them); its other fields
    stay. Otherwise a new entry ``ollama/<tag>`` is added (``None`` figures: defaults).
    Other entries of the user's own (not overrides of shipped ids) that run as ``tag``
    are removed, unless a policy file of the user's names them.
    """
    from sparklio_desktop.core.routing.live import normalize_ollama_tag, resolve_ollama_tag

    path = path or paths.user_catalog_path()
    installed = dict(installed)
    # ``llama3.2`` is the installed ``llama3.2:latest``: the entry runs as the installed name.
    tag = {normalize_ollama_tag(n): n for n in installed}.get(normalize_ollama_tag(tag), tag)
    installed.setdefault(tag, "")
    catalog = load_catalog(user=path)  # a broken user file stops here with its located error
    shipped = _shipped_entries()
    serving = [
        m for m in catalog.values() if m.provider == "ollama" and resolve_ollama_tag(m.api_name, installed) == tag
    ]
    serving.sort(key=lambda m: m.id not in shipped)  # stable: shipped ids first, then file order
    data = _read(path)
    if serving:
        target = serving[0]
        entry = next((dict(m) for m in data["models"] if m.get("id") == target.id), None) or shipped[target.id]
        changes: dict[str, Any] = {"api_name": tag, "vram_gb": round(max(vram_gb, 0.1), 1)}
        if quality is not None:
            changes["quality"] = float(quality)
        if speed is not None:
            changes["speed"] = {"seconds": [float(speed[0]), float(speed[1])], "per": "output_500"}
        if context_tokens is not None:
            changes["context_tokens"] = context_tokens
        if name:
            changes["name"] = name
        if complex_capable is not None:
            changes["complex_capable"] = complex_capable
        entry.update(changes)
    else:
        entry = ollama_entry(
            tag,
            quality=DEFAULT_QUALITY if quality is None else quality,
            speed=DEFAULT_SPEED if speed is None else speed,
            context_tokens=context_tokens,
            vram_gb=vram_gb,
            name=name,
            complex_capable=bool(complex_capable),
        )
    # The user's own entries (not overrides of shipped ids) that also run as ``tag``: the
    # duplicates an earlier add left beside the entry now updated.
    removed = tuple(m.id for m in serving[1:] if m.id not in shipped and not _named_by_a_user_policy(m.id))
    models = [entry if m.get("id") == entry["id"] else m for m in data["models"] if m.get("id") not in removed]
    if not any(m is entry for m in models):
        models.append(entry)
    data["models"] = models
    _write(path, data)
    return AddedModel(load_catalog(user=path)[entry["id"]], updated=bool(serving), removed=removed)


# ------------------------------------------------------------------- retired models


def _retired_list(data: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    retired = data.get("retired", [])
    if not isinstance(retired, list):
        raise ConfigError(str(path), 1, "retired", "the 'retired' section must be a list; fix or remove it first")
    return retired


def retire(model_id: str, reason: str, since: dt.date | None = None, path: Path | None = None) -> RetiredModel | None:
    """Mark ``model_id`` retired in the user's catalog at once (persisted, not only for the session).

    Called by the dispatcher when a provider answers "model not found" and by the refresh.
    Idempotent: a model already retired keeps its first date and reason (no write).
    Thread-safe. A local model is never retired (not installed is not retired): ``None``.
    Raises ``UnknownNameError`` for an id the catalog does not have, and ``ConfigError``
    when the user's catalog is broken (then nothing is written).
    """
    path = path or paths.user_catalog_path()
    with _LOCK:
        catalog = load_catalog(user=path)
        model = catalog.get_model(model_id)
        if model.local or model.provider in LOCAL_PROVIDERS:
            return None
        if model_id in catalog.retired:
            return catalog.retired[model_id]
        record = RetiredModel(id=model_id, since=since or dt.date.today(), reason=reason[:500])
        data = _read(path)
        data["retired"] = [*_retired_list(data, path), _retired_entry(record)]
        _write(path, data)
        return record


def unretire(model_id: str, path: Path | None = None) -> bool:
    """Take ``model_id`` out of the user's ``retired:`` section; ``False`` when it was not there."""
    path = path or paths.user_catalog_path()
    with _LOCK:
        data = _read(path)
        retired = _retired_list(data, path)
        kept = [r for r in retired if not (isinstance(r, dict) and r.get("id") == model_id)]
        if len(kept) == len(retired):
            return False
        data["retired"] = kept
        _write(path, data)
        return True


def _retired_entry(record: RetiredModel) -> dict[str, Any]:
    return {"id": record.id, "since": record.since.isoformat(), "reason": record.reason}


def apply_refresh(
    added: Sequence[Mapping[str, Any]],
    retired: Iterable[RetiredModel] = (),
    unretired: Iterable[str] = (),
    path: Path | None = None,
) -> None:
    """What a catalog refresh found, in one validated, atomic write: new entries (an
    entry with the same id is replaced), models to mark retired (one already marked keeps
    its record), and models to take out of the ``retired:`` section. Nothing to change:
    no write."""
    added = [dict(entry) for entry in added]
    retired = list(retired)
    unretired = set(unretired)
    if not (added or retired or unretired):
        return
    path = path or paths.user_catalog_path()
    with _LOCK:
        data = _read(path)
        new_ids = {entry["id"] for entry in added}
        data["models"] = [m for m in data["models"] if m.get("id") not in new_ids] + added
        records = [r for r in _retired_list(data, path) if not (isinstance(r, dict) and r.get("id") in unretired)]
        present = {r.get("id") for r in records if isinstance(r, dict)}
        records += [_retired_entry(r) for r in retired if r.id not in present and r.id not in unretired]
        if records or "retired" in data:
            data["retired"] = records
        _write(path, data)
