"""OllamaClient against the loopback Ollama server: the real ollama SDK on the wire.

What Ollama has of its own: the request body, counts it leaves out, base64 images,
embeddings, no image generation, a model not pulled, an error line inside a 200 stream,
a server that is not running. The checks every client passes are
tests/providers/test_contract.py.
"""

from __future__ import annotations

import base64
import socket
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


# -- faults (what every provider shares is tests/providers/test_contract.py) ------------
def test_error_line_inside_a_200_stream(server: OllamaServer) -> None:
    server.script(StreamErrorFault(after=0, message="an error was encountered while running the model"))
    early = stream_failure(chat(server))
    assert type(early) is TransientError and early.status is None
    assert "an error was encountered" in early.message
    server.script(StreamErrorFault(after=3, message="out of memory"))
    late = stream_failure(chat(server))
    assert type(late) is StreamBrokenError and late.text_received == "Hello from the " and late.output_tokens == 3


def test_embed_times_out(server: OllamaServer) -> None:
    server.script(Fault(delay_s=1.0))
    request = EmbedRequest(endpoint(server, "nomic-embed-text"), ("x",), timeout_s=0.3)
    err = failure(lambda client: client.embed(request))
    assert type(err) is TransientError


# -- wiring -----------------------------------------------------------------------------
def test_fake_serves_version_and_tags(server: OllamaServer) -> None:
    import httpx

    with httpx.Client(base_url=server.base_url) as http:
        assert http.get("/api/version").json() == {"version": server.version}
        assert [m["model"] for m in http.get("/api/tags").json()["models"]] == server.installed


def test_request_the_sdk_refuses_to_build_is_invalid_not_transient(server: OllamaServer) -> None:
    err = stream_failure(ChatRequest(endpoint(server, model=""), (Message("user", "Hi"),)))
    assert type(err) is InvalidRequestError and server.requests == []
