"""Which client, endpoint and key a model is called with.

Why here: a provider's key must go only to that provider's configured endpoint, and a
catalog entry that points elsewhere uses a key named for the entry (docs/dispatch.md,
"Keys and custom endpoints"); the rule is applied in one place, for the call and for the
redaction of the call's errors alike. Keys are read once per key name (a keyring
look-up can cost tens of milliseconds, on the first-token path) and read again after any
key change in this process (``key_index.generation``: a key pasted in Settings, or used
for this session only, serves the very next request; a deleted one is no longer sent);
an auth failure forgets the key so it is read again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.provider_table import client_row
from sparklio_desktop.core.providers.base import Endpoint, ProviderClient
from sparklio_desktop.core.providers.errors import ProviderError
from sparklio_desktop.core.providers.registry import create_client, import_sdk
from sparklio_desktop.core.settings import key_index
from sparklio_desktop.core.settings.config import Settings, effective_base_url
from sparklio_desktop.core.settings.key_index import default_env_var_names, key_name_for

if TYPE_CHECKING:
    import httpx

    from sparklio_desktop.core.dispatch.collaborators import KeySource
    from sparklio_desktop.core.settings.config import Settings

__all__ = ["ProviderAccess", "ProviderClients"]


class ProviderClients:
    """The dispatcher's default client factory: the registry's client for each provider,
    built on first use over one shared HTTP client (``None``: each SDK's own)."""

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        self._http = http_client
        self._clients: dict[str, ProviderClient] = {}

    def client(self, provider: str) -> ProviderClient:
        client = self._clients.get(provider)
        if client is None:
            row = client_row(provider)  # a provider without a row speaks the OpenAI wire format
            client = self._clients[provider] = create_client(row.name, self._http)
            import_sdk(row.name)  # before any first-token clock starts
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


class ProviderAccess:
    """Keys and endpoints for models, over the key store and the settings in force."""

    def __init__(self, keys: KeySource, settings: Settings | None) -> None:
        self._keys = keys
        self._settings = settings
        self._seen: dict[str, str | None] = {}
        self._seen_at = key_index.generation()
        # Keys read before the last change: a request still in flight with one may fail
        # after it, and its error must still be redacted with the key it carried.
        self._replaced: dict[str, str] = {}

    def key(self, name: str) -> str | None:
        """The key stored under ``name`` (a provider, or a catalog entry's own key): read once,
        and again after a key changed (set, replaced, deleted) anywhere in this process."""
        changed_at = key_index.generation()
        if changed_at != self._seen_at:
            self.forget_keys()
            self._seen_at = changed_at
        if name not in self._seen:
            try:
                self._seen[name] = self._keys.get(name)
            except SparklioError:
                self._seen[name] = None
        return self._seen[name]

    def forget_keys(self) -> None:
        """Read every key again on its next use (keys were changed, e.g. in Settings)."""
        self._replaced.update({name: key for name, key in self._seen.items() if key is not None})
        self._seen.clear()

    def forget_key(self, model: ModelSpec) -> None:
        """The provider refused the key this model was called with: read it again next time."""
        self._seen.pop(self.key_name(model), None)

    def _configured_base_url(self, provider: str) -> str | None:

        return effective_base_url(provider, self._settings if self._settings is not None else Settings())

    def key_name(self, model: ModelSpec) -> str:
        """The provider's key for its configured endpoint; an entry pointing elsewhere uses
        the key named for the entry (core.settings.key_index.key_name_for)."""
        if model.base_url is None:
            return model.provider

        return key_name_for(model.provider, model.id, model.base_url, self._configured_base_url(model.provider))

    def secrets_of(self, model: ModelSpec) -> list[str | None]:
        """Every key this model's errors could echo, for redaction."""
        names = (model.provider, self.key_name(model))
        return [*(self.key(name) for name in names), *(self._replaced.get(name) for name in names)]

    def endpoint(self, model: ModelSpec) -> Endpoint:
        base_url = model.base_url
        if base_url is None and self._settings is not None:
            base_url = self._configured_base_url(model.provider)
        name = self.key_name(model)
        key = None if model.provider == "ollama" else self.key(name)
        if key is None and name != model.provider:
            # Never call without it: the SDK would fall back to the provider's own variable
            # (OPENAI_API_KEY...) and send the real key to this host.

            raise ProviderError(
                f"no key for this endpoint: set one with `sparklio keys set {name}` or "
                f"${default_env_var_names(name)[0]}",
                provider=model.provider,
                model=model.api_name,
            )
        return Endpoint(model.provider, model.api_name, base_url, key)
