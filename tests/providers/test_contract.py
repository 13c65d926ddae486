"""The contract every provider client keeps, written once and run over the four wire formats.

Each check runs a client against a loopback server that speaks one provider's real wire
format (tests/fakes): OpenAI, Anthropic, Gemini, Ollama, with the real SDK on the wire.
What differs between the formats is described once per wire in :data:`WIRES`: where the
key goes, how many stream chunks come before the first word, how an error is sent inside
a 200 stream, the provider's words for a prompt that is too long. What only one provider
has (OpenAI-compatible servers, Gemini's safety refusals, Ollama's missing counts, the
shape of each request body) is tested in that provider's own module.

The contract: a stream is text, then exactly one usage; HTTP failures map to the error
classes of core/providers/errors.py with Retry-After read in its three forms and no
retry inside the SDK; a stream that breaks after text is ``StreamBrokenError`` carrying
the text, before any text ``TransientError``; a timeout bounds each chunk, not the whole
stream; a key the provider echoes never reaches the error; a consumer that stops, a task
that is cancelled and a loop that breaks close the connection (the fake counts the
hang-up; how fast is measured by benchmarks/bench_stream_close.py); the model list
answers ``check_auth``; importing a client does not import its SDK.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import email.utils
import importlib
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from sparklio_desktop.core.providers.base import ChatRequest, Endpoint, Message, ProviderClient, TextDelta, Usage
from sparklio_desktop.core.providers.errors import (
    AuthError,
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    StreamBrokenError,
    TransientError,
)
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.gemini_server import GeminiServer
from tests.fakes.gemini_server import StreamErrorFault as GeminiStreamError
from tests.fakes.loopback import Fault, LoopbackServer
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.ollama_server import StreamErrorFault as OllamaStreamError
from tests.fakes.openai_server import OpenAIServer
from tests.providers.stream_contract import close_by_breaking_out, close_by_cancel, close_by_consumer, collect

T = TypeVar("T")


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization")
    return value.removeprefix("Bearer ") if value else None


def _set_counts(first: str, second: str) -> Callable[[Any, int, int], None]:
    def set_counts(server: Any, input_tokens: int, output_tokens: int) -> None:
        setattr(server, first, input_tokens)
        setattr(server, second, output_tokens)

    return set_counts


def _set_usage(server: Any, input_tokens: int, output_tokens: int) -> None:
    server.usage = (input_tokens, output_tokens)


@dataclass(frozen=True)
class Wire:
    """One provider's wire format, as far as the contract needs to know it."""

    name: str
    provider: str
    model: str
    key: str  # not key-shaped where the SDK would not redact it: only the client's redaction hides it
    fake: Callable[[], LoopbackServer]
    module: str
    class_name: str
    sdk_modules: tuple[str, ...]  # what importing ``module`` must not import
    api_path: str  # the base URL's path beyond the server root
    base_url_env: str
    lead_chunks: int  # stream chunks before the first word
    key_of: Callable[[dict[str, str]], str | None]  # the key a request carried (lower-case headers)
    models_path: str  # what check_auth asks for
    set_usage: Callable[[Any, int, int], None]
    interval_knob: str  # the fake's pause after each streamed chunk
    error_event: Callable[[int, str], Fault]  # an error inside a 200 stream after n chunks
    too_long: Fault
    timeout_phrase: str
    malformed_phrase: str  # what the error says of a chunk that is not valid
    needs_key: bool = True
    uses_http_client: bool = True  # sends through an injected httpx client
    drops_sdk_exception: bool = False  # the SDK's exception (which may quote the key) is not chained
    pools: tuple[str, ...] = ("httpx",)  # the injected pools whose streams are checked

    def client(self, http: Any) -> ProviderClient:
        """A client sending through ``http`` (None: a pool of its own)."""
        cls = getattr(importlib.import_module(self.module), self.class_name)
        return cls(http)  # type: ignore[no-any-return]


WIRES = [
    Wire(
        "openai",
        "openai",
        "gpt-4o",
        "sk-test-0123456789abcdefghijklmnop",
        OpenAIServer,
        "sparklio_desktop.core.providers.openai_client",
        "OpenAIClient",
        ("openai",),
        "/v1",
        "OPENAI_BASE_URL",
        1,
        _bearer,
        "/v1/models",
        _set_usage,
        "chunk_interval_s",
        lambda after, message: Fault(error_type="server_error", message=message, drop_after=after),
        Fault(status=400, error_type="context_length_exceeded", message="maximum context length is 128000 tokens"),
        "timed out",
        "JSONDecodeError",
        drops_sdk_exception=True,
    ),
    Wire(
        "anthropic",
        "anthropic",
        "claude-3-5-sonnet-latest",
        "sk-ant-test-0123456789abcdefghij",
        AnthropicServer,
        "sparklio_desktop.core.providers.anthropic_client",
        "AnthropicClient",
        ("anthropic", "httpx2"),
        "",
        "ANTHROPIC_BASE_URL",
        3,
        _bearer,
        "/v1/models?limit=1",
        _set_usage,
        "chunk_interval_s",
        lambda after, message: Fault(error_type="overloaded_error", message=message, drop_after=after),
        Fault(status=400, message="prompt is too long: 210000 tokens > 200000 maximum"),
        "timed out",
        "JSONDecodeError",
        drops_sdk_exception=True,
        pools=("httpx", "httpx2", "own"),
    ),
    Wire(
        "gemini",
        "google",
        "gemini-2.5-flash",
        "test-secret-7f3a9c2e5b1d",
        GeminiServer,
        "sparklio_desktop.core.providers.gemini_client",
        "GeminiClient",
        ("google.genai",),
        "",
        "GOOGLE_GEMINI_BASE_URL",
        0,
        lambda headers: headers.get("x-goog-api-key"),
        "/models?pageSize=1",
        _set_counts("prompt_tokens", "output_tokens"),
        "interval_s",
        lambda after, message: GeminiStreamError(after=after, code=503, error_type="UNAVAILABLE", message=message),
        Fault(
            status=400,
            message="The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
        ),
        "0.3 s",
        "malformed",
    ),
    Wire(
        "ollama",
        "ollama",
        "llama3.2",
        "ollama-secret-93b1c0d4e8",
        OllamaServer,
        "sparklio_desktop.core.providers.ollama_client",
        "OllamaClient",
        ("ollama",),
        "",
        "OLLAMA_HOST",
        0,
        _bearer,
        "/api/tags",
        _set_counts("prompt_eval_count", "eval_count"),
        "interval_s",
        lambda after, message: OllamaStreamError(after=after, message=message),
        Fault(status=400, message="the input length exceeds the context length"),
        "0.3 s",
        "malformed",
        needs_key=False,
        uses_http_client=False,
    ),
]
WITH_POOLS = [
    pytest.param(wire, pool, id=wire.name if pool == "httpx" else f"{wire.name}-{pool}")
    for wire in WIRES
    for pool in wire.pools
]
REPLY = "alpha beta gamma delta epsilon"


def wires(*, where: Callable[[Wire], bool] = lambda wire: True) -> Any:
    return pytest.mark.parametrize("wire", [w for w in WIRES if where(w)], ids=lambda w: w.name)


@pytest.fixture
def server(wire: Wire) -> Iterator[Any]:
    with wire.fake() as fake:
        fake.reply_text = REPLY  # type: ignore[attr-defined]
        yield fake


def endpoint(wire: Wire, server: LoopbackServer, key: str | None = "", base_url: str | None = "") -> Endpoint:
    return Endpoint(
        provider=wire.provider,
        api_name=wire.model,
        base_url=server.base_url + wire.api_path if base_url == "" else base_url,
        api_key=wire.key if key == "" else key,
    )


def chat(wire: Wire, server: LoopbackServer, **kw: Any) -> ChatRequest:
    return ChatRequest(endpoint(wire, server), (Message("user", "say hello"),), **kw)


def drive(wire: Wire, body: Callable[[ProviderClient], Awaitable[T]], pool: str = "httpx") -> T:
    """Run ``body`` with a fresh client on a fresh loop; ``pool`` is the injected HTTP client
    (``httpx``, Anthropic's ``httpx2``, or ``own``: none injected)."""

    async def main() -> T:
        async with contextlib.AsyncExitStack() as stack:
            http: Any = None
            if pool == "httpx":
                http = await stack.enter_async_context(httpx.AsyncClient())
            elif pool == "httpx2":
                import httpx2

                http = await stack.enter_async_context(httpx2.AsyncClient())
            client = wire.client(http)
            try:
                return await body(client)
            finally:
                await client.aclose()
        raise AssertionError("unreachable")

    return asyncio.run(main())


def failure(wire: Wire, body: Callable[[ProviderClient], Awaitable[Any]], pool: str = "httpx") -> ProviderError:
    """The ``ProviderError`` that ``body`` raises (the test fails if it raises none)."""

    async def expect(client: ProviderClient) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await body(client)
        return info.value

    return drive(wire, expect, pool)


def stream_failure(wire: Wire, server: LoopbackServer, *faults: Fault, pool: str = "httpx", **kw: Any) -> ProviderError:
    """Script ``faults``, stream once, and return the error the client raised."""
    server.script(*faults)
    request = chat(wire, server, **kw)
    return failure(wire, lambda client: collect(client, request), pool)


def headers_of(server: LoopbackServer, index: int = -1) -> dict[str, str]:
    return {name.lower(): value for name, value in server.requests[index].headers.items()}


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Whether ``condition`` holds within ``timeout_s`` (a guard against a hang, not a speed check)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- chat ---------------------------------------------------------------------------
@pytest.mark.parametrize(("wire", "pool"), WITH_POOLS)
def test_streams_text_then_exactly_one_usage(wire: Wire, pool: str, server: LoopbackServer) -> None:
    wire.set_usage(server, 12, 34)
    request = ChatRequest(
        endpoint(wire, server),
        (Message("system", "be brief"), Message("user", "hi")),
        max_output_tokens=50,
        temperature=0.2,
    )
    events = drive(wire, lambda client: collect(client, request), pool)
    assert len(events) > 2 and all(isinstance(e, TextDelta) for e in events[:-1])
    assert "".join(e.text for e in events[:-1] if isinstance(e, TextDelta)) == REPLY
    assert events[-1] == Usage(input_tokens=12, output_tokens=34)
    assert len(server.requests) == 1 and wire.key_of(headers_of(server)) == wire.key


@wires()
def test_base_url_comes_from_the_environment_when_the_endpoint_has_none(
    wire: Wire, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(wire.base_url_env, server.base_url + wire.api_path)
    request = ChatRequest(endpoint(wire, server, base_url=None), (Message("user", "hi"),))
    events = drive(wire, lambda client: collect(client, request), "own")
    assert isinstance(events[-1], Usage)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == REPLY
    assert len(server.requests) == 1


@wires()
def test_each_request_carries_its_own_endpoints_key(wire: Wire, server: LoopbackServer) -> None:
    first, second = wire.key + "-first", wire.key + "-second"

    async def body(client: ProviderClient) -> None:
        for key in (first, second, first):
            await collect(client, ChatRequest(endpoint(wire, server, key=key), (Message("user", "hi"),)))

    drive(wire, body)
    assert [wire.key_of(headers_of(server, i)) for i in range(3)] == [first, second, first]


@wires(where=lambda wire: wire.uses_http_client)
def test_an_injected_http_client_carries_the_requests_and_stays_open(wire: Wire, server: LoopbackServer) -> None:
    seen: list[str] = []

    async def on_request(request: httpx.Request) -> None:
        seen.append(request.url.path)

    async def main() -> bool:
        async with httpx.AsyncClient(event_hooks={"request": [on_request]}) as shared:
            client = wire.client(shared)
            await collect(client, chat(wire, server))
            await client.aclose()
            return shared.is_closed

    assert asyncio.run(main()) is False  # the owner's pool survives the client
    assert len(seen) == 1 and seen[0] == server.requests[0].path.split("?")[0]


# -- the model list -----------------------------------------------------------------
@wires()
def test_check_auth_asks_for_the_model_list(wire: Wire, server: LoopbackServer) -> None:
    drive(wire, lambda client: client.check_auth(endpoint(wire, server)))
    assert server.requests[-1].method == "GET" and server.requests[-1].path.endswith(wire.models_path)


@wires()
def test_check_auth_maps_401_to_an_auth_error(wire: Wire, server: LoopbackServer) -> None:
    server.script(Fault(status=401, message="invalid key"))
    err = failure(wire, lambda client: client.check_auth(endpoint(wire, server)))
    assert type(err) is AuthError and err.status == 401 and "invalid key" in err.message


@wires(where=lambda wire: wire.needs_key)
def test_no_key_anywhere_is_an_auth_error_before_any_request(
    wire: Wire, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # no profile or config file to fall back on
    request = ChatRequest(endpoint(wire, server, key=None), (Message("user", "hi"),))
    err = failure(wire, lambda client: collect(client, request))
    assert type(err) is AuthError and err.provider == wire.provider and server.requests == []


# -- HTTP failures -------------------------------------------------------------------
TOO_LONG = Fault(status=400, message="<the wire's own words for a prompt that is too long>")
IN_30_S = "<an HTTP date 30 s ahead, made when the test runs>"
FAILURES = [
    pytest.param(Fault(status=429, headers={"Retry-After": "7"}), TransientError, 7.0, id="429-retry-after"),
    pytest.param(Fault(status=429, headers={"Retry-After": IN_30_S}), TransientError, 30.0, id="429-http-date"),
    pytest.param(Fault(status=503, headers={"retry-after-ms": "1500"}), TransientError, 1.5, id="503-retry-after-ms"),
    pytest.param(Fault(status=500), TransientError, None, id="500"),
    pytest.param(Fault(status=503), TransientError, None, id="503"),
    pytest.param(Fault(status=408), TransientError, None, id="408"),
    pytest.param(Fault(status=401), AuthError, None, id="401"),
    pytest.param(Fault(status=403), AuthError, None, id="403"),
    pytest.param(Fault(status=404), ModelNotFoundError, None, id="404"),
    pytest.param(TOO_LONG, ContextLengthError, None, id="400-too-long"),
    pytest.param(Fault(status=400, message="Invalid value at 'temperature'"), InvalidRequestError, None, id="400"),
]


def concrete(wire: Wire, fault: Fault) -> Fault:
    """Fill in the placeholders: the wire's too-long fault, an HTTP date made now."""
    if fault is TOO_LONG:
        return wire.too_long
    if fault.headers.get("Retry-After") == IN_30_S:
        return dataclasses.replace(
            fault, headers={"Retry-After": email.utils.formatdate(time.time() + 30, usegmt=True)}
        )
    return fault


@pytest.mark.parametrize(("fault", "expected", "retry_after"), FAILURES)
@wires()
def test_http_failures_map_to_error_classes(
    wire: Wire, server: LoopbackServer, fault: Fault, expected: type[ProviderError], retry_after: float | None
) -> None:
    err = stream_failure(wire, server, concrete(wire, fault))
    assert type(err) is expected
    assert (err.provider, err.model, err.status) == (wire.provider, wire.model, fault.status)
    if isinstance(err, TransientError):
        if retry_after is None:
            assert err.retry_after_s is None
        else:  # an HTTP date is read to the second
            assert err.retry_after_s == pytest.approx(retry_after, abs=2.0 if retry_after == 30.0 else 1e-9)
    assert len(server.requests) == 1  # the SDK did not retry by itself


@wires()
def test_an_invalid_request_keeps_the_providers_message(wire: Wire, server: LoopbackServer) -> None:
    message = "Unsupported MIME type: image/tiff"
    err = stream_failure(wire, server, Fault(status=400, message=message))
    assert type(err) is InvalidRequestError and message in err.message and message in str(err)


@pytest.mark.parametrize("status", [400, 401, 500])
@wires()
def test_a_key_echoed_by_the_provider_never_reaches_the_error(wire: Wire, server: LoopbackServer, status: int) -> None:
    echo = f"Incorrect API key provided: {wire.key}. Header was Authorization: Bearer {wire.key}"
    err = stream_failure(wire, server, Fault(status=status, message=echo))
    text = "".join(traceback.format_exception(err)) + err.message + repr(err.args)
    cause: BaseException | None = err
    while cause is not None:  # no SDK exception (which may quote the key) rides along either
        text += repr(cause) + str(cause)
        cause = cause.__cause__ or cause.__context__
    assert wire.key not in text
    assert "[REDACTED]" in err.message
    if wire.drops_sdk_exception:
        assert err.__context__ is None and err.__cause__ is None


@wires()
def test_an_unreachable_server_is_transient(wire: Wire) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket closes
    ep = Endpoint(wire.provider, wire.model, f"http://127.0.0.1:{port}{wire.api_path}", wire.key)
    err = failure(wire, lambda client: collect(client, ChatRequest(ep, (Message("user", "hi"),))))
    assert type(err) is TransientError and err.status is None and err.provider == wire.provider


# -- broken streams ------------------------------------------------------------------
@pytest.mark.parametrize(("wire", "pool"), WITH_POOLS)
def test_a_stream_dropped_after_text_is_stream_broken_with_the_text(
    wire: Wire, pool: str, server: LoopbackServer
) -> None:
    err = stream_failure(wire, server, Fault(drop_after=wire.lead_chunks + 2), pool=pool)
    assert type(err) is StreamBrokenError
    assert err.text_received == "alpha beta " and err.output_tokens == 2, err.output_tokens


# Dropped or malformed at the first chunk, and (where chunks without text lead) just before
# the first word.
BEFORE_TEXT = [
    pytest.param(wire, Fault(**{kind: at}), id=f"{wire.name}-{kind}-{at}")
    for wire in WIRES
    for kind in ("drop_after", "malformed_after")
    for at in sorted({0, wire.lead_chunks})
]


@pytest.mark.parametrize(("wire", "fault"), BEFORE_TEXT)
def test_a_stream_failing_before_any_text_is_transient(wire: Wire, server: LoopbackServer, fault: Fault) -> None:
    assert type(stream_failure(wire, server, fault)) is TransientError


@wires()
def test_a_malformed_chunk_after_text_is_stream_broken(wire: Wire, server: LoopbackServer) -> None:
    err = stream_failure(wire, server, Fault(malformed_after=wire.lead_chunks + 1))
    assert type(err) is StreamBrokenError and err.text_received == "alpha " and wire.malformed_phrase in err.message


@wires()
def test_an_error_event_inside_the_stream(wire: Wire, server: LoopbackServer) -> None:
    late = stream_failure(wire, server, wire.error_event(wire.lead_chunks + 2, "upstream died"))
    assert type(late) is StreamBrokenError and late.text_received == "alpha beta "
    early = stream_failure(wire, server, wire.error_event(0, "upstream died"))
    assert type(early) is TransientError and "upstream died" in early.message


# -- timeouts ------------------------------------------------------------------------
@pytest.mark.parametrize(("wire", "pool"), WITH_POOLS)
def test_a_response_slower_than_the_timeout_is_transient(wire: Wire, pool: str, server: LoopbackServer) -> None:
    # The fake answers after 1 s: an error at all means the 0.3 s limit cut the wait short.
    err = stream_failure(wire, server, Fault(delay_s=1.0), pool=pool, timeout_s=0.3)
    assert type(err) is TransientError and wire.timeout_phrase in err.message
    assert len(server.requests) == 1


@wires()
def test_the_timeout_bounds_each_chunk_not_the_whole_stream(wire: Wire, server: LoopbackServer) -> None:
    server.reply_text = " ".join(["tick"] * 10)  # type: ignore[attr-defined]
    setattr(server, wire.interval_knob, 0.05)  # 0.5 s in all, each gap well under the 0.3 s timeout
    events = drive(wire, lambda client: collect(client, chat(wire, server, timeout_s=0.3)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == server.reply_text  # type: ignore[attr-defined]


# -- closing -------------------------------------------------------------------------
# The fake sends two words and then nothing, holding the connection open until the client
# hangs up: only the client's close can end the stream, and the fake counts the hang-up.
CLOSERS = [
    pytest.param(close_by_consumer, id="consumer-stops"),
    pytest.param(close_by_cancel, id="task-cancelled"),
    pytest.param(close_by_breaking_out, id="loop-breaks"),
]


@pytest.mark.parametrize("close", CLOSERS)
@pytest.mark.parametrize(("wire", "pool"), WITH_POOLS)
def test_stopping_a_stream_closes_its_connection(
    wire: Wire, pool: str, server: LoopbackServer, close: Callable[..., Awaitable[object]]
) -> None:
    server.script(Fault(stall_after=wire.lead_chunks + 2))

    async def body(client: ProviderClient) -> bool:
        stream = await close(client, chat(wire, server))
        # Asked while the client (and its pool) and the stream are still there: only the
        # stream's own close explains a hang-up.
        closed = await asyncio.to_thread(wait_for, lambda: server.hangups == 1)
        del stream
        return closed

    assert drive(wire, body, pool), "the server never saw the stream close"


# -- imports -------------------------------------------------------------------------
@wires()
def test_importing_the_client_does_not_import_its_sdk(wire: Wire) -> None:
    code = (
        f"import sys, {wire.module} as m\n"
        f"m.{wire.class_name}()\n"
        f"loaded = [name for name in {wire.sdk_modules!r} if name in sys.modules]\n"
        "assert not loaded, f'imported eagerly: {loaded}'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
