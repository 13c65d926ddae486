"""Anthropic's Message Batches API behind :class:`~sparklio_desktop.core.providers.batch_jobs.BatchJobClient`.

Calls (the SDK's ``messages.batches``): ``create`` is ``POST /v1/messages/batches`` with
``{"requests": [{"custom_id", "params"}]}``, ``retrieve`` is ``GET .../batches/{id}``,
``results`` reads the JSON Lines at the batch's ``results_url`` (``.../{id}/results``),
``cancel`` is ``POST .../{id}/cancel`` and ``list`` is ``GET .../batches`` (newest first,
paged by ``after_id``). Each item's ``params`` is exactly what a chat call sends
(:func:`~sparklio_desktop.core.providers.anthropic_client.message_params`: the system
prompt apart, images as base64 blocks, ``max_tokens`` the item's or the chat default,
no temperature), without ``stream``.

States (``processing_status``) onto :data:`~sparklio_desktop.core.providers.batch_jobs.JobState`:

* ``in_progress`` -> ``in_progress``;
* ``canceling`` -> ``ending`` (results not ready yet);
* ``ended`` -> ``ended`` (every item succeeded, errored, was canceled or expired);
* ``ended`` with ``archived_at`` set -> ``failed``: its results are gone for good.

Anthropic refuses a whole batch only when it is created (a 400), so no job of its own
ends ``failed`` otherwise. ``request_counts`` are zero but ``processing`` until the
batch ends, so ``completed`` (succeeded) and ``failed`` (errored and expired) count only then.

Results lines onto :class:`ItemResult` by their ``result.type``: ``succeeded`` -> ``ok``
(the message's text blocks joined, its usage with cache reads and writes added to the
input, as a chat call counts them), ``errored`` -> ``error`` (the error's message),
``canceled`` -> ``cancelled``, ``expired`` -> ``expired``. The lines are read one by one
rather than through the SDK's decoder, which stops at the first line that is not JSON: a
line that cannot be read is an ``error`` for its ``custom_id`` when one can be picked out
of it, and is skipped otherwise.

``find``: Anthropic keeps no label or metadata on a batch. It matches the batches created
at or after ``created_after`` whose request counts add up to ``total``, and returns the id
only when exactly one matches (two such batches cannot be told apart: None, and the
caller resubmits). The label is not sent anywhere.

A 404 (``not_found_error``) is an unknown batch: ``InvalidRequestError``, where a chat
call's 404 is a missing model. Every other failure is mapped as for chat.

Limits (Anthropic's): 100,000 requests or 256 MB a batch; results are kept 29 days.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from sparklio_desktop.core.providers.anthropic_client import AnthropicClient, message_params, message_usage
from sparklio_desktop.core.providers.batch_jobs import BatchItem, ItemResult, JobState, JobStatus
from sparklio_desktop.core.providers.errors import InvalidRequestError, ModelNotFoundError, ProviderError

if TYPE_CHECKING:
    import anthropic

    from sparklio_desktop.core.providers.base import Endpoint

__all__ = ["AnthropicBatchClient"]

T = TypeVar("T")

CALL_TIMEOUT_S = 60.0
SUBMIT_TIMEOUT_S = 300.0  # a batch of images can be many megabytes
RESULTS_TIMEOUT_S = 600.0
LIST_PAGE = 100
_STATES: dict[str, JobState] = {"in_progress": "in_progress", "canceling": "ending", "ended": "ended"}
_CUSTOM_ID = re.compile(r'"custom_id"\s*:\s*"([A-Za-z0-9_-]{1,64})"')


class AnthropicBatchClient(AnthropicClient):
    """Claude models through the Message Batches API, on the chat client's SDK clients and errors."""

    async def submit(self, endpoint: Endpoint, items: Sequence[BatchItem], *, label: str) -> str:
        """Create one batch; ``label`` is not sent (Anthropic keeps none: see :meth:`find`)."""
        requests = [
            {
                "custom_id": item.custom_id,
                "params": message_params(endpoint.api_name, item.messages, item.max_output_tokens),
            }
            for item in items
        ]
        batch = await self._batch_call(
            endpoint,
            SUBMIT_TIMEOUT_S,
            lambda sdk: sdk.messages.batches.create(requests=requests, timeout=SUBMIT_TIMEOUT_S),
        )
        return str(batch.id)

    async def status(self, endpoint: Endpoint, job_id: str) -> JobStatus:
        batch = await self._retrieve(endpoint, job_id)
        counts = batch.request_counts
        total = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
        word = str(batch.processing_status)
        state = _STATES.get(word, "in_progress")
        error = None
        if state == "ended" and batch.archived_at is not None:
            state, error = "failed", "the batch's results were archived and can no longer be fetched"
        return JobStatus(
            state=state,
            total=total,
            completed=counts.succeeded,
            failed=counts.errored + counts.expired,
            detail=word,
            error=error,
        )

    async def results(self, endpoint: Endpoint, job_id: str) -> list[ItemResult]:
        """Every line of the batch's results, in the order Anthropic wrote them."""

        async def read(sdk: anthropic.AsyncAnthropic) -> list[str]:
            import anthropic

            refused: ProviderError | None = None
            try:
                decoder = await sdk.messages.batches.results(job_id, timeout=RESULTS_TIMEOUT_S)
            except anthropic.AnthropicError as exc:
                if type(exc) is not anthropic.AnthropicError:
                    raise  # an API or transport failure: mapped as any other
                # The SDK's own check, before any request: the batch has no results_url yet.
                refused = InvalidRequestError(
                    f"batch {job_id} has not ended: its results are not ready", **self._who(endpoint)
                )
            if refused is not None:
                raise refused
            try:
                return [line async for line in decoder.http_response.aiter_lines() if line.strip()]
            finally:
                await decoder.close()

        lines = await self._batch_call(endpoint, RESULTS_TIMEOUT_S, read)
        found = (self._item(endpoint, line) for line in lines)
        return [item for item in found if item is not None]

    async def cancel(self, endpoint: Endpoint, job_id: str) -> None:
        await self._batch_call(
            endpoint, CALL_TIMEOUT_S, lambda sdk: sdk.messages.batches.cancel(job_id, timeout=CALL_TIMEOUT_S)
        )

    async def find(self, endpoint: Endpoint, label: str, *, total: int, created_after: float) -> str | None:
        """The one batch created at or after ``created_after`` with ``total`` requests; None
        when there is none or more than one (Anthropic stores no label to tell them apart)."""

        async def scan(sdk: anthropic.AsyncAnthropic) -> list[str]:
            matches: list[str] = []
            async for batch in sdk.messages.batches.list(limit=LIST_PAGE, timeout=CALL_TIMEOUT_S):
                if _timestamp(batch.created_at) < created_after:
                    break  # newest first: every later one is older still
                counts = batch.request_counts
                size = counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired
                if size == total:
                    matches.append(batch.id)
            return matches

        matches = await self._batch_call(endpoint, CALL_TIMEOUT_S, scan)
        return matches[0] if len(matches) == 1 else None

    # -- parts -----------------------------------------------------------------------
    async def _batch_call(self, endpoint: Endpoint, timeout_s: float, make: Callable[[Any], Awaitable[T]]) -> T:
        """The chat client's guarded call; a 404 here is a batch that does not exist, not a
        missing model (which would send the caller to another model)."""
        failure: ProviderError
        try:
            return await self._call(endpoint, timeout_s, make)
        except ModelNotFoundError as exc:
            failure = InvalidRequestError(exc.message, provider=exc.provider, model=exc.model, status=exc.status)
        raise failure

    async def _retrieve(self, endpoint: Endpoint, job_id: str) -> Any:
        return await self._batch_call(
            endpoint, CALL_TIMEOUT_S, lambda sdk: sdk.messages.batches.retrieve(job_id, timeout=CALL_TIMEOUT_S)
        )

    def _item(self, endpoint: Endpoint, line: str) -> ItemResult | None:
        """One results line; an unreadable one is an error for its id, or None without one."""
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        custom_id = entry.get("custom_id") if isinstance(entry, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            match = _CUSTOM_ID.search(line)
            if match is None:
                return None
            return ItemResult(match.group(1), "error", error="the batch's result line for this item is not valid JSON")
        try:
            return _read_result(custom_id, entry["result"], lambda text: self._clean(endpoint, text))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            return ItemResult(
                custom_id, "error", error=self._clean(endpoint, f"unreadable result for this item: {why}")
            )


def _read_result(custom_id: str, result: Mapping[str, Any], clean: Any) -> ItemResult:
    kind = result["type"]
    if kind == "succeeded":
        message = result["message"]
        text = "".join(block["text"] for block in message["content"] if block.get("type") == "text")
        usage = message.get("usage")
        return ItemResult(
            custom_id,
            "ok",
            text=text,
            usage=message_usage(SimpleNamespace(**usage)) if isinstance(usage, dict) else None,
        )
    if kind == "errored":
        error: dict[str, Any] = result.get("error") or {}
        inner: dict[str, Any] = error["error"] if isinstance(error.get("error"), dict) else error
        words = inner.get("message") or inner.get("type") or "the request failed"
        kind_word = inner.get("type")
        reason = f"{kind_word}: {words}" if kind_word and kind_word != words else str(words)
        return ItemResult(custom_id, "error", error=clean(reason))
    if kind == "canceled":
        return ItemResult(custom_id, "cancelled", error="the batch was cancelled before this item was answered")
    if kind == "expired":
        return ItemResult(custom_id, "expired", error="the batch expired (24 hours) before this item was answered")
    raise ValueError(f"unknown result type {kind!r}")


def _timestamp(value: object) -> float:
    """Unix time of the SDK's ``created_at`` (a datetime; an RFC 3339 string if not parsed)."""
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
