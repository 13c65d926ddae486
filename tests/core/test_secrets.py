"""API keys through the real Secret Service, the environment fallback, and no leaks.

Tests marked ``keyring`` talk to a private gnome-keyring (tests/keyring_service.py);
the others use an in-memory stand-in or keyring's ``fail`` backend, so the rules about
precedence, masking and leaks are checked on every machine.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator

import keyring
import keyring.errors
import pytest
from keyring.backends import null

from sparklio_desktop.core.errors import KeyringUnavailable, UnknownNameError
from sparklio_desktop.core.settings.secrets import (
    SERVICE,
    InvalidKeyError,
    InvalidProviderName,
    KeyInfo,
    KeyStore,
    env_var_names,
    mask_key,
)
from tests.keyring_service import SecretServiceSession

OPENAI_KEY = "sk-proj-abcdefghijklmnop1234"
ANTHROPIC_KEY = "sk-ant-api03-zyxwvutsrqponmlk9876"
ENV_NAMES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "OPENROUTER_API_KEY",
    "MY_LLM_API_KEY",
)
TEST_PROVIDERS = ("openai", "anthropic", "google", "openrouter", "my-llm")


@pytest.fixture(autouse=True)
def _no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys the developer exported must not change what these tests see."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


class MemoryBackend:
    """A keyring stand-in. Deliberately not a KeyringBackend subclass: subclasses
    register themselves, and keyring could then pick this one for other tests."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}
        self.reads = 0

    def get_password(self, service: str, username: str) -> str | None:
        self.reads += 1
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.items.pop((service, username), None) is None:
            raise keyring.errors.PasswordDeleteError("No such password!")


@pytest.fixture
def memory() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def store(memory: MemoryBackend) -> KeyStore:
    return KeyStore(memory)  # type: ignore[arg-type]


@pytest.fixture
def real_store(secret_service: SecretServiceSession) -> Iterator[KeyStore]:
    """A KeyStore on the private gnome-keyring, emptied of test entries afterwards."""
    yield KeyStore()
    for provider in TEST_PROVIDERS:
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            keyring.delete_password(SERVICE, provider)


# -- the real Secret Service ----------------------------------------------------------


@pytest.mark.keyring
def test_round_trip_through_gnome_keyring(real_store: KeyStore, secret_service: SecretServiceSession) -> None:
    real_store.set("openai", f"  {OPENAI_KEY}\n")  # a pasted key with its newline

    assert real_store.get("openai") == OPENAI_KEY
    assert real_store.source("openai") == "keyring"
    # Really in gnome-keyring: a fresh client and a fresh store (no cache) see it.
    assert keyring.get_keyring() is secret_service.backend
    assert keyring.get_password(SERVICE, "openai") == OPENAI_KEY
    assert KeyStore().get("openai") == OPENAI_KEY
    assert any(secret_service.keyrings_dir.glob("*.keyring"))
    assert KeyInfo("openai", "keyring", "sk-…1234") in real_store.list()

    assert real_store.delete("openai") is True
    assert keyring.get_password(SERVICE, "openai") is None
    assert real_store.get("openai") is None
    assert real_store.delete("openai") is False  # idempotent


@pytest.mark.keyring
def test_set_replaces_the_previous_key(real_store: KeyStore) -> None:
    real_store.set("anthropic", "sk-ant-old-0000000000000")
    real_store.set("anthropic", ANTHROPIC_KEY)
    assert keyring.get_password(SERVICE, "anthropic") == ANTHROPIC_KEY
    assert real_store.delete("anthropic") is True
    assert real_store.delete("anthropic") is False


@pytest.mark.keyring
def test_user_added_endpoint_is_keyed_by_its_name(real_store: KeyStore) -> None:
    real_store.set("openrouter", "sk-or-v1-0123456789abcdef")
    assert keyring.get_password(SERVICE, "openrouter") == "sk-or-v1-0123456789abcdef"
    assert [i.provider for i in real_store.list() if i.source] == ["openrouter"]


@pytest.mark.keyring
def test_keyring_wins_over_environment(real_store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # A key stored through Sparklio is a deliberate choice for this app; an exported
    # OPENAI_API_KEY is often global and stale. See the module docstring of secrets.py.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-5678")
    real_store.set("openai", OPENAI_KEY)
    assert real_store.get("openai") == OPENAI_KEY
    assert real_store.source("openai") == "keyring"

    real_store.delete("openai")
    assert real_store.get("openai") == "sk-from-the-environment-5678"
    assert real_store.source("openai") == "env:OPENAI_API_KEY"


@pytest.mark.keyring
def test_cache_is_per_session_until_refresh(real_store: KeyStore) -> None:
    assert real_store.has_key("google") is False
    keyring.set_password(SERVICE, "google", "AIzaSyOtherProcess000000000")  # another process
    assert real_store.has_key("google") is False  # cached miss: no D-Bus call per check
    real_store.refresh()
    assert real_store.has_key("google") is True


# -- precedence, environment, cache ----------------------------------------------------


def test_environment_fallback(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    assert store.get("openai") is None and store.source("openai") is None
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    assert store.get("openai") == OPENAI_KEY
    assert store.source("openai") == "env:OPENAI_API_KEY"
    monkeypatch.setenv("MY_LLM_API_KEY", "local-secret-000000")
    assert store.source("my-llm") == "env:MY_LLM_API_KEY"


def test_google_prefers_gemini_variable(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "AIzaGoogleVariable0000000000")
    assert store.source("google") == "env:GOOGLE_API_KEY"
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaGeminiVariable0000000000")
    assert store.get("google") == "AIzaGeminiVariable0000000000"
    assert env_var_names("google") == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert env_var_names("openrouter") == ("OPENROUTER_API_KEY",)


def test_blank_environment_variable_is_no_key(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "   ")
    assert store.get("anthropic") is None
    assert store.has_key("anthropic") is False


def test_keyring_wins_over_environment_in_memory(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment-5678")
    store.set("openai", OPENAI_KEY)
    assert (store.get("openai"), store.source("openai")) == (OPENAI_KEY, "keyring")


def test_has_key_checks_environment_before_keyring(
    store: KeyStore, memory: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    assert store.has_key("openai") is True
    assert memory.reads == 0
    assert store.has_key("anthropic") is False
    assert store.has_key("anthropic") is False
    assert memory.reads == 1  # the miss is cached


def test_list_covers_builtin_named_and_set_providers(store: KeyStore) -> None:
    store.set("my-llm", "tiny")
    infos = store.list(["openrouter"])
    assert [i.provider for i in infos] == ["anthropic", "google", "my-llm", "openai", "openrouter"]
    assert infos[2] == KeyInfo("my-llm", "keyring", "••••")
    assert infos[0] == KeyInfo("anthropic", None, None)
    assert [i.provider for i in KeyStore(providers=["zeta"], backend=store._backend).list()][-1] == "zeta"


# -- validation, masking, leaks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        ("sk-proj-abcdefghijklmnop1234", "sk-…1234"),
        ("123456789012", "123…9012"),
        ("12345678901", "••••"),
        ("", "••••"),
    ],
)
def test_mask_key(key: str, masked: str) -> None:
    assert mask_key(key) == masked


@pytest.mark.parametrize("name", ["OpenAI", "open ai", "", "../etc", "ollama:host"])
def test_provider_names_are_slugs(store: KeyStore, name: str) -> None:
    with pytest.raises(InvalidProviderName, match="lowercase letters") as err:
        store.get(name)
    assert isinstance(err.value, UnknownNameError)


@pytest.mark.parametrize("swapped", [OPENAI_KEY, OPENAI_KEY.lower(), ANTHROPIC_KEY.lower()])
def test_a_key_in_the_providers_place_is_refused_unquoted(
    store: KeyStore, memory: MemoryBackend, caplog: pytest.LogCaptureFixture, swapped: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidProviderName) as err:
        store.set(swapped, "openai")
    assert swapped not in str(err.value) and swapped not in caplog.text
    assert memory.items == {}


@pytest.mark.parametrize("bad", ["", "   \n", "sk-abc def-ghijklmnop", "sk-abc\x00defghijklmnop"])
def test_set_rejects_empty_or_malformed_keys(store: KeyStore, memory: MemoryBackend, bad: str) -> None:
    with pytest.raises(InvalidKeyError) as err:
        store.set("openai", bad)
    assert bad.strip() not in str(err.value) or not bad.strip()
    assert memory.items == {}


def test_keys_never_appear_in_repr_or_logs(store: KeyStore, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store.set("openai", OPENAI_KEY)
    store.get("openai")
    infos = store.list()
    store.delete("openai")
    for text in (repr(store), str(store), repr(infos), str(infos), caplog.text):
        assert OPENAI_KEY not in text
        assert OPENAI_KEY[3:-4] not in text
    assert "openai" in caplog.text  # the operations are logged, by provider name only


def test_backend_failure_does_not_leak_the_key(store: KeyStore, memory: MemoryBackend) -> None:
    def echoing_failure(service: str, username: str, password: str) -> None:
        raise RuntimeError(f"cannot store {password!r} for {username}")

    memory.set_password = echoing_failure  # type: ignore[method-assign]
    with pytest.raises(KeyringUnavailable) as err:
        store.set("openai", OPENAI_KEY)
    assert OPENAI_KEY not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


# -- no keyring backend -----------------------------------------------------------------


def test_no_backend_explains_and_environment_still_works(
    no_keyring_backend: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = KeyStore()
    with pytest.raises(KeyringUnavailable) as err:
        store.set("openai", OPENAI_KEY)
    message = str(err.value)
    if sys.platform.startswith("linux"):
        assert "gnome-keyring" in message and "KWallet" in message and "dbus-run-session" in message
    assert "environment variables" in message
    assert OPENAI_KEY not in message
    with pytest.raises(KeyringUnavailable):
        store.delete("openai")
    assert store.available() is False
    with pytest.raises(KeyringUnavailable):
        store.ensure_available()

    assert store.get("openai") is None and store.has_key("openai") is False
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    assert store.get("openai") == OPENAI_KEY
    assert store.has_key("openai") is True
    assert KeyInfo("openai", "env:OPENAI_API_KEY", "sk-…1234") in store.list()


@pytest.mark.keyring
def test_session_bus_without_secret_service(bus_without_secret_service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore()
    with pytest.raises(KeyringUnavailable, match="no OS keyring"):
        store.set("anthropic", ANTHROPIC_KEY)
    assert store.available() is False
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    assert store.source("anthropic") == "env:ANTHROPIC_API_KEY"


def test_null_backend_is_refused_rather_than_losing_the_key() -> None:
    store = KeyStore(null.Keyring())  # type: ignore[no-untyped-call]
    with pytest.raises(KeyringUnavailable):
        store.set("openai", OPENAI_KEY)


def test_plaintext_backend_is_refused(memory: MemoryBackend) -> None:
    plaintext = type("PlaintextKeyring", (MemoryBackend,), {"__module__": "keyrings.alt.file"})()
    with pytest.raises(KeyringUnavailable, match="plain text"):
        KeyStore(plaintext).set("openai", OPENAI_KEY)
