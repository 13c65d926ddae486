"""OllamaClient against the loopback Ollama server: the real ollama SDK on the wire."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

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
    UnsupportedError,
)
from sparklio_desktop.core.providers.ollama_client import OllamaClient
from tests.fakes.loopback import Fault
from tests.fakes.ollama_server import OllamaServer, StreamErrorFault
from tests.providers.stream_contract import (
    close_by_cancel,
    close_by_consumer,
    collect,
    drive_client,
    expect_failure,
)

MODEL = "llama3.2"
KEY = "ollama-secret-93b1c0d4e8"  # not key-shaped: only the client's own redaction can hide it
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: OllamaServer, model: str = MODEL, key: str | None = None) -> Endpoint:
    return Endpoint(provider="ollama", api_name=model, base_url=server.base_url, api_key=key)


def chat(server: OllamaServer, *messages: Message, **kw: Any) -> ChatRequest:
    return ChatRequest(endpoint(server), messages or (Message("user", "Hi"),), **kw)


def drive(body: Callable[[OllamaClient], Awaitable[T]]) -> T:
    return drive_client(OllamaClient, body)


def failure(body: Callable[[OllamaClient], Awaitable[Any]]) -> ProviderError:
    return expect_failure(OllamaClient, body)


def stream_failure(request: ChatRequest) -> ProviderError:
    return failure(lambda client: collect(client, request))


# -- chat ---------------------------------------------------------------------------
def test_streams_text_then_exactly_one_usage(server: OllamaServer) -> None:
    server.reply_text = "Local models are free"
    request = chat(
        server,
        Message("system", "Be terse."),
        Message("user", "Hello"),
        Message("assistant", "Hi"),
        Message("user", "Cost?"),
        max_output_tokens=32,
        temperature=0.1,
    )
    events = drive(lambda client: collect(client, request))
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) == 5
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == "Local models are free"
    assert events[-1] == Usage(input_tokens=14, output_tokens=7)
    sent = server.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    assert sent.body["model"] == MODEL and sent.body["stream"] is True
    assert [m["role"] for m in sent.body["messages"]] == ["system", "user", "assistant", "user"]
    assert sent.body["options"] == {"num_predict": 32, "temperature": 0.1}


def test_usage_is_none_where_ollama_reports_nothing(server: OllamaServer) -> None:
    server.prompt_eval_count = None  # Ollama omits it when the prompt was cached
    events = drive(lambda client: collect(client, chat(server)))
    assert events[-1] == Usage(input_tokens=None, output_tokens=7)


def test_image_input_is_sent_as_base64(server: OllamaServer) -> None:
    image = ImageInput(data=b"\x89PNG not really", mime_type="image/png")
    drive(lambda client: collect(client, chat(server, Message("user", "Describe", images=(image,)))))
    message = server.requests[-1].body["messages"][0]
    assert [base64.b64decode(i) for i in message["images"]] == [image.data]


def test_host_from_environment_when_endpoint_has_none(server: OllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", server.base_url)
    request = ChatRequest(Endpoint("ollama", MODEL), (Message("user", "Hi"),))
    events = drive(lambda client: collect(client, request))
    assert isinstance(events[-1], Usage) and len(server.requests) == 1


def test_api_key_is_sent_as_bearer(server: OllamaServer) -> None:
    request = ChatRequest(endpoint(server, key=KEY), (Message("user", "Hi"),))
    drive(lambda client: collect(client, request))
    assert server.requests[-1].headers.get("authorization") == f"Bearer {KEY}"


# -- embeddings, images, reachability ----------------------------------------------------
def test_embeddings(server: OllamaServer) -> None:
    request = EmbedRequest(endpoint(server, "nomic-embed-text"), ("alpha", "beta gamma"))
    result = drive(lambda client: client.embed(request))
    assert result.vectors == tuple(tuple(OllamaServer.embedding_for(t, 8)) for t in ("alpha", "beta gamma"))
    assert result.input_tokens == 3
    assert server.requests[-1].path == "/api/embed" and server.requests[-1].body["input"] == ["alpha", "beta gamma"]


def test_image_generation_is_unsupported(server: OllamaServer) -> None:
    err = failure(lambda client: client.generate_image(ImageRequest(endpoint(server), "a cat")))
    assert type(err) is UnsupportedError and err.provider == "ollama"
    assert server.requests == []


def test_check_auth_reaches_the_server(server: OllamaServer) -> None:
    drive(lambda client: client.check_auth(endpoint(server)))
    assert (server.requests[-1].method, server.requests[-1].path) == ("GET", "/api/tags")


def test_server_down_is_transient() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Endpoint("ollama", MODEL, f"http://127.0.0.1:{port}")
    for call in (
        lambda client: client.check_auth(down),
        lambda client: collect(client, ChatRequest(down, (Message("user", "Hi"),))),
    ):
        err = failure(call)
        assert type(err) is TransientError and "not reachable" in err.message


def test_model_not_pulled_is_model_not_found(server: OllamaServer) -> None:
    err = stream_failure(ChatRequest(endpoint(server, "qwen3:32b"), (Message("user", "Hi"),)))
    assert type(err) is ModelNotFoundError and err.status == 404
    assert err.message == 'model "qwen3:32b" not found, try pulling it first'


# -- faults -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fault", "expected", "retry_after"),
    [
        (Fault(status=429, headers={"Retry-After": "7"}), TransientError, 7.0),
        (Fault(status=503, headers={"retry-after-ms": "250"}), TransientError, 0.25),
        (Fault(status=500, message="llama runner process has terminated: exit status 2"), TransientError, None),
        (Fault(status=408), TransientError, None),
        (Fault(status=401, message="unauthorized"), AuthError, None),
        (Fault(status=403), AuthError, None),
        (Fault(status=404, message=f'model "{MODEL}" not found, try pulling it first'), ModelNotFoundError, None),
        (Fault(status=400, message="the input length exceeds the context length"), ContextLengthError, None),
        (Fault(status=400, message="invalid options: num_predict"), InvalidRequestError, None),
    ],
    ids=lambda v: getattr(v, "__name__", None) or (f"{v.status}" if isinstance(v, Fault) else str(v)),
)
def test_http_faults_map_to_error_classes(
    server: OllamaServer, fault: Fault, expected: type[ProviderError], retry_after: float | None
) -> None:
    server.script(fault)
    err = stream_failure(chat(server))
    assert type(err) is expected
    assert (err.provider, err.model, err.status) == ("ollama", MODEL, fault.status)
    assert getattr(err, "retry_after_s", None) == retry_after
    assert len(server.requests) == 1


def test_provider_message_is_kept(server: OllamaServer) -> None:
    server.script(Fault(status=400, message="invalid options: num_predict"))
    err = stream_failure(chat(server))
    assert "invalid options: num_predict" in str(err)


def test_error_line_inside_a_200_stream(server: OllamaServer) -> None:
    server.script(StreamErrorFault(after=0, message="an error was encountered while running the model"))
    early = stream_failure(chat(server))
    assert type(early) is TransientError and early.status is None
    assert "an error was encountered" in early.message
    server.script(StreamErrorFault(after=3, message="out of memory"))
    late = stream_failure(chat(server))
    assert type(late) is StreamBrokenError and late.text_received == "Hello from the " and late.output_tokens == 3


def test_stream_broken_after_tokens(server: OllamaServer) -> None:
    server.script(Fault(drop_after=2))
    err = stream_failure(chat(server))
    assert type(err) is StreamBrokenError and err.text_received == "Hello from " and err.output_tokens == 2


def test_stream_dropped_before_output_is_transient(server: OllamaServer) -> None:
    server.script(Fault(drop_after=0))
    assert type(stream_failure(chat(server))) is TransientError


def test_malformed_line(server: OllamaServer) -> None:
    server.script(Fault(malformed_after=1), Fault(malformed_after=0))
    first = stream_failure(chat(server))
    assert type(first) is StreamBrokenError and "malformed" in first.message and first.text_received == "Hello "
    assert type(stream_failure(chat(server))) is TransientError


def test_slow_response_times_out(server: OllamaServer) -> None:
    server.script(Fault(delay_s=1.0))
    started = time.perf_counter()
    err = stream_failure(chat(server, timeout_s=0.3))
    assert type(err) is TransientError and "0.3 s" in err.message
    assert time.perf_counter() - started < 0.9


def test_timeout_bounds_each_line_not_the_whole_stream(server: OllamaServer) -> None:
    server.reply_text = " ".join(["tick"] * 10)
    server.interval_s = 0.05  # 0.5 s in all, each gap well under the 0.3 s timeout
    events = drive(lambda client: collect(client, chat(server, timeout_s=0.3)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == server.reply_text


def test_embed_times_out(server: OllamaServer) -> None:
    server.script(Fault(delay_s=1.0))
    request = EmbedRequest(endpoint(server, "nomic-embed-text"), ("x",), timeout_s=0.3)
    err = failure(lambda client: client.embed(request))
    assert type(err) is TransientError


# -- secrets ----------------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 500])
def test_key_echoed_by_the_server_never_reaches_the_error(server: OllamaServer, status: int) -> None:
    server.script(Fault(status=status, message=f"token {KEY} rejected"))
    err = stream_failure(ChatRequest(endpoint(server, key=KEY), (Message("user", "Hi"),)))
    text = "".join(traceback.format_exception(err)) + err.message
    cause: BaseException | None = err
    while cause is not None:  # no SDK exception (which may quote the key) rides along either
        text += repr(cause) + str(cause)
        cause = cause.__cause__ or cause.__context__
    assert KEY not in text and "[REDACTED]" in err.message


# -- cancellation -----------------------------------------------------------------------
def test_consumer_stopping_closes_the_stream_promptly(server: OllamaServer) -> None:
    server.reply_text = "word " * 200
    server.interval_s = 0.05
    elapsed, disconnected = drive(lambda client: close_by_consumer(client, chat(server), server.client_disconnected))
    assert elapsed < 0.1
    assert disconnected


def test_cancelling_the_task_closes_the_stream_promptly(server: OllamaServer) -> None:
    server.reply_text = "word " * 200
    server.interval_s = 0.05
    elapsed, disconnected = drive(lambda client: close_by_cancel(client, chat(server), server.client_disconnected))
    assert elapsed < 0.1
    assert disconnected


# -- wiring -----------------------------------------------------------------------------
def test_fake_serves_version_and_tags(server: OllamaServer) -> None:
    import httpx

    with httpx.Client(base_url=server.base_url) as http:
        assert http.get("/api/version").json() == {"version": server.version}
        assert [m["model"] for m in http.get("/api/tags").json()["models"]] == server.installed


def test_module_import_does_not_import_the_sdk() -> None:
    code = (
        "import sys, sparklio_desktop.core.providers.ollama_client\n"
        "assert 'ollama' not in sys.modules, 'ollama imported eagerly'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_request_the_sdk_refuses_to_build_is_invalid_not_transient(server: OllamaServer) -> None:
    err = stream_failure(ChatRequest(endpoint(server, model=""), (Message("user", "Hi"),)))
    assert type(err) is InvalidRequestError and server.requests == []
