"""OpenAI's Files and Batch API for the fake OpenAI server (:class:`OpenAIBatchRoutes`).

The wire format as OpenAI documents it and the SDK's ``types/batch.py`` reads it:

- ``POST /v1/files`` (multipart: ``purpose=batch`` and a ``file`` of JSON lines, each
  ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``);
- ``POST /v1/batches`` ``{input_file_id, endpoint, completion_window: "24h", metadata}``;
  the input is checked then (JSON, unique ``custom_id``, the batch's ``url``, one model),
  and a bad file makes the batch ``failed`` with ``errors.data`` naming the line;
- ``GET /v1/batches/{id}``: ``validating`` when created, ``in_progress`` (``finalizing`` on
  the last poll) for ``batch_polls_to_end`` polls, then ``completed``, ``expired``
  (``batch_expire`` items) or, after ``POST /v1/batches/{id}/cancel`` (``cancelling``
  until the next poll), ``cancelled``;
- ``GET /v1/files/{id}/content``: the output file (answered items: ``response.status_code``
  200 and the chat completion as ``body``) and the error file (failed items: their status
  and OpenAI's error body; expired and cancelled ones: ``response: null`` and ``error``
  ``{code: "batch_expired" | "batch_cancelled"}``);
- ``GET /v1/batches?after=&limit=``: newest first, ``has_more`` and ``last_id`` cursors;
- ``DELETE /v1/files/{id}``.

Knobs a test sets on the server: ``batch_polls_to_end``; ``batch_item_errors``
(``custom_id`` to a :class:`~tests.fakes.loopback.Fault` whose ``status``, ``message`` and
``error_type`` make that item's error); ``batch_expire`` (ids that expire: the job ends
``expired``); ``batch_fail`` (a message: the whole job fails at validation);
``batch_answered_before_cancel`` (how many items, in file order, were answered when a
cancel arrives); ``batch_usage`` (``custom_id`` to ``(prompt, completion)`` tokens,
else the chat route's ``usage``/word counts, with ``cached_tokens`` and
``reasoning_tokens``); ``batch_malformed`` (``custom_id`` to a raw line written instead
of its result; ``None``: the real line cut in half); ``batch_list_limit`` (the most a page
of the list holds, to test the cursor); ``batch_errors_for_prompt`` and
``batch_expire_for_prompt``: the same as ``batch_item_errors`` and ``batch_expire``, for
the items whose last message contains the text (a test that runs the CLI in a subprocess
cannot know the custom ids). ``batches`` holds the jobs, ``files`` the files.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import RecordedRequest, Reply

if TYPE_CHECKING:
    from tests.fakes.openai_server import OpenAIServer

ENDED = {"completed", "expired", "cancelled", "failed"}


@dataclass
class FakeFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
            "filename": self.filename, "purpose": self.purpose, "status": "processed", "expires_at": None,
        }  # fmt: skip


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created_at: int
    lines: list[dict[str, Any]]
    status: str = "validating"
    polls: int = 0
    error: dict[str, Any] | None = None  # why validation failed
    cancel_requested: bool = False
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


class OpenAIBatchRoutes:
    """The Files and Batch routes; the server's knobs and chat answers make the results."""

    def __init__(self, server: OpenAIServer) -> None:
        self.server = server
        self._ids = itertools.count(1)
        self._clock = itertools.count(0)

    def _id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06x}fake"

    def route(self, request: RecordedRequest, path: str, reply: Reply) -> bool:
        """Answer ``request`` if it is a Files or Batch call; False: not one of these routes."""
        parts = path.strip("/").split("/")  # ["v1", "batches", id, "cancel"]
        method = request.method
        if parts[:2] == ["v1", "files"]:
            if method == "POST" and len(parts) == 2:
                self._upload(request, reply)
            elif method == "GET" and len(parts) == 4 and parts[3] == "content":
                self._content(parts[2], reply)
            elif method == "DELETE" and len(parts) == 3:
                with self.server.lock:
                    deleted = self.server.files.pop(parts[2], None) is not None
                reply.json(200 if deleted else 404, {"id": parts[2], "object": "file", "deleted": deleted})
            else:
                return False
            return True
        if parts[:2] != ["v1", "batches"]:
            return False
        body = request.body if isinstance(request.body, dict) else {}
        if method == "POST" and len(parts) == 2:
            self._create(body, reply)
        elif method == "GET" and len(parts) == 2:
            self._list(request.path, reply)
        elif method == "GET" and len(parts) == 3:
            self._retrieve(parts[2], reply)
        elif method == "POST" and len(parts) == 4 and parts[3] == "cancel":
            self._cancel(parts[2], reply)
        else:
            return False
        return True

    # -- files -----------------------------------------------------------------
    def _upload(self, request: RecordedRequest, reply: Reply) -> None:
        upload = request.form.get("file")
        purpose = request.form.get("purpose")
        if upload is None or purpose is None:
            reply.json(400, _error("'file' and 'purpose' are required", param="file"))
            return
        if purpose.text not in ("batch", "assistants", "fine-tune", "vision", "user_data", "evals"):
            reply.json(400, _error(f"Invalid purpose: {purpose.text!r}", param="purpose"))
            return
        if purpose.text == "batch" and not (upload.filename or "").endswith(".jsonl"):
            reply.json(400, _error("Batch input files must be .jsonl", param="file"))
            return
        file = FakeFile(self._id("file"), upload.filename or "upload", purpose.text, upload.data, self._now())
        with self.server.lock:
            self.server.files[file.id] = file
        reply.json(200, file.as_json())

    def _content(self, file_id: str, reply: Reply) -> None:
        file = self.server.files.get(file_id)
        if file is None:
            reply.json(404, _error(f"No such File object: {file_id}", param="id"))
            return
        reply.raw(200, file.data, "application/octet-stream")

    def _now(self) -> int:
        # Strictly increasing, so the newest-first list has one order however fast tests run.
        return int(time.time()) + next(self._clock)

    # -- batches ---------------------------------------------------------------
    def _create(self, body: dict[str, Any], reply: Reply) -> None:
        file = self.server.files.get(str(body.get("input_file_id")))
        if file is None:
            reply.json(400, _error(f"No such File object: {body.get('input_file_id')}", param="input_file_id"))
            return
        if body.get("completion_window") != "24h":
            reply.json(400, _error("completion_window must be '24h'", param="completion_window"))
            return
        if file.purpose != "batch":
            reply.json(400, _error("The input file must have purpose 'batch'", param="input_file_id"))
            return
        endpoint = str(body.get("endpoint"))
        lines, error = _read_input(file.data, endpoint)
        if error is None and self.server.batch_fail is not None:
            error = {"code": "invalid_request", "message": self.server.batch_fail, "param": None, "line": None}
        job = FakeBatch(self._id("batch"), file.id, endpoint, body.get("metadata"), self._now(), lines, error=error)
        job.counts = {"total": 0 if error else len(lines), "completed": 0, "failed": 0}
        with self.server.lock:
            self.server.batches[job.id] = job
        reply.json(200, self._json(job))

    def _retrieve(self, batch_id: str, reply: Reply) -> None:
        job = self._job(batch_id, reply)
        if job is None:
            return
        with self.server.lock:
            self._advance(job)
        reply.json(200, self._json(job))

    def _cancel(self, batch_id: str, reply: Reply) -> None:
        job = self._job(batch_id, reply)
        if job is None:
            return
        with self.server.lock:
            if job.status in ENDED or job.status == "finalizing":
                reply.json(400, _error(f"Cannot cancel a batch with status '{job.status}'."))
                return
            job.cancel_requested = True
            job.status = "cancelling"
        reply.json(200, self._json(job))

    def _list(self, raw_path: str, reply: Reply) -> None:
        query = parse_qs(urlsplit(raw_path).query)
        limit = min(int(query.get("limit", ["20"])[0]), 100, self.server.batch_list_limit)
        after = query.get("after", [None])[0]
        jobs = sorted(self.server.batches.values(), key=lambda j: j.created_at, reverse=True)
        if after is not None:
            ids = [j.id for j in jobs]
            jobs = jobs[ids.index(after) + 1 :] if after in ids else []
        page = jobs[:limit]
        reply.json(
            200,
            {
                "object": "list",
                "data": [self._json(j) for j in page],
                "first_id": page[0].id if page else None,
                "last_id": page[-1].id if page else None,
                "has_more": len(jobs) > limit,
            },
        )

    def _job(self, batch_id: str, reply: Reply) -> FakeBatch | None:
        job = self.server.batches.get(batch_id)
        if job is None:
            reply.json(404, _error(f"No batch found with id '{batch_id}'.", param="batch_id"))
        return job

    def _advance(self, job: FakeBatch) -> None:
        """One poll: move the job along, and write its results when it ends."""
        if job.status in ENDED:
            return
        if job.error is not None:
            job.status = "failed"
            return
        if job.cancel_requested:
            self._finish(job, "cancelled")
            return
        job.polls += 1
        polls = self.server.batch_polls_to_end
        if job.polls > polls:
            expired = any(self._expires(line) for line in job.lines)
            self._finish(job, "expired" if expired else "completed")
        elif job.polls == polls and polls >= 2:
            job.status = "finalizing"
        else:
            job.status = "in_progress"

    def _expires(self, line: dict[str, Any]) -> bool:
        server = self.server
        prompt = _prompt(line)
        return line["custom_id"] in server.batch_expire or any(t in prompt for t in server.batch_expire_for_prompt)

    def _finish(self, job: FakeBatch, status: str) -> None:
        server = self.server
        output: list[str] = []
        errors: list[str] = []
        for index, line in enumerate(job.lines):
            custom_id = line["custom_id"]
            record: dict[str, Any] = {"id": self._id("batch_req"), "custom_id": custom_id, "response": None}
            fault = server.batch_item_errors.get(custom_id) or next(
                (f for text, f in server.batch_errors_for_prompt.items() if text in _prompt(line)), None
            )
            if status == "cancelled" and index >= server.batch_answered_before_cancel:
                record["error"] = {"code": "batch_cancelled", "message": "This request was cancelled."}
            elif self._expires(line):
                record["error"] = {
                    "code": "batch_expired",
                    "message": "This request could not be executed before the completion window expired.",
                }
            elif fault is not None:
                status_code = fault.status or 500
                body = fault.body if fault.body is not None else server._error_body(fault)
                record["response"] = {"status_code": status_code, "request_id": self._id("req"), "body": body}
                record["error"] = None
            else:
                usage = server.batch_usage.get(custom_id)
                answer = server.completion(line.get("body") or {}, usage)
                record["response"] = {"status_code": 200, "request_id": self._id("req"), "body": answer}
                record["error"] = None
                text = json.dumps(record)
                if custom_id in server.batch_malformed:
                    text = server.batch_malformed[custom_id] or text[: len(text) // 2]
                output.append(text)
                continue
            errors.append(json.dumps(record))
        if output:
            job.output_file_id = self._store(f"batch_{job.id}_output.jsonl", output)
        if errors:
            job.error_file_id = self._store(f"batch_{job.id}_error.jsonl", errors)
        job.counts = {"total": len(job.lines), "completed": len(output), "failed": len(errors)}
        job.status = status

    def _store(self, filename: str, lines: list[str]) -> str:
        data = ("\n".join(lines) + "\n").encode()
        file = FakeFile(self._id("file"), filename, "batch_output", data, self._now())
        self.server.files[file.id] = file
        return file.id

    def _json(self, job: FakeBatch) -> dict[str, Any]:
        return {
            "id": job.id,
            "object": "batch",
            "endpoint": job.endpoint,
            "errors": {"object": "list", "data": [job.error]} if job.error else None,
            "input_file_id": job.input_file_id,
            "completion_window": "24h",
            "status": job.status,
            "output_file_id": job.output_file_id,
            "error_file_id": job.error_file_id,
            "created_at": job.created_at,
            "request_counts": job.counts,
            "metadata": job.metadata,
            "model": (job.lines[0].get("body") or {}).get("model") if job.lines else None,
        }


def _error(message: str, type_: str = "invalid_request_error", param: str | None = None) -> dict[str, Any]:
    from tests.fakes.openai_server import openai_error  # imported here: that module imports this one

    return openai_error(message, type_, None, param)


def _read_input(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The input file's requests, or the validation error OpenAI reports for the first bad line."""
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    models: set[str] = set()
    for number, text in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        if not text.strip():
            continue

        def bad(message: str, code: str = "invalid_request", param: str | None = None) -> dict[str, Any]:
            return {"code": code, "message": message, "param": param, "line": number}  # noqa: B023

        try:
            line = json.loads(text)
        except ValueError:
            return [], bad("This line is not parseable as valid JSON.", "invalid_json_line")
        if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
            return [], bad("Each request needs a custom_id.", param="custom_id")
        if line["custom_id"] in seen:
            return [], bad("The custom_id for this request is a duplicate of another request.", "duplicate_custom_id")
        if line.get("method") != "POST" or line.get("url") != endpoint:
            return [], bad(f"The url for this request does not match the batch endpoint {endpoint}.", param="url")
        body = line.get("body")
        if not isinstance(body, dict) or body.get("stream"):
            return [], bad("The request body must be an object and must not stream.", param="body")
        seen.add(line["custom_id"])
        models.add(str(body.get("model")))
        lines.append(line)
    if not lines:
        return [], {"code": "empty_file", "message": "The batch input file is empty.", "param": None, "line": None}
    if len(models) > 1:
        return [], {
            "code": "mixed_model",
            "message": "All requests must use the same model.",
            "param": None,
            "line": None,
        }
    return lines, None


def _prompt(line: dict[str, Any]) -> str:
    """The last message's text of an input line (what a subprocess test can pick items by)."""
    messages = (line.get("body") or {}).get("messages") or [{}]
    content = messages[-1].get("content")
    return content if isinstance(content, str) else json.dumps(content)
