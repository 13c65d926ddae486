"""Loads what every command and the GUI need, once: catalog, policy, settings.

A broken user policy does not stop anything: the policy store keeps the last good
policy in force and holds the error for display (``policy_error``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from sparklio_desktop.core.catalog import Catalog, load_catalog
from sparklio_desktop.core.policy import Policy, PolicyStore


class Workspace:
    def __init__(self, policy_path: str | Path | None = None, catalog: Catalog | None = None) -> None:
        self._policy_path = policy_path
        self._catalog = catalog

    @cached_property
    def catalog(self) -> Catalog:
        return self._catalog if self._catalog is not None else load_catalog()

    def reload_catalog(self) -> Catalog:
        """Read the catalog files again, after the user's catalog changed in the running app
        (Models -> Add to catalog); the policy store validates later reloads against it."""
        if self._catalog is None:
            self.__dict__.pop("catalog", None)
            if "policy_store" in self.__dict__:
                self.policy_store.catalog = self.catalog
        return self.catalog

    @cached_property
    def settings(self):
        from sparklio_desktop.core.config import load_settings_lenient

        settings, self.settings_error = load_settings_lenient()
        return settings

    settings_error = None

    @cached_property
    def policy_store(self) -> PolicyStore:
        path = self._policy_path
        if path is None:
            try:
                path = self.settings.policy.path
            except Exception:  # noqa: BLE001 - settings problems never stop routing
                path = None
        return PolicyStore(self.catalog, path)

    @property
    def policy(self) -> Policy:
        return self.policy_store.policy

    @property
    def policy_error(self):
        return self.policy_store.error
