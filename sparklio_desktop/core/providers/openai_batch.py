"""OpenAI's Batch API behind :class:`~sparklio_desktop.core.providers.batch_jobs.BatchJobClient`.

A job is an uploaded file of JSON lines (``POST /v1/files``, ``purpose=batch``), one line
per item: ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}``, where
``body`` is exactly the chat client's request body without streaming
(:meth:`OpenAIClient._chat_body`), so a batch item and a chat call send the same thing.
``POST /v1/batches`` starts it with ``completion_window="24h"`` and the label in
``metadata`` (:data:`LABEL_KEY`, with the item count in :data:`ITEMS_KEY`), which is how
:meth:`OpenAIBatchClient.find` recognises it in ``GET /v1/batches`` (newest first, paged by
``after``; the walk stops at the first job older than ``created_after``).

OpenAI's status words onto :data:`~sparklio_desktop.core.providers.batch_jobs.JobState`:

==============================  ===============
``validating``, ``in_progress``  ``in_progress``
``finalizing``, ``cancelling``   ``ending``
``completed``, ``expired``,     ``ended``
``cancelled``
``failed``                       ``failed`` (``errors.data`` says why, with the line)
anything new                     ``in_progress`` (keep polling; ``detail`` shows the word)
==============================  ===============

Results are the output file (answered items) and the error file (the rest), read with
``GET /v1/files/{id}/content``; items are matched by ``custom_id``. A line with
``response.status_code`` 200 is ``ok`` with the completion's text and ``usage``
(OpenAI's counts already follow genai-prices' convention); another status is ``error``
with OpenAI's message; ``error.code`` ``batch_expired`` is ``expired``,
``batch_cancelled`` ``cancelled``. A line that cannot be read is an ``error`` for its
``custom_id`` when that can still be found in it, and is skipped otherwise (the caller
sees the item missing). Calls go through the chat client's guarded ``_call``: every
failure is one of our error classes with the key redacted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from sparklio_desktop.core.providers._client_base import close_quietly
from sparklio_desktop.core.providers.base import Endpoint
from sparklio_desktop.core.providers.batch_jobs import BatchItem, ItemOutcome, ItemResult, JobState, JobStatus
from sparklio_desktop.core.providers.errors import InvalidRequestError, ProviderError, TransientError
from sparklio_desktop.core.providers.openai_client import OpenAIClient, openai_usage

if TYPE_CHECKING:
    import openai
    from openai.types import Batch

__all__ = ["ITEMS_KEY", "LABEL_KEY", "OpenAIBatchClient", "job_state"]

CHAT_URL: Final = "/v1/chat/completions"
LABEL_KEY = "sparklio_label"
ITEMS_KEY = "sparklio_items"
# Small JSON calls; an upload carries up to 200 MB (OpenAI's limit for a batch file).
CALL_TIMEOUT_S = 60.0
UPLOAD_TIMEOUT_S = 600.0
LIST_PAGE = 100  # the most OpenAI lists at once

_STATES: dict[str, JobState] = {
    "validating": "in_progress",
    "in_progress": "in_progress",
    "finalizing": "ending",
    "cancelling": "ending",
    "completed": "ended",
    "expired": "ended",
    "cancelled": "ended",
    "failed": "failed",
}
_ITEM_ERRORS: dict[str, ItemOutcome] = {"batch_expired": "expired", "batch_cancelled": "cancelled"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")  # kept out of the upload's file name
_CUSTOM_ID = re.compile(r'"custom_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


def job_state(status: str) -> JobState:
    """OpenAI's status word as a :data:`JobState` (the table in the module docstring)."""
    return _STATES.get(status, "in_progress")


class OpenAIBatchClient(OpenAIClient):
    """OpenAI's Batch API for chat completions, on the chat client's SDK clients and error mapping."""

    async def submit(self, endpoint: Endpoint, items: Sequence[BatchItem], *, label: str) -> str:
        if not items:
            raise InvalidRequestError("a batch needs at least one item", **self._who(endpoint))
        lines = [
            json.dumps(
                {
                    "custom_id": item.custom_id,
                    "method": "POST",
                    "url": CHAT_URL,
                    "body": self._chat_body(endpoint.api_name, item.messages, item.max_output_tokens, item.temperature),
                },
                ensure_ascii=False,
            )
            for item in items
        ]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        upload = await self._call(
            endpoint,
            UPLOAD_TIMEOUT_S,
            lambda sdk: sdk.files.create(
                file=(f"sparklio-{_UNSAFE.sub('_', label)}.jsonl", data, "application/jsonl"),
                purpose="batch",
                timeout=UPLOAD_TIMEOUT_S,
            ),
        )
        metadata = {LABEL_KEY: label, ITEMS_KEY: str(len(items))}
        try:
            batch = await self._call(
                endpoint,
                CALL_TIMEOUT_S,
                lambda sdk: sdk.batches.create(
                    input_file_id=upload.id,
                    endpoint=CHAT_URL,
                    completion_window="24h",
                    metadata=metadata,
                    timeout=CALL_TIMEOUT_S,
                ),
            )
        except ProviderError as exc:
            # Refused for good: the uploaded file would only take space until it expires. Not
            # after a transient failure (a timeout): the job may exist, and need its input.
            if not isinstance(exc, TransientError):
                sdk = self._sdk(endpoint)
                await close_quietly(lambda: sdk.files.delete(upload.id, timeout=CALL_TIMEOUT_S))
            raise
        return batch.id

    async def status(self, endpoint: Endpoint, job_id: str) -> JobStatus:
        batch = await self._retrieve(endpoint, job_id)
        counts = batch.request_counts
        state = job_state(batch.status)
        return JobStatus(
            state=state,
            total=counts.total if counts else 0,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            detail=batch.status,
            error=self._job_error(endpoint, batch) if state == "failed" else None,
        )

    async def results(self, endpoint: Endpoint, job_id: str) -> list[ItemResult]:
        batch = await self._retrieve(endpoint, job_id)
        results: list[ItemResult] = []
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                text = await self._file_text(endpoint, file_id)
                results.extend(r for r in (self._item(endpoint, line) for line in text.splitlines()) if r)
        return results

    async def cancel(self, endpoint: Endpoint, job_id: str) -> None:
        await self._call(endpoint, CALL_TIMEOUT_S, lambda sdk: sdk.batches.cancel(job_id, timeout=CALL_TIMEOUT_S))

    async def find(self, endpoint: Endpoint, label: str, *, total: int, created_after: float) -> str | None:
        async def walk(sdk: openai.AsyncOpenAI) -> str | None:
            page = await sdk.batches.list(limit=LIST_PAGE, timeout=CALL_TIMEOUT_S)
            while True:
                for batch in page.data:
                    if batch.created_at < created_after:
                        return None  # newest first: every job after this one is older still
                    metadata = batch.metadata or {}
                    if (
                        metadata.get(LABEL_KEY) == label
                        and metadata.get(ITEMS_KEY) == str(total)
                        and batch.endpoint == CHAT_URL
                    ):
                        return batch.id
                if not page.has_next_page():
                    return None
                page = await page.get_next_page()

        return await self._call(endpoint, CALL_TIMEOUT_S, walk)

    # -- reading what OpenAI answered ----------------------------------------------
    async def _retrieve(self, endpoint: Endpoint, job_id: str) -> Batch:
        return await self._call(
            endpoint, CALL_TIMEOUT_S, lambda sdk: sdk.batches.retrieve(job_id, timeout=CALL_TIMEOUT_S)
        )

    async def _file_text(self, endpoint: Endpoint, file_id: str) -> str:
        async def read(sdk: openai.AsyncOpenAI) -> str:
            content = await sdk.files.content(file_id, timeout=UPLOAD_TIMEOUT_S)
            return content.content.decode("utf-8", "replace")

        return await self._call(endpoint, UPLOAD_TIMEOUT_S, read)

    def _job_error(self, endpoint: Endpoint, batch: Batch) -> str:
        """Why a job failed: OpenAI's ``errors.data``, each with its input line."""
        reasons = []
        for error in (batch.errors.data if batch.errors else None) or ():
            where = f"line {error.line}: " if error.line is not None else ""
            reasons.append(f"{where}{error.message or error.code or 'unknown error'}")
        return self._clean(endpoint, "; ".join(reasons) or "the batch failed without a reason")

    def _item(self, endpoint: Endpoint, line: str) -> ItemResult | None:
        """One line of a results file; ``None`` for a blank line or one with no readable ``custom_id``."""
        if not line.strip():
            return None
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        custom_id = record.get("custom_id") if isinstance(record, dict) else None
        if not isinstance(custom_id, str):
            found = _CUSTOM_ID.search(line)
            if found is None:
                return None
            return ItemResult(found.group(1), "error", error="the provider's result line is not valid JSON")
        try:
            return self._read_item(endpoint, custom_id, record)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            return ItemResult(
                custom_id, "error", error=self._clean(endpoint, f"unreadable result: {type(exc).__name__}: {exc}")
            )

    def _read_item(self, endpoint: Endpoint, custom_id: str, record: Mapping[str, Any]) -> ItemResult:
        error = record.get("error")
        if isinstance(error, Mapping):
            code = str(error.get("code") or "")
            message = self._clean(endpoint, str(error.get("message") or code or "unknown error"))
            outcome: ItemOutcome = _ITEM_ERRORS.get(code, "error")
            return ItemResult(custom_id, outcome, error=f"{code}: {message}" if code else message)
        response = record["response"]
        status_code = response["status_code"]
        body = response["body"]
        if status_code != 200:
            inner = body.get("error", body) if isinstance(body, Mapping) else {}
            detail = inner.get("message") if isinstance(inner, Mapping) else None
            return ItemResult(custom_id, "error", error=self._clean(endpoint, f"HTTP {status_code}: {detail or body}"))
        message = body["choices"][0]["message"]
        content = message.get("content")
        if content is not None and not isinstance(content, str):
            raise ValueError(f"message content is {type(content).__name__}, not text")
        usage = body.get("usage")
        return ItemResult(custom_id, "ok", text=content or "", usage=openai_usage(usage or {}))
