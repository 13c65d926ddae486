"""OpenAIClient and OpenAICompatibleClient against a loopback server speaking OpenAI's wire format."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import email.utils
import subprocess
import sys
import time
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
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    StreamBrokenError,
    TransientError,
)
from sparklio_desktop.core.providers.openai_client import (
    OpenAIClient,
    OpenAICompatibleClient,
)
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer, openai_error

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


def run(body: Callable[[OpenAIClient], Awaitable[T]], cls: type[OpenAIClient] = OpenAIClient,
        inject: bool = True) -> T:
    """Run ``body`` with a fresh client on a fresh loop, closing everything afterwards."""

    async def main() -> T:
        async with httpx.AsyncClient() as http:
            client = cls(http if inject else None)
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
    request = ChatRequest(endpoint(server), (Message("system", "be brief"), Message("user", "hi")),
                          max_output_tokens=50, temperature=0.2)
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


def test_images_go_out_as_base64_data_url_parts(server: OpenAIServer) -> None:
    picture = b"\x89PNG fake bytes"
    request = ChatRequest(endpoint(server), (Message("user", "what is this?", (ImageInput(picture, "image/jpeg"),)),))
    run(lambda c: collect(c, request))
    content = server.requests[-1].body["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "what is this?"}
    url = content[1]["image_url"]["url"]
    assert content[1]["type"] == "image_url" and url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == picture


def test_client_of_its_own_works_and_honours_openai_base_url(server: OpenAIServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.api_url)
    ep = Endpoint(provider="openai", api_name="gpt-4o", base_url=None, api_key=KEY)
    events = run(lambda c: collect(c, chat(ep)), inject=False)
    assert events[-1] == Usage(input_tokens=2, output_tokens=6)
    assert server.requests[-1].path == "/v1/chat/completions"


def test_sdk_clients_are_kept_apart_per_key(server: OpenAIServer) -> None:
    async def body(client: OpenAIClient) -> None:
        await collect(client, chat(endpoint(server, key="sk-first-key-000000000000")))
        await collect(client, chat(endpoint(server, key="sk-second-key-11111111111")))

    run(body)
    assert header(server, "authorization", 0) == "Bearer sk-first-key-000000000000"
    assert header(server, "authorization", 1) == "Bearer sk-second-key-11111111111"


# -- images, embeddings, auth -------------------------------------------------------
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


def test_check_auth_lists_models_and_maps_401(server: OpenAIServer) -> None:
    run(lambda c: c.check_auth(endpoint(server)))
    assert (server.requests[-1].method, server.requests[-1].path) == ("GET", "/v1/models")
    server.script(Fault(status=401, error_type="invalid_api_key", message="Incorrect API key provided"))
    with pytest.raises(AuthError) as info:
        run(lambda c: c.check_auth(endpoint(server)))
    assert info.value.status == 401 and info.value.message == "Incorrect API key provided"


def test_no_key_anywhere_is_an_auth_error(server: OpenAIServer) -> None:
    with pytest.raises(AuthError) as info:  # conftest clears OPENAI_API_KEY
        run(lambda c: collect(c, chat(endpoint(server, key=None))))
    assert info.value.provider == "openai" and server.requests == []


# -- failures -------------------------------------------------------------------------
HTTP_DATE_IN_30_S = "<an HTTP date 30 s ahead, made when the test runs>"


def dated(fault: Fault) -> Fault:
    """Fill in the HTTP-date placeholder now, not at collection time."""
    if fault.headers.get("Retry-After") != HTTP_DATE_IN_30_S:
        return fault
    return dataclasses.replace(fault, headers={"Retry-After": email.utils.formatdate(time.time() + 30, usegmt=True)})


@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (Fault(status=429, headers={"Retry-After": "7"}), TransientError, 7.0),
        (Fault(status=429, headers={"Retry-After": HTTP_DATE_IN_30_S}), TransientError, 30.0),
        (Fault(status=503, headers={"retry-after-ms": "1500"}), TransientError, 1.5),
        (Fault(status=500), TransientError, None),
        (Fault(status=408), TransientError, None),
        (Fault(status=409), TransientError, None),
        (Fault(status=401, error_type="invalid_api_key"), AuthError, None),
        (Fault(status=403), AuthError, None),
        (Fault(status=429, error_type="insufficient_quota"), AuthError, None),
        (Fault(status=404, error_type="model_not_found"), ModelNotFoundError, None),
        (Fault(status=400, error_type="context_length_exceeded"), ContextLengthError, None),
        (Fault(status=422), InvalidRequestError, None),
    ],
)
def test_http_failures_map_to_error_classes(server: OpenAIServer, fault: Fault, expected: type[ProviderError],
                                            retry_after: float | None) -> None:
    error = stream_error(server, dated(fault))
    assert type(error) is expected
    assert (error.status, error.provider, error.model) == (fault.status, "openai", "gpt-4o")
    if isinstance(error, TransientError):
        if retry_after is None:
            assert error.retry_after_s is None
        else:
            assert error.retry_after_s == pytest.approx(retry_after, abs=2.0)


def test_content_policy_is_invalid_request_with_providers_message(server: OpenAIServer) -> None:
    message = "Your request was rejected as a result of our safety system."
    error = stream_error(server, Fault(status=400, error_type="content_policy_violation", message=message))
    assert type(error) is InvalidRequestError and error.message == message and error.status == 400


def test_stream_dropped_after_tokens_is_stream_broken_with_the_text(server: OpenAIServer) -> None:
    server.reply_text = "alpha beta gamma delta epsilon"
    error = stream_error(server, Fault(drop_after=3))  # role chunk, "alpha ", "beta "
    assert isinstance(error, StreamBrokenError)
    assert error.text_received == "alpha beta " and error.output_tokens >= 1


def test_malformed_chunk_after_tokens_is_stream_broken(server: OpenAIServer) -> None:
    server.reply_text = "alpha beta gamma"
    error = stream_error(server, Fault(malformed_after=2))
    assert isinstance(error, StreamBrokenError) and error.text_received == "alpha "


@pytest.mark.parametrize("fault", [Fault(drop_after=1), Fault(malformed_after=1), Fault(drop_after=0)])
def test_stream_failing_before_any_text_is_transient(server: OpenAIServer, fault: Fault) -> None:
    error = stream_error(server, fault)
    assert type(error) is TransientError


def test_error_event_inside_the_stream(server: OpenAIServer) -> None:
    server.reply_text = "alpha beta gamma"
    broken = stream_error(server, Fault(error_type="server_error", message="upstream died", drop_after=2))
    assert isinstance(broken, StreamBrokenError) and broken.text_received == "alpha "
    early = stream_error(server, Fault(error_type="server_error", message="upstream died"))
    assert type(early) is TransientError and early.message == "upstream died"


def test_response_slower_than_timeout_is_transient(server: OpenAIServer) -> None:
    started = time.monotonic()
    error = stream_error(server, Fault(delay_s=1.5), timeout_s=0.3)
    assert type(error) is TransientError and "timed out" in error.message
    assert time.monotonic() - started < 1.2


@pytest.mark.parametrize("status", [401, 400])
def test_key_echoed_by_the_provider_never_reaches_the_error(server: OpenAIServer, status: int) -> None:
    echo = f"Incorrect API key provided: {KEY}. Header was Authorization: Bearer {KEY}"
    error = stream_error(server, Fault(status=status, body=openai_error(echo, code="invalid_api_key")))
    assert isinstance(error, AuthError if status == 401 else ProviderError)
    for text in (str(error), error.message, repr(error), repr(error.args)):
        assert KEY not in text
    assert "[REDACTED]" in error.message
    assert error.__context__ is None and error.__cause__ is None  # the SDK's text stays behind


# -- cancellation ---------------------------------------------------------------------
def test_cancelling_a_slow_stream_closes_it_promptly(server: OpenAIServer) -> None:
    server.reply_text = " ".join(f"w{i}" for i in range(200))
    server.chunk_interval_s = 0.05

    async def body(client: OpenAIClient) -> float:
        received = asyncio.Event()

        async def consume() -> None:
            count = 0
            async for event in client.stream_chat(chat(endpoint(server))):
                count += isinstance(event, TextDelta)
                if count == 3:
                    received.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(received.wait(), 5)
        started = time.monotonic()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        elapsed = time.monotonic() - started
        # Asked while the shared pool is still open, so only our own close can explain it.
        assert await asyncio.to_thread(server.disconnected.wait, 1.0), "the server never saw the stream close"
        return elapsed

    assert run(body) < 0.1
    assert server.streams_completed == 0


def test_breaking_out_of_the_loop_closes_the_stream(server: OpenAIServer) -> None:
    server.reply_text = " ".join(f"w{i}" for i in range(200))
    server.chunk_interval_s = 0.05

    async def body(client: OpenAIClient) -> None:
        async with contextlib.aclosing(client.stream_chat(chat(endpoint(server)))) as events:
            async for _ in events:
                break
        assert await asyncio.to_thread(server.disconnected.wait, 1.0), "the server never saw the stream close"

    run(body)


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
    assert (info.value.provider, info.value.model, info.value.message) == ("openai_compatible", "nope",
                                                                          "model 'nope' not loaded")


def test_importing_the_module_does_not_import_the_sdk() -> None:
    code = ("import sys, sparklio_desktop.core.providers.openai_client as m; "
            "m.OpenAIClient(); sys.exit('openai' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
