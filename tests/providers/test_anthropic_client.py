"""AnthropicClient against a loopback server speaking Anthropic's Messages API.

The SDK speaks ``httpx2``; the client bridges an injected ``httpx`` client. Tests that
exercise the wire run over all three ways of getting a connection pool.
"""

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
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    StreamBrokenError,
    TransientError,
    UnsupportedError,
)
from tests.fakes.anthropic_server import AnthropicServer, anthropic_error
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
    request = ChatRequest(endpoint(server), (Message("system", "be brief"), Message("system", "be kind"),
                                             Message("user", "hi")), temperature=0.5)
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
    assert KEY in (auth.get("x-api-key"), auth.get("authorization", "").removeprefix("Bearer "))


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


def test_injected_httpx_client_carries_the_requests() -> None:
    seen: list[str] = []

    async def hook(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def main() -> list[ChatEvent]:
        with AnthropicServer() as fake:
            async with httpx.AsyncClient(event_hooks={"request": [hook]}) as http:
                client = AnthropicClient(http)
                events = await collect(client, chat(endpoint(fake)))  # type: ignore[arg-type]
                await client.aclose()
                assert not http.is_closed  # the owner's pool survives the client
                return events

    events = asyncio.run(main())
    assert seen == ["/v1/messages"] and isinstance(events[-1], Usage)


def test_honours_anthropic_base_url(server: AnthropicServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    ep = Endpoint(provider="anthropic", api_name=MODEL, base_url=None, api_key=KEY)
    events = run(lambda c: collect(c, chat(ep)), "own")
    assert text_of(events) == server.reply_text and server.requests[-1].path == "/v1/messages"


# -- unsupported kinds, auth ----------------------------------------------------------
def test_images_and_embeddings_are_unsupported(server: AnthropicServer) -> None:
    ep = endpoint(server)
    with pytest.raises(UnsupportedError) as image:
        run(lambda c: c.generate_image(ImageRequest(ep, "a cat")))
    with pytest.raises(UnsupportedError):
        run(lambda c: c.embed(EmbedRequest(ep, ("text",))))
    assert image.value.provider == "anthropic" and server.requests == []


def test_check_auth_lists_models_and_maps_401(server: AnthropicServer) -> None:
    run(lambda c: c.check_auth(endpoint(server)))
    assert (server.requests[-1].method, server.requests[-1].path) == ("GET", "/v1/models?limit=1")
    server.script(Fault(status=401, message="invalid x-api-key"))
    with pytest.raises(AuthError) as info:
        run(lambda c: c.check_auth(endpoint(server)))
    assert info.value.status == 401 and info.value.message == "invalid x-api-key"


def test_no_key_anywhere_is_an_auth_error(server: AnthropicServer, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Any) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no profile or config file to fall back on
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path))
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_PROFILE", "ANTHROPIC_IDENTITY_TOKEN",
                 "ANTHROPIC_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthError) as info:
        run(lambda c: collect(c, chat(endpoint(server, key=None))))
    assert info.value.provider == "anthropic" and server.requests == []


# -- failures -------------------------------------------------------------------------
HTTP_DATE_IN_30_S = "<an HTTP date 30 s ahead, made when the test runs>"


def dated(fault: Fault) -> Fault:
    if fault.headers.get("Retry-After") != HTTP_DATE_IN_30_S:
        return fault
    return dataclasses.replace(fault, headers={"Retry-After": email.utils.formatdate(time.time() + 30, usegmt=True)})


@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (Fault(status=529, headers={"Retry-After": "4"}), TransientError, 4.0),
        (Fault(status=429, headers={"Retry-After": HTTP_DATE_IN_30_S}), TransientError, 30.0),
        (Fault(status=429, headers={"retry-after-ms": "250"}), TransientError, 0.25),
        (Fault(status=500), TransientError, None),
        (Fault(status=503), TransientError, None),
        (Fault(status=408), TransientError, None),
        (Fault(status=409), TransientError, None),
        (Fault(status=401), AuthError, None),
        (Fault(status=403), AuthError, None),
        (Fault(status=404, message=f"model: {MODEL}"), ModelNotFoundError, None),
        (Fault(status=400, message="prompt is too long: 210000 tokens > 200000 maximum"), ContextLengthError, None),
        (Fault(status=400, message="messages: roles must alternate"), InvalidRequestError, None),
        (Fault(status=413), InvalidRequestError, None),
    ],
)
def test_http_failures_map_to_error_classes(server: AnthropicServer, fault: Fault, expected: type[ProviderError],
                                            retry_after: float | None) -> None:
    error = stream_error(server, dated(fault))
    assert type(error) is expected
    assert (error.status, error.provider, error.model) == (fault.status, "anthropic", MODEL)
    if isinstance(error, TransientError):
        if retry_after is None:
            assert error.retry_after_s is None
        else:
            assert error.retry_after_s == pytest.approx(retry_after, abs=2.0)


def test_content_refusal_is_invalid_request_with_providers_message(server: AnthropicServer) -> None:
    message = "Output blocked by content filtering policy"
    error = stream_error(server, Fault(status=400, message=message))
    assert type(error) is InvalidRequestError and error.message == message


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_stream_dropped_after_tokens_is_stream_broken_with_the_text(server: AnthropicServer, mode: str) -> None:
    server.reply_text = "alpha beta gamma delta"
    error = stream_error(server, Fault(drop_after=5), mode=mode)  # start, block start, ping, 2 deltas
    assert isinstance(error, StreamBrokenError)
    assert error.text_received == "alpha beta " and error.output_tokens >= 1


def test_malformed_event_after_tokens_is_stream_broken(server: AnthropicServer) -> None:
    server.reply_text = "alpha beta gamma"
    error = stream_error(server, Fault(malformed_after=4))
    assert isinstance(error, StreamBrokenError) and error.text_received == "alpha "


@pytest.mark.parametrize("fault", [Fault(drop_after=2), Fault(malformed_after=0), Fault(drop_after=0)])
def test_stream_failing_before_any_text_is_transient(server: AnthropicServer, fault: Fault) -> None:
    assert type(stream_error(server, fault)) is TransientError


def test_overloaded_error_event_inside_the_stream(server: AnthropicServer) -> None:
    server.reply_text = "alpha beta gamma"
    broken = stream_error(server, Fault(error_type="overloaded_error", message="Overloaded", drop_after=4))
    assert isinstance(broken, StreamBrokenError) and broken.text_received == "alpha "
    early = stream_error(server, Fault(error_type="overloaded_error", message="Overloaded", drop_after=1))
    assert type(early) is TransientError and early.message == "Overloaded"


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_response_slower_than_timeout_is_transient(server: AnthropicServer, mode: str) -> None:
    started = time.monotonic()
    error = stream_error(server, Fault(delay_s=1.5), mode=mode, timeout_s=0.3)
    assert type(error) is TransientError and "timed out" in error.message
    assert time.monotonic() - started < 1.2


def test_unreachable_server_is_transient() -> None:
    with AnthropicServer() as fake:
        dead = fake.base_url  # nothing listens there once the server stops
    ep = Endpoint(provider="anthropic", api_name=MODEL, base_url=dead, api_key=KEY)
    with pytest.raises(TransientError) as info:
        run(lambda c: collect(c, chat(ep)))
    assert "connection failed" in info.value.message


@pytest.mark.parametrize("status", [401, 400])
def test_key_echoed_by_the_provider_never_reaches_the_error(server: AnthropicServer, status: int) -> None:
    echo = f"invalid x-api-key: {KEY} (x-api-key: {KEY})"
    error = stream_error(server, Fault(status=status, body=anthropic_error(echo, "authentication_error")))
    assert isinstance(error, AuthError)
    for text in (str(error), error.message, repr(error), repr(error.args)):
        assert KEY not in text
    assert "[REDACTED]" in error.message
    assert error.__context__ is None and error.__cause__ is None


# -- cancellation ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", HTTP_MODES)
def test_cancelling_a_slow_stream_closes_it_promptly(server: AnthropicServer, mode: str) -> None:
    server.reply_text = " ".join(f"w{i}" for i in range(200))
    server.chunk_interval_s = 0.05

    async def body(client: AnthropicClient) -> float:
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
        assert await asyncio.to_thread(server.disconnected.wait, 1.0), "the server never saw the stream close"
        return elapsed

    assert run(body, mode) < 0.1
    assert server.streams_completed == 0


@pytest.mark.parametrize("mode", HTTP_MODES)
def test_breaking_out_of_the_loop_closes_the_stream(server: AnthropicServer, mode: str) -> None:
    server.reply_text = " ".join(f"w{i}" for i in range(200))
    server.chunk_interval_s = 0.05

    async def body(client: AnthropicClient) -> None:
        async with contextlib.aclosing(client.stream_chat(chat(endpoint(server)))) as events:
            async for _ in events:
                break
        assert await asyncio.to_thread(server.disconnected.wait, 1.0), "the server never saw the stream close"

    run(body, mode)


def test_importing_the_module_does_not_import_the_sdk() -> None:
    code = ("import sys, sparklio_desktop.core.providers.anthropic_client as m; "
            "m.AnthropicClient(); sys.exit('anthropic' in sys.modules or 'httpx2' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
