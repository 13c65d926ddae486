"""Which providers have a key in the OS keyring: names only, never the keys.

Asking the keyring means importing it and a D-Bus round trip (about 80 ms here),
too slow for ``sparklio route`` and the composer's live route preview. The key store
records in ``keys.json`` which providers it has stored a key for; routing reads that
list plus the environment. The list is a hint, not a secret: if a key is removed
behind Sparklio's back, the first call finds out and the provider is marked
unavailable for the session.

A key used "for this session only" (no OS keyring here: ``KeyStore.set_session_key``)
is named in :data:`_SESSION` alone, in this process's memory: never in ``keys.json``,
so routing counts it while the process lives and forgets it when it ends.

Whoever keeps a key it read (the dispatcher reads each once per session: a keyring
look-up is slow on the first-token path) compares :func:`generation` with the one it
read at: the key store bumps it whenever a key is set, replaced, deleted or re-read, in
this process, so a key added while the app runs serves the very next request.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from sparklio_desktop.core.provider_table import ROWS
from sparklio_desktop.core.settings import paths

_SESSION: set[str] = set()  # providers with a session-only key in this process (names only)
_changes = itertools.count(1)
_generation = 0  # bumped by note_change(); compared by key readers that cache


def note_change() -> None:
    """A key was set, replaced, deleted or may have changed behind the store: readers that
    cache keys read them again."""
    global _generation
    _generation = next(_changes)  # an assignment: atomic, and never goes back


def generation() -> int:
    """The number of the last key change in this process (0: none yet)."""
    return _generation


def mark_session(provider: str, present: bool) -> None:
    """Name (or stop naming) ``provider`` as having a session-only key; never written."""
    if present:
        _SESSION.add(provider)
    else:
        _SESSION.discard(provider)


def session_providers() -> set[str]:
    return set(_SESSION)


def _path() -> Path:
    return paths.data_dir() / "keys.json"


def stored_providers() -> set[str]:
    try:
        data = json.loads(_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    return {p for p in data.get("keyring", []) if isinstance(p, str)}


def mark(provider: str, present: bool) -> None:
    providers = stored_providers()
    if (provider in providers) == present:
        return
    providers = providers | {provider} if present else providers - {provider}
    target = _path()
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps({"keyring": sorted(providers)}), encoding="utf-8")
    os.replace(tmp, target)


# A catalog entry that points a key-holding provider at another host has a key of its own,
# named for the entry: keyring username ``entry-<id>``, variable ``SPARKLIO_KEY_<ID>``
# (docs/dispatch.md, "Keys and custom endpoints").
ENTRY_KEY_PREFIX = "entry-"


def default_env_var_names(provider: str) -> tuple[str, ...]:
    """The variables a key for ``provider`` is read from: its row's (core/provider_table.py),
    ``SPARKLIO_KEY_<ID>`` for a catalog entry's own key, else ``<PROVIDER>_API_KEY``."""
    if provider.startswith(ENTRY_KEY_PREFIX):
        return ("SPARKLIO_KEY_" + provider[len(ENTRY_KEY_PREFIX) :].upper().replace("-", "_"),)
    row = ROWS.get(provider)
    if row is not None and row.key_vars:
        return row.key_vars
    return (provider.upper().replace("-", "_") + "_API_KEY",)


def entry_key_name(entry_id: str) -> str:
    """The key name of a catalog entry: ``openai/my-proxy`` -> ``entry-openai-my-proxy``."""
    return ENTRY_KEY_PREFIX + re.sub(r"[^a-z0-9]+", "-", entry_id.lower()).strip("-")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url.strip() if "://" in url else "https://" + url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or (443 if scheme == "https" else 80 if scheme == "http" else None)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def key_name_for(provider: str, entry_id: str, entry_base_url: str | None, configured_base_url: str | None) -> str:
    """Which key a catalog entry's requests carry.

    A provider's key goes only to that provider's configured endpoint: its default host
    or the base URL configured for it (setting or the SDK's variable). An entry whose
    own ``base_url`` names another host gets the key named for the entry instead.
    Providers without a key of their own here (Ollama, user-added OpenAI-compatible
    endpoints, keyed by their own name) keep their name.
    """
    row = ROWS.get(provider)
    if entry_base_url is None or row is None or not row.needs_key or row.default_host is None:
        return provider
    allowed = {_origin(row.default_host)}
    if configured_base_url:
        allowed.add(_origin(configured_base_url))
    return provider if _origin(entry_base_url) in allowed else entry_key_name(entry_id)


def has_key_fast(provider: str) -> bool:
    """An environment key, a session-only key, or a keyring key Sparklio stored: without
    touching the keyring."""
    if provider in _SESSION:
        return True
    if any(os.environ.get(name, "").strip() for name in default_env_var_names(provider)):
        return True
    return provider in stored_providers()
