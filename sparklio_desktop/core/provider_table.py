"""The provider table: one row per provider with every fact about it that is not its wire format.

Why one table: the key variables, the base-URL variable, the default host, whether a
provider's models run on this machine and what its client imports on its first request
were written in six places (the key index, the config, the key store, the ledger, the
app's warm-up, the live probe), and two of them disagreed about Ollama's default host.
Each of them reads its row here now; a new provider is one new row (plus its client
module in ``core/providers/``).

Why here and not in ``core/providers/``: the ledger reads which providers are local for
the spend summary, and the ledger and the providers are independent of each other
(pyproject.toml's import-linter contracts). This module imports only the standard
library, so any layer may read it, ``sparklio route`` included, for nothing.

A provider without a row is a user-added OpenAI-compatible endpoint named in the catalog
(``openrouter``): :func:`client_row` serves it with the ``openai_compatible`` row, and its
key is read from ``<NAME>_API_KEY`` (core/settings/key_index.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "COMPATIBLE",
    "KEYED_PROVIDERS",
    "LOCAL_PROVIDERS",
    "OLLAMA_DEFAULT_PORT",
    "ROWS",
    "ProviderRow",
    "base_url_from_env",
    "client_row",
    "secret_env_values",
]


@dataclass(frozen=True)
class ProviderRow:
    """What Sparklio knows about one provider, apart from how to talk to it."""

    name: str
    """The provider's name in the catalog (``ModelSpec.provider``) and the keyring."""
    client: str | None
    """The client class as ``"module:Class"``, imported on first use (core/providers/registry.py);
    ``None`` for a provider served in this process rather than through a client (Stable Diffusion)."""
    key_vars: tuple[str, ...] = ()
    """The environment variables its SDK reads the API key from, in the SDK's order."""
    needs_key: bool = False
    """Routing offers its models only when it has a key, and ``sparklio keys`` lists it."""
    base_url_var: str | None = None
    """The environment variable that points its SDK at another endpoint."""
    default_host: str | None = None
    """Where its SDK sends requests when no base URL is configured."""
    local: bool = False
    """Its models run on this machine and cost nothing per call."""
    sdk_modules: tuple[str, ...] = ()
    """What its client imports on its first request (the SDK, the SDK's lazily loaded
    resources, the HTTP stack under it), found by diffing ``sys.modules`` around a request;
    imported ahead of the first request by ``registry.import_sdk``."""


_CLIENTS = "sparklio_desktop.core.providers"
_HTTP_STACK = (
    "httpcore2",
    "httpcore2._async.connection_pool",
    "anyio._backends._asyncio",
    "anyio.streams.tls",
    "truststore",
    "jiter",
)
_OPENAI_MODULES = (
    f"{_CLIENTS}.openai_client",
    "openai",
    "openai.resources.chat.chat",
    "openai.resources.chat.completions.completions",
    "openai.pagination",
    "openai.lib.streaming.chat",
    *_HTTP_STACK,
)
OLLAMA_DEFAULT_PORT = 11434

# The name of the row that serves every provider without a row of its own.
COMPATIBLE = "openai_compatible"

_ROWS: dict[str, ProviderRow] = {
    row.name: row
    for row in (
        ProviderRow(
            "openai",
            f"{_CLIENTS}.openai_client:OpenAIClient",
            key_vars=("OPENAI_API_KEY",),
            needs_key=True,
            base_url_var="OPENAI_BASE_URL",
            default_host="https://api.openai.com",
            sdk_modules=_OPENAI_MODULES,
        ),
        # LM Studio, vLLM, llama.cpp server, OpenRouter: the OpenAI wire format at another base URL.
        # It never reads OPENAI_API_KEY (that would hand the user's OpenAI key to a third party).
        ProviderRow(
            COMPATIBLE,
            f"{_CLIENTS}.openai_client:OpenAICompatibleClient",
            base_url_var="OPENAI_BASE_URL",
            sdk_modules=_OPENAI_MODULES,
        ),
        ProviderRow(
            "anthropic",
            f"{_CLIENTS}.anthropic_client:AnthropicClient",
            key_vars=("ANTHROPIC_API_KEY",),
            needs_key=True,
            base_url_var="ANTHROPIC_BASE_URL",
            default_host="https://api.anthropic.com",
            sdk_modules=(
                f"{_CLIENTS}.anthropic_client",
                "anthropic",
                "anthropic.resources.messages",
                "anthropic.lib.streaming",
                *_HTTP_STACK,
            ),
        ),
        # Google's SDK prefers GEMINI_API_KEY and falls back to GOOGLE_API_KEY; so do we.
        ProviderRow(
            "google",
            f"{_CLIENTS}.gemini_client:GeminiClient",
            key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
            needs_key=True,
            base_url_var="GOOGLE_GEMINI_BASE_URL",
            default_host="https://generativelanguage.googleapis.com",
            sdk_modules=(f"{_CLIENTS}.gemini_client", "google.genai"),
        ),
        # A key only for a server behind an authenticating proxy (or ollama.com): never required.
        # The default host is the SDK's own (ollama._client._parse_host) and Ollama's listen address.
        ProviderRow(
            "ollama",
            f"{_CLIENTS}.ollama_client:OllamaClient",
            key_vars=("OLLAMA_API_KEY",),
            base_url_var="OLLAMA_HOST",
            default_host=f"http://127.0.0.1:{OLLAMA_DEFAULT_PORT}",
            local=True,
            sdk_modules=(
                f"{_CLIENTS}.ollama_client",
                "ollama",
                "sparklio_desktop.core.local.ollama_admin",
                "sparklio_desktop.core.local.sd.probe",
            ),
        ),
        # Stable Diffusion runs in this process (core/local/sd/); torch and diffusers load on the
        # GPU worker when the first image is asked for, not ahead of time.
        ProviderRow("diffusers", None, local=True),
    )
}
# Read-only for the code; readers look rows up when they need them, so a test that swaps a
# row in ``_ROWS`` sees every reader follow.
ROWS: Mapping[str, ProviderRow] = MappingProxyType(_ROWS)

# Providers with a key of their own: the key store lists them, routing needs their key.
KEYED_PROVIDERS: tuple[str, ...] = tuple(sorted(name for name, row in ROWS.items() if row.needs_key))
# Providers whose models run on this machine and cost nothing per call.
LOCAL_PROVIDERS: frozenset[str] = frozenset(name for name, row in ROWS.items() if row.local)


def client_row(provider: str) -> ProviderRow:
    """The row whose client serves ``provider``: its own, else the OpenAI-compatible one.

    Only providers with a client have one; a provider served in-process (``diffusers``)
    raises ``KeyError``."""
    row = ROWS.get(provider, ROWS[COMPATIBLE])
    if row.client is None:
        raise KeyError(provider)
    return row


def base_url_from_env(provider: str) -> str | None:
    """The endpoint ``provider``'s SDK would read from its base-URL variable; ``None`` if unset."""
    row = ROWS.get(provider)
    value = os.environ.get(row.base_url_var, "").strip() if row is not None and row.base_url_var else ""
    return value or None


def secret_env_values(provider: str) -> list[str]:
    """The keys in the environment that ``provider``'s SDK could read by itself: for
    redaction, since a call without an explicit key sends one of these."""
    row = ROWS.get(provider)
    return [value for name in (row.key_vars if row is not None else ()) if (value := os.environ.get(name, ""))]
