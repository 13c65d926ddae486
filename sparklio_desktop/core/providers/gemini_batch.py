"""Gemini batch mode (``batchGenerateContent``) behind :class:`~.batch_jobs.BatchJobClient`.

Wire (Gemini Developer API, pinned to ``v1beta``: batch mode is documented there only):

    POST models/{model}:batchGenerateContent   {"batch": {"displayName", "inputConfig":
                                               {"requests": {"requests": [{"request", "metadata": {"key"}}]}}}}
    GET  batches/{id}                          the job: an Operation whose ``metadata`` is the batch
    POST batches/{id}:cancel
    GET  batches?pageSize=&pageToken=          ``{"operations": [...], "nextPageToken"}``

Each item is sent inline as the chat client would send it (``contents``, ``systemInstruction``,
``generationConfig``), with our ``custom_id`` as ``metadata.key``. Inline jobs are limited to
20 MB of request in all (images included): a bigger batch must be split by the caller.

**Reads are raw.** ``submit`` and ``cancel`` go through ``client.aio.batches``. ``status``,
``results`` and ``find`` GET the job's JSON through the SDK's own API client (same key, base
URL, timeout and ``APIError``), because the SDK's ``BatchJob`` drops ``batchStats`` and the
job's ``error``, and validates every inlined response at once: one unreadable entry would
fail the whole job. Here each entry is read alone, and an unreadable one becomes an
``error`` result for its item. Errors are the chat client's, except that a 404 on a job
is ``InvalidRequestError`` (Gemini no longer has the job), not ``ModelNotFoundError``.

**States** (``metadata.state``; the SDK's ``JOB_STATE_*`` names are accepted too):
``BATCH_STATE_PENDING`` / ``RUNNING`` (and ``QUEUED``, ``PAUSED``, ``UPDATING``,
``UNSPECIFIED``, anything unknown) -> ``in_progress``; ``CANCELLING`` -> ``ending``;
``SUCCEEDED``, ``PARTIALLY_SUCCEEDED``, ``CANCELLED``, ``EXPIRED`` -> ``ended``;
``FAILED`` -> ``failed`` (the Operation's ``error.message`` is the reason).

**Matching.** Each inlined response is matched to its item by the ``metadata.key`` Gemini
echoes; an entry without one is matched by its position among the job's input requests
(the job's ``inputConfig``, else what this client submitted), but only when every request
has an entry: with gaps a position could hand one item another's answer. Items without
an entry end ``cancelled`` in a cancelled job, ``expired`` in an expired one, else
``error``. Counts come from ``batchStats`` (int64 values, sent as strings).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from sparklio_desktop.core.providers.base import Endpoint
from sparklio_desktop.core.providers.batch_jobs import BatchItem, ItemOutcome, ItemResult, JobState, JobStatus
from sparklio_desktop.core.providers.errors import InvalidRequestError, ModelNotFoundError, TransientError
from sparklio_desktop.core.providers.gemini_client import GeminiClient, _contents, _texts, _usage

if TYPE_CHECKING:
    import httpx
    from google import genai

T = TypeVar("T")

_TIMEOUT_S = 120.0  # an inline job carries every item in one request
# Batch mode is documented on v1beta only; the SDK's default (v1 in google-genai 3.x) is for chat.
_API_VERSION = "v1beta"
_LIST_PAGE_SIZE = 100
_PREFIX = ("BATCH_STATE_", "JOB_STATE_")
_STATES: dict[str, JobState] = {
    "CANCELLING": "ending",
    "SUCCEEDED": "ended",
    "PARTIALLY_SUCCEEDED": "ended",
    "CANCELLED": "ended",
    "EXPIRED": "ended",
    "FAILED": "failed",
}
# What an item no entry answered became, by the job's final state.
_UNANSWERED: dict[str, ItemOutcome] = {"CANCELLED": "cancelled", "EXPIRED": "expired"}


class GeminiBatchClient(GeminiClient):
    """Gemini batch mode; job ids are the API's names (``batches/...``)."""

    def __init__(self, http_client: httpx.AsyncClient | None = None) -> None:
        super().__init__(http_client=http_client)
        # job id -> the custom_ids submitted, in order: the last resort for matching by
        # position when the job echoes neither the entries' keys nor its input.
        self._submitted: dict[str, list[str]] = {}

    # -- the contract --------------------------------------------------------------------
    async def submit(self, endpoint: Endpoint, items: Sequence[BatchItem], *, label: str) -> str:
        async def call(sdk: genai.Client) -> Any:
            from google.genai import types

            requests = [_inlined_request(item, types) for item in items]
            config = types.CreateBatchJobConfig(display_name=label, http_options=_options(types))
            return await sdk.aio.batches.create(model=endpoint.api_name, src=requests, config=config)

        job = await self._call(endpoint, _TIMEOUT_S, call)
        if not job.name:
            raise TransientError("Gemini accepted the batch but named no job", **self._who(endpoint))
        self._submitted[str(job.name)] = [item.custom_id for item in items]
        return str(job.name)

    async def status(self, endpoint: Endpoint, job_id: str) -> JobStatus:
        operation = await self._get(endpoint, job_id)
        batch = _mapping(operation.get("metadata"))
        word = _state_word(batch.get("state"))
        stats = _mapping(batch.get("batchStats"))
        state = _STATES.get(word, "in_progress")
        error = None
        if state == "failed":
            error = _mapping(operation.get("error")).get("message") or f"Gemini batch job failed ({word})"
            error = self._clean(endpoint, str(error))
        return JobStatus(
            state=state,
            total=_int(stats.get("requestCount")) or len(_input_keys(batch)),
            completed=_int(stats.get("successfulRequestCount")),
            failed=_int(stats.get("failedRequestCount")),
            detail=str(batch.get("state") or ""),
            error=error,
        )

    async def results(self, endpoint: Endpoint, job_id: str) -> list[ItemResult]:
        batch = _mapping((await self._get(endpoint, job_id)).get("metadata"))
        keys = _input_keys(batch) or self._submitted.get(job_id, [])
        output = _mapping(batch.get("output"))
        entries = _mapping(output.get("inlinedResponses")).get("inlinedResponses")
        entries = entries if isinstance(entries, list) else []
        # By position only when every request has its entry: with gaps, a position could
        # hand one item another's answer.
        by_position = len(entries) == len(keys)
        results: dict[str, ItemResult] = {}
        for index, entry in enumerate(entries):
            echoed = _mapping(_mapping(entry).get("metadata")).get("key")
            custom_id = str(echoed) if echoed else (keys[index] if by_position else None)
            if custom_id is None or custom_id in results:
                continue  # no item to hold it: nothing to report it on
            results[custom_id] = self._item_result(endpoint, custom_id, entry)
        ending = _UNANSWERED.get(_state_word(batch.get("state")), "error")
        for custom_id in keys:
            if custom_id not in results:
                why = None if ending != "error" else "Gemini returned no result for this item"
                results[custom_id] = ItemResult(custom_id, ending, error=why)
        return list(results.values())

    async def cancel(self, endpoint: Endpoint, job_id: str) -> None:
        async def call(sdk: genai.Client) -> None:
            from google.genai import types

            config = types.CancelBatchJobConfig(http_options=_options(types))
            await sdk.aio.batches.cancel(name=job_id, config=config)

        await self._job_call(endpoint, job_id, call)

    async def find(self, endpoint: Endpoint, label: str, *, total: int, created_after: float) -> str | None:
        """The newest job named ``label`` with ``total`` requests, created at or after ``created_after``."""
        best: tuple[float, str] | None = None
        token: str | None = None
        for _ in range(1000):  # pages; a bound against a server that never stops paging
            query = {"pageSize": _LIST_PAGE_SIZE, **({"pageToken": token} if token else {})}
            page = await self._raw(endpoint, f"batches?{urlencode(query)}")
            for operation in page.get("operations") or []:
                batch = _mapping(_mapping(operation).get("metadata"))
                created = _timestamp(batch.get("createTime"))
                name = _mapping(operation).get("name") or batch.get("name")
                count = _int(_mapping(batch.get("batchStats")).get("requestCount")) or len(_input_keys(batch))
                if batch.get("displayName") != label or created is None or created < created_after or not name:
                    continue
                if count and count != total:
                    continue
                if best is None or created > best[0]:
                    best = (created, str(name))
            token = page.get("nextPageToken") or None
            if not token:
                break
        return best[1] if best else None

    # -- reading --------------------------------------------------------------------------
    async def _get(self, endpoint: Endpoint, job_id: str) -> Mapping[str, Any]:
        return await self._raw(endpoint, job_id, job_id)

    async def _job_call(self, endpoint: Endpoint, job_id: str, make: Callable[[genai.Client], Awaitable[T]]) -> T:
        """A call on one job: a 404 there is a job Gemini no longer has, not an unknown model."""
        if not job_id.startswith("batches/") or "/" in job_id.removeprefix("batches/"):
            raise InvalidRequestError(f"not a Gemini batch job name: {job_id!r}", **self._who(endpoint))
        failure: InvalidRequestError
        try:
            return await self._call(endpoint, _TIMEOUT_S, make)
        except ModelNotFoundError as err:
            failure = InvalidRequestError(f"Gemini has no batch job {job_id}: {err.message}", **self._who(endpoint))
        raise failure

    async def _raw(self, endpoint: Endpoint, path: str, job_id: str | None = None) -> Mapping[str, Any]:
        """GET ``path`` through the SDK's API client: its auth, base URL, version and errors."""

        async def call(sdk: genai.Client) -> Any:
            from google.genai import types

            response = await sdk.aio._api_client.async_request("get", path, {}, _options(types))
            return json.loads(response.body) if response.body else {}

        if job_id is None:
            body = await self._call(endpoint, _TIMEOUT_S, call)
        else:
            body = await self._job_call(endpoint, job_id, call)
        if not isinstance(body, Mapping):
            raise TransientError(f"malformed response: expected a JSON object for {path}", **self._who(endpoint))
        return body

    def _item_result(self, endpoint: Endpoint, custom_id: str, entry: Any) -> ItemResult:
        """One inlined response -> our result; anything unreadable is this item's error."""
        from google.genai import types

        entry = _mapping(entry)
        error = entry.get("error")
        if error is not None:
            err = _mapping(error)
            text = f"{err.get('status') or err.get('code') or 'error'}: {err.get('message') or error}"
            return ItemResult(custom_id, "error", error=self._clean(endpoint, text))
        try:
            response = types.GenerateContentResponse._from_response(response=dict(entry["response"]), kwargs={})
            usage = _usage(response.usage_metadata) if response.usage_metadata is not None else None
        except Exception as exc:  # noqa: BLE001 - one unreadable entry is that item's error, never a crash
            message = self._clean(endpoint, f"unreadable result from Gemini: {type(exc).__name__}: {exc}"[:500])
            return ItemResult(custom_id, "error", error=message)
        try:
            self._raise_if_refused(response, endpoint)
        except InvalidRequestError as refused:
            return ItemResult(custom_id, "error", usage=usage, error=refused.message)
        return ItemResult(custom_id, "ok", text="".join(_texts(response)), usage=usage)


def _options(types: Any) -> Any:
    """Every batch call's HTTP options: our timeout, and the API version batch mode lives on."""
    return types.HttpOptions(timeout=round(_TIMEOUT_S * 1000), api_version=_API_VERSION)


def _inlined_request(item: BatchItem, types: Any) -> Any:
    """One item as the chat client builds its request: contents, system prompt, limits."""
    contents, system = _contents(item.messages, types)
    config = types.GenerateContentConfig(
        system_instruction=system, max_output_tokens=item.max_output_tokens, temperature=item.temperature
    )
    return types.InlinedRequest(contents=contents, config=config, metadata={"key": item.custom_id})


def _input_keys(batch: Mapping[str, Any]) -> list[str]:
    """Our custom_ids in the order the job's input holds them (empty when it does not echo them)."""
    requests = _mapping(_mapping(batch.get("inputConfig")).get("requests")).get("requests")
    if not isinstance(requests, list):
        return []
    keys = [_mapping(_mapping(r).get("metadata")).get("key") for r in requests]
    return [str(k) for k in keys if k]


def _state_word(state: Any) -> str:
    word = str(state or "")
    for prefix in _PREFIX:
        word = word.removeprefix(prefix)
    return word


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _timestamp(value: Any) -> float | None:
    """RFC 3339 (``2026-12-02T18:24:49.123456789Z``, nanoseconds allowed) -> Unix time."""
    if not isinstance(value, str) or "T" not in value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
