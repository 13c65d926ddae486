"""The provider table is the one source of provider facts: change a row and every reader follows.

The key index, the config, the key store, the live probe, the registry and the clients
read their row when they need it (core/provider_table.py); these tests swap a row and
watch each of them answer from the new one.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sparklio_desktop.core import provider_table
from sparklio_desktop.core.ledger.store import LedgerStore
from sparklio_desktop.core.provider_table import KEYED_PROVIDERS, LOCAL_PROVIDERS, ROWS, ProviderRow
from sparklio_desktop.core.providers.base import EmbedRequest, Endpoint
from sparklio_desktop.core.providers.errors import ModelNotFoundError, ProviderError, TransientError
from sparklio_desktop.core.providers.ollama_client import OllamaClient
from sparklio_desktop.core.providers.registry import create_client, import_sdk
from sparklio_desktop.core.routing import live
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.settings import key_index
from sparklio_desktop.core.settings.config import Settings, effective_base_url
from sparklio_desktop.core.settings.secrets import KNOWN_PROVIDERS, KeyStore
from tests.fakes.ollama_server import OllamaServer

SwapRow = Callable[..., ProviderRow]


@pytest.fixture
def swap_row(monkeypatch: pytest.MonkeyPatch) -> SwapRow:
    """Replace fields of one row for this test; readers see it through ``ROWS``."""

    def swap(name: str, **changes: Any) -> ProviderRow:
        row = dataclasses.replace(ROWS[name], **changes)
        monkeypatch.setitem(provider_table._ROWS, name, row)
        return row

    return swap


@pytest.fixture
def ollama_server() -> Iterator[OllamaServer]:
    with OllamaServer() as fake:
        yield fake


# -- the rows cover what ships ---------------------------------------------------------


def test_every_provider_in_the_shipped_catalog_has_a_row(catalog: Any) -> None:
    assert {model.provider for model in catalog.values()} <= set(ROWS)


def test_a_row_is_local_exactly_when_its_catalog_models_are(catalog: Any) -> None:
    for model in catalog.values():
        assert ROWS[model.provider].local == model.local, model.id


def test_each_client_row_builds_the_client_for_that_provider() -> None:
    async def build(name: str) -> str:
        client = create_client(name)
        try:
            return client.provider
        finally:
            await client.aclose()

    built = {name: asyncio.run(build(name)) for name, row in ROWS.items() if row.client is not None}
    assert built == {name: name for name in built}
    assert set(built) == {"openai", "openai_compatible", "anthropic", "google", "ollama"}


def test_a_provider_without_a_row_is_served_as_an_openai_compatible_endpoint() -> None:
    assert provider_table.client_row("openrouter").name == "openai_compatible"  # a user-added endpoint
    assert provider_table.client_row("anthropic").name == "anthropic"
    with pytest.raises(KeyError):
        provider_table.client_row("diffusers")  # served in this process, not by a client


def test_derived_sets_are_the_rows_own() -> None:
    assert KEYED_PROVIDERS == KNOWN_PROVIDERS == ("anthropic", "google", "openai")
    assert LOCAL_PROVIDERS == {"ollama", "diffusers"}
    default = LedgerStore.spend_summary.__defaults__
    assert default is not None and LOCAL_PROVIDERS in default


def test_one_ollama_default_host_and_it_is_the_sdks(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    sdk_default = importlib.import_module("ollama._client")._parse_host(None)  # the SDK's own doctested rule
    monkeypatch.delenv("OLLAMA_HOST")
    assert ROWS["ollama"].default_host == sdk_default == live.ollama_base_url() == "http://127.0.0.1:11434"


# -- every reader follows a changed row --------------------------------------------------


def test_key_index_and_key_store_read_the_key_variables_from_the_row(
    swap_row: SwapRow, monkeypatch: pytest.MonkeyPatch, no_keyring_backend: Any
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-the-usual-variable-0123456789")
    assert key_index.has_key_fast("openai")
    swap_row("openai", key_vars=("MY_OPENAI_KEY",))
    assert key_index.default_env_var_names("openai") == ("MY_OPENAI_KEY",)
    assert not key_index.has_key_fast("openai")  # the old variable no longer counts
    monkeypatch.setenv("MY_OPENAI_KEY", "sk-the-row-variable-0123456789")
    assert key_index.has_key_fast("openai")
    assert KeyStore().source("openai") == "env:MY_OPENAI_KEY"


def test_the_key_goes_only_to_the_rows_default_host(swap_row: SwapRow) -> None:
    entry = "openai/proxy"
    assert key_index.key_name_for("openai", entry, "https://api.openai.com/v1", None) == "openai"
    swap_row("openai", default_host="https://gateway.example")
    assert key_index.key_name_for("openai", entry, "https://gateway.example/v1", None) == "openai"
    assert key_index.key_name_for("openai", entry, "https://api.openai.com/v1", None) == "entry-openai-proxy"
    swap_row("openai", needs_key=False)  # a provider without a key of its own keeps its name
    assert key_index.key_name_for("openai", entry, "https://elsewhere.example", None) == "openai"


def test_config_reads_the_base_url_variable_from_the_row(swap_row: SwapRow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "https://usual.example")
    assert effective_base_url("anthropic", Settings()) == "https://usual.example"
    swap_row("anthropic", base_url_var="MY_ANTHROPIC_URL")
    assert effective_base_url("anthropic", Settings()) is None
    monkeypatch.setenv("MY_ANTHROPIC_URL", " https://row.example ")
    assert effective_base_url("anthropic", Settings()) == "https://row.example"


def test_live_state_asks_for_a_key_only_where_the_row_needs_one(catalog: Any, swap_row: SwapRow) -> None:
    google = sorted(m.id for m in catalog.values() if m.provider == "google")
    assert google
    state = live.build_live_state(catalog, {}, None, False)
    assert all(state.unavailable[model][0] is Rule.NO_API_KEY for model in google)
    swap_row("google", needs_key=False)
    state = live.build_live_state(catalog, {}, None, False)
    assert not set(google) & set(state.unavailable)


def test_the_live_probe_and_the_client_find_ollama_at_the_rows_default_host(
    swap_row: SwapRow, monkeypatch: pytest.MonkeyPatch, ollama_server: OllamaServer
) -> None:
    monkeypatch.delenv("OLLAMA_HOST")
    swap_row("ollama", default_host=ollama_server.base_url)
    assert live.ollama_tags() == live.ollama_tags(ollama_server.base_url) != {}

    async def check() -> None:
        client = OllamaClient()
        try:
            await client.check_auth(Endpoint("ollama", ""))  # no base URL: the default host
        finally:
            await client.aclose()

    asyncio.run(check())
    assert [r.path for r in ollama_server.requests if r.path.startswith("/api/tags")]


def test_an_unreachable_default_host_is_named_in_the_error(swap_row: SwapRow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OLLAMA_HOST")
    swap_row("ollama", default_host="http://127.0.0.1:9")  # the discard port: nothing listens

    async def check() -> TransientError:
        client = OllamaClient()
        try:
            with pytest.raises(TransientError) as info:
                await client.check_auth(Endpoint("ollama", ""))
            return info.value
        finally:
            await client.aclose()

    assert "not reachable at http://127.0.0.1:9" in asyncio.run(check()).message


def test_clients_redact_the_keys_their_row_says_the_sdk_reads(
    swap_row: SwapRow, monkeypatch: pytest.MonkeyPatch, ollama_server: OllamaServer
) -> None:
    secret = "row-listed-secret-0123456789"
    monkeypatch.setenv("MY_OLLAMA_SECRET", secret)
    swap_row("ollama", key_vars=("MY_OLLAMA_SECRET",))
    ollama_server.installed = []  # every model is "not found", and Ollama's message quotes its name

    async def check() -> ProviderError:
        client = OllamaClient()
        try:
            with pytest.raises(ProviderError) as info:
                await client.embed(EmbedRequest(Endpoint("ollama", secret, ollama_server.base_url), ("hi",)))
            return info.value
        finally:
            await client.aclose()

    error = asyncio.run(check())
    assert type(error) is ModelNotFoundError and "[REDACTED]" in error.message
    assert secret not in error.message and secret not in str(error)


def test_import_sdk_imports_the_rows_modules(swap_row: SwapRow) -> None:
    import sys

    swap_row("ollama", sdk_modules=("json.tool",))
    sys.modules.pop("json.tool", None)
    import_sdk("ollama")
    assert "json.tool" in sys.modules
