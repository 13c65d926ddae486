"""A loopback server that speaks OpenAI's HTTP API, for the OpenAI and compatible clients.

Routes (all under ``/v1``): ``POST /chat/completions`` (SSE chunks or one JSON body),
``POST /images/generations`` (``b64_json``), ``POST /embeddings`` (floats or base64),
``GET /models``; the Files and Batch API (``/files``, ``/batches``: see
:mod:`tests.fakes.openai_batches` for its routes and knobs). Error bodies have OpenAI's shape::

    {"error": {"message": ..., "type": ..., "param": null, "code": ...}}

Knobs a test sets on the instance:

- ``reply_text``: what the assistant answers; streamed one word (and its trailing
  space) per chunk, so tokens count one per word.
- ``usage``: ``(input_tokens, output_tokens)`` to report instead of word counts;
  ``report_usage = False`` reports none (as many compatible servers do).
- ``cached_tokens``, ``reasoning_tokens``: reported as ``prompt_tokens_details.cached_tokens``
  and ``completion_tokens_details.reasoning_tokens`` (parts of the prompt and completion
  counts, as OpenAI reports them), in streams and plain answers.
- ``chunk_interval_s``: pause after each streamed chunk (slow streams, throughput).
- ``replies``: answers queued for the next chat requests, one each (the last one taken
  stays as ``reply_text``): an invalid JSON answer, then a valid one.
- ``response_format`` (structured output) is checked as OpenAI checks it: ``json_schema``
  needs a ``name`` (letters, digits, ``_``, ``-``) and a ``schema`` whose top is an object,
  and ``strict: true`` needs every object closed with all its properties required; a
  request that breaks a rule gets OpenAI's 400.
- ``image_bytes``, ``revised_prompt``, ``embedding_dim``, ``models``; ``model_fields``: per model,
  fields that replace the listed defaults (``{"gpt-5": {"created": 1754524800}}``).

Faults (see :class:`tests.fakes.loopback.Fault`): ``status`` answers with that status
and an OpenAI error body; ``error_type`` names the error ``code`` when it is one of
OpenAI's codes (``context_length_exceeded``, ``content_policy_violation``,
``model_not_found``, ``invalid_api_key``, ``insufficient_quota``), else its ``type``.
``error_type`` *without* ``status`` sends the error as a ``data: {"error": ...}`` event
mid-stream, after ``drop_after`` chunks (0 when unset), as OpenAI does after a 200.
``disconnected`` is set when a client hangs up before a stream was fully written.
"""

from __future__ import annotations

import base64
import re
import struct
import threading
import time
from typing import Any

from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest, Reply, sse
from tests.fakes.openai_batches import FakeBatch, FakeFile, OpenAIBatchRoutes

# A 1x1 transparent PNG: small, and recognisably an image to anyone who decodes it.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)

_CODES = {
    "context_length_exceeded": "invalid_request_error",
    "content_policy_violation": "invalid_request_error",
    "model_not_found": "invalid_request_error",
    "invalid_api_key": "invalid_request_error",
    "insufficient_quota": "insufficient_quota",
    "rate_limit_exceeded": "requests",
}
_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}


def openai_error(
    message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """An error body exactly as OpenAI frames it."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _strict_ok(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or set(schema.get("required", [])) != set(props):
            return False
        return all(_strict_ok(p) for p in props.values())
    return schema.get("type") != "array" or _strict_ok(schema.get("items"))


def response_format_problem(value: Any) -> str | None:
    """Why OpenAI would refuse a ``response_format``, or None (absent, text, json_object, a good json_schema)."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    if kind in ("text", "json_object"):
        return None
    if kind != "json_schema":
        return f"Invalid value for 'response_format.type': {kind!r}"
    spec = value.get("json_schema")
    if not isinstance(spec, dict) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(spec.get("name", ""))):
        return "Invalid 'response_format.json_schema.name'"
    schema = spec.get("schema")
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "Invalid schema for response_format: the top level must be an object"
    if spec.get("strict") and not _strict_ok(schema):
        return "Invalid schema for response_format: in strict mode every object needs additionalProperties false"
    return None


def words(text: str) -> list[str]:
    """Split into word pieces that keep their trailing whitespace, so joining restores text."""
    return re.findall(r"\S+\s*", text) or ([text] if text else [])


class OpenAIServer(LoopbackServer):
    """OpenAI's wire format on 127.0.0.1; ``base_url`` for the SDK is ``self.api_url``."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_text = "Hello from the fake OpenAI server."
        self.replies: list[str] = []
        self.usage: tuple[int, int] | None = None
        self.report_usage = True
        self.cached_tokens: int | None = None
        self.reasoning_tokens: int | None = None
        self.chunk_interval_s = 0.0
        self.image_bytes = TINY_PNG
        self.revised_prompt: str | None = "a revised prompt"
        self.embedding_dim = 4
        self.models = ["gpt-4o", "gpt-4o-mini", "dall-e-3", "text-embedding-3-small"]
        self.model_fields: dict[str, dict[str, Any]] = {}
        self.disconnected = threading.Event()
        self.streams_completed = 0
        # The Batch API's knobs and state (tests/fakes/openai_batches.py).
        self.batch_polls_to_end = 0
        self.batch_item_errors: dict[str, Fault] = {}
        self.batch_expire: set[str] = set()
        self.batch_errors_for_prompt: dict[str, Fault] = {}
        self.batch_expire_for_prompt: set[str] = set()
        self.batch_fail: str | None = None
        self.batch_answered_before_cancel = 0
        self.batch_usage: dict[str, tuple[int, int]] = {}
        self.batch_malformed: dict[str, str | None] = {}
        self.batch_list_limit = 100
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, FakeFile] = {}
        self._batch_routes = OpenAIBatchRoutes(self)

    @property
    def api_url(self) -> str:
        """The base URL the SDK expects: the server root plus ``/v1``."""
        return f"{self.base_url}/v1"

    # -- routing ---------------------------------------------------------------
    def handle(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        if fault is not None and fault.status is not None:
            reply.json(fault.status, fault.body if fault.body is not None else self._error_body(fault), fault.headers)
            return
        path = request.path.split("?", 1)[0]
        body = request.body if isinstance(request.body, dict) else {}
        if request.method == "POST" and path == "/v1/chat/completions":
            self._chat(body, fault, reply)
        elif request.method == "POST" and path == "/v1/images/generations":
            self._images(body, reply)
        elif request.method == "POST" and path == "/v1/embeddings":
            self._embeddings(body, reply)
        elif self._batch_routes.route(request, path, reply):
            pass
        elif request.method == "GET" and path == "/v1/models":
            data = [
                {"id": m, "object": "model", "created": 0, "owned_by": "fake", **self.model_fields.get(m, {})}
                for m in self.models
            ]
            reply.json(200, {"object": "list", "data": data})
        else:
            reply.json(404, openai_error(f"Unknown request URL: {request.method} {path}", code="unknown_url"))

    def _error_body(self, fault: Fault) -> dict[str, Any]:
        kind = fault.error_type
        if kind in _CODES:
            return openai_error(fault.message, _CODES[kind], kind)
        default = _TYPE_BY_STATUS.get(fault.status or 500, "server_error")
        return openai_error(fault.message, kind or default, None)

    # -- chat ------------------------------------------------------------------
    def _counts(self, body: dict[str, Any]) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        prompt = 0
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                prompt += len(content.split())
            elif isinstance(content, list):
                prompt += sum(len(p.get("text", "").split()) for p in content if p.get("type") == "text")
        return prompt, len(words(self.reply_text))

    def completion(self, body: dict[str, Any], counts: tuple[int, int] | None = None) -> dict[str, Any]:
        """The plain (not streamed) answer to a chat ``body``; ``counts`` replaces the token counts."""
        base, usage = self._answer_base(body, counts)
        message = {"role": "assistant", "content": self.reply_text}
        payload = {
            **base,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        }
        if self.report_usage:
            payload["usage"] = usage
        return payload

    def _answer_base(
        self, body: dict[str, Any], counts: tuple[int, int] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        model = body.get("model", "")
        prompt_tokens, completion_tokens = counts or self._counts(body)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens, "audio_tokens": 0}
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens, "audio_tokens": 0}
        return {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}, usage

    def _chat(self, body: dict[str, Any], fault: Fault | None, reply: Reply) -> None:
        problem = response_format_problem(body.get("response_format"))
        if problem is not None:
            reply.json(400, openai_error(problem, "invalid_request_error", None, "response_format"))
            return
        with self.lock:
            if self.replies:
                self.reply_text = self.replies.pop(0)
        if not body.get("stream"):
            reply.json(200, self.completion(body))
            return
        base, usage = self._answer_base(body)

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return sse({**base, "object": "chat.completion.chunk", "choices": [choice]})

        chunks = [chunk({"role": "assistant", "content": ""})]
        chunks += [chunk({"content": piece}) for piece in words(self.reply_text)]
        chunks.append(chunk({}, "stop"))
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if include_usage and self.report_usage:
            chunks.append(sse({**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}))
        chunks.append(sse("[DONE]"))
        if fault is not None and fault.error_type is not None:
            cut = fault.drop_after or 0
            chunks = chunks[:cut] + [sse(self._error_body(fault))]
            fault = None
        self._stream(reply, chunks, fault)

    def _stream(self, reply: Reply, chunks: list[str], fault: Fault | None) -> None:
        """Stream, noting whether the client hung up first (for cancellation tests)."""
        try:
            reply.stream("text/event-stream; charset=utf-8", chunks, fault, self.chunk_interval_s)
        except (BrokenPipeError, ConnectionResetError):
            self.disconnected.set()
            raise
        with self.lock:
            self.streams_completed += 1

    # -- images and embeddings -------------------------------------------------
    def _images(self, body: dict[str, Any], reply: Reply) -> None:
        encoded = base64.b64encode(self.image_bytes).decode()
        item: dict[str, Any] = {"b64_json": encoded}
        if self.revised_prompt is not None:
            item["revised_prompt"] = self.revised_prompt
        reply.json(200, {"created": int(time.time()), "data": [item] * int(body.get("n") or 1)})

    def _embeddings(self, body: dict[str, Any], reply: Reply) -> None:
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for index, text in enumerate(texts):
            vector = [float(len(text) + i) / 10.0 for i in range(self.embedding_dim)]
            embedding: Any = vector
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(len(t.split()) for t in texts)
        reply.json(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", ""),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )
