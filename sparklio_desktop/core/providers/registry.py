"""The one place that knows which client class serves which provider.

Entries are import paths, resolved on first use, so that importing the registry
(as the router does to list providers) costs nothing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import UnknownNameError

if TYPE_CHECKING:
    import httpx

    from sparklio_desktop.core.providers.base import ProviderClient

# provider name -> "module:Class". ``openai_compatible`` covers LM Studio, vLLM,
# llama.cpp server and OpenRouter: the OpenAI wire format at another base URL.
PROVIDERS: dict[str, str] = {
    "openai": "sparklio_desktop.core.providers.openai_client:OpenAIClient",
    "openai_compatible": "sparklio_desktop.core.providers.openai_client:OpenAICompatibleClient",
    "anthropic": "sparklio_desktop.core.providers.anthropic_client:AnthropicClient",
    "google": "sparklio_desktop.core.providers.gemini_client:GeminiClient",
    "ollama": "sparklio_desktop.core.providers.ollama_client:OllamaClient",
}

# Providers whose models run on this machine and cost nothing per call.
LOCAL_PROVIDERS = frozenset({"ollama", "diffusers"})


def create_client(provider: str, http_client: httpx.AsyncClient | None = None) -> ProviderClient:
    """Build the client for ``provider``, sharing ``http_client`` when given."""
    try:
        target = PROVIDERS[provider]
    except KeyError:
        raise UnknownNameError("provider", provider, PROVIDERS) from None
    module_name, _, class_name = target.partition(":")
    cls: Callable[..., ProviderClient] = getattr(importlib.import_module(module_name), class_name)
    return cls(http_client=http_client)
