"""OpenAI, and every server that speaks its wire format (LM Studio, vLLM, llama.cpp, OpenRouter).

Built on the official SDK's ``AsyncOpenAI`` with ``max_retries=0``: the dispatcher owns
retries. The SDK is imported on first use, so importing this module (as the registry
and GUI start-up do) stays cheap. One SDK client is cached per ``(base_url, api_key)``;
they all share one HTTP connection pool: the injected ``httpx.AsyncClient`` (the SDK
accepts ``httpx`` as well as its own ``httpx2``) or one this client creates and closes.

Every failure leaves as a :mod:`~sparklio_desktop.core.providers.errors` class whose
message is the provider's own words with the key redacted. Mapped errors are raised
outside the ``except`` block on purpose, so no SDK exception (whose text may hold the
key or the Authorization header) rides along as ``__context__`` into logs.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from sparklio_desktop.core.provider_table import base_url_from_env
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
)
from sparklio_desktop.core.structured_output import JsonOutput

if TYPE_CHECKING:
    import openai

__all__ = ["OpenAICompatibleClient", "OpenAIClient", "openai_usage"]

# check_auth has no request to carry a timeout; listing models should be quick.
CHECK_AUTH_TIMEOUT_S = 15.0
# Sent to compatible servers that need no key: the SDK insists on some Authorization.
NO_KEY = "no-key"
_CONTEXT_WORDS = re.compile(r"context length|context window|maximum context|too many tokens", re.I)


def _field(obj: Any, name: str) -> Any:
    """``obj.name`` of an SDK object, or ``obj[name]`` of the same thing as parsed JSON."""
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def openai_usage(usage: Any) -> Usage:
    """OpenAI's ``usage`` (an SDK object or its JSON) in genai-prices' convention, which is
    OpenAI's own: cached tokens are part of ``prompt_tokens``, reasoning part of
    ``completion_tokens``. A count that is missing or not a number is ``None``."""
    return Usage(
        input_tokens=_count(_field(usage, "prompt_tokens")),
        output_tokens=_count(_field(usage, "completion_tokens")),
        cache_read_tokens=_count(_field(_field(usage, "prompt_tokens_details"), "cached_tokens")),
        reasoning_tokens=_count(_field(_field(usage, "completion_tokens_details"), "reasoning_tokens")),
    )


def _message_payload(message: Message) -> dict[str, Any]:
    """One chat message; images become ``image_url`` parts with a base64 data URL."""
    if not message.images:
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"type": "text", "text": message.content})
    for image in message.images:
        url = f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message.role, "content": parts}


class OpenAIClient(ClientBase["openai.AsyncOpenAI"]):
    """OpenAI's own API: chat (streamed), DALL-E images and embeddings."""

    provider = "openai"
    # OpenAI's newer models reject ``max_tokens``; compatible servers may not know the new name.
    max_tokens_param = "max_completion_tokens"

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__()
        self._http: Any = http_client
        self._owns_http = http_client is None

    # -- SDK clients -------------------------------------------------------------
    def _sdk_options(self, endpoint: Endpoint) -> dict[str, Any]:
        """Key and base URL for the SDK; ``None`` lets it read OPENAI_API_KEY / OPENAI_BASE_URL."""
        return {"api_key": endpoint.api_key, "base_url": endpoint.base_url}

    def _new_sdk(self, endpoint: Endpoint) -> openai.AsyncOpenAI:
        import openai

        options = self._sdk_options(endpoint)
        if self._http is None:
            self._http = openai.DefaultAsyncHttpxClient()
        return openai.AsyncOpenAI(**options, http_client=self._http, max_retries=0)

    async def aclose(self) -> None:
        """Close the connection pool if this client created it; an injected one is the caller's."""
        self._sdk_clients.clear()
        if self._owns_http and self._http is not None:
            http, self._http = self._http, None
            await http.aclose()

    # -- chat ------------------------------------------------------------------
    def _chat_body(
        self, model: str, messages: Sequence[Message], max_output_tokens: int | None, temperature: float | None
    ) -> dict[str, Any]:
        """A chat request's body, streamed or not: a chat call and a batch item send the same."""
        body: dict[str, Any] = {"model": model, "messages": [_message_payload(m) for m in messages]}
        if max_output_tokens is not None:
            body[self.max_tokens_param] = max_output_tokens
        if temperature is not None:
            body["temperature"] = temperature
        return body

    def _chat_params(self, request: ChatRequest) -> dict[str, Any]:
        body = self._chat_body(
            request.endpoint.api_name, request.messages, request.max_output_tokens, request.temperature
        )
        if request.json_output is not None:
            body["response_format"] = response_format(request.json_output)
        return {**body, "stream": True, "stream_options": {"include_usage": True}, "timeout": request.timeout_s}

    async def _open_stream(self, sdk: openai.AsyncOpenAI, request: ChatRequest, call: CallState) -> Any:
        return await sdk.chat.completions.create(**self._chat_params(request))

    async def _stream_texts(self, stream: Any, call: CallState) -> AsyncGenerator[str, None]:
        async for chunk in stream:
            usage = getattr(chunk, "usage", None)
            if usage is not None:
                reported = openai_usage(usage)
                call.input_tokens = reported.input_tokens
                call.output_tokens = reported.output_tokens
                call.cache_read_tokens = reported.cache_read_tokens
                call.reasoning_tokens = reported.reasoning_tokens
            for choice in chunk.choices or ():
                if choice.finish_reason is not None:
                    call.finished = True
                piece = choice.delta.content if choice.delta is not None else None
                if piece:
                    yield piece

    async def _close_stream(self, stream: Any, call: CallState) -> None:
        await close_quietly(stream.close)

    def _unfinished(self, call: CallState) -> ProviderError | None:
        if call.finished:
            return None
        return self._broken(call, "the stream ended before the answer was complete", call.output_tokens)

    # -- images, embeddings, auth ----------------------------------------------
    async def generate_image(self, request: ImageRequest) -> ImageResult:
        """DALL-E 3 (or gpt-image) returning base64, so no second download is needed."""
        endpoint = request.endpoint
        params: dict[str, Any] = {
            "model": endpoint.api_name,
            "prompt": request.prompt,
            "size": request.size,
            "n": request.n,
            "timeout": request.timeout_s,
        }
        if endpoint.api_name.startswith("dall-e"):
            params["response_format"] = "b64_json"  # gpt-image models always answer base64
        result = await self._call(endpoint, request.timeout_s, lambda sdk: sdk.images.generate(**params))
        images = tuple(base64.b64decode(item.b64_json) for item in result.data or () if item.b64_json)
        if not images:
            raise TransientError("the provider returned no image data", provider=self.provider, model=endpoint.api_name)
        return ImageResult(images=images, size=request.size, revised_prompt=result.data[0].revised_prompt)

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        endpoint = request.endpoint
        result = await self._call(
            endpoint,
            request.timeout_s,
            lambda sdk: sdk.embeddings.create(
                model=endpoint.api_name, input=list(request.inputs), encoding_format="float", timeout=request.timeout_s
            ),
        )
        vectors = tuple(tuple(float(x) for x in item.embedding) for item in sorted(result.data, key=lambda d: d.index))
        usage = getattr(result, "usage", None)
        return EmbedResult(vectors=vectors, input_tokens=getattr(usage, "prompt_tokens", None))

    async def check_auth(self, endpoint: Endpoint) -> None:
        """List models: authenticated, free, and it proves the base URL is right."""
        await self._call(endpoint, CHECK_AUTH_TIMEOUT_S, lambda sdk: sdk.models.list(timeout=CHECK_AUTH_TIMEOUT_S))

    # -- error mapping ---------------------------------------------------------
    def _classify(self, exc: Exception, call: CallState) -> Exception:
        """Classify any failure of an SDK call into the errors the dispatcher acts on."""
        import httpx2
        import openai

        kw = self._who(call.endpoint)
        if call.parts:  # the stream died after output: whatever the cause, record what came
            detail = _provider_message(exc) if isinstance(exc, openai.APIError) else describe(exc)
            return self._broken(call, f"stream broken: {detail}", call.output_tokens)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            message = self._clean(call.endpoint, _provider_message(exc))
            cls = _error_class(status, exc.code, exc.type, message)
            if cls is TransientError:
                return TransientError(
                    message, retry_after_s=parse_retry_after(exc.response.headers), status=status, **kw
                )
            return cls(message, status=status, **kw)
        if isinstance(exc, openai.APITimeoutError):
            return TransientError("the request timed out", **kw)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = describe(cause) if cause is not None else exc.message
            return TransientError(self._clean(call.endpoint, f"connection failed: {detail}"), **kw)
        if isinstance(exc, openai.APIError):  # an error event inside a 200 stream
            message = self._clean(call.endpoint, _provider_message(exc))
            return _error_class(None, exc.code, exc.type, message)(message, **kw)
        if isinstance(exc, openai.OpenAIError):  # raised before any request: missing credentials
            return AuthError(self._clean(call.endpoint, str(exc)), **kw)
        if isinstance(exc, (httpx.TimeoutException, httpx2.TimeoutException)):
            return TransientError("the request timed out", **kw)
        if call.opened or isinstance(exc, (ValueError, httpx.HTTPError, httpx2.HTTPError)):
            return TransientError(
                self._clean(call.endpoint, f"malformed or interrupted response: {describe(exc)}"), **kw
            )
        return exc  # not the provider's failure but a bug of ours: let it surface unchanged


def response_format(output: JsonOutput) -> dict[str, Any]:
    """OpenAI's structured output: ``json_schema``, strict when the schema allows it
    (every object closed, every property required; core/structured_output.py)."""
    spec: dict[str, Any] = {"name": output.name, "schema": dict(output.schema), "strict": output.strict}
    if output.description:
        spec["description"] = output.description
    return {"type": "json_schema", "json_schema": spec}


class OpenAICompatibleClient(OpenAIClient):
    """The OpenAI wire format at a user's base URL; the key is optional.

    Never falls back to ``OPENAI_API_KEY``: that would hand the user's OpenAI key to a
    third-party server. Without a key a placeholder is sent, which local servers ignore.
    """

    provider = "openai_compatible"
    max_tokens_param = "max_tokens"

    def _sdk_options(self, endpoint: Endpoint) -> dict[str, Any]:
        base_url = endpoint.base_url or base_url_from_env(self.provider)
        if not base_url:
            raise InvalidRequestError(
                "an OpenAI-compatible endpoint needs a base URL", provider=self.provider, model=endpoint.api_name
            )
        return {"api_key": endpoint.api_key or NO_KEY, "base_url": base_url}


def _error_class(status: int | None, code: str | None, type_: str | None, message: str) -> type[ProviderError]:
    """Which error class an OpenAI-style failure (HTTP status, ``code``, ``type``) belongs to."""
    if code == "context_length_exceeded" or (status in (400, 413, None) and _CONTEXT_WORDS.search(message)):
        return ContextLengthError
    if code == "insufficient_quota":  # billing, not a rate limit: waiting will not help
        return AuthError
    if code == "model_not_found" or status == 404:
        return ModelNotFoundError
    if status in (401, 403) or code == "invalid_api_key":
        return AuthError
    if status is None:
        return InvalidRequestError if type_ == "invalid_request_error" else TransientError
    if status in (408, 409, 429) or status >= 500:
        return TransientError
    return InvalidRequestError


def _provider_message(exc: Exception) -> str:
    """The provider's own explanation: ``error.message`` from the body when there is one."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message:
            return message
    return str(getattr(exc, "message", "") or exc)
