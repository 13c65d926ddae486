"""GeminiClient against the loopback Gemini API: the real google-genai SDK on the wire.

What Gemini has of its own: the request body, thinking tokens, inline images, embeddings,
image generation, safety refusals, Google's error details, one SDK client per key. The
checks every client passes are tests/providers/test_contract.py.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from sparklio_desktop.core.providers.base import (
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
    StreamBrokenError,
    TransientError,
)
from sparklio_desktop.core.providers.gemini_client import GeminiClient
from tests.fakes.gemini_server import (
    TINY_PNG,
    GeminiServer,
    StreamErrorFault,
    error_body,
)
from tests.fakes.loopback import Fault
from tests.providers.stream_contract import (
    collect,
    drive_client,
    expect_failure,
)

KEY = "test-secret-7f3a9c2e5b1d"  # not key-shaped: only the client's own redaction can hide it
MODEL = "gemini-2.5-flash"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: GeminiServer, model: str = MODEL, key: str | None = KEY) -> Endpoint:
    return Endpoint(provider="google", api_name=model, base_url=server.base_url, api_key=key)


def chat(server: GeminiServer, *messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(endpoint(server), messages or (Message("user", "Hi"),), **kw)


def drive(body: Callable[[GeminiClient], Awaitable[T]], http_client: httpx.AsyncClient | None = None) -> T:
    return drive_client(lambda: GeminiClient(http_client=http_client), body)


def failure(body: Callable[[GeminiClient], Awaitable[Any]]) -> ProviderError:
    return expect_failure(GeminiClient, body)


def stream_failure(request: ChatRequest) -> ProviderError:
    return failure(lambda client: collect(client, request))


# -- chat ---------------------------------------------------------------------------
def test_streams_text_then_exactly_one_usage(server: GeminiServer) -> None:
    server.reply_text = "Bonjour tout le monde"
    request = chat(
        server,
        Message("system", "Answer in French."),
        Message("user", "Hello"),
        Message("assistant", "Salut"),
        Message("user", "Again"),
        max_output_tokens=64,
        temperature=0.2,
    )
    events = drive(lambda client: collect(client, request))
    deltas = [e for e in events[:-1] if isinstance(e, TextDelta)]
    assert len(deltas) == len(events) - 1 == 4
    assert "".join(d.text for d in deltas) == "Bonjour tout le monde"
    assert events[-1] == Usage(input_tokens=11, output_tokens=6)
    sent = server.requests[-1]
    assert sent.method == "POST"
    assert f"models/{MODEL}:streamGenerateContent" in sent.path and "alt=sse" in sent.path
    assert sent.headers.get("x-goog-api-key") == KEY
    assert sent.body["systemInstruction"]["parts"] == [{"text": "Answer in French."}]
    assert [c["role"] for c in sent.body["contents"]] == ["user", "model", "user"]
    assert sent.body["generationConfig"]["maxOutputTokens"] == 64
    assert sent.body["generationConfig"]["temperature"] == 0.2


def test_thinking_tokens_count_as_output(server: GeminiServer) -> None:
    server.thoughts_tokens = 40
    events = drive(lambda client: collect(client, chat(server)))
    assert events[-1] == Usage(input_tokens=11, output_tokens=46, reasoning_tokens=40)


def test_cached_content_is_the_cached_part_of_the_prompt(server: GeminiServer) -> None:
    """``promptTokenCount`` includes the cached content; thoughts add to the candidates
    (genai-prices' Google extractor maps them the same way)."""
    server.prompt_tokens, server.cached_tokens, server.thoughts_tokens = 9_000, 8_192, 300
    events = drive(lambda client: collect(client, chat(server)))
    assert events[-1] == Usage(input_tokens=9_000, output_tokens=306, cache_read_tokens=8_192, reasoning_tokens=300)


def test_image_input_is_sent_inline(server: GeminiServer) -> None:
    image = ImageInput(data=b"\x89PNG fake bytes", mime_type="image/png")
    request = chat(server, Message("user", "What is this?", images=(image,)))
    drive(lambda client: collect(client, request))
    parts = server.requests[-1].body["contents"][0]["parts"]
    assert parts[0] == {"text": "What is this?"}
    # The names as google-genai sends them (the API reads camelCase and snake_case alike).
    inline = parts[1]["inlineData"]
    assert inline.keys() == {"data", "mime_type"} and inline["mime_type"] == "image/png"
    assert base64.b64decode(inline["data"]) == image.data


# -- embeddings, images, auth check ------------------------------------------------------
def test_embeddings_one_vector_per_input_in_order(server: GeminiServer) -> None:
    request = EmbedRequest(endpoint(server, "gemini-embedding-001"), ("alpha", "beta", "gamma"))
    result = drive(lambda client: client.embed(request))
    assert result.vectors == tuple(tuple(GeminiServer.embedding_for(t, 8)) for t in ("alpha", "beta", "gamma"))
    assert result.input_tokens is None  # the Gemini API does not report it
    assert server.requests[-1].path.endswith("models/gemini-embedding-001:batchEmbedContents")


def test_nano_banana_generates_image_bytes(server: GeminiServer) -> None:
    request = ImageRequest(endpoint(server, "NanoBanana"), "a red bicycle", size="1792x1024", n=2)
    result = drive(lambda client: client.generate_image(request))
    assert result.images == (TINY_PNG, TINY_PNG)
    assert result.size == "1792x1024"
    assert len(server.requests) == 2
    sent = server.requests[-1]
    assert "models/gemini-2.5-flash-image:generateContent" in sent.path
    assert "IMAGE" in sent.body["generationConfig"]["responseModalities"]
    assert sent.body["generationConfig"]["imageConfig"]["aspectRatio"] == "16:9"


def test_image_refused_for_safety(server: GeminiServer) -> None:
    server.finish_reason = "IMAGE_SAFETY"
    err = failure(lambda client: client.generate_image(ImageRequest(endpoint(server, "gemini-2.5-flash-image"), "x")))
    assert type(err) is InvalidRequestError and "IMAGE_SAFETY" in err.message


def test_invalid_key_is_auth_error(server: GeminiServer) -> None:
    server.api_key = "the-right-key-123"
    err = failure(lambda client: client.check_auth(endpoint(server)))
    assert type(err) is AuthError and err.status == 400 and "API key not valid" in err.message


def test_unknown_model_is_model_not_found(server: GeminiServer) -> None:
    server.models = (MODEL,)
    err = stream_failure(ChatRequest(endpoint(server, "gemini-9-ultra"), (Message("user", "Hi"),)))
    assert type(err) is ModelNotFoundError and err.status == 404 and "gemini-9-ultra" in err.message


# -- faults -----------------------------------------------------------------------------
# What every provider shares (statuses, Retry-After headers, a prompt too long, broken
# streams, timeouts, echoed keys, closing) is tests/providers/test_contract.py; these are
# Google's own: a RetryInfo delay in the body, an expired key reported as a 400, an error
# event's code as the error's status.
RETRY_INFO = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
    }
}


def test_retry_info_in_the_body_is_the_retry_after(server: GeminiServer) -> None:
    server.script(Fault(status=429, body=RETRY_INFO))
    err = stream_failure(chat(server))
    assert type(err) is TransientError and (err.status, err.retry_after_s) == (429, 12.0)
    assert len(server.requests) == 1  # the SDK did not retry by itself


def test_an_expired_key_is_an_auth_error(server: GeminiServer) -> None:
    server.script(Fault(status=400, body=error_body(400, "API key expired.", reason="API_KEY_EXPIRED")))
    err = stream_failure(chat(server))
    assert type(err) is AuthError and (err.provider, err.model, err.status) == ("google", MODEL, 400)


def test_error_event_inside_the_stream(server: GeminiServer) -> None:
    server.script(
        StreamErrorFault(after=2, code=503, error_type="UNAVAILABLE", message="overloaded"),
        StreamErrorFault(after=0, code=429, error_type="RESOURCE_EXHAUSTED", message="quota"),
    )
    broken = stream_failure(chat(server))
    assert (
        type(broken) is StreamBrokenError and "overloaded" in broken.message and broken.text_received == "Hello from "
    )
    early = stream_failure(chat(server))
    assert type(early) is TransientError and early.status == 429


# -- safety -----------------------------------------------------------------------------
def test_blocked_prompt_is_invalid_request(server: GeminiServer) -> None:
    server.block_reason = "SAFETY"
    err = stream_failure(chat(server))
    assert type(err) is InvalidRequestError and "blocked" in err.message and "SAFETY" in err.message


def test_safety_finish_reason_is_invalid_request(server: GeminiServer) -> None:
    server.finish_reason = "SAFETY"
    err = stream_failure(chat(server))
    assert type(err) is InvalidRequestError and "SAFETY" in err.message


# -- wiring -----------------------------------------------------------------------------
def test_one_sdk_client_per_base_url_and_key(server: GeminiServer) -> None:
    async def body(client: GeminiClient) -> int:
        await client.check_auth(endpoint(server))
        await client.check_auth(endpoint(server))
        await client.check_auth(endpoint(server, key="another-key-456"))
        return len(client._sdk_clients)

    assert drive(body) == 2


def test_request_the_sdk_refuses_to_build_is_invalid_not_transient(server: GeminiServer) -> None:
    err = stream_failure(chat(server, Message("system", "Only a system prompt, no turn to answer.")))
    assert type(err) is InvalidRequestError and server.requests == []
