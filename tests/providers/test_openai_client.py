"""OpenAIClient and OpenAICompatibleClient against a loopback server speaking OpenAI's wire format.

What OpenAI has of its own: the request body, images and embeddings, its error codes, and
OpenAI-compatible servers. The checks every client passes are tests/providers/test_contract.py.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from sparklio_desktop.core.providers.base import (
    ChatEvent,
    ChatRequest,
    EmbedRequest,
    Endpoint,
    ImageInput,
    ImageRequest,
    Message,
    TextDelta,
    Usage,
)
from sparklio_desktop.core.providers.errors import (
    AuthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    TransientError,
)
from sparklio_desktop.core.providers.openai_client import (
    OpenAIClient,
    OpenAICompatibleClient,
)
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

KEY = "sk-test-0123456789abcdefghijklmnop"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: OpenAIServer, key: str | None = KEY, model: str = "gpt-4o") -> Endpoint:
    return Endpoint(provider="openai", api_name=model, base_url=server.api_url, api_key=key)


def chat(ep: Endpoint, text: str = "say hello", **kw: Any) -> ChatRequest:
    return ChatRequest(endpoint=ep, messages=(Message("user", text),), **kw)


def run(body: Callable[[OpenAIClient], Awaitable[T]], cls: type[OpenAIClient] = OpenAIClient) -> T:
    """Run ``body`` with a fresh client on a fresh loop, closing everything afterwards."""

    async def main() -> T:
        async with httpx.AsyncClient() as http:
            client = cls(http)
            try:
                return await body(client)
            finally:
                await client.aclose()

    return asyncio.run(main())


async def collect(client: OpenAIClient, request: ChatRequest) -> list[ChatEvent]:
    return [event async for event in client.stream_chat(request)]


def stream_error(server: OpenAIServer, *faults: Fault, **kw: Any) -> ProviderError:
    """Script ``faults``, stream once, and return the error the client raised."""
    server.script(*faults)

    async def body(client: OpenAIClient) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await collect(client, chat(endpoint(server), **kw))
        return info.value

    return run(body)


def header(server: OpenAIServer, name: str, index: int = -1) -> str | None:
    headers = {k.lower(): v for k, v in server.requests[index].headers.items()}
    return headers.get(name.lower())


# -- chat ---------------------------------------------------------------------
def test_streams_text_then_one_usage_with_provider_counts(server: OpenAIServer) -> None:
    server.reply_text = "The quick brown fox jumps."
    server.usage = (21, 9)
    request = ChatRequest(
        endpoint(server), (Message("system", "be brief"), Message("user", "hi")), max_output_tokens=50, temperature=0.2
    )
    events = run(lambda c: collect(c, request))
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) > 2
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == server.reply_text
    assert events[-1] == Usage(input_tokens=21, output_tokens=9)
    sent = server.requests[-1].body
    assert sent["model"] == "gpt-4o" and sent["stream"] is True
    assert sent["stream_options"] == {"include_usage": True}
    assert sent["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert sent["max_completion_tokens"] == 50 and sent["temperature"] == 0.2
    assert header(server, "authorization") == f"Bearer {KEY}"


def test_cached_and_reasoning_tokens_are_reported_as_parts_of_the_counts(server: OpenAIServer) -> None:
    server.usage = (5_000, 900)
    server.cached_tokens, server.reasoning_tokens = 4_096, 640
    events = run(lambda c: collect(c, ChatRequest(endpoint(server), (Message("user", "hi"),))))
    assert events[-1] == Usage(input_tokens=5_000, output_tokens=900, cache_read_tokens=4_096, reasoning_tokens=640)


def test_images_go_out_as_base64_data_url_parts(server: OpenAIServer) -> None:
    picture = b"\x89PNG fake bytes"
    request = ChatRequest(endpoint(server), (Message("user", "what is this?", (ImageInput(picture, "image/jpeg"),)),))
    run(lambda c: collect(c, request))
    content = server.requests[-1].body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    url = content[1]["image_url"]["url"]
    assert content[1]["type"] == "image_url" and url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == picture


# -- images, embeddings -------------------------------------------------------------
def test_dalle_returns_decoded_image_bytes(server: OpenAIServer) -> None:
    server.image_bytes = b"not really a png"
    request = ImageRequest(endpoint(server, model="dall-e-3"), "a red bicycle", size="1024x1792")
    result = run(lambda c: c.generate_image(request))
    assert result.images == (b"not really a png",)
    assert result.size == "1024x1792" and result.revised_prompt == "a revised prompt"
    sent = server.requests[-1].body
    assert sent["response_format"] == "b64_json" and sent["prompt"] == "a red bicycle" and sent["model"] == "dall-e-3"


def test_embeddings_return_vectors_and_prompt_tokens(server: OpenAIServer) -> None:
    server.embedding_dim = 3
    request = EmbedRequest(endpoint(server, model="text-embedding-3-small"), ("one two three", "four"))
    result = run(lambda c: c.embed(request))
    assert result.vectors == ((1.3, 1.4, 1.5), (0.4, 0.5, 0.6))
    assert result.input_tokens == 4
    assert server.requests[-1].body["input"] == ["one two three", "four"]


# -- failures -------------------------------------------------------------------------
# What every provider shares (statuses, Retry-After, a prompt too long, broken streams,
# timeouts, echoed keys, closing) is tests/providers/test_contract.py; these are OpenAI's own
# error codes and statuses.
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (Fault(status=409), TransientError),
        (Fault(status=401, error_type="invalid_api_key"), AuthError),
        (Fault(status=429, error_type="insufficient_quota"), AuthError),
        (Fault(status=404, error_type="model_not_found"), ModelNotFoundError),
        (Fault(status=422), InvalidRequestError),
    ],
)
def test_http_failures_map_to_error_classes(server: OpenAIServer, fault: Fault, expected: type[ProviderError]) -> None:
    error = stream_error(server, fault)
    assert type(error) is expected
    assert (error.status, error.provider, error.model) == (fault.status, "openai", "gpt-4o")


def test_content_policy_is_invalid_request_with_providers_message(server: OpenAIServer) -> None:
    message = "Your request was rejected as a result of our safety system."
    error = stream_error(server, Fault(status=400, error_type="content_policy_violation", message=message))
    assert type(error) is InvalidRequestError and error.message == message and error.status == 400


# -- OpenAI-compatible ----------------------------------------------------------------
def test_compatible_server_without_key_or_usage(server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-openai-key-000000")
    server.report_usage = False
    ep = Endpoint(provider="openai_compatible", api_name="llama-3.1-8b", base_url=server.api_url, api_key=None)
    request = chat(ep, max_output_tokens=64)
    events = run(lambda c: collect(c, request), cls=OpenAICompatibleClient)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == server.reply_text
    assert events[-1] == Usage(input_tokens=None, output_tokens=None)
    assert header(server, "authorization") == "Bearer no-key"  # never the user's OpenAI key
    assert server.requests[-1].body["max_tokens"] == 64


def test_compatible_without_base_url_is_an_invalid_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    ep = Endpoint(provider="openai_compatible", api_name="local", base_url=None, api_key=None)
    with pytest.raises(InvalidRequestError) as info:
        run(lambda c: collect(c, chat(ep)), cls=OpenAICompatibleClient)
    assert info.value.provider == "openai_compatible" and "base URL" in info.value.message


def test_compatible_errors_name_their_provider(server: OpenAIServer) -> None:
    server.script(Fault(status=404, message="model 'nope' not loaded"))
    ep = Endpoint(provider="openai_compatible", api_name="nope", base_url=server.api_url)
    with pytest.raises(ModelNotFoundError) as info:
        run(lambda c: collect(c, chat(ep)), cls=OpenAICompatibleClient)
    assert (info.value.provider, info.value.model, info.value.message) == (
        "openai_compatible",
        "nope",
        "model 'nope' not loaded",
    )
