"""Loads what every command and the GUI need, once: catalog, policy, settings.

A broken user policy or user catalog does not stop anything: each store keeps the last
good copy in force and holds the error for display (``policy_error``, ``catalog_error``).
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import ConfigError, SparklioError
from sparklio_desktop.core.policy.catalog import Catalog, CatalogStore
from sparklio_desktop.core.policy.routing_policy import Policy, PolicyStore, load_policy
from sparklio_desktop.core.settings import paths

if TYPE_CHECKING:  # config (pydantic settings models) loads only when settings are read
    from sparklio_desktop.core.settings.config import Settings


class Workspace:
    def __init__(self, policy_path: str | Path | None = None, catalog: Catalog | None = None) -> None:
        self._policy_path = policy_path
        self._catalog = catalog

    @cached_property
    def catalog_store(self) -> CatalogStore | None:
        """``None`` when the workspace was given its catalog."""
        if self._catalog is not None:
            return None
        # A user catalog that leaves the shipped policy invalid (say, it overrides a model
        # the task table needs and drops a capability) is refused like a broken one, so
        # the shipped policy always remains to fall back on.
        return CatalogStore(check=lambda catalog: load_policy(paths.shipped_policy_path(), catalog))

    @cached_property
    def catalog(self) -> Catalog:
        store = self.catalog_store
        if store is not None:
            return store.catalog
        assert self._catalog is not None  # no store: a catalog was given
        return self._catalog

    @property
    def catalog_error(self) -> ConfigError | None:
        """Why the user's catalog is not in force (the last good one is), or ``None``."""
        store = self.catalog_store
        return None if store is None else store.error

    def reload_catalog(self) -> Catalog:
        """Read the catalog files again, after the user's catalog changed in the running app
        (Models -> Add to catalog); the policy store validates later reloads against it."""
        if self._catalog is None:
            if "catalog_store" in self.__dict__:
                store = self.catalog_store
                assert store is not None  # no catalog was given, so there is a store
                store.reload()
            self.__dict__.pop("catalog", None)
            if "policy_store" in self.__dict__:
                self.policy_store.catalog = self.catalog
        return self.catalog

    @cached_property
    def settings(self) -> Settings:
        from sparklio_desktop.core.settings.config import load_settings_lenient

        settings, self.settings_error = load_settings_lenient()
        return settings

    settings_error: ConfigError | None = None

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
    def policy_error(self) -> SparklioError | None:
        return self.policy_store.error
