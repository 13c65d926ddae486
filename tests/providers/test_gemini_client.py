"""GeminiClient against the loopback Gemini API: the real google-genai SDK on the wire."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import socket
import subprocess
import sys
import time
import traceback
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
    ContextLengthError,
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
    close_by_cancel,
    close_by_consumer,
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
    assert events[-1] == Usage(input_tokens=11, output_tokens=46)


def test_image_input_is_sent_inline(server: GeminiServer) -> None:
    image = ImageInput(data=b"\x89PNG fake bytes", mime_type="image/png")
    request = chat(server, Message("user", "What is this?", images=(image,)))
    drive(lambda client: collect(client, request))
    parts = server.requests[-1].body["contents"][0]["parts"]
    assert parts[0] == {"text": "What is this?"}
    inline = parts[1].get("inlineData") or parts[1]["inline_data"]
    assert base64.b64decode(inline["data"]) == image.data
    assert (inline.get("mimeType") or inline.get("mime_type")) == "image/png"


def test_base_url_from_environment_when_endpoint_has_none(
    server: GeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    request = ChatRequest(Endpoint("google", MODEL, None, KEY), (Message("user", "Hi"),))
    events = drive(lambda client: collect(client, request))
    assert isinstance(events[-1], Usage) and len(server.requests) == 1


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


def test_check_auth_lists_models(server: GeminiServer) -> None:
    drive(lambda client: client.check_auth(endpoint(server)))
    assert server.requests[-1].method == "GET" and "/models?pageSize=1" in server.requests[-1].path


def test_invalid_key_is_auth_error(server: GeminiServer) -> None:
    server.api_key = "the-right-key-123"
    err = failure(lambda client: client.check_auth(endpoint(server)))
    assert type(err) is AuthError and err.status == 400 and "API key not valid" in err.message


def test_missing_key_is_auth_error_without_a_request(server: GeminiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    err = stream_failure(ChatRequest(endpoint(server, key=None), (Message("user", "Hi"),)))
    assert type(err) is AuthError and server.requests == []


def test_unknown_model_is_model_not_found(server: GeminiServer) -> None:
    server.models = (MODEL,)
    err = stream_failure(ChatRequest(endpoint(server, "gemini-9-ultra"), (Message("user", "Hi"),)))
    assert type(err) is ModelNotFoundError and err.status == 404 and "gemini-9-ultra" in err.message


# -- faults -----------------------------------------------------------------------------
TOO_LONG = "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576)."
RETRY_INFO = {
    "error": {
        "code": 429,
        "message": "You exceeded your current quota.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}],
    }
}


@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (Fault(status=429, headers={"Retry-After": "7"}), TransientError, 7.0),
        (Fault(status=429, headers={"retry-after-ms": "1500"}), TransientError, 1.5),
        (Fault(status=429, body=RETRY_INFO), TransientError, 12.0),
        (Fault(status=408), TransientError, None),
        (Fault(status=500), TransientError, None),
        (Fault(status=503, message="The model is overloaded."), TransientError, None),
        (Fault(status=401), AuthError, None),
        (Fault(status=403, message="Permission denied"), AuthError, None),
        (Fault(status=400, body=error_body(400, "API key expired.", reason="API_KEY_EXPIRED")), AuthError, None),
        (Fault(status=404), ModelNotFoundError, None),
        (Fault(status=400, message=TOO_LONG), ContextLengthError, None),
        (Fault(status=400, message="Invalid value at 'generation_config.temperature'"), InvalidRequestError, None),
    ],
    ids=lambda v: getattr(v, "__name__", None) or (f"{v.status}" if isinstance(v, Fault) else str(v)),
)
def test_http_faults_map_to_error_classes(
    server: GeminiServer, fault: Fault, expected: type[ProviderError], retry_after: float | None
) -> None:
    server.script(fault)
    err = stream_failure(chat(server))
    assert type(err) is expected
    assert (err.provider, err.model, err.status) == ("google", MODEL, fault.status)
    assert getattr(err, "retry_after_s", None) == retry_after
    assert len(server.requests) == 1  # the SDK did not retry by itself


def test_retry_after_http_date(server: GeminiServer) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    server.script(Fault(status=503, headers={"Retry-After": when}))
    err = stream_failure(chat(server))
    assert isinstance(err, TransientError) and err.retry_after_s is not None and 25 <= err.retry_after_s <= 31


def test_provider_message_is_kept_for_invalid_requests(server: GeminiServer) -> None:
    server.script(Fault(status=400, message="Unsupported MIME type: image/tiff"))
    err = stream_failure(chat(server))
    assert type(err) is InvalidRequestError and "Unsupported MIME type: image/tiff" in str(err)


def test_connection_refused_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    request = ChatRequest(Endpoint("google", MODEL, f"http://127.0.0.1:{port}", KEY), (Message("user", "Hi"),))
    err = stream_failure(request)
    assert type(err) is TransientError and "ConnectError" in err.message


def test_stream_broken_after_tokens(server: GeminiServer) -> None:
    server.reply_text = "one two three four five"
    server.script(Fault(drop_after=2))
    err = stream_failure(chat(server))
    assert type(err) is StreamBrokenError
    assert err.text_received == "one two "
    assert err.output_tokens > 0


def test_stream_dropped_before_output_is_transient(server: GeminiServer) -> None:
    server.script(Fault(drop_after=0))
    assert type(stream_failure(chat(server))) is TransientError


def test_malformed_chunk(server: GeminiServer) -> None:
    server.script(Fault(malformed_after=2), Fault(malformed_after=0))
    first = stream_failure(chat(server))
    assert type(first) is StreamBrokenError and "malformed" in first.message
    assert type(stream_failure(chat(server))) is TransientError


def test_error_event_inside_the_stream(server: GeminiServer) -> None:
    server.script(
        StreamErrorFault(after=2, code=503, error_type="UNAVAILABLE", message="overloaded"),
        StreamErrorFault(after=0, code=429, error_type="RESOURCE_EXHAUSTED", message="quota"),
    )
    broken = stream_failure(chat(server))
    assert type(broken) is StreamBrokenError and "overloaded" in broken.message and broken.text_received
    early = stream_failure(chat(server))
    assert type(early) is TransientError and early.status == 429


def test_slow_response_times_out(server: GeminiServer) -> None:
    server.script(Fault(delay_s=1.0))
    started = time.perf_counter()
    err = stream_failure(chat(server, timeout_s=0.3))
    assert type(err) is TransientError and "0.3 s" in err.message
    assert time.perf_counter() - started < 0.9


def test_timeout_bounds_each_chunk_not_the_whole_stream(server: GeminiServer) -> None:
    server.reply_text = " ".join(["tick"] * 10)
    server.interval_s = 0.05  # 0.5 s in all, each gap well under the 0.3 s timeout
    events = drive(lambda client: collect(client, chat(server, timeout_s=0.3)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == server.reply_text


# -- safety -----------------------------------------------------------------------------
def test_blocked_prompt_is_invalid_request(server: GeminiServer) -> None:
    server.block_reason = "SAFETY"
    err = stream_failure(chat(server))
    assert type(err) is InvalidRequestError and "blocked" in err.message and "SAFETY" in err.message


def test_safety_finish_reason_is_invalid_request(server: GeminiServer) -> None:
    server.finish_reason = "SAFETY"
    err = stream_failure(chat(server))
    assert type(err) is InvalidRequestError and "SAFETY" in err.message


# -- secrets ----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 401, 500])
def test_key_echoed_by_the_server_never_reaches_the_error(server: GeminiServer, status: int) -> None:
    server.script(Fault(status=status, message=f"API key {KEY} is not valid for this project"))
    err = stream_failure(chat(server))
    text = "".join(traceback.format_exception(err)) + err.message
    cause: BaseException | None = err
    while cause is not None:  # no SDK exception (which may quote the key) rides along either
        text += repr(cause) + str(cause)
        cause = cause.__cause__ or cause.__context__
    assert KEY not in text
    assert "[REDACTED]" in err.message


# -- cancellation -----------------------------------------------------------------------
def test_consumer_stopping_closes_the_stream_promptly(server: GeminiServer) -> None:
    server.reply_text = "word " * 200
    server.interval_s = 0.05
    elapsed, disconnected = drive(lambda client: close_by_consumer(client, chat(server), server.client_disconnected))
    assert elapsed < 0.1
    assert disconnected


def test_cancelling_the_task_closes_the_stream_promptly(server: GeminiServer) -> None:
    server.reply_text = "word " * 200
    server.interval_s = 0.05
    elapsed, disconnected = drive(lambda client: close_by_cancel(client, chat(server), server.client_disconnected))
    assert elapsed < 0.1
    assert disconnected


# -- wiring -----------------------------------------------------------------------------
def test_injected_http_client_is_used_and_left_open(server: GeminiServer) -> None:
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def main() -> bool:
        async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as shared:
            client = GeminiClient(http_client=shared)
            await collect(client, chat(server))
            await client.aclose()
            return shared.is_closed

    assert asyncio.run(main()) is False
    assert any(":streamGenerateContent" in path for path in seen)


def test_one_sdk_client_per_base_url_and_key(server: GeminiServer) -> None:
    async def body(client: GeminiClient) -> int:
        await client.check_auth(endpoint(server))
        await client.check_auth(endpoint(server))
        await client.check_auth(endpoint(server, key="another-key-456"))
        return len(client._sdk_clients)

    assert drive(body) == 2


def test_module_import_does_not_import_the_sdk() -> None:
    code = (
        "import sys, sparklio_desktop.core.providers.gemini_client\n"
        "assert 'google.genai' not in sys.modules, 'google.genai imported eagerly'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_request_the_sdk_refuses_to_build_is_invalid_not_transient(server: GeminiServer) -> None:
    err = stream_failure(chat(server, Message("system", "Only a system prompt, no turn to answer.")))
    assert type(err) is InvalidRequestError and server.requests == []
