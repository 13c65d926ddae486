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

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.provider_table import ROWS
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.ollama_hosts import (
    PROBE_TIMEOUT_S,
    HostProbe,
    OllamaHost,
    choose_host,
    configured_ollama_hosts,
    fetch_loaded,
    fetch_tags,
    ollama_base_url,
    probe_ollama_hosts,
)
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.settings.config import effective_base_url
from sparklio_desktop.core.settings.key_index import has_key_fast, key_name_for

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings
    from sparklio_desktop.core.workspace import Workspace

__all__ = [
    "SD_SUFFIXES", "build_live_state", "custom_key_names", "normalize_ollama_tag", "ollama_base_url",
    "ollama_hosts_of", "ollama_loaded", "ollama_tags", "probe_machine", "resolve_local_tags",
    "resolve_ollama_tag", "sd_checkpoint_present",
]  # fmt: skip

SD_SUFFIXES = (".safetensors",)


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


def ollama_tags(host: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, str] | None:
    """The models pulled on Ollama (name -> digest), or ``None`` when it cannot be reached."""
    return fetch_tags(ollama_base_url(host), timeout_s)[0]


def resolve_local_tags(catalog: Catalog, installed: Mapping[str, str]) -> dict[str, str]:
    """Catalog id -> the installed Ollama tag each local model runs as (only those installed)."""
    resolved: dict[str, str] = {}
    for model in catalog.values():
        if model.provider == "ollama":
            tag = resolve_ollama_tag(model.api_name, installed)
            if tag is not None:
                resolved[model.id] = tag
    return resolved


def ollama_loaded(name: str, host: str | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> bool | None:
    """Whether Ollama has ``name`` loaded in memory now (``/api/ps``); ``None`` when it
    cannot be asked. A model that is not loaded must be read from disk before its
    first token, which the dispatcher's first-token limit allows for."""
    loaded = fetch_loaded(ollama_base_url(host), timeout_s)
    if loaded is None:
        return None
    wanted = {name, name + ":latest"} if ":" not in name else {name}
    return bool(wanted & loaded)


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
    ollama_hosts: Sequence[HostProbe] | None = None,
) -> LiveState:
    """Combine availability facts into the router's ``LiveState``.

    ``ollama_models``: the installed names (with their digests, when known); each local
    model is resolved to the tag it runs as (:func:`resolve_ollama_tag`). ``ollama_hosts``:
    what each of several Ollama hosts answered (core/routing/ollama_hosts.py); when given,
    it replaces ``ollama_models`` and each local model goes to the host that serves it
    (:func:`~sparklio_desktop.core.routing.ollama_hosts.choose_host`). The spend arguments
    are for tests that fix it; the route planner adds the ledger's."""
    unavailable: dict[str, tuple[Rule, str]] = {}
    if ollama_hosts is not None and len(ollama_hosts) == 1:
        ollama_models, ollama_hosts = ollama_hosts[0].tags, None  # one host: as a single-host install
    installed = None
    if ollama_models is not None:
        installed = dict(ollama_models) if isinstance(ollama_models, Mapping) else dict.fromkeys(ollama_models, "")
    local_tags = resolve_local_tags(catalog, installed) if installed is not None else {}
    served_by: dict[str, OllamaHost] = {}
    if ollama_hosts is not None:
        local_tags, served_by, missing = _serve_from_hosts(catalog, ollama_hosts)
        unavailable.update(missing)
    for model in catalog.values():
        if model.provider == "ollama":
            if ollama_hosts is not None:
                pass  # decided by _serve_from_hosts
            elif installed is None:
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
        unavailable=unavailable,
        spent_usd=spent_usd,
        budget_usd=budget_usd,
        at_cap=at_cap,
        local_tags=local_tags,
        ollama_hosts=served_by,
    )


def _serve_from_hosts(
    catalog: Catalog, probes: Sequence[HostProbe]
) -> tuple[dict[str, str], dict[str, OllamaHost], dict[str, tuple[Rule, str]]]:
    """Each Ollama model's host and tag there, from every host's own answer; the models no
    host that answers has, with the reason (naming the hosts that did not answer)."""
    tags: dict[str, str] = {}
    hosts: dict[str, OllamaHost] = {}
    missing: dict[str, tuple[Rule, str]] = {}
    down = [p for p in probes if not p.reachable]
    silent = "; ".join(f"Ollama host {p.host.label} {p.reason}" for p in down)
    answering = " or ".join(p.host.label for p in probes if p.reachable)
    for model in catalog.values():
        if model.provider != "ollama":
            continue
        chosen = choose_host(probes, resolve_ollama_tag, model.api_name)
        if chosen is not None:
            probe, tag = chosen
            tags[model.id], hosts[model.id] = tag, probe.host
        elif not answering:
            missing[model.id] = (Rule.UNREACHABLE, f"no Ollama host answers: {silent}")
        elif down:
            missing[model.id] = (Rule.UNREACHABLE, f"not on {answering}, and {silent}")
        else:
            missing[model.id] = (Rule.NOT_INSTALLED, f"pull it with `ollama pull {model.api_name}` on {answering}")
    return tags, hosts, missing


def ollama_hosts_of(settings: Settings | None) -> tuple[OllamaHost, ...]:
    """The Ollama hosts the settings name: the local one first (core/routing/ollama_hosts.py)."""
    if settings is None:
        return configured_ollama_hosts()
    return configured_ollama_hosts(settings.providers.ollama.host, settings.providers.ollama.hosts)


def probe_machine(workspace: Workspace, settings: Settings | None = None) -> LiveState:
    """Look at this machine now: keys, each Ollama host's installed tags, SD weights.

    Only the machine's facts: this session's failures, the month's spend and the ratings
    are added by the route planner (core/routing/planner.py), the one owner of the live state."""
    settings = settings if settings is not None else workspace.settings
    catalog = workspace.catalog
    providers = {m.provider for m in catalog.values() if not m.local}
    key_names = custom_key_names(catalog, settings)
    has_key = {name: has_key_fast(name) for name in providers | set(key_names.values())}
    probes = probe_ollama_hosts(ollama_hosts_of(settings))  # all at once, each with a short timeout
    folders = [paths.data_dir() / "weights" / "sd", *map(Path, settings.local.sd_weight_dirs)]
    sd = sd_checkpoint_present(folders)
    return build_live_state(catalog, has_key, None, sd, key_names=key_names, ollama_hosts=probes)


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
