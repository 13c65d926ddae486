"""Provider clients: one module per provider on one shared skeleton, one error hierarchy.

Each client supplies only its SDK's parts to the call and error-mapping skeleton in
``_client_base``; the facts about a provider (key variables, hosts, SDK modules) are its
row in core/provider_table.py, which ``registry`` reads to build clients. SDKs are
imported only when a client is first used, so routing and the GUI's start-up never pay
for them.
"""

from sparklio_desktop.core.providers.base import (
    IMAGE_MIME_TYPES,
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
    image_mime_type,
    parse_retry_after,
)
from sparklio_desktop.core.providers.registry import create_client, import_sdk

__all__ = [
    "IMAGE_MIME_TYPES",
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
    "image_mime_type",
    "import_sdk",
    "parse_retry_after",
]
