"""Anthropic's Messages API: streamed chat with images; no image generation, no embeddings.

Built on the official SDK's ``AsyncAnthropic`` with ``max_retries=0`` (the dispatcher
owns retries), imported on first use so importing this module stays cheap. One SDK
client is cached per ``(base_url, api_key)``.

The SDK speaks ``httpx2`` only and refuses an ``httpx.AsyncClient``. The contract hands
us an ``httpx`` client so that all providers share one pool and tests can inject a
transport, so an injected ``httpx`` client is bridged: a small ``httpx2`` transport
sends each request through it (:func:`_bridge_client`). An injected ``httpx2`` client
is used as it is.

``ChatRequest.temperature`` is not sent: the SDK's Messages API (2.x) no longer has
sampling parameters, and an unknown field would be refused as an invalid request.

Mapped errors are raised outside the ``except`` block, so no SDK exception (whose text
may echo the key) rides along as ``__context__``.
"""

from __future__ import annotations

import base64
import functools
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from sparklio_desktop.core.providers._client_base import CallState, ClientBase, close_quietly, describe
from sparklio_desktop.core.providers.base import (
    ChatRequest,
    EmbedRequest,
    EmbedResult,
    Endpoint,
    ImageRequest,
    ImageResult,
    Message,
    Usage,
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
from sparklio_desktop.core.structured_output import JsonOutput

if TYPE_CHECKING:
    import anthropic
    import httpx2

__all__ = ["DEFAULT_MAX_TOKENS", "AnthropicClient", "message_params", "message_usage"]

# Anthropic requires max_tokens on every request.
DEFAULT_MAX_TOKENS = 1024
CHECK_AUTH_TIMEOUT_S = 15.0
_CONTEXT_WORDS = re.compile(r"prompt is too long|exceed context limit|context window|context length", re.I)
_TRANSIENT_TYPES = frozenset({"overloaded_error", "rate_limit_error", "api_error", "timeout_error"})
_AUTH_TYPES = frozenset({"authentication_error", "permission_error", "billing_error"})


def _split_messages(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """Anthropic takes the system prompt apart from the turns, and images as base64 blocks."""
    system = [m.content for m in messages if m.role == "system" and m.content]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        if not message.images:
            turns.append({"role": message.role, "content": message.content})
            continue
        blocks: list[dict[str, Any]] = [
            {
                "type": "image",
                "source": {
                    "type": "base64",
                    "media_type": image.mime_type,
                    "data": base64.b64encode(image.data).decode("ascii"),
                },
            }
            for image in message.images
        ]
        if message.content:
            blocks.append({"type": "text", "text": message.content})  # images first, as Anthropic advises
        turns.append({"role": message.role, "content": blocks})
    return ("\n\n".join(system) or None), turns


def message_params(model: str, messages: tuple[Message, ...], max_output_tokens: int | None) -> dict[str, Any]:
    """The body of one Messages API request: a chat call's and a batch item's ``params`` alike.

    No temperature: this SDK's Messages API has no sampling parameters."""
    system, turns = _split_messages(messages)
    params: dict[str, Any] = {
        "model": model,
        "messages": turns,
        "max_tokens": max_output_tokens or DEFAULT_MAX_TOKENS,
    }
    if system is not None:
        params["system"] = system
    return params


def forced_tool(output: JsonOutput) -> dict[str, Any]:
    """Anthropic's structured output: one tool whose input schema is the answer's, and a
    ``tool_choice`` that forces the call, so the tool's input is the JSON object asked for."""
    tool = {
        "name": output.name,
        "description": output.description or f"Return the answer as a {output.name} object.",
        "input_schema": dict(output.schema),
    }
    return {"tools": [tool], "tool_choice": {"type": "tool", "name": output.name}}


class AnthropicClient(ClientBase["anthropic.AsyncAnthropic"]):
    """Claude models through the Messages API."""

    provider = "anthropic"

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__()
        self._injected: Any = http_client
        self._http: httpx2.AsyncClient | None = None
        self._owns_http = True

    def _http_client(self) -> httpx2.AsyncClient:
        if self._http is None:
            import anthropic
            import httpx2

            if isinstance(self._injected, httpx2.AsyncClient):
                self._http, self._owns_http = self._injected, False
            elif self._injected is not None:
                self._http = _bridge_client(self._injected)
            else:
                self._http = anthropic.DefaultAsyncHttpxClient()
        return self._http

    def _new_sdk(self, endpoint: Endpoint) -> anthropic.AsyncAnthropic:
        import anthropic

        # base_url None: the SDK reads ANTHROPIC_BASE_URL, then its default.
        sdk = anthropic.AsyncAnthropic(
            api_key=endpoint.api_key, base_url=endpoint.base_url, http_client=self._http_client(), max_retries=0
        )
        if not (sdk.api_key or sdk.auth_token or sdk.credentials):
            # Otherwise the SDK fails each request with a bare TypeError.
            raise AuthError("no Anthropic API key is configured", **self._who(endpoint))
        return sdk

    async def aclose(self) -> None:
        """Close what this client created; an injected client stays open for its owner."""
        self._sdk_clients.clear()
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.aclose()

    # -- chat ------------------------------------------------------------------
    async def _open_stream(self, sdk: anthropic.AsyncAnthropic, request: ChatRequest, call: CallState) -> Any:
        params = message_params(request.endpoint.api_name, request.messages, request.max_output_tokens)
        if request.json_output is not None:
            params.update(forced_tool(request.json_output))
        return await sdk.messages.create(**params, stream=True, timeout=request.timeout_s)

    async def _stream_texts(self, stream: Any, call: CallState) -> AsyncGenerator[str, None]:
        """Text deltas; usage from message_start and message_delta."""
        async for event in stream:
            kind = event.type
            if kind == "message_start":
                _take_input(call, event.message.usage)
                call.output_tokens = event.message.usage.output_tokens
            elif kind == "content_block_delta" and event.delta.type == "text_delta" and event.delta.text:
                yield event.delta.text
            elif kind == "content_block_delta" and event.delta.type == "input_json_delta" and event.delta.partial_json:
                yield event.delta.partial_json  # the forced tool's input: the JSON answer, as it streams
            elif kind == "message_delta" and event.usage is not None:
                call.output_tokens = event.usage.output_tokens  # cumulative, so the last one wins
                _take_input(call, event.usage)
            elif kind == "message_stop":
                call.finished = True

    async def _close_stream(self, stream: Any, call: CallState) -> None:
        await close_quietly(stream.close)

    def _unfinished(self, call: CallState) -> ProviderError | None:
        return None if call.finished else self._broken(call, "the stream ended before message_stop")

    # -- what Anthropic does not offer, and auth -------------------------------
    async def generate_image(self, request: ImageRequest) -> ImageResult:
        raise UnsupportedError(
            "Anthropic has no image generation API", provider=self.provider, model=request.endpoint.api_name
        )

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        raise UnsupportedError(
            "Anthropic has no embeddings API", provider=self.provider, model=request.endpoint.api_name
        )

    async def check_auth(self, endpoint: Endpoint) -> None:
        """List one model: authenticated, free, and it proves the base URL is right."""
        await self._call(
            endpoint, CHECK_AUTH_TIMEOUT_S, lambda sdk: sdk.models.list(limit=1, timeout=CHECK_AUTH_TIMEOUT_S)
        )

    # -- error mapping ---------------------------------------------------------
    def _classify(self, exc: Exception, call: CallState) -> Exception:
        """Classify any failure of an SDK call into the errors the dispatcher acts on."""
        import anthropic
        import httpx2

        kw = self._who(call.endpoint)
        text = call.text
        # message_start reports output_tokens=1 before any text; only a later count is real.
        tokens = call.output_tokens if call.output_tokens and call.output_tokens > 1 else None
        if isinstance(exc, anthropic.APIStatusError):
            message = self._clean(call.endpoint, _provider_message(exc))
            error_type = _error_type(exc.body)
            in_stream = exc.status_code < 400  # an `event: error` inside a 200 stream
            if text:
                return self._broken(call, f"stream broken: {message}", tokens)
            status = None if in_stream else exc.status_code
            cls = _error_class(status, error_type, message)
            if cls is TransientError:
                retry = None if in_stream else parse_retry_after(exc.response.headers)
                return TransientError(message, retry_after_s=retry, status=status, **kw)
            return cls(message, status=status, **kw)
        if text:
            return self._broken(call, f"stream broken: {describe(exc)}", tokens)
        if isinstance(exc, (anthropic.APITimeoutError, httpx.TimeoutException, httpx2.TimeoutException)):
            return TransientError("the request timed out", **kw)
        if isinstance(exc, anthropic.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = describe(cause) if cause is not None else exc.message
            return TransientError(self._clean(call.endpoint, f"connection failed: {detail}"), **kw)
        if isinstance(exc, anthropic.CredentialsError):  # a profile or token file that would not load
            return AuthError(self._clean(call.endpoint, str(exc)), **kw)
        if call.opened or isinstance(exc, (ValueError, httpx.HTTPError, httpx2.HTTPError)):
            return TransientError(
                self._clean(call.endpoint, f"malformed or interrupted response: {describe(exc)}"), **kw
            )
        return exc  # not the provider's failure but a bug of ours: let it surface unchanged


def _take_input(call: CallState, usage: Any) -> None:
    """Record a usage report's input. Anthropic's ``input_tokens`` leaves out the cache
    reads and writes it reports beside it; Sparklio's input is all of it (genai-prices'
    convention), so they are added. A later report without a count keeps the earlier one."""
    old_read, old_write = call.cache_read_tokens or 0, call.cache_write_tokens or 0
    plain = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    write = getattr(usage, "cache_creation_input_tokens", None)
    if plain is None and read is None and write is None:
        return
    if read is not None:
        call.cache_read_tokens = read
    if write is not None:
        call.cache_write_tokens = write
    if plain is None:
        plain = (call.input_tokens or 0) - old_read - old_write
    call.input_tokens = plain + (call.cache_read_tokens or 0) + (call.cache_write_tokens or 0)


def message_usage(usage: Any) -> Usage:
    """A finished message's ``usage`` (a batch item's answer) counted as :func:`_take_input`
    counts a stream's: cache reads and writes added to the input."""
    call = CallState(Endpoint("anthropic", ""), 0.0)
    _take_input(call, usage)
    output = getattr(usage, "output_tokens", None)
    return Usage(
        input_tokens=call.input_tokens,
        output_tokens=output if isinstance(output, int) else None,
        cache_read_tokens=call.cache_read_tokens,
        cache_write_tokens=call.cache_write_tokens,
    )


def _error_class(status: int | None, error_type: str | None, message: str) -> type[ProviderError]:
    """Which error class an Anthropic failure (HTTP status, ``error.type``) belongs to."""
    if status == 529 or error_type in _TRANSIENT_TYPES:
        return TransientError
    if status in (401, 402, 403) or error_type in _AUTH_TYPES:
        return AuthError
    if status == 404 or error_type == "not_found_error":
        return ModelNotFoundError
    if _CONTEXT_WORDS.search(message) and (status in (400, 413, None)):
        return ContextLengthError
    if status is None:
        return InvalidRequestError if error_type == "invalid_request_error" else TransientError
    if status in (408, 409, 429) or status >= 500:
        return TransientError
    return InvalidRequestError


def _error_type(body: object) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    value = error.get("type") if isinstance(error, dict) else None
    return value if isinstance(value, str) else None


def _provider_message(exc: Exception) -> str:
    """``error.message`` from Anthropic's error body, else the SDK's own text."""
    body = getattr(exc, "body", None)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, str) and message:
        return message
    return str(getattr(exc, "message", "") or exc)


def _bridge_client(client: httpx.AsyncClient) -> httpx2.AsyncClient:
    """An ``httpx2`` client whose every request goes out through the ``httpx`` ``client``."""
    import httpx2

    return httpx2.AsyncClient(transport=_bridge_transport_class()(client))


@functools.cache
def _bridge_transport_class() -> type:
    """Defined on first use, because ``httpx2`` is only imported along with the SDK."""
    import httpx2

    def translate(exc: httpx.HTTPError, request: httpx2.Request) -> httpx2.HTTPError:
        # Same names in both packages; the SDK recognises httpx2's timeouts and transport errors.
        cls = getattr(httpx2, type(exc).__name__, None)
        if not (isinstance(cls, type) and issubclass(cls, httpx2.RequestError)):
            cls = httpx2.TimeoutException if isinstance(exc, httpx.TimeoutException) else httpx2.TransportError
        return cls(str(exc), request=request)

    class BridgedStream(httpx2.AsyncByteStream):
        def __init__(self, response: httpx.Response, request: httpx2.Request) -> None:
            self._response = response
            self._request = request

        async def __aiter__(self) -> AsyncIterator[bytes]:
            failure: httpx2.HTTPError | None = None
            try:
                async for chunk in self._response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                failure = translate(exc, self._request)
            if failure is not None:
                raise failure

        async def aclose(self) -> None:
            await self._response.aclose()

    class BridgeTransport(httpx2.AsyncBaseTransport):
        def __init__(self, client: httpx.AsyncClient) -> None:
            self._client = client

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            timeout = request.extensions.get("timeout")
            outgoing = self._client.build_request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                content=await request.aread(),
                timeout=httpx.Timeout(**timeout) if isinstance(timeout, dict) else httpx.USE_CLIENT_DEFAULT,
            )
            failure: httpx2.HTTPError | None = None
            try:
                response = await self._client.send(outgoing, stream=True)
            except httpx.HTTPError as exc:
                failure = translate(exc, request)
            if failure is not None:
                raise failure
            return httpx2.Response(
                response.status_code,
                headers=response.headers.multi_items(),
                stream=BridgedStream(response, request),
                request=request,
            )

    return BridgeTransport
