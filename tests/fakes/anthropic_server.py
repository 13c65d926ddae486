"""A loopback server that speaks Anthropic's Messages API, for the Anthropic client.

Chat routes: ``POST /v1/messages`` (SSE events when ``"stream": true``, else one JSON
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
- ``replies``: answers queued for the next messages requests, one each (the last one
  taken stays as ``reply_text``): an invalid JSON answer, then a valid one.
- A forced tool call (``tool_choice: {"type": "tool", "name"}``, structured output) is
  answered as Anthropic does: one ``tool_use`` block whose input ``reply_text`` (JSON) is
  streamed as ``input_json_delta`` pieces, ``stop_reason: "tool_use"``; a ``tool_choice``
  naming no tool in ``tools``, or a tool without an object ``input_schema``, is a 400.
- ``models``: what ``GET /v1/models`` lists; ``model_fields``: per model, fields that replace
  the listed defaults (``created_at``, ``display_name``, ``max_input_tokens``).

Message Batches, as the SDK's ``messages.batches`` speaks them: ``POST /v1/messages/batches``
(``{"requests": [{"custom_id", "params"}]}``; custom_ids unique, params need ``model``,
``max_tokens`` and ``messages``), ``GET .../batches/{id}`` (a ``message_batch``:
``processing_status`` ``in_progress`` | ``canceling`` | ``ended``, ``request_counts`` all
in ``processing`` until it ends), ``POST .../{id}/cancel``, ``GET .../{id}/results`` (JSON
Lines, one ``{"custom_id", "result": {"type": succeeded | errored | canceled | expired}}``
per request; 400 before the end) and ``GET .../batches`` (newest first, ``limit``,
``after_id``/``before_id``, ``has_more``, ``first_id``, ``last_id``). Every batch is kept in
``batches`` (a test may move its ``created_at``). Knobs:

- ``batch_polls_to_end``: retrieves that still say ``in_progress`` before one says ``ended``;
- ``batch_polls_to_cancel``: after a cancel (whose answer says ``canceling``), retrieves
  that still say ``canceling`` before one says ``ended`` (0: the next one);
- ``batch_item_errors``: custom_id -> message: that item ends ``errored`` with it;
- ``batch_expired``: custom_ids that end ``expired``;
- ``batch_malformed``: custom_ids whose results line is cut short mid-object;
- ``batch_extra_lines``: raw lines appended to every results file (odd results);
- ``batch_usage``: custom_id -> the ``usage`` object its answer reports (else as a chat
  answer's: ``usage``, the cache knobs, one token a word);
- ``batch_answered_before_cancel``: on cancel, this many first items are still answered,
  the rest end ``canceled``;
- ``batch_create_error``: the create is refused, 400 ``invalid_request_error`` with this
  message (how Anthropic fails a whole batch);
- ``batch_archived``: an ended batch reports ``archived_at`` (its results are gone).

Faults (see :class:`tests.fakes.loopback.Fault`): ``status`` answers with that status
and an Anthropic error body whose type is ``error_type`` (or the status's usual type,
``overloaded_error`` for 529). ``error_type`` *without* ``status`` sends an ``event:
error`` mid-stream after ``drop_after`` events (0 when unset), as Anthropic does once a
200 has gone out. ``disconnected`` is set when a client hangs up mid-stream.
"""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import time
import urllib.parse
from typing import Any

from tests.fakes.loopback import Fault, LoopbackServer, RecordedRequest, Reply, sse
from tests.fakes.openai_server import words

BATCHES = "/v1/messages/batches"
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
        self.replies: list[str] = []
        self.usage: tuple[int, int] | None = None
        self.cache_read_tokens: int | None = None
        self.cache_write_tokens: int | None = None
        self.chunk_interval_s = 0.0
        self.models = ["claude-3-5-sonnet-latest", "claude-3-opus-latest"]
        self.model_fields: dict[str, dict[str, Any]] = {}
        self.disconnected = threading.Event()
        self.streams_completed = 0
        self._ids = itertools.count(1)
        # Message Batches (see the module docstring).
        self.batch_polls_to_end = 0
        self.batch_polls_to_cancel = 0
        self.batch_item_errors: dict[str, str] = {}
        self.batch_expired: set[str] = set()
        self.batch_malformed: set[str] = set()
        self.batch_extra_lines: list[str] = []
        self.batch_usage: dict[str, dict[str, Any]] = {}
        self.batch_create_error: str | None = None
        self.batch_answered_before_cancel = 0
        self.batch_archived = False
        self.batches: dict[str, dict[str, Any]] = {}

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
        elif path.startswith(BATCHES):
            self._batch_route(request, reply)
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

    def _cache(self) -> dict[str, int]:
        cache: dict[str, int] = {}
        if self.cache_read_tokens is not None:
            cache["cache_read_input_tokens"] = self.cache_read_tokens
        if self.cache_write_tokens is not None:
            cache["cache_creation_input_tokens"] = self.cache_write_tokens
        return cache

    def answer(self, body: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        """A whole (not streamed) message answering ``body``: ``reply_text`` and its usage."""
        input_tokens, output_tokens = self._counts(body)
        return {
            "id": f"msg_fake_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [{"type": "text", "text": self.reply_text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage or {"input_tokens": input_tokens, "output_tokens": output_tokens, **self._cache()},
        }

    def _forced_tool(self, body: dict[str, Any]) -> tuple[str | None, str | None]:
        """(the forced tool's name, why the request is refused), from ``tools`` and ``tool_choice``."""
        choice = body.get("tool_choice")
        if choice is None or (isinstance(choice, dict) and choice.get("type") in ("auto", "none")):
            return None, None
        tools = {t.get("name"): t for t in body.get("tools", []) if isinstance(t, dict)}
        if not isinstance(choice, dict) or choice.get("type") != "tool" or choice.get("name") not in tools:
            return None, "tool_choice: a tool of that name must be given in tools"
        schema = tools[choice["name"]].get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return None, "tools.0.input_schema.type: Input should be 'object'"
        return str(choice["name"]), None

    def _messages(self, body: dict[str, Any], fault: Fault | None, reply: Reply) -> None:
        tool, problem = self._forced_tool(body)
        if problem is not None:
            reply.json(400, anthropic_error(problem))
            return
        with self.lock:
            if self.replies:
                self.reply_text = self.replies.pop(0)
        input_tokens, output_tokens = self._counts(body)
        cache = self._cache()
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
            reply.json(200, {**self.answer(body), "id": "msg_fake"})
            return
        block: dict[str, Any] = {"type": "text", "text": ""}
        if tool is not None:
            block = {"type": "tool_use", "id": "toolu_fake", "name": tool, "input": {}}
        events = [
            sse({"type": "message_start", "message": message}, "message_start"),
            sse({"type": "content_block_start", "index": 0, "content_block": block}, "content_block_start"),
            sse({"type": "ping"}, "ping"),
        ]
        for piece in words(self.reply_text):
            part = {"type": "text_delta", "text": piece}
            if tool is not None:
                part = {"type": "input_json_delta", "partial_json": piece}
            events.append(sse({"type": "content_block_delta", "index": 0, "delta": part}, "content_block_delta"))
        events += [
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None},
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

    # -- Message Batches ---------------------------------------------------------------
    def _batch_route(self, request: RecordedRequest, reply: Reply) -> None:
        path, _, query = request.path.partition("?")
        rest = path[len(BATCHES) :].strip("/").split("/") if path != BATCHES else []
        body = request.body if isinstance(request.body, dict) else {}
        with self.lock:
            if request.method == "POST" and not rest:
                status, payload = self._batch_create(body)
            elif request.method == "GET" and not rest:
                status, payload = self._batch_list(urllib.parse.parse_qs(query))
            elif rest[0] not in self.batches:
                status, payload = 404, anthropic_error(f"message batch {rest[0]} not found", "not_found_error")
            elif request.method == "GET" and len(rest) == 1:
                status, payload = 200, self._batch_poll(self.batches[rest[0]])
            elif request.method == "POST" and rest[1:] == ["cancel"]:
                status, payload = 200, self._batch_cancel(self.batches[rest[0]])
            elif request.method == "GET" and rest[1:] == ["results"]:
                status, payload = self._batch_results(self.batches[rest[0]])
            else:
                status, payload = 404, anthropic_error(f"Not found: {request.method} {path}", "not_found_error")
        if isinstance(payload, bytes):
            reply.raw(status, payload, "application/binary")
        else:
            reply.json(status, payload)

    def _batch_create(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        requests = body.get("requests")
        if self.batch_create_error is not None:
            return 400, anthropic_error(self.batch_create_error)
        if not isinstance(requests, list) or not requests:
            return 400, anthropic_error("requests: at least one request is required")
        ids = [r.get("custom_id") for r in requests if isinstance(r, dict)]
        if len(ids) != len(requests) or len(set(ids)) != len(ids):
            return 400, anthropic_error("requests: custom_id must be unique within a batch")
        for index, item in enumerate(requests):
            params = item.get("params")
            if not isinstance(params, dict) or not all(k in params for k in ("model", "max_tokens", "messages")):
                return 400, anthropic_error(f"requests.{index}.params: model, max_tokens and messages are required")
        now = time.time()
        batch_id = f"msgbatch_{next(self._ids):024d}"
        batch: dict[str, Any] = {
            "id": batch_id,
            "requests": requests,
            "created_at": now,
            "polls": 0,
            "cancel_polls": 0,
            "status": "in_progress",
            "cancelled_at": None,
            "ended_at": None,
            "outcomes": {},
        }
        self.batches[batch_id] = batch
        return 200, self._batch_json(batch)

    def _batch_poll(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A retrieve: ends the batch after ``batch_polls_to_end`` polls (``batch_polls_to_cancel`` if cancelled)."""
        batch["polls"] += 1
        if batch["status"] == "canceling":
            batch["cancel_polls"] += 1
            if batch["cancel_polls"] > self.batch_polls_to_cancel:
                self._batch_end(batch)
        elif batch["status"] == "in_progress" and batch["polls"] > self.batch_polls_to_end:
            self._batch_end(batch)
        return self._batch_json(batch)

    def _batch_cancel(self, batch: dict[str, Any]) -> dict[str, Any]:
        if batch["status"] == "in_progress":
            batch["status"], batch["cancelled_at"] = "canceling", time.time()
        return self._batch_json(batch)

    def _batch_end(self, batch: dict[str, Any]) -> None:
        cancelled = batch["status"] == "canceling"
        for index, item in enumerate(batch["requests"]):
            cid = item["custom_id"]
            if cancelled and index >= self.batch_answered_before_cancel:
                outcome = "canceled"
            elif cid in self.batch_expired:
                outcome = "expired"
            elif cid in self.batch_item_errors:
                outcome = "errored"
            else:
                outcome = "succeeded"
            batch["outcomes"][cid] = outcome
        batch["status"], batch["ended_at"] = "ended", time.time()

    def _batch_json(self, batch: dict[str, Any]) -> dict[str, Any]:
        """A ``message_batch`` object as Anthropic sends it."""
        total = len(batch["requests"])
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch["status"] == "ended":
            for outcome in batch["outcomes"].values():
                counts[outcome] += 1
        else:
            counts["processing"] = total  # the others stay zero until the whole batch ends
        ended = batch["status"] == "ended"
        return {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": batch["status"],
            "request_counts": counts,
            "created_at": rfc3339(batch["created_at"]),
            "expires_at": rfc3339(batch["created_at"] + 86_400),
            "ended_at": rfc3339(batch["ended_at"]) if batch["ended_at"] else None,
            "cancel_initiated_at": rfc3339(batch["cancelled_at"]) if batch["cancelled_at"] else None,
            "archived_at": rfc3339(batch["ended_at"]) if ended and self.batch_archived else None,
            "results_url": f"{self.base_url}{BATCHES}/{batch['id']}/results" if ended else None,
        }

    def _batch_results(self, batch: dict[str, Any]) -> tuple[int, dict[str, Any] | bytes]:
        """The JSON Lines of an ended batch: one line per request, each with its ``custom_id``."""
        if batch["status"] != "ended":
            return 400, anthropic_error(f"batch {batch['id']} is still {batch['status']}: results are not ready")
        lines = []
        for item in batch["requests"]:
            cid = item["custom_id"]
            outcome = batch["outcomes"][cid]
            result: dict[str, Any] = {"type": outcome}
            if outcome == "succeeded":
                result["message"] = self.answer(item["params"], self.batch_usage.get(cid))
            elif outcome == "errored":
                result["error"] = {**anthropic_error(self.batch_item_errors[cid]), "request_id": None}
            line = json.dumps({"custom_id": cid, "result": result})
            if cid in self.batch_malformed:
                line = line[: len(line) // 2]  # cut short mid-object
            lines.append(line)
        lines += self.batch_extra_lines
        return 200, ("\n".join(lines) + "\n").encode()

    def _batch_list(self, query: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """Newest first; ``limit`` (1 to 1000, default 20), ``after_id`` / ``before_id`` cursors."""
        ordered = sorted(self.batches.values(), key=lambda b: (b["created_at"], b["id"]), reverse=True)
        ids = [b["id"] for b in ordered]
        limit = int(query.get("limit", ["20"])[0])
        if not 1 <= limit <= 1000:
            return 400, anthropic_error("limit: must be between 1 and 1000")
        if "after_id" in query:
            start = ids.index(query["after_id"][0]) + 1 if query["after_id"][0] in ids else len(ids)
            page = ordered[start : start + limit]
            has_more = start + limit < len(ordered)
        elif "before_id" in query:
            end = ids.index(query["before_id"][0]) if query["before_id"][0] in ids else 0
            page = ordered[max(0, end - limit) : end]
            has_more = end - limit > 0
        else:
            page, has_more = ordered[:limit], len(ordered) > limit
        data = [self._batch_json(b) for b in page]
        return 200, {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


def rfc3339(moment: float) -> str:
    """A Unix time as Anthropic writes its timestamps (``2024-08-20T18:37:24.100435Z``)."""
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat().replace("+00:00", "Z")
