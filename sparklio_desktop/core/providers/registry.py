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

# provider -> what its client imports on its first request (SDK, its lazily loaded
# resources, the HTTP stack under it); found by diffing sys.modules around a request.
_HTTP_STACK = ("httpcore2", "httpcore2._async.connection_pool", "anyio._backends._asyncio", "anyio.streams.tls",
               "truststore", "jiter")
SDK_MODULES: dict[str, tuple[str, ...]] = {
    "openai": ("sparklio_desktop.core.providers.openai_client", "openai", "openai.resources.chat.chat",
               "openai.resources.chat.completions.completions", "openai.pagination",
               "openai.lib.streaming.chat", *_HTTP_STACK),
    "anthropic": ("sparklio_desktop.core.providers.anthropic_client", "anthropic", "anthropic.resources.messages",
                  "anthropic.lib.streaming", *_HTTP_STACK),
    "google": ("sparklio_desktop.core.providers.gemini_client", "google.genai"),
    "ollama": ("sparklio_desktop.core.providers.ollama_client", "ollama", "sparklio_desktop.core.local.ollama_admin",
               "sparklio_desktop.core.local.sd.probe"),
}


def import_sdk(provider: str) -> None:
    """Import now what ``provider``'s client imports on its first request.

    Why: an SDK import takes a second or two and blocks the thread it runs on. The app
    does it in a worker after the window opens; the dispatcher does it when it builds a
    client, so that the import never counts against the first-token limit of a call
    (docs/dispatch.md, "Silent streams"). A missing optional part is left for the
    client to report when it is used.
    """
    for name in SDK_MODULES.get(provider, ()):
        try:
            importlib.import_module(name)
        except ImportError:
            continue


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
