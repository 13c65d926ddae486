"""AnthropicClient against a loopback server speaking Anthropic's Messages API.

The SDK speaks ``httpx2``; the client bridges an injected ``httpx`` client. The checks
every client passes run over all three ways of getting a connection pool in
tests/providers/test_contract.py; here is what Anthropic has of its own: the request body
(system prompts joined, no sampling parameters), image blocks, no images or embeddings,
its statuses and error types.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import httpx2
import pytest

from sparklio_desktop.core.providers.anthropic_client import AnthropicClient
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
    ProviderError,
    TransientError,
    UnsupportedError,
)
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault

KEY = "sk-ant-test-0123456789abcdefghij"
MODEL = "claude-3-5-sonnet-latest"
HTTP_MODES = ["httpx", "httpx2", "own"]
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: AnthropicServer, key: str | None = KEY) -> Endpoint:
    return Endpoint(provider="anthropic", api_name=MODEL, base_url=server.base_url, api_key=key)


def chat(ep: Endpoint, text: str = "say hello", **kw: Any) -> ChatRequest:
    return ChatRequest(endpoint=ep, messages=(Message("user", text),), **kw)


def run(body: Callable[[AnthropicClient], Awaitable[T]], mode: str = "httpx") -> T:
    """Run ``body`` with a fresh client on a fresh loop; ``mode`` picks the injected pool."""

    async def main() -> T:
        async with contextlib.AsyncExitStack() as stack:
            http: Any = None
            if mode == "httpx":
                http = await stack.enter_async_context(httpx.AsyncClient())
            elif mode == "httpx2":
                http = await stack.enter_async_context(httpx2.AsyncClient())
            client = AnthropicClient(http)
            try:
                return await body(client)
            finally:
                await client.aclose()
        raise AssertionError("unreachable")

    return asyncio.run(main())


async def collect(client: AnthropicClient, request: ChatRequest) -> list[ChatEvent]:
    return [event async for event in client.stream_chat(request)]


def stream_error(server: AnthropicServer, *faults: Fault, mode: str = "httpx", **kw: Any) -> ProviderError:
    server.script(*faults)

    async def body(client: AnthropicClient) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await collect(client, chat(endpoint(server), **kw))
        return info.value

    return run(body, mode)


def text_of(events: list[ChatEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


# -- chat ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", HTTP_MODES)
def test_streams_text_then_usage_from_message_start_and_delta(server: AnthropicServer, mode: str) -> None:
    server.reply_text = "Claude says hello back."
    server.usage = (12, 34)
    request = ChatRequest(
        endpoint(server),
        (Message("system", "be brief"), Message("system", "be kind"), Message("user", "hi")),
        temperature=0.5,
    )
    events = run(lambda c: collect(c, request), mode)
    assert text_of(events) == server.reply_text and len(events) > 2
    assert events[-1] == Usage(input_tokens=12, output_tokens=34)
    assert sum(isinstance(e, Usage) for e in events) == 1
    sent = server.requests[-1].body
    assert sent["system"] == "be brief\n\nbe kind"
    assert sent["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["max_tokens"] == 1024 and sent["model"] == MODEL and sent["stream"] is True
    assert "temperature" not in sent  # the Messages API no longer takes sampling parameters
    auth = {k.lower(): v for k, v in server.requests[-1].headers.items()}
    assert auth.get("authorization") == f"Bearer {KEY}"  # how anthropic 2.x sends an API key


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_cache_reads_and_writes_are_added_to_the_input(server: AnthropicServer, mode: str) -> None:
    """Anthropic's input_tokens leaves the cached tokens out; Sparklio's input counts all of it."""
    server.usage = (50, 34)
    server.cache_read_tokens, server.cache_write_tokens = 3_000, 1_200
    events = run(lambda c: collect(c, ChatRequest(endpoint(server), (Message("user", "hi"),))), mode)
    assert events[-1] == Usage(input_tokens=4_250, output_tokens=34, cache_read_tokens=3_000, cache_write_tokens=1_200)


def test_images_go_out_as_base64_blocks_and_max_tokens_is_passed(server: AnthropicServer) -> None:
    picture = b"\xff\xd8 a jpeg, supposedly"
    message = Message("user", "describe", (ImageInput(picture, "image/jpeg"),))
    run(lambda c: collect(c, ChatRequest(endpoint(server), (message,), max_output_tokens=300)))
    sent = server.requests[-1].body
    image, text = sent["messages"][0]["content"]
    assert image["type"] == "image" and image["source"]["type"] == "base64"
    assert image["source"]["media_type"] == "image/jpeg" and base64.b64decode(image["source"]["data"]) == picture
    assert text == {"type": "text", "text": "describe"}
    assert sent["max_tokens"] == 300 and "system" not in sent


# -- unsupported kinds -------------------------------------------------------------
def test_images_and_embeddings_are_unsupported(server: AnthropicServer) -> None:
    ep = endpoint(server)
    with pytest.raises(UnsupportedError) as image:
        run(lambda c: c.generate_image(ImageRequest(ep, "a cat")))
    with pytest.raises(UnsupportedError):
        run(lambda c: c.embed(EmbedRequest(ep, ("text",))))
    assert image.value.provider == "anthropic" and server.requests == []


# -- failures -------------------------------------------------------------------------
# What every provider shares (statuses, Retry-After, a prompt too long, broken streams,
# timeouts, echoed keys, closing, over each of the three pools) is
# tests/providers/test_contract.py; these are Anthropic's own statuses and error types.
@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (Fault(status=529, headers={"Retry-After": "4"}), TransientError, 4.0),
        (Fault(status=429, headers={"retry-after-ms": "250"}), TransientError, 0.25),
        (Fault(status=409), TransientError, None),
        (Fault(status=413), InvalidRequestError, None),
        (Fault(status=400, error_type="authentication_error"), AuthError, None),
    ],
)
def test_http_failures_map_to_error_classes(
    server: AnthropicServer, fault: Fault, expected: type[ProviderError], retry_after: float | None
) -> None:
    error = stream_error(server, fault)
    assert type(error) is expected
    assert (error.status, error.provider, error.model) == (fault.status, "anthropic", MODEL)
    if isinstance(error, TransientError):
        assert error.retry_after_s == retry_after
