"""Ollama (local models) through the official ``ollama`` SDK's ``AsyncClient``.

How the SDK is set up, and why:

- **No retries.** ollama-python never retries; nothing to switch off.
- **No httpx injection.** ``ollama.AsyncClient`` always builds its own
  ``httpx.AsyncClient`` (extra keyword arguments are forwarded to it), so the injected
  client is not used for Ollama. Its ``chat()`` takes no per-call timeout and one SDK
  client serves requests with different timeouts, so the SDK's httpx timeout is off
  and every call is bounded with ``asyncio.timeout(request.timeout_s)`` here; for a
  stream, the bound is on the wait for each line (Ollama can take a while to load a
  model, then streams steadily).
- **Retry-After.** ``ResponseError`` keeps only the body and status, so a response
  hook copies an error response's headers into a per-call dict (through a context
  variable) for :func:`parse_retry_after`.
- **Lazy import.** ``ollama`` takes about 0.2–0.3 s to import; it is imported when the
  first SDK client is built.

Failures arrive as ``ResponseError`` (HTTP errors with ``status_code``, or ``-1`` for an
``{"error": ...}`` line inside a 200 stream), ``ConnectionError`` when the server is
down (``httpx.ConnectError`` on the streaming path, which the SDK does not translate),
raw ``httpx`` errors for a stream cut short, and ``ValueError`` for a malformed line.
Mapped errors are raised outside the ``except`` block, so the SDK exception (whose text
may quote a key) does not ride along as ``__context__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx

from sparklio_desktop.core.provider_table import ROWS, base_url_from_env
from sparklio_desktop.core.providers._client_base import CallState, ClientBase
from sparklio_desktop.core.providers.base import (
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Endpoint,
    ImageRequest,
    ImageResult,
    Message,
    parse_retry_after,
)
from sparklio_desktop.core.providers.errors import (
    AuthError,
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    ProviderError,
    TransientError,
    UnsupportedError,
)

if TYPE_CHECKING:
    import ollama

_CHECK_AUTH_TIMEOUT_S = 10.0
_CONTEXT_TOO_LONG = re.compile(
    r"context length|context window|exceeds the (maximum|context)|input length exceeds|prompt is too long",
    re.IGNORECASE,
)
_MODEL_NOT_FOUND = re.compile(r"model ['\"]?[^'\"]*['\"]? not found|try pulling it first", re.IGNORECASE)

# The headers of an error response met during the current call (see _remember_error_headers).
_ERROR_HEADERS: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "ollama_error_headers", default=None
)


async def _remember_error_headers(response: httpx.Response) -> None:
    """httpx response hook: keep an error response's headers for Retry-After."""
    sink = _ERROR_HEADERS.get()
    if sink is not None and response.status_code >= 400:
        sink.update(response.headers.items())


@contextlib.contextmanager
def _capturing_headers(sink: dict[str, str]) -> Iterator[None]:
    """Collect error headers into ``sink`` for the awaits inside the block only."""
    token = _ERROR_HEADERS.set(sink)
    try:
        yield
    finally:
        _ERROR_HEADERS.reset(token)


class OllamaClient(ClientBase["ollama.AsyncClient"]):
    """Chat and embeddings against an Ollama server; no image generation."""

    provider = "ollama"

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__()
        # Accepted for the common contract; the ollama SDK cannot send through it.
        self._http_client = http_client

    # -- chat ----------------------------------------------------------------------
    async def _open_stream(self, sdk: ollama.AsyncClient, request: ChatRequest, call: CallState) -> Any:
        """``/api/chat``, streamed; the request goes out on the first read."""
        options = {"num_predict": request.max_output_tokens, "temperature": request.temperature}
        return await sdk.chat(
            model=request.endpoint.api_name,
            messages=[_message(m) for m in request.messages],
            stream=True,
            options={k: v for k, v in options.items() if v is not None} or None,
            # Ollama's structured output: ``format`` takes the JSON Schema itself.
            format=dict(request.json_output.schema) if request.json_output is not None else None,
        )

    async def _stream_texts(self, stream: Any, call: CallState) -> AsyncGenerator[str, None]:
        """One line at a time, each within the timeout; usage comes from the ``done: true`` line."""
        while True:
            try:
                with _capturing_headers(call.headers):
                    async with asyncio.timeout(call.timeout_s):
                        part = await stream.__anext__()
            except StopAsyncIteration:
                break
            call.responded = True
            text = part.message.content if part.message is not None else None
            if text:
                yield text
            if part.done:
                call.finished = True
                call.input_tokens, call.output_tokens = part.prompt_eval_count, part.eval_count
        if not call.finished:
            raise httpx.RemoteProtocolError("the stream ended without a done:true line")

    async def _close_stream(self, stream: Any, call: CallState) -> None:
        # Exits the SDK's httpx stream context at once: the connection is freed and
        # Ollama stops generating.
        await stream.aclose()

    def _broken_tokens(self, call: CallState) -> int:
        return len(call.parts)  # Ollama streams one token per line

    # -- embeddings, images, auth ----------------------------------------------------
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """``/api/embed`` with every input at once; ``prompt_eval_count`` is the token count."""
        endpoint = request.endpoint
        inputs = list(request.inputs)
        response = await self._call(
            endpoint, request.timeout_s, lambda client: client.embed(model=endpoint.api_name, input=inputs)
        )
        vectors = tuple(tuple(float(x) for x in vector) for vector in response.embeddings)
        return EmbedResult(vectors=vectors, input_tokens=response.prompt_eval_count)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        raise UnsupportedError("Ollama has no image generation API", **self._who(request.endpoint))

    async def check_auth(self, endpoint: Endpoint) -> None:
        """Reachability: list the installed models (``/api/tags``), the cheapest call."""
        await self._call(endpoint, _CHECK_AUTH_TIMEOUT_S, lambda client: client.list())

    async def aclose(self) -> None:
        """Close the SDK clients' pools; the injected client belongs to the caller."""
        clients, self._sdk_clients = list(self._sdk_clients.values()), {}
        for client in clients:
            await client.close()  # type: ignore[no-untyped-call]  # the SDK leaves close() unannotated

    # -- the SDK client --------------------------------------------------------------
    def _who(self, endpoint: Endpoint) -> dict[str, Any]:
        return {"provider": endpoint.provider or self.provider, "model": endpoint.api_name}

    @staticmethod
    def _host(endpoint: Endpoint) -> str:
        """Where the call goes: the endpoint's host, else ``OLLAMA_HOST``, else the Ollama row's default."""
        return endpoint.base_url or base_url_from_env("ollama") or ROWS["ollama"].default_host or ""

    @contextlib.asynccontextmanager
    async def _bounded(self, call: CallState) -> AsyncIterator[None]:
        """The SDK's httpx timeout is off (one client serves calls with different timeouts),
        so each call is bounded here; error headers are kept for Retry-After."""
        with _capturing_headers(call.headers):
            async with asyncio.timeout(call.timeout_s):
                yield

    def _new_sdk(self, endpoint: Endpoint) -> ollama.AsyncClient:
        import ollama

        return ollama.AsyncClient(
            host=self._host(endpoint),
            timeout=None,  # bounded per call with asyncio.timeout, see the module docstring
            headers={"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else None,
            event_hooks={"response": [_remember_error_headers]},
        )

    # -- errors ------------------------------------------------------------------------
    def _classify(self, exc: Exception, call: CallState) -> Exception:
        """Map an SDK or transport exception to our classes; the message is redacted.

        A ``ValueError`` is a malformed response once the server has answered
        (``responded``), and before that a request the SDK refused to build (an empty
        model name, bad image data): not worth a retry. Anything else (a bug, not a
        provider failure) is returned as it is."""
        import ollama

        endpoint = call.endpoint
        kw = self._who(endpoint)

        def clean(text: str) -> str:
            return self._clean(endpoint, text)

        host = self._host(endpoint)
        if isinstance(exc, ollama.ResponseError):
            return _classify_response_error(exc, clean, kw, call.headers)
        if isinstance(exc, ollama.RequestError):
            return InvalidRequestError(clean(str(exc.error)), **kw)
        if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
            return TransientError(clean(f"no response from Ollama at {host} within {call.timeout_s:g} s"), **kw)
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return TransientError(clean(f"Ollama is not reachable at {host}; is it running?"), **kw)
        if isinstance(exc, httpx.TransportError):
            return TransientError(clean(f"connection failed: {type(exc).__name__}: {exc}"), **kw)
        if isinstance(exc, json.JSONDecodeError) or (call.responded and isinstance(exc, ValueError)):
            return TransientError(clean(f"malformed response: {exc}"), **kw)
        if isinstance(exc, ValueError):
            return InvalidRequestError(clean(str(exc)), **kw)
        return exc


def _classify_response_error(err: Any, clean: Any, kw: dict[str, Any], headers: dict[str, str]) -> ProviderError:
    """``ResponseError(error, status_code)`` -> one of our classes (-1: inside a 200 stream)."""
    status = int(err.status_code)
    raw = str(err.error)
    message = clean(raw)
    kw = {**kw, "status": status if status > 0 else None}
    if status in (401, 403):
        return AuthError(message, **kw)
    if status == 404 or _MODEL_NOT_FOUND.search(raw):
        return ModelNotFoundError(message, **kw)
    if _CONTEXT_TOO_LONG.search(raw):
        return ContextLengthError(message, **kw)
    if status in (-1, 408, 429) or status >= 500:
        # -1: the model failed mid-generation (runner crash, out of memory): try again.
        return TransientError(message, retry_after_s=parse_retry_after(headers), **kw)
    return InvalidRequestError(message, **kw)


def _message(message: Message) -> dict[str, Any]:
    """Our message -> Ollama's; the SDK base64-encodes image bytes into ``images``."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        out["images"] = [image.data for image in message.images]
    return out
