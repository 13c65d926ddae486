"""Where Sparklio keeps its data, and where the shipped policy and catalog live.

User data (settings, ledger, cache, user catalog and policy) goes to the platform's
user data directory, or to ``$SPARKLIO_HOME`` when set: tests and portable installs
point that variable at a folder of their own.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "sparklio"
SETTINGS_FILENAME = "settings.json"
_PACKAGE_DIR = Path(__file__).resolve().parents[2]  # sparklio_desktop/
_REPO_ROOT = _PACKAGE_DIR.parent


def data_dir(create: bool = True) -> Path:
    """The folder that holds everything Sparklio writes for this user."""
    home = os.environ.get("SPARKLIO_HOME")
    if home:
        path = Path(home).expanduser()
    else:
        from platformdirs import user_data_dir

        path = Path(user_data_dir(APP_NAME, appauthor=False))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def _shipped(name: str) -> Path:
    """Where the shipped folder ``name`` (models, policies, resources) is read from.

    A source checkout (editable install included) reads the top-level folders, the
    editable source of truth the design card keeps there; an installed wheel reads the
    copies that setup.py put under ``sparklio_desktop/data/`` at build time. The
    checkout is recognised by its pyproject.toml beside the package, so a stray
    ``models/`` folder in site-packages is never taken for ours. A bundle that lays the
    folders out beside the package (and has no data/) gets the last branch.
    """
    top = _REPO_ROOT / name
    if source_checkout() is not None and top.is_dir():
        return top
    packaged = _PACKAGE_DIR / "data" / name
    return packaged if packaged.is_dir() else top


def source_checkout() -> Path | None:
    """The repository this package runs from (a checkout or an editable install), or None
    for an installed wheel or a bundle: the same test :func:`_shipped` makes."""
    return _REPO_ROOT if (_REPO_ROOT / "pyproject.toml").is_file() and (_REPO_ROOT / "models").is_dir() else None


def settings_path() -> Path:
    """Where settings live by default (read by core/settings/config.py)."""
    return data_dir(create=False) / SETTINGS_FILENAME


def shipped_policy_path() -> Path:
    return _shipped("policies") / "routing.yaml"


def shipped_catalog_path() -> Path:
    return _shipped("models") / "catalog.yaml"


def resources_dir() -> Path:
    return _shipped("resources")


def user_catalog_path() -> Path:
    """Models the user adds (another Ollama tag, an OpenAI-compatible endpoint)."""
    return data_dir() / "catalog.yaml"


def user_policy_path() -> Path:
    """The user's own copy of the routing policy; absent means the shipped one."""
    return data_dir() / "policy.yaml"


def ledger_path() -> Path:
    """The usage ledger: one row per attempt, with its exact cost."""
    return data_dir() / "ledger.sqlite3"
