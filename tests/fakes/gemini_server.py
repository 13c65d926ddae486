"""A loopback Gemini API (``generativelanguage.googleapis.com/v1beta`` and ``/v1``) for tests.

It speaks the wire format google-genai's async client uses, so the real SDK runs
against it unchanged (point the client's ``base_url`` at :attr:`base_url`):

    POST /v1beta/models/{model}:streamGenerateContent?alt=sse   SSE ``data: {GenerateContentResponse}``
    POST /v1beta/models/{model}:generateContent                 one GenerateContentResponse
    POST /v1beta/models/{model}:embedContent | :batchEmbedContents
    GET  /v1beta/models[/{model}]                               the model list (``check_auth``)

Errors use Google's envelope ``{"error": {"code", "message", "status", "details"}}``.
What the fake answers is plain attributes a test sets before the call::

    with GeminiServer(reply_text="Hi there", prompt_tokens=7, output_tokens=2) as server:
        server.interval_s = 0.05          # slow stream
        server.finish_reason = "SAFETY"   # refuse after the text
        server.script(Fault(status=429, headers={"Retry-After": "3"}))
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest, Reply, sse

# The gRPC status Google puts beside each HTTP code, used when a Fault names none.
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# A 1x1 PNG: what the fake "draws" for image models.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

# The SDK's default API version moved from v1beta to v1 (google-genai 3.x); serve both.
_MODEL_PATH = re.compile(r"^/(?P<version>v1(?:beta|alpha)?)/models/(?P<model>[^:/?]+)(?::(?P<method>[A-Za-z]+))?$")
_LIST_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/?$")


@dataclass
class StreamErrorFault(Fault):
    """An ``{"error": ...}`` event inside a 200 stream, after ``after`` normal chunks.

    Gemini reports some failures this way once the stream has started; the SDK
    raises ``APIError`` from the event's ``code``. Leave ``status`` unset: a status
    makes it an ordinary HTTP error instead.
    """

    after: int = 0
    code: int = 500


def error_body(status: int, message: str, status_name: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Google's error envelope; ``reason`` adds the ErrorInfo detail (e.g. API_KEY_INVALID)."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": status_name or _STATUS_NAMES.get(status, "UNKNOWN"),
    }
    if reason:
        error["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
    return {"error": error}


class GeminiServer(LoopbackServer):
    """The Gemini API's generate, stream, embed and list endpoints, with scripted faults.

    ``api_key``: when set, requests whose ``x-goog-api-key`` differs get Gemini's real
    answer for a bad key (400 INVALID_ARGUMENT, reason API_KEY_INVALID).
    ``models``: when set, other model names get 404 NOT_FOUND.
    ``model_fields``: per model, fields that replace the listed defaults (``inputTokenLimit``...);
    an embedding model (``embedding`` in its name) lists ``embedContent`` as its method.
    ``block_reason``: refuse the prompt itself (``promptFeedback.blockReason``).
    ``finish_reason``: the last chunk's ``finishReason`` (``"SAFETY"`` for a refusal).
    """

    def __init__(
        self,
        reply_text: str = "Hello from the Gemini fake.",
        *,
        prompt_tokens: int = 11,
        output_tokens: int = 6,
        thoughts_tokens: int | None = None,
        cached_tokens: int | None = None,
        interval_s: float = 0.0,
        api_key: str | None = None,
        models: tuple[str, ...] | None = None,
        image_bytes: bytes = TINY_PNG,
        embedding_dim: int = 8,
    ) -> None:
        super().__init__()
        self.reply_text = reply_text
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.thoughts_tokens = thoughts_tokens
        # ``cachedContentTokenCount``: the part of the prompt read from a cache.
        self.cached_tokens = cached_tokens
        self.interval_s = interval_s
        self.api_key = api_key
        self.models = models
        self.image_bytes = image_bytes
        self.embedding_dim = embedding_dim
        self.block_reason: str | None = None
        self.finish_reason = "STOP"
        self.model_fields: dict[str, dict[str, Any]] = {}
        # Set when a stream's client went away while the fake was still writing.
        self.client_disconnected = threading.Event()

    # -- what the fake says ------------------------------------------------------
    def reply_chunks(self) -> list[str]:
        """The reply split into word-sized pieces, one per SSE event."""
        return re.findall(r"\S+\s*|\s+", self.reply_text) or [""]

    def usage_metadata(self) -> dict[str, int]:
        usage = {
            "promptTokenCount": self.prompt_tokens,
            "candidatesTokenCount": self.output_tokens,
            "totalTokenCount": self.prompt_tokens + self.output_tokens + (self.thoughts_tokens or 0),
        }
        if self.thoughts_tokens is not None:
            usage["thoughtsTokenCount"] = self.thoughts_tokens
        if self.cached_tokens is not None:
            usage["cachedContentTokenCount"] = self.cached_tokens
        return usage

    @staticmethod
    def embedding_for(text: str, dim: int) -> list[float]:
        """A deterministic vector per text, so tests can check order and identity."""
        digest = hashlib.sha256(text.encode()).digest()
        return [round(digest[i % len(digest)] / 255.0, 6) for i in range(dim)]

    # -- routing -------------------------------------------------------------------
    def handle(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        if fault is not None and fault.status is not None:
            body = fault.body if fault.body is not None else error_body(fault.status, fault.message, fault.error_type)
            reply.json(fault.status, body, fault.headers)
            return
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        headers = {name.lower(): value for name, value in request.headers.items()}
        key = headers.get("x-goog-api-key") or query.get("key", [None])[0]
        if self.api_key is not None and key != self.api_key:
            reply.json(
                400,
                error_body(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"),
            )
            return
        if request.method == "GET" and _LIST_PATH.match(parts.path):
            names = self.models or ("gemini-2.5-flash", "gemini-2.5-flash-image", "gemini-embedding-001")
            reply.json(200, {"models": [self._model_info(name) for name in names]})
            return
        match = _MODEL_PATH.match(parts.path)
        if match is None:
            reply.json(404, error_body(404, f"Method not found: {parts.path}"))
            return
        model, method = match["model"], match["method"]
        if self.models is not None and model not in self.models:
            reply.json(
                404,
                error_body(
                    404,
                    f"models/{model} is not found for API version {match['version']}, or is not supported for "
                    f"{method or 'get'}. Call ListModels to see the list of available models and their "
                    "supported methods.",
                ),
            )
            return
        if request.method == "GET" and method is None:
            reply.json(200, self._model_info(model))
        elif method == "streamGenerateContent":
            self._stream(model, fault, reply)
        elif method == "generateContent":
            reply.json(200, self._generate(model, request.body or {}))
        elif method == "batchEmbedContents":
            texts = [self._text_of(r.get("content", {})) for r in (request.body or {}).get("requests", [])]
            reply.json(200, {"embeddings": [{"values": self.embedding_for(t, self.embedding_dim)} for t in texts]})
        elif method == "embedContent":
            text = self._text_of((request.body or {}).get("content", {}))
            reply.json(200, {"embedding": {"values": self.embedding_for(text, self.embedding_dim)}})
        else:
            reply.json(404, error_body(404, f"Method not found: {method}"))

    # -- responses -----------------------------------------------------------------
    def _stream(self, model: str, fault: Fault | None, reply: Reply) -> None:
        events = [sse(event) for event in self._stream_events(model)]
        if isinstance(fault, StreamErrorFault):
            error = fault.body if fault.body is not None else error_body(fault.code, fault.message, fault.error_type)
            events = events[: fault.after] + [sse(error)]
            fault = None
        try:
            reply.stream(
                "text/event-stream",
                events,
                fault=fault,
                interval_s=self.interval_s,
                malformed=b"data: {not json\n\n",
            )
        except (BrokenPipeError, ConnectionResetError):
            self.client_disconnected.set()
            raise

    def _stream_events(self, model: str) -> list[dict[str, Any]]:
        if self.block_reason:
            return [
                {
                    "promptFeedback": {"blockReason": self.block_reason},
                    "usageMetadata": {"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens},
                    "modelVersion": model,
                }
            ]
        chunks = self.reply_chunks()
        events: list[dict[str, Any]] = []
        for index, text in enumerate(chunks):
            candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            event: dict[str, Any] = {"candidates": [candidate], "modelVersion": model, "responseId": "fake-1"}
            if index == len(chunks) - 1:
                candidate["finishReason"] = self.finish_reason
                event["usageMetadata"] = self.usage_metadata()
            else:
                event["usageMetadata"] = {"promptTokenCount": self.prompt_tokens, "totalTokenCount": self.prompt_tokens}
            events.append(event)
        return events

    def _generate(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.block_reason:
            return {"promptFeedback": {"blockReason": self.block_reason}, "modelVersion": model}
        modalities = (body.get("generationConfig") or {}).get("responseModalities") or []
        parts: list[dict[str, Any]] = []
        if "IMAGE" in modalities and self.finish_reason == "STOP":
            parts.append({"text": "Here is your image."})
            data = base64.b64encode(self.image_bytes).decode()
            parts.append({"inlineData": {"mimeType": "image/png", "data": data}})
        elif self.finish_reason == "STOP":
            parts.append({"text": self.reply_text})
        candidate: dict[str, Any] = {"index": 0, "finishReason": self.finish_reason}
        if parts:
            candidate["content"] = {"parts": parts, "role": "model"}
        return {"candidates": [candidate], "usageMetadata": self.usage_metadata(), "modelVersion": model}

    def _model_info(self, name: str) -> dict[str, Any]:
        embeds = "embedding" in name
        return {
            "name": f"models/{name}",
            "displayName": name,
            "inputTokenLimit": 2048 if embeds else 1048576,
            "outputTokenLimit": 1 if embeds else 65536,
            "supportedGenerationMethods": ["embedContent"] if embeds else ["generateContent", "countTokens"],
            **self.model_fields.get(name, {}),
        }

    @staticmethod
    def _text_of(content: dict[str, Any]) -> str:
        return "".join(part.get("text", "") for part in content.get("parts", []))
