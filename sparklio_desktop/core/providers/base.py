"""The contract every provider client meets, and the values that cross it.

A provider client turns a :class:`ChatRequest` into a stream of :class:`TextDelta`
and one final :class:`Usage`; it maps every failure to a class in
:mod:`sparklio_desktop.core.providers.errors`. It never retries by itself (the SDKs'
own retries are switched off): the dispatcher applies the policy's retry rules.
Clients take an injected ``httpx.AsyncClient`` so tests can point them at loopback
servers and the app can share one connection pool.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from sparklio_desktop.core.structured_output import JsonOutput

Role = Literal["system", "user", "assistant"]

# The image files a prompt may carry, by suffix, and the MIME type each is sent as: what
# ``sparklio run --image``, the composer's attach button and a drop on its editor accept.
IMAGE_MIME_TYPES: Mapping[str, str] = MappingProxyType(
    {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".webp": "image/webp",
        ".gif": "image/gif",
    }
)


def image_mime_type(path: str | PurePath) -> str | None:
    """The MIME type an image file is sent as, from its suffix; ``None``: not an image we send."""
    return IMAGE_MIME_TYPES.get(PurePath(path).suffix.lower())


@dataclass(frozen=True)
class ImageInput:
    """An image attached to a message (image analysis)."""

    data: bytes = field(repr=False)
    mime_type: str = "image/png"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str
    images: tuple[ImageInput, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to call: the provider, the API's model name, base URL and key."""

    provider: str
    api_name: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ChatRequest:
    endpoint: Endpoint
    messages: tuple[Message, ...]
    max_output_tokens: int | None = None
    temperature: float | None = None
    timeout_s: float = 60.0
    # Ask for one JSON object following a schema, in the provider's own structured-output
    # mode (OpenAI response_format, Gemini responseSchema, Anthropic a forced tool call,
    # Ollama format); the answer's text is then that object's JSON.
    json_output: JsonOutput | None = None


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer as it streams in."""

    text: str


@dataclass(frozen=True)
class Usage:
    """What the provider reported it used; ``None`` where it reported nothing.

    genai-prices' convention, whatever the provider's own: ``input_tokens`` is ALL input,
    cache reads and writes included (Anthropic reports them beside its ``input_tokens``:
    the client adds them), ``output_tokens`` ALL output, reasoning included (Gemini
    reports thoughts beside its candidates: the client adds them, as genai-prices'
    Google extractor does). The parts are each billed at their own rate
    (core/pricing.py).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


ChatEvent = TextDelta | Usage


@dataclass(frozen=True)
class ImageRequest:
    endpoint: Endpoint
    prompt: str
    size: str = "1024x1024"
    n: int = 1
    timeout_s: float = 120.0


@dataclass(frozen=True)
class ImageResult:
    images: tuple[bytes, ...] = field(repr=False)
    size: str
    revised_prompt: str | None = None


@dataclass(frozen=True)
class EmbedRequest:
    endpoint: Endpoint
    inputs: tuple[str, ...]
    timeout_s: float = 30.0


@dataclass(frozen=True)
class EmbedResult:
    vectors: tuple[tuple[float, ...], ...] = field(repr=False)
    input_tokens: int | None = None


@runtime_checkable
class ProviderClient(Protocol):
    """One provider's async client. Unsupported kinds raise ``UnsupportedError``."""

    provider: str

    def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Yield ``TextDelta`` as text arrives, then exactly one ``Usage``."""
        ...

    async def generate_image(self, request: ImageRequest) -> ImageResult: ...

    async def embed(self, request: EmbedRequest) -> EmbedResult: ...

    async def check_auth(self, endpoint: Endpoint) -> None:
        """The cheapest authenticated call (list models); raises on failure."""
        ...

    async def aclose(self) -> None: ...


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asked us to wait, from ``retry-after-ms`` or ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date. Returns ``None`` when
    neither header is present or parseable, and never a negative number.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)
