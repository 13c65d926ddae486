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
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from sparklio_desktop.core.providers.base import (
    ChatEvent,
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Endpoint,
    ImageRequest,
    ImageResult,
    Message,
    TextDelta,
    Usage,
    parse_retry_after,
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
from sparklio_desktop.core.redact import redact

if TYPE_CHECKING:
    import ollama

_DEFAULT_HOST = "http://127.0.0.1:11434"
_CHECK_AUTH_TIMEOUT_S = 10.0
T = TypeVar("T")
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


class OllamaClient:
    """Chat and embeddings against an Ollama server; no image generation."""

    provider = "ollama"

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        # Accepted for the common contract; the ollama SDK cannot send through it.
        self._http_client = http_client
        # One SDK client (and connection pool) per (host, api_key).
        self._sdk_clients: dict[tuple[str | None, str | None], ollama.AsyncClient] = {}

    # -- the four calls ------------------------------------------------------------
    async def stream_chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        """Stream ``/api/chat``; usage comes from the final ``done: true`` line.

        The SDK stream is closed in ``finally``, which exits its ``httpx`` stream
        context at once, so a consumer that stops early frees the connection (and
        Ollama stops generating).
        """
        endpoint = request.endpoint
        received: list[str] = []
        headers: dict[str, str] = {}
        final: Any = None
        stream: Any = None
        failure: ProviderError | None = None
        responded = False
        try:
            client = self._sdk(endpoint)
            options = {"num_predict": request.max_output_tokens, "temperature": request.temperature}
            stream = await client.chat(
                model=endpoint.api_name,
                messages=[_message(m) for m in request.messages],
                stream=True,
                options={k: v for k, v in options.items() if v is not None} or None,
            )
            while True:
                try:
                    with _capturing_headers(headers):
                        async with asyncio.timeout(request.timeout_s):
                            part = await stream.__anext__()
                except StopAsyncIteration:
                    break
                responded = True
                text = part.message.content if part.message is not None else None
                if text:
                    received.append(text)
                    yield TextDelta(text)
                if part.done:
                    final = part
            if final is None:
                raise httpx.RemoteProtocolError("the stream ended without a done:true line")
        except ProviderError:
            raise
        except Exception as err:  # noqa: BLE001 - every SDK/transport failure is mapped
            failure = self._classify(err, endpoint, request.timeout_s, headers, responded=responded)
        finally:
            if stream is not None:
                await stream.aclose()
        if failure is not None:
            if received and isinstance(failure, TransientError):
                raise StreamBrokenError(
                    f"stream broke after {len(received)} chunks: {failure.message}",
                    text_received="".join(received),
                    output_tokens=len(received),  # Ollama streams one token per line
                    provider=failure.provider,
                    model=failure.model,
                    status=failure.status,
                )
            raise failure
        yield Usage(input_tokens=final.prompt_eval_count, output_tokens=final.eval_count)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        """``/api/embed`` with every input at once; ``prompt_eval_count`` is the token count."""
        endpoint = request.endpoint
        inputs = list(request.inputs)
        response = await self._guarded(
            endpoint, request.timeout_s, lambda client: client.embed(model=endpoint.api_name, input=inputs)
        )
        vectors = tuple(tuple(float(x) for x in vector) for vector in response.embeddings)
        return EmbedResult(vectors=vectors, input_tokens=response.prompt_eval_count)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        raise UnsupportedError(
            "Ollama has no image generation API",
            provider=request.endpoint.provider or self.provider,
            model=request.endpoint.api_name,
        )

    async def check_auth(self, endpoint: Endpoint) -> None:
        """Reachability: list the installed models (``/api/tags``), the cheapest call."""
        await self._guarded(endpoint, _CHECK_AUTH_TIMEOUT_S, lambda client: client.list())

    async def aclose(self) -> None:
        """Close the SDK clients' pools; the injected client belongs to the caller."""
        clients, self._sdk_clients = list(self._sdk_clients.values()), {}
        for client in clients:
            await client.close()  # type: ignore[no-untyped-call]  # the SDK leaves close() unannotated

    # -- the SDK client --------------------------------------------------------------
    async def _guarded(self, endpoint: Endpoint, timeout_s: float, call: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``call(sdk_client)`` within ``timeout_s``; map whatever it raises to our classes."""
        headers: dict[str, str] = {}
        try:
            client = self._sdk(endpoint)
            with _capturing_headers(headers):
                async with asyncio.timeout(timeout_s):
                    return await call(client)
        except ProviderError:
            raise
        except Exception as err:  # noqa: BLE001 - every SDK/transport failure is mapped
            failure = self._classify(err, endpoint, timeout_s, headers)
        raise failure

    def _sdk(self, endpoint: Endpoint) -> ollama.AsyncClient:
        """The SDK client for this host (``None``: ``OLLAMA_HOST`` or localhost), cached."""
        key = (endpoint.base_url, endpoint.api_key)
        client = self._sdk_clients.get(key)
        if client is None:
            import ollama

            client = ollama.AsyncClient(
                host=endpoint.base_url,
                timeout=None,  # bounded per call with asyncio.timeout, see the module docstring
                headers={"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else None,
                event_hooks={"response": [_remember_error_headers]},
            )
            self._sdk_clients[key] = client
        return client

    # -- errors ------------------------------------------------------------------------
    def _classify(
        self, err: Exception, endpoint: Endpoint, timeout_s: float, headers: dict[str, str], *, responded: bool = False
    ) -> ProviderError:
        """Map an SDK or transport exception to our classes; the message is redacted.

        A ``ValueError`` is a malformed response once the server has answered
        (``responded``), and before that a request the SDK refused to build (an empty
        model name, bad image data): not worth a retry. Anything else (a bug, not a
        provider failure) is re-raised as it is."""
        import ollama

        kw: dict[str, Any] = {"provider": endpoint.provider or self.provider, "model": endpoint.api_name}

        def clean(text: str) -> str:
            return redact(text, [endpoint.api_key, os.environ.get("OLLAMA_API_KEY")])

        host = endpoint.base_url or os.environ.get("OLLAMA_HOST") or _DEFAULT_HOST
        if isinstance(err, ollama.ResponseError):
            return _classify_response_error(err, clean, kw, headers)
        if isinstance(err, ollama.RequestError):
            return InvalidRequestError(clean(str(err.error)), **kw)
        if isinstance(err, (TimeoutError, httpx.TimeoutException)):
            return TransientError(clean(f"no response from Ollama at {host} within {timeout_s:g} s"), **kw)
        if isinstance(err, (ConnectionError, httpx.ConnectError)):
            return TransientError(clean(f"Ollama is not reachable at {host}; is it running?"), **kw)
        if isinstance(err, httpx.TransportError):
            return TransientError(clean(f"connection failed: {type(err).__name__}: {err}"), **kw)
        if isinstance(err, json.JSONDecodeError) or (responded and isinstance(err, ValueError)):
            return TransientError(clean(f"malformed response: {err}"), **kw)
        if isinstance(err, ValueError):
            return InvalidRequestError(clean(str(err)), **kw)
        raise err


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
