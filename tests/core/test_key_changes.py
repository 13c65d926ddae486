"""A key set, replaced or deleted while a session runs reaches the next request: the
dispatcher's key reads, the planner's probe and a 401's exclusion are all forgotten."""

from __future__ import annotations

import asyncio

from sparklio_desktop.core.dispatch.endpoints import ProviderAccess
from sparklio_desktop.core.policy.catalog import ModelSpec
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.planner import RoutePlanner, SessionFailures
from sparklio_desktop.core.settings import key_index
from sparklio_desktop.core.settings.secrets import KeyStore, clear_session_keys
from sparklio_desktop.core.workspace import Workspace


class CountingKeys:
    def __init__(self) -> None:
        self.keys: dict[str, str] = {}
        self.reads = 0

    def get(self, provider: str) -> str | None:
        self.reads += 1
        return self.keys.get(provider)


def _catalog(*ids: str) -> dict[str, ModelSpec]:
    return {i: ModelSpec.model_validate(_spec(i)) for i in ids}


def _spec(model_id: str) -> dict[str, object]:
    provider, _, name = model_id.partition("/")
    return {
        "id": model_id,
        "name": name,
        "provider": provider,
        "api_name": name,
        "capabilities": ["text"],
        "price": {"input_per_mtok": "1", "output_per_mtok": "2", "as_of": "2025-11-13", "source": "test"},
        "context_tokens": 1000,
        "quality": 5,
    }


def test_provider_access_reads_a_key_once_then_again_after_a_change():
    keys = CountingKeys()
    access = ProviderAccess(keys, None)
    assert access.key("openai") is None and access.key("openai") is None
    assert keys.reads == 1  # "no key" is remembered ...
    keys.keys["openai"] = "sk-new-0123456789abcdef"
    key_index.note_change()  # ... until a key changes in this process
    assert access.key("openai") == "sk-new-0123456789abcdef" and keys.reads == 2
    assert access.key("openai") == "sk-new-0123456789abcdef" and keys.reads == 2


def test_every_key_store_change_is_noted(no_keyring_backend):
    store = KeyStore()
    try:
        before = key_index.generation()
        store.set_session_key("openai", "sk-session-0123456789abcdef")
        after_set = key_index.generation()
        store.delete("openai")
        after_delete = key_index.generation()
        assert before < after_set < after_delete
        store.refresh()  # the keyring may have changed behind the store
        assert key_index.generation() > after_delete
    finally:
        clear_session_keys()


def test_a_changed_key_lifts_its_providers_401_only():
    catalog = _catalog("openai/a", "openai/b", "anthropic/c")
    session = SessionFailures()
    session.provider_refused(catalog, "openai", "401 invalid key")
    session.provider_refused(catalog, "anthropic", "401 invalid key")
    session.model_missing("openai/b", "404 model not found")
    version = session.version
    assert set(session) == {"openai/a", "openai/b", "anthropic/c"}

    assert session.key_changed("openai") and session.version > version
    assert set(session) == {"openai/b", "anthropic/c"}  # "not found" is not about the key
    assert session.as_map()["openai/b"][1] == "404 model not found"
    assert not session.key_changed("google")  # nothing refused with google's key
    assert session.key_changed(key_index.entry_key_name("anthropic/proxy"))  # recorded under its provider
    assert set(session) == {"openai/b"} and len(session) == 1


def test_the_planner_probes_again_after_a_key_change():
    probes: list[int] = []

    def probe() -> LiveState:
        probes.append(1)
        return LiveState()

    planner = RoutePlanner(Workspace(), probe=probe, max_age_s=3600)
    asyncio.run(planner.refresh())
    asyncio.run(planner.refresh())
    assert len(probes) == 1  # fresh
    key_index.note_change()  # a key set by any path in this process
    asyncio.run(planner.refresh())
    assert len(probes) == 2


def test_errors_are_still_redacted_with_a_key_replaced_mid_request():
    keys = CountingKeys()
    keys.keys["openai"] = "sk-old-0123456789abcdef"
    access = ProviderAccess(keys, None)
    model = _catalog("openai/a")["openai/a"]
    assert access.endpoint(model).api_key == "sk-old-0123456789abcdef"  # the call in flight
    keys.keys["openai"] = "sk-new-0123456789abcdef"
    key_index.note_change()
    secrets = access.secrets_of(model)  # its error arrives after the change
    assert "sk-old-0123456789abcdef" in secrets and "sk-new-0123456789abcdef" in secrets
