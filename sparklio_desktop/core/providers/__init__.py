"""Provider clients: one module per provider, one registry, one error hierarchy.

SDKs are imported only when a client is first created, so routing and the GUI's
start-up never pay for them.
"""

from sparklio_desktop.core.providers.base import (
    ChatEvent,
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Endpoint,
    ImageInput,
    ImageRequest,
    ImageResult,
    Message,
    ProviderClient,
    TextDelta,
    Usage,
    parse_retry_after,
)
from sparklio_desktop.core.providers.registry import PROVIDERS, create_client

__all__ = [
    "PROVIDERS",
    "ChatEvent",
    "ChatRequest",
    "EmbedRequest",
    "EmbedResult",
    "Endpoint",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "Message",
    "ProviderClient",
    "TextDelta",
    "Usage",
    "create_client",
    "parse_retry_after",
]
