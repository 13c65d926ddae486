"""Google Gemini through the official ``google-genai`` SDK's async client.

- **No SDK retries**: ``HttpRetryOptions(attempts=1)``. Unset, tenacity does not retry,
  but the aiohttp path still sleeps 1–10 s and retries a failed connection once.
- **Our httpx client**: ``HttpOptions.httpx_async_client`` makes the SDK send through
  the injected client (not aiohttp or httpx2, which it prefers when installed) and it
  never closes a client it was given.
- **Explicit timeouts**: every call carries ``HttpOptions(timeout=ms)``; without one the
  SDK passes ``timeout=None`` to httpx, which turns httpx's timeouts off. httpx applies
  it per operation, so for a stream it bounds the wait between chunks.
- **Closing a stream ourselves**: the SDK's stream is five nested async generators, one
  in a reference cycle, so closing the outer one leaves the response open until the
  cyclic GC runs. A response hook on the httpx client (a no-op outside our own stream
  steps) hands us each stream's ``httpx.Response`` to close in ``finally``.
- **Lazy import**: ``google.genai`` takes about 0.6 s to import.

Failures arrive as ``google.genai.errors.APIError`` (HTTP and in-stream errors, with
Google's ``status`` and ``details``) or raw ``httpx`` exceptions. Mapped errors are raised
outside the ``except`` block, so the SDK exception (whose text may quote the key) does
not ride along as ``__context__``.
"""

from __future__ import annotations

import contextvars
import json
import math
import re
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from sparklio_desktop.core.providers._client_base import CallState, ClientBase
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

if TYPE_CHECKING:
    from google import genai
    from google.genai import types as genai_types

# Catalog names for Gemini's image model ("Nano Banana") -> the API's model name.
IMAGE_MODEL_ALIASES: dict[str, str] = {
    "nanobanana": "gemini-2.5-flash-image",
    "nanobananapro": "gemini-3-pro-image-preview",
}
_ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# finishReason / blockReason values that mean "refused", not "finished".
_REFUSALS = frozenset(
    {"SAFETY", "RECITATION", "LANGUAGE", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII"}
    | {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION"}
)
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_TRANSIENT_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL"})
_CONTEXT_TOO_LONG = re.compile(
    r"exceeds the maximum number of tokens|input token count|context (length|window)|too many tokens",
    re.IGNORECASE,
)
_CHECK_AUTH_TIMEOUT_S = 15.0

# While one of our stream steps runs, the responses its HTTP requests open (see
# _capture_response); None everywhere else.
_STREAM_RESPONSES: contextvars.ContextVar[list[httpx.Response] | None] = contextvars.ContextVar(
    "gemini_stream_responses", default=None
)


async def _capture_response(response: httpx.Response) -> None:
    """httpx response hook: remember the responses a stream step opens, so we can close them."""
    sink = _STREAM_RESPONSES.get()
    if sink is not None:
        sink.append(response)


class GeminiClient(ClientBase["genai.Client"]):
    """Chat, embeddings and image generation against the Gemini API (provider ``google``)."""

    provider = "google"

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__()
        self._http_client = http_client
        self._owns_http_client = http_client is None

    # -- chat ----------------------------------------------------------------------
    async def _open_stream(self, sdk: genai.Client, request: ChatRequest, call: CallState) -> Any:
        from google.genai import types

        contents, system = _contents(request.messages, types)
        config = types.GenerateContentConfig(
            system_instruction=system,
            max_output_tokens=request.max_output_tokens,
            temperature=request.temperature,
            http_options=_timeout(types, request.timeout_s),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        if request.json_output is not None:
            # Gemini's structured output: JSON as the MIME type, and the schema as responseSchema.
            config.response_mime_type = "application/json"
            config.response_schema = gemini_schema(request.json_output.schema)
        return await sdk.aio.models.generate_content_stream(
            model=call.endpoint.api_name, contents=contents, config=config
        )

    async def _stream_texts(self, stream: Any, call: CallState) -> AsyncGenerator[str, None]:
        while True:
            # Capture only during our own step: other work in this task is not ours.
            token = _STREAM_RESPONSES.set(call.responses)
            try:
                chunk = await stream.__anext__()
            except StopAsyncIteration:
                return
            finally:
                _STREAM_RESPONSES.reset(token)
            call.responded = True
            if chunk.usage_metadata is not None:
                usage = _usage(chunk.usage_metadata)
                call.input_tokens, call.output_tokens = usage.input_tokens, usage.output_tokens
                call.cache_read_tokens, call.reasoning_tokens = usage.cache_read_tokens, usage.reasoning_tokens
            for text in _texts(chunk):
                yield text
            self._raise_if_refused(chunk, call.endpoint)

    async def _close_stream(self, stream: Any, call: CallState) -> None:
        for response in call.responses:
            await response.aclose()  # closes the connection if the body is unread
        await stream.aclose()

    # -- embeddings, images, auth ----------------------------------------------------
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        async def call(client: genai.Client) -> Any:
            from google.genai import types

            # One Content per input: a plain list of strings would be merged into one
            # Content with several parts, and come back as a single embedding.
            return await client.aio.models.embed_content(
                model=request.endpoint.api_name,
                contents=[types.Content(role="user", parts=[types.Part.from_text(text=t)]) for t in request.inputs],
                config=types.EmbedContentConfig(http_options=_timeout(types, request.timeout_s)),
            )

        response = await self._call(request.endpoint, request.timeout_s, call)
        embeddings = response.embeddings or []
        vectors = tuple(tuple(e.values or ()) for e in embeddings)
        # The Gemini API reports no token count for embeddings (Vertex AI does).
        counts = [e.statistics.token_count for e in embeddings if e.statistics and e.statistics.token_count]
        return EmbedResult(vectors=vectors, input_tokens=int(sum(counts)) if counts else None)

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        """Gemini's image models answer ``generateContent`` with inline image parts.

        One call per image, in turn: the image models return one image per call, and
        sequential calls keep both the cost and the failure simple when ``n > 1``.
        """
        endpoint = request.endpoint
        model = IMAGE_MODEL_ALIASES.get(re.sub(r"[^a-z0-9]", "", endpoint.api_name.lower()), endpoint.api_name)

        async def call(client: genai.Client) -> list[bytes]:
            from google.genai import types

            images: list[bytes] = []
            config = types.GenerateContentConfig(
                response_modalities=["TEXT", "IMAGE"],
                image_config=types.ImageConfig(aspect_ratio=_aspect_ratio(request.size)),
                http_options=_timeout(types, request.timeout_s),
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            )
            for _ in range(max(1, request.n)):
                response = await client.aio.models.generate_content(model=model, contents=request.prompt, config=config)
                self._raise_if_refused(response, endpoint)
                found = [
                    part.inline_data.data
                    for candidate in response.candidates or []
                    for part in (candidate.content.parts if candidate.content else None) or []
                    if part.inline_data is not None
                    and part.inline_data.data
                    and (part.inline_data.mime_type or "image/").startswith("image/")
                ]
                if not found:
                    said = " ".join(_texts(response)).strip()
                    message = self._clean(endpoint, f"Gemini returned no image{': ' + said if said else ''}")
                    raise InvalidRequestError(message, **{**self._who(endpoint), "model": model})
                images.extend(found)
            return images

        images = await self._call(endpoint, request.timeout_s, call)
        return ImageResult(images=tuple(images), size=request.size)

    async def check_auth(self, endpoint: Endpoint) -> None:
        """List one model: the cheapest call that proves the key works."""

        async def call(client: genai.Client) -> None:
            from google.genai import types

            timeout = _timeout(types, _CHECK_AUTH_TIMEOUT_S)
            await client.aio.models.list(config=types.ListModelsConfig(page_size=1, http_options=timeout))

        await self._call(endpoint, _CHECK_AUTH_TIMEOUT_S, call)

    async def aclose(self) -> None:
        """Close the SDK clients' own pools, then our httpx client if we made it."""
        clients, self._sdk_clients = list(self._sdk_clients.values()), {}
        for client in clients:
            await client.aio.aclose()  # leaves an injected httpx client open
            client.close()  # the sync pool the SDK builds beside ours
        if self._owns_http_client and self._http_client is not None:
            await self._http_client.aclose()
            self._http_client = None

    # -- the SDK client --------------------------------------------------------------
    def _who(self, endpoint: Endpoint) -> dict[str, Any]:
        return {"provider": endpoint.provider or self.provider, "model": endpoint.api_name}

    def _new_sdk(self, endpoint: Endpoint) -> genai.Client:
        from google import genai
        from google.genai import types

        if self._http_client is None:
            self._http_client = httpx.AsyncClient(follow_redirects=True)
        hooks = self._http_client.event_hooks
        if _capture_response not in hooks["response"]:
            self._http_client.event_hooks = {**hooks, "response": [*hooks["response"], _capture_response]}
        options = types.HttpOptions(
            base_url=endpoint.base_url,  # None: the SDK default or GOOGLE_GEMINI_BASE_URL
            retry_options=types.HttpRetryOptions(attempts=1),
            httpx_async_client=self._http_client,
        )
        failure: ProviderError
        try:
            return genai.Client(api_key=endpoint.api_key, vertexai=False, http_options=options)
        except ValueError as err:  # no key given and none in GEMINI_API_KEY / GOOGLE_API_KEY
            failure = AuthError(self._clean(endpoint, str(err)), **self._who(endpoint))
        raise failure

    # -- errors ------------------------------------------------------------------------
    def _raise_if_refused(self, response: Any, endpoint: Endpoint) -> None:
        """Safety blocks arrive as a normal 200 response; they are refusals, not answers."""
        kw = self._who(endpoint)
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = _enum_name(feedback.block_reason)
            detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
            message = f"Gemini blocked the prompt ({reason}){detail}"
            raise InvalidRequestError(self._clean(endpoint, message), **kw)
        for candidate in response.candidates or []:
            reason = _enum_name(candidate.finish_reason)
            if reason in _REFUSALS:
                detail = f": {candidate.finish_message}" if candidate.finish_message else ""
                message = f"Gemini stopped the answer (finish reason {reason}){detail}"
                raise InvalidRequestError(self._clean(endpoint, message), **kw)

    def _classify(self, exc: Exception, call: CallState) -> Exception:
        """Map an SDK or transport exception to our classes, redacted; return others (bugs) as they are.

        A ``ValueError`` is a malformed response once the server has ``responded``; before
        that, a request the SDK refused to build (no contents, a bad parameter)."""
        from google.genai import errors as genai_errors

        kw = self._who(call.endpoint)

        def clean(text: str) -> str:
            return self._clean(call.endpoint, text)

        if isinstance(exc, genai_errors.APIError):
            return _classify_api_error(exc, clean, kw)
        if isinstance(exc, httpx.TimeoutException):
            return TransientError(clean(f"no response within {call.timeout_s:g} s ({type(exc).__name__})"), **kw)
        if isinstance(exc, httpx.TransportError):
            return TransientError(clean(f"connection failed: {type(exc).__name__}: {exc}"), **kw)
        if isinstance(exc, (genai_errors.UnknownApiResponseError, json.JSONDecodeError)) or (
            call.responded and isinstance(exc, ValueError)
        ):
            return TransientError(clean(f"malformed response: {exc}"), **kw)
        if isinstance(exc, ValueError):
            return InvalidRequestError(clean(str(exc)), **kw)
        return exc


def _classify_api_error(err: Any, clean: Any, kw: dict[str, Any]) -> ProviderError:
    """Google's ``{"error": {code, message, status, details}}`` -> one of our classes."""
    code = int(err.code) if err.code else None
    status_name = str(err.status or "")
    body = err.details if isinstance(err.details, Mapping) else {}
    body = body.get("error", body) if isinstance(body.get("error"), Mapping) else body
    details = [d for d in body.get("details") or [] if isinstance(d, Mapping)]
    reasons = {str(d.get("reason")) for d in details if d.get("reason")}
    raw = str(err.message or body.get("message") or err)
    message = clean(f"{status_name}: {raw}" if status_name else raw)
    kw = {**kw, "status": code}
    # A bad key is 400 INVALID_ARGUMENT with reason API_KEY_INVALID, not 401.
    bad_key = bool(reasons & _AUTH_REASONS) or (code == 400 and "api key" in raw.lower())
    if bad_key or code in (401, 403) or status_name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthError(message, **kw)
    if code == 404 or status_name == "NOT_FOUND":
        return ModelNotFoundError(message, **kw)
    if code in (408, 429) or (code is not None and code >= 500) or status_name in _TRANSIENT_STATUSES:
        headers = getattr(getattr(err, "response", None), "headers", None) or {}
        retry_after = parse_retry_after(dict(headers.items())) if headers else None
        if retry_after is None:
            retry_after = _retry_info_delay(details)
        return TransientError(message, retry_after_s=retry_after, **kw)
    if _CONTEXT_TOO_LONG.search(raw):
        return ContextLengthError(message, **kw)
    return InvalidRequestError(message, **kw)


def _retry_info_delay(details: list[Mapping[str, Any]]) -> float | None:
    """Gemini's 429s carry ``google.rpc.RetryInfo`` with ``retryDelay: "37s"``."""
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*([0-9.]+)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return max(0.0, float(match.group(1)))
    return None


# -- request and response shapes -----------------------------------------------------
_GEMINI_SCHEMA_KEYS = frozenset(
    {
        "type",
        "format",
        "description",
        "nullable",
        "enum",
        "items",
        "properties",
        "required",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "anyOf",
        "propertyOrdering",
        "title",
    }
)


def gemini_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema in the OpenAPI subset ``responseSchema`` takes: keys it does not know
    (``additionalProperties``, ``$schema``, ``const``...) are left out, recursively. The
    answer is still checked against the whole schema afterwards."""
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _GEMINI_SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, Mapping):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items() if isinstance(sub, Mapping)}
        elif key == "items" and isinstance(value, Mapping):
            out[key] = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [gemini_schema(sub) for sub in value if isinstance(sub, Mapping)]
        else:
            out[key] = value
    return out


def _contents(messages: tuple[Message, ...], types: Any) -> tuple[list[genai_types.Content], str | None]:
    """Our messages -> Gemini ``contents`` plus the system prompt (``system_instruction``)."""
    system = [m.content for m in messages if m.role == "system" and m.content]
    contents = []
    for message in messages:
        if message.role == "system":
            continue
        parts = [types.Part.from_text(text=message.content)] if message.content else []
        parts += [types.Part.from_bytes(data=img.data, mime_type=img.mime_type) for img in message.images]
        role = "model" if message.role == "assistant" else "user"
        contents.append(types.Content(role=role, parts=parts))
    return contents, "\n\n".join(system) or None


def _texts(response: Any) -> list[str]:
    """The visible text parts of one response (thought summaries are not the answer)."""
    return [
        part.text
        for candidate in response.candidates or []
        for part in (candidate.content.parts if candidate.content else None) or []
        if part.text and not part.thought
    ]


def _usage(metadata: Any) -> Usage:
    """``promptTokenCount`` in (cached content included, ``cachedContentTokenCount`` its
    cached part); candidates plus thinking tokens out, thoughts the reasoning part: the
    mapping of genai-prices' Google extractor, so the totals it prices are the same."""
    if metadata is None:
        return Usage()
    candidates, thoughts = metadata.candidates_token_count, metadata.thoughts_token_count
    output = None if candidates is None and thoughts is None else (candidates or 0) + (thoughts or 0)
    return Usage(
        input_tokens=metadata.prompt_token_count,
        output_tokens=output,
        cache_read_tokens=metadata.cached_content_token_count,
        reasoning_tokens=thoughts,
    )


def _timeout(types: Any, timeout_s: float) -> genai_types.HttpOptions:
    options: genai_types.HttpOptions = types.HttpOptions(timeout=max(1, round(timeout_s * 1000)))
    return options


def _aspect_ratio(size: str) -> str:
    """``"1792x1024"`` -> the closest ratio Gemini accepts (``"16:9"``); ``"1:1"`` if unparsable."""
    match = re.fullmatch(r"\s*([1-9]\d*)\s*[x×:]\s*([1-9]\d*)\s*", size or "")
    if not match:
        return "1:1"
    wanted = math.log(int(match.group(1)) / int(match.group(2)))
    return min(_ASPECT_RATIOS, key=lambda r: abs(wanted - math.log(int(r.split(":")[0]) / int(r.split(":")[1]))))


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")
