"""Which providers have a key in the OS keyring: names only, never the keys.

Asking the keyring means importing it and a D-Bus round trip (about 80 ms here),
too slow for ``sparklio route`` and the composer's live route preview. The key store
records in ``keys.json`` which providers it has stored a key for; routing reads that
list plus the environment. The list is a hint, not a secret: if a key is removed
behind Sparklio's back, the first call finds out and the provider is marked
unavailable for the session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sparklio_desktop.core import paths


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


# The conventional variables each SDK reads; others use <PROVIDER>_API_KEY.
ENV_VARS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
}


def default_env_var_names(provider: str) -> tuple[str, ...]:
    return ENV_VARS.get(provider, (provider.upper().replace("-", "_") + "_API_KEY",))


def has_key_fast(provider: str) -> bool:
    """An environment key, or a keyring key Sparklio stored: without touching the keyring."""
    if any(os.environ.get(name, "").strip() for name in default_env_var_names(provider)):
        return True
    return provider in stored_providers()
