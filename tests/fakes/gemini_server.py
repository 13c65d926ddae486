"""A loopback Gemini API (``generativelanguage.googleapis.com/v1beta`` and ``/v1``) for tests.

It speaks the wire format google-genai's async client uses, so the real SDK runs
against it unchanged (point the client's ``base_url`` at :attr:`base_url`):

    POST /v1beta/models/{model}:streamGenerateContent?alt=sse   SSE ``data: {GenerateContentResponse}``
    POST /v1beta/models/{model}:generateContent                 one GenerateContentResponse
    POST /v1beta/models/{model}:embedContent | :batchEmbedContents
    GET  /v1beta/models[/{model}]                               the model list (``check_auth``)
    POST /v1beta/models/{model}:batchGenerateContent            batch mode: create a job (an Operation)
    GET  /v1beta/batches/{id} | POST /v1beta/batches/{id}:cancel
    GET  /v1beta/batches?pageSize=&pageToken=                   ``{"operations", "nextPageToken"}``

Errors use Google's envelope ``{"error": {"code", "message", "status", "details"}}``.
What the fake answers is plain attributes a test sets before the call::

    with GeminiServer(reply_text="Hi there", prompt_tokens=7, output_tokens=2) as server:
        server.interval_s = 0.05          # slow stream
        server.finish_reason = "SAFETY"   # refuse after the text
        server.script(Fault(status=429, headers={"Retry-After": "3"}))

Batch mode answers inline jobs as the real API does: the job is an Operation named
``batches/...`` whose ``metadata`` (a ``GenerateContentBatch``) carries ``state``
(``BATCH_STATE_PENDING`` / ``RUNNING`` / ``SUCCEEDED`` / ``FAILED`` / ``CANCELLED`` /
``EXPIRED``), ``batchStats`` (int64 counts as strings), the ``inputConfig`` it was given and,
once ended, ``output.inlinedResponses.inlinedResponses``: one ``{"response" | "error",
"metadata"}`` per answered request, in input order. See :class:`BatchKnobs` for what a test sets.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
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
_BATCH_PATH = re.compile(r"^/v1(?:beta|alpha)?/batches/(?P<id>[^:/?]+)(?::(?P<method>[A-Za-z]+))?$")
_BATCH_LIST_PATH = re.compile(r"^/v1(?:beta|alpha)?/batches/?$")
_BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch"
_BATCH_OUTPUT_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput"


@dataclass
class StreamErrorFault(Fault):
    """An ``{"error": ...}`` event inside a 200 stream, after ``after`` normal chunks.

    Gemini reports some failures this way once the stream has started; the SDK
    raises ``APIError`` from the event's ``code``. Leave ``status`` unset: a status
    makes it an ordinary HTTP error instead.
    """

    after: int = 0
    code: int = 500


@dataclass
class BatchKnobs:
    """How the fake's batch jobs behave; set on ``server.batch`` before (or while) a job runs.

    ``polls_to_end``: GETs of a job that see it pending/running before it ends (0: ended at once).
    ``item_errors``: custom_id -> message; those requests end with an ``error`` entry (400).
    ``expired_ids``: those requests are never answered and the job ends ``BATCH_STATE_EXPIRED``.
    ``fail_job``: a message; the job ends ``BATCH_STATE_FAILED`` with this Operation ``error``.
    ``usage``: custom_id -> ``usageMetadata`` for that request (default: the chat route's).
    ``malformed_ids``: those requests' entries carry a response the SDK cannot read.
    ``echo_keys``: False drops ``metadata`` from the output entries (matching by position).
    ``answered_before_cancel``: requests already answered when a cancel arrives.
    ``page_size``: the most jobs one list page holds (``pageSize`` lowers it).
    """

    polls_to_end: int = 1
    item_errors: dict[str, str] = field(default_factory=dict)
    expired_ids: set[str] = field(default_factory=set)
    fail_job: str | None = None
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)
    malformed_ids: set[str] = field(default_factory=set)
    echo_keys: bool = True
    answered_before_cancel: int = 0
    page_size: int = 50


@dataclass
class FakeBatch:
    """One job the fake holds: its input, and how far it has got."""

    id: str
    model: str
    display_name: str
    requests: list[dict[str, Any]]
    create_time: float
    polls: int = 0
    state: str = "BATCH_STATE_PENDING"
    output: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None


def rfc3339(when: float) -> str:
    """Google's timestamps: UTC, nanoseconds."""
    whole = datetime.fromtimestamp(int(when), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{int(round((when % 1) * 1e9)) % 1_000_000_000:09d}Z"


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


_SCHEMA_KEYS = frozenset(
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


def _unknown_schema_key(schema: Any) -> str | None:
    """The first key of ``schema`` (recursively) that Gemini's Schema object does not have."""
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            return str(key)
        subs = list(value.values()) if key == "properties" and isinstance(value, dict) else []
        subs += [value] if key == "items" else []
        subs += value if key == "anyOf" and isinstance(value, list) else []
        for sub in subs:
            found = _unknown_schema_key(sub)
            if found is not None:
                return found
    return None


class GeminiServer(LoopbackServer):
    """The Gemini API's generate, stream, embed and list endpoints, with scripted faults.

    ``api_key``: when set, requests whose ``x-goog-api-key`` differs get Gemini's real
    answer for a bad key (400 INVALID_ARGUMENT, reason API_KEY_INVALID).
    ``models``: when set, other model names get 404 NOT_FOUND.
    ``model_fields``: per model, fields that replace the listed defaults (``inputTokenLimit``...);
    an embedding model (``embedding`` in its name) lists ``embedContent`` as its method.
    ``block_reason``: refuse the prompt itself (``promptFeedback.blockReason``).
    ``finish_reason``: the last chunk's ``finishReason`` (``"SAFETY"`` for a refusal).
    ``replies``: answers queued for the next generate or stream requests, one each (the last
    one taken stays as ``reply_text``): an invalid JSON answer, then a valid one.
    Structured output is checked as Gemini checks it: a ``generationConfig.responseSchema``
    needs ``responseMimeType: application/json`` and only the OpenAPI subset's keys (an
    ``additionalProperties`` is a 400 INVALID_ARGUMENT, as the v1beta API answers).
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
        self.replies: list[str] = []
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
        self.batch = BatchKnobs()
        self.batches: dict[str, FakeBatch] = {}
        self._batch_ids = itertools.count(1)

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
        if _BATCH_LIST_PATH.match(parts.path) or _BATCH_PATH.match(parts.path):
            self._batch_route(request, parts.path, query, reply)
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
        elif method in ("streamGenerateContent", "generateContent") and self._refuse_schema(request.body, reply):
            return
        elif method == "streamGenerateContent":
            self._stream(model, fault, reply)
        elif method == "generateContent":
            reply.json(200, self._generate(model, request.body or {}))
        elif method == "batchGenerateContent" and request.method == "POST":
            self._batch_create(model, request.body, reply)
        elif method == "batchEmbedContents":
            texts = [self._text_of(r.get("content", {})) for r in (request.body or {}).get("requests", [])]
            reply.json(200, {"embeddings": [{"values": self.embedding_for(t, self.embedding_dim)} for t in texts]})
        elif method == "embedContent":
            text = self._text_of((request.body or {}).get("content", {}))
            reply.json(200, {"embedding": {"values": self.embedding_for(text, self.embedding_dim)}})
        else:
            reply.json(404, error_body(404, f"Method not found: {method}"))

    def _refuse_schema(self, body: Any, reply: Reply) -> bool:
        """Answer 400 to a structured-output request Gemini would refuse; take the next queued reply."""
        config = (body or {}).get("generationConfig") or {} if isinstance(body, dict) else {}
        schema = config.get("responseSchema")
        problem = None
        if schema is not None and config.get("responseMimeType") != "application/json":
            problem = "responseSchema needs responseMimeType application/json"
        elif schema is not None and _unknown_schema_key(schema) is not None:
            unknown = _unknown_schema_key(schema)
            problem = f'Invalid JSON payload received. Unknown name "{unknown}" at generation_config.response_schema'
        if problem is not None:
            reply.json(400, error_body(400, problem))
            return True
        with self.lock:
            if self.replies:
                self.reply_text = self.replies.pop(0)
        return False

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

    # -- batch mode ----------------------------------------------------------------
    def _batch_create(self, model: str, body: Any, reply: Reply) -> None:
        batch = (body or {}).get("batch") if isinstance(body, dict) else None
        requests = ((batch or {}).get("inputConfig") or {}).get("requests", {}).get("requests")
        if not isinstance(requests, list) or not requests:
            reply.json(400, error_body(400, "* GenerateContentBatch.input_config: input_config is required"))
            return
        with self.lock:
            job = FakeBatch(
                id=f"fakebatch{next(self._batch_ids)}",
                model=model,
                display_name=str((batch or {}).get("displayName", "")),
                requests=requests,
                create_time=time.time(),
            )
            self.batches[job.id] = job
            reply.json(200, self._operation(job))

    def _batch_route(self, request: RecordedRequest, path: str, query: dict[str, list[str]], reply: Reply) -> None:
        if request.method == "GET" and _BATCH_LIST_PATH.match(path):
            self._batch_list(query, reply)
            return
        match = _BATCH_PATH.match(path)
        assert match is not None
        with self.lock:
            job = self.batches.get(match["id"])
            if job is None:
                reply.json(404, error_body(404, f"Batch batches/{match['id']} not found"))
            elif request.method == "GET" and match["method"] is None:
                if job.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                    job.polls += 1
                    if job.polls > self.batch.polls_to_end:
                        self._batch_end(job)
                    elif job.polls > 1:
                        job.state = "BATCH_STATE_RUNNING"
                reply.json(200, self._operation(job))
            elif request.method == "POST" and match["method"] == "cancel":
                if job.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                    job.output = [self._batch_entry(job, r) for r in job.requests[: self.batch.answered_before_cancel]]
                    job.state = "BATCH_STATE_CANCELLED"
                reply.json(200, {})
            else:
                reply.json(404, error_body(404, f"Method not found: {path}"))

    def _batch_list(self, query: dict[str, list[str]], reply: Reply) -> None:
        size = min(self.batch.page_size, int(query.get("pageSize", [self.batch.page_size])[0]) or self.batch.page_size)
        start = int(query.get("pageToken", ["0"])[0] or 0)
        with self.lock:
            jobs = sorted(self.batches.values(), key=lambda j: j.create_time, reverse=True)
            page: dict[str, Any] = {"operations": [self._operation(j) for j in jobs[start : start + size]]}
        if start + size < len(jobs):
            page["nextPageToken"] = str(start + size)
        reply.json(200, page)

    def _batch_end(self, job: FakeBatch) -> None:
        knobs = self.batch
        if knobs.fail_job is not None:
            job.state = "BATCH_STATE_FAILED"
            job.error = {"code": 3, "message": knobs.fail_job}
            return
        answered = [r for r in job.requests if (r.get("metadata") or {}).get("key") not in knobs.expired_ids]
        job.output = [self._batch_entry(job, r) for r in answered]
        job.state = "BATCH_STATE_EXPIRED" if len(answered) < len(job.requests) else "BATCH_STATE_SUCCEEDED"

    def _batch_entry(self, job: FakeBatch, request: dict[str, Any]) -> dict[str, Any]:
        metadata = request.get("metadata") or {}
        key = str(metadata.get("key", ""))
        entry: dict[str, Any]
        if key in self.batch.item_errors:
            entry = {"error": {"code": 400, "message": self.batch.item_errors[key]}}
        elif key in self.batch.malformed_ids:
            entry = {"response": {"candidates": "not a list", "usageMetadata": {"promptTokenCount": "many"}}}
        else:
            response = self._generate(job.model, request.get("request") or {})
            if key in self.batch.usage:
                response["usageMetadata"] = self.batch.usage[key]
            entry = {"response": response}
        if self.batch.echo_keys and metadata:
            entry["metadata"] = metadata
        return entry

    def _operation(self, job: FakeBatch) -> dict[str, Any]:
        """The job as ``batches.get`` answers: an Operation around a GenerateContentBatch."""
        output = job.output or []
        failed = sum(1 for e in output if "error" in e)
        ended = job.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
        stats = {
            "requestCount": str(len(job.requests)),
            "successfulRequestCount": str(len(output) - failed),
            "failedRequestCount": str(failed),
            "pendingRequestCount": str(0 if ended else len(job.requests)),
        }
        metadata: dict[str, Any] = {
            "@type": _BATCH_TYPE,
            "model": f"models/{job.model}",
            "displayName": job.display_name,
            "inputConfig": {"requests": {"requests": job.requests}},
            "createTime": rfc3339(job.create_time),
            "updateTime": rfc3339(time.time()),
            "batchStats": stats,
            "state": job.state,
            "name": f"batches/{job.id}",
        }
        operation: dict[str, Any] = {"name": f"batches/{job.id}", "metadata": metadata}
        if ended:
            operation["done"] = True
            if job.error is not None:
                operation["error"] = job.error
            else:
                result = {"inlinedResponses": {"inlinedResponses": output}}
                metadata["output"] = result
                metadata["endTime"] = rfc3339(time.time())
                operation["response"] = {"@type": _BATCH_OUTPUT_TYPE, **result}
        return operation

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
