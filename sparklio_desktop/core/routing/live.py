"""The machine's side of the router's live state: which models can be used right now.

A cloud model needs its provider's API key; a local Ollama model must be pulled on a
reachable Ollama; Stable Diffusion needs a checkpoint in a weights folder. The route
planner (core/routing/planner.py) probes these facts through :func:`probe_machine` and adds
what only it knows: the models marked unavailable this session (401, model not found),
the month's spend against the budget and the ratings.

Probing is quick on purpose (the route preview runs it): Ollama is asked once with a
short timeout through the standard library, so no SDK is imported.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.provider_table import OLLAMA_DEFAULT_PORT, ROWS, base_url_from_env
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.settings.config import effective_base_url
from sparklio_desktop.core.settings.key_index import has_key_fast, key_name_for

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings
    from sparklio_desktop.core.workspace import Workspace

SD_SUFFIXES = (".safetensors",)


def ollama_base_url(host: str | None = None) -> str:
    """``host``, else ``OLLAMA_HOST``, else the default host (the Ollama row's, core/provider_table.py),
    spelled ``scheme://host:port[/path]`` the way the Ollama SDK reads it, so the probe asks the
    server the chat path calls: no scheme means port 11434, ``http://`` without a port 80 and
    ``https://`` 443 (the SDK's ``_parse_host``; tests/core/test_ollama_host.py holds the two
    side by side). A port that is not a number falls back to the scheme's default."""
    host = (host or base_url_from_env("ollama") or ROWS["ollama"].default_host or "").strip()
    scheme, sep, rest = host.partition("://")
    if not sep:
        scheme, rest, default_port = "http", host, OLLAMA_DEFAULT_PORT
    else:
        scheme = scheme.lower()
        default_port = 443 if scheme == "https" else 80
    split = urlsplit(f"{scheme}://{rest}")
    try:
        port = split.port or default_port
    except ValueError:
        port = default_port
    name = split.hostname or "127.0.0.1"
    if ":" in name:  # an IPv6 address
        name = f"[{name}]"
    return f"{scheme}://{name}:{port}{split.path.rstrip('/')}"


_REGISTRY_PREFIX = "registry.ollama.ai/library/"
_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")


def normalize_ollama_tag(name: str) -> str:
    """Ollama's canonical spelling: lower case, no default registry, ``:latest`` when no tag."""
    name = name.strip().lower()
    if name.startswith(_REGISTRY_PREFIX):
        name = name[len(_REGISTRY_PREFIX) :]
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _base_name(name: str) -> str:
    return normalize_ollama_tag(name).rsplit(":", 1)[0]


def resolve_ollama_tag(api_name: str, installed: Mapping[str, str]) -> str | None:
    """The installed Ollama tag that serves a catalog entry whose ``api_name`` is given.

    ``installed`` maps each installed name (as ``/api/tags`` lists it) to its digest.
    In order: the exact tag (``qwen2.5`` is ``qwen2.5:latest``); else the model with the
    same digest (an ``api_name`` written as a digest, ``sha256:…`` or 12+ hex digits,
    pins one build whatever it is called); else a model with the same base name,
    ``:latest`` first, then the first name in sorted order. ``None``: nothing fits.
    """
    wanted = normalize_ollama_tag(api_name)
    by_norm = {normalize_ollama_tag(name): name for name in installed}
    if wanted in by_norm:
        return by_norm[wanted]
    pinned = _DIGEST.match(api_name.strip().lower())
    if pinned:
        for name, digest in sorted(installed.items()):
            if digest and digest.lower().removeprefix("sha256:").startswith(pinned.group(1)):
                return name
    base = _base_name(api_name)
    same = sorted(name for norm, name in by_norm.items() if norm.rsplit(":", 1)[0] == base)
    if not same:
        return None
    latest = [name for name in same if normalize_ollama_tag(name).endswith(":latest")]
    return (latest or same)[0]


def ollama_tags(host: str | None = None, timeout_s: float = 0.3) -> dict[str, str] | None:
    """The models pulled on Ollama (name -> digest), or ``None`` when it cannot be reached."""
    url = ollama_base_url(host) + "/api/tags"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - local service
            payload = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    tags: dict[str, str] = {}
    models = payload.get("models") if isinstance(payload, dict) else None
    for entry in models if isinstance(models, list) else []:
        if not isinstance(entry, dict):
            continue
        name = entry.get("model") or entry.get("name")
        if isinstance(name, str) and name:
            digest = entry.get("digest")
            tags[name] = digest if isinstance(digest, str) else ""
    return tags


def resolve_local_tags(catalog: Catalog, installed: Mapping[str, str]) -> dict[str, str]:
    """Catalog id -> the installed Ollama tag each local model runs as (only those installed)."""
    resolved: dict[str, str] = {}
    for model in catalog.values():
        if model.provider == "ollama":
            tag = resolve_ollama_tag(model.api_name, installed)
            if tag is not None:
                resolved[model.id] = tag
    return resolved


def ollama_loaded(name: str, host: str | None = None, timeout_s: float = 0.3) -> bool | None:
    """Whether Ollama has ``name`` loaded in memory now (``/api/ps``); ``None`` when it
    cannot be asked. A model that is not loaded must be read from disk before its
    first token, which the dispatcher's first-token limit allows for."""
    url = ollama_base_url(host) + "/api/ps"
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - local service
            payload = json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None
    wanted = {name, name + ":latest"} if ":" not in name else {name}
    models = payload.get("models") if isinstance(payload, dict) else None
    for entry in models if isinstance(models, list) else []:
        if isinstance(entry, dict) and (entry.get("model") in wanted or entry.get("name") in wanted):
            return True
    return False


def sd_checkpoint_present(folders: Iterable[Path]) -> bool:
    """True when any weights folder holds a safetensors checkpoint or a diffusers folder."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.suffix in SD_SUFFIXES or (entry / "model_index.json").is_file():
                return True
    return False


def build_live_state(
    catalog: Catalog,
    has_key: Mapping[str, bool],
    ollama_models: Mapping[str, str] | set[str] | None,
    sd_available: bool,
    *,
    spent_usd: Decimal | None = None,
    budget_usd: Decimal | None = None,
    at_cap: str = "local_only",
    key_names: Mapping[str, str] | None = None,
) -> LiveState:
    """Combine availability facts into the router's ``LiveState``.

    ``ollama_models``: the installed names (with their digests, when known); each local
    model is resolved to the tag it runs as (:func:`resolve_ollama_tag`). The spend
    arguments are for tests that fix it; the route planner adds the ledger's."""
    unavailable: dict[str, tuple[Rule, str]] = {}
    installed = None
    if ollama_models is not None:
        installed = dict(ollama_models) if isinstance(ollama_models, Mapping) else dict.fromkeys(ollama_models, "")
    local_tags = resolve_local_tags(catalog, installed) if installed is not None else {}
    for model in catalog.values():
        if model.provider == "ollama":
            if installed is None:
                unavailable[model.id] = (Rule.UNREACHABLE, "Ollama is not running (start it with `ollama serve`)")
            elif model.id not in local_tags:
                unavailable[model.id] = (Rule.NOT_INSTALLED, f"pull it with `ollama pull {model.api_name}`")
        elif model.provider == "diffusers":
            if not sd_available:
                unavailable[model.id] = (Rule.NOT_INSTALLED, "add a Stable Diffusion checkpoint to a weights folder")
        elif model.provider in ROWS and not ROWS[model.provider].needs_key:
            pass  # e.g. an OpenAI-compatible endpoint may need no key; reachability shows on first call
        else:
            # an entry pointing its provider at another host needs the key named for it
            name = (key_names or {}).get(model.id, model.provider)
            if not has_key.get(name, False):
                unavailable[model.id] = (Rule.NO_API_KEY, f"set one with `sparklio keys set {name}`")
    return LiveState(
        unavailable=unavailable, spent_usd=spent_usd, budget_usd=budget_usd, at_cap=at_cap, local_tags=local_tags
    )


def probe_machine(workspace: Workspace, settings: Settings | None = None) -> LiveState:
    """Look at this machine now: keys, Ollama's installed tags, SD weights.

    Only the machine's facts: this session's failures, the month's spend and the ratings
    are added by the route planner (core/routing/planner.py), the one owner of the live state."""
    settings = settings if settings is not None else workspace.settings
    catalog = workspace.catalog
    providers = {m.provider for m in catalog.values() if not m.local}
    key_names = custom_key_names(catalog, settings)
    has_key = {name: has_key_fast(name) for name in providers | set(key_names.values())}
    ollama = ollama_tags(settings.providers.ollama.host)
    folders = [paths.data_dir() / "weights" / "sd", *map(Path, settings.local.sd_weight_dirs)]
    return build_live_state(catalog, has_key, ollama, sd_checkpoint_present(folders), key_names=key_names)


def custom_key_names(catalog: Catalog, settings: Settings) -> dict[str, str]:
    """Catalog id -> key name, for entries whose own ``base_url`` takes their provider's
    requests to another host (they never get the provider's key; core.settings.key_index)."""

    names: dict[str, str] = {}
    for model in catalog.values():
        if model.base_url is not None and not model.local:
            name = key_name_for(model.provider, model.id, model.base_url, effective_base_url(model.provider, settings))
            if name != model.provider:
                names[model.id] = name
    return names
