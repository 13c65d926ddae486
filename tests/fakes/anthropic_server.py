"""A loopback server that speaks Anthropic's Messages API, for the Anthropic client.

Routes: ``POST /v1/messages`` (SSE events when ``"stream": true``, else one JSON
message) and ``GET /v1/models``. A stream is what Anthropic sends::

    message_start, content_block_start, ping, content_block_delta (text_delta)...,
    content_block_stop, message_delta (stop_reason, usage.output_tokens), message_stop

Error bodies have Anthropic's shape ``{"type": "error", "error": {"type", "message"}}``.

Knobs a test sets on the instance:

- ``reply_text``: the answer, one word (and its trailing space) per text_delta, so
  tokens count one per word; ``usage = (input, output)`` reports other counts.
- ``cache_read_tokens``, ``cache_write_tokens``: reported as ``cache_read_input_tokens``
  and ``cache_creation_input_tokens`` beside ``input_tokens`` (which, as Anthropic
  reports it, excludes them), in ``message_start`` and in a plain answer.
- ``chunk_interval_s``: pause after each event (slow streams, throughput).
- ``models``: what ``GET /v1/models`` lists; ``model_fields``: per model, fields that replace
  the listed defaults (``created_at``, ``display_name``, ``max_input_tokens``).

Faults (see :class:`tests.fakes.loopback.Fault`): ``status`` answers with that status
and an Anthropic error body whose type is ``error_type`` (or the status's usual type,
``overloaded_error`` for 529). ``error_type`` *without* ``status`` sends an ``event:
error`` mid-stream after ``drop_after`` events (0 when unset), as Anthropic does once a
200 has gone out. ``disconnected`` is set when a client hangs up mid-stream.
"""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest, Reply, sse
from tests.fakes.openai_server import words

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error(message: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    """An error body exactly as Anthropic frames it."""
    return {"type": "error", "error": {"type": type_, "message": message}}


class AnthropicServer(LoopbackServer):
    """Anthropic's wire format on 127.0.0.1; the SDK's ``base_url`` is ``self.base_url``."""

    def __init__(self) -> None:
        super().__init__()
        self.reply_text = "Hello from the fake Anthropic server."
        self.usage: tuple[int, int] | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.chunk_interval_s = 0.0
        self.models = ["claude-3-5-sonnet-latest", "claude-3-opus-latest"]
        self.model_fields: dict[str, dict[str, Any]] = {}
        self.disconnected = threading.Event()
        self.streams_completed = 0

    def handle(self, request: RecordedRequest, fault: Fault | None, reply: Reply) -> None:
        if fault is not None and fault.status is not None:
            body = fault.body
            if body is None:
                body = anthropic_error(
                    fault.message, fault.error_type or _TYPE_BY_STATUS.get(fault.status, "api_error")
                )
            reply.json(fault.status, body, fault.headers)
            return
        path = request.path.split("?", 1)[0]
        if request.method == "POST" and path == "/v1/messages":
            self._messages(request.body if isinstance(request.body, dict) else {}, fault, reply)
        elif request.method == "GET" and path == "/v1/models":
            data = [
                {
                    "type": "model",
                    "id": m,
                    "display_name": m,
                    "created_at": "2025-01-01T00:00:00Z",
                    **self.model_fields.get(m, {}),
                }
                for m in self.models
            ]
            first = data[0]["id"] if data else None
            last = data[-1]["id"] if data else None
            reply.json(200, {"data": data, "has_more": False, "first_id": first, "last_id": last})
        else:
            reply.json(404, anthropic_error(f"Not found: {request.method} {path}", "not_found_error"))

    def _counts(self, body: dict[str, Any]) -> tuple[int, int]:
        if self.usage is not None:
            return self.usage
        prompt = 0
        system = body.get("system")
        if isinstance(system, str):
            prompt += len(system.split())
        for message in body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                prompt += len(content.split())
            elif isinstance(content, list):
                prompt += sum(len(b.get("text", "").split()) for b in content if b.get("type") == "text")
        return prompt, len(words(self.reply_text))

    def _messages(self, body: dict[str, Any], fault: Fault | None, reply: Reply) -> None:
        input_tokens, output_tokens = self._counts(body)
        cache: dict[str, int] = {}
        if self.cache_read_tokens is not None:
            cache["cache_read_input_tokens"] = self.cache_read_tokens
        if self.cache_write_tokens is not None:
            cache["cache_creation_input_tokens"] = self.cache_write_tokens
        message = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1, **cache},
        }
        if not body.get("stream"):
            done = {
                **message,
                "content": [{"type": "text", "text": self.reply_text}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, **cache},
            }
            reply.json(200, done)
            return
        events = [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse(
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                "content_block_start",
            ),
            sse({"type": "ping"}, "ping"),
        ]
        for piece in words(self.reply_text):
            delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
            events.append(sse(delta, "content_block_delta"))
        events += [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
                "message_delta",
            ),
            sse({"type": "message_stop"}, "message_stop"),
        ]
        if fault is not None and fault.error_type is not None:
            cut = fault.drop_after or 0
            events = events[:cut] + [sse(anthropic_error(fault.message, fault.error_type), "error")]
            fault = None
        try:
            reply.stream(
                "text/event-stream; charset=utf-8",
                events,
                fault,
                self.chunk_interval_s,
                malformed=b"event: content_block_delta\ndata: {not json\n\n",
            )
        except (BrokenPipeError, ConnectionResetError):
            self.disconnected.set()
            raise
        with self.lock:
            self.streams_completed += 1
