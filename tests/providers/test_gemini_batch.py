"""GeminiBatchClient against the loopback Gemini API's batch mode: the real google-genai SDK
on the wire (``batchGenerateContent``, ``batches/{id}``, ``:cancel``, the paged list)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest

from sparklio_desktop.core.providers.base import ChatRequest, Endpoint, ImageInput, Message, Usage
from sparklio_desktop.core.providers.batch_jobs import (
    BatchItem,
    BatchJobClient,
    ItemResult,
    JobStatus,
    create_batch_client,
)
from sparklio_desktop.core.providers.errors import AuthError, InvalidRequestError, ProviderError, TransientError
from sparklio_desktop.core.providers.gemini_batch import GeminiBatchClient
from sparklio_desktop.core.providers.gemini_client import GeminiClient
from tests.fakes.gemini_server import TINY_PNG, GeminiServer
from tests.fakes.loopback import Fault
from tests.providers.stream_contract import collect, drive_client

KEY = "test-secret-7f3a9c2e5b1d"  # not key-shaped: only the client's own redaction can hide it
MODEL = "gemini-2.5-flash"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[GeminiServer]:
    with GeminiServer(reply_text="Batch answer") as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: GeminiServer) -> Endpoint:
    return Endpoint(provider="google", api_name=MODEL, base_url=server.base_url, api_key=KEY)


def items(*ids: str) -> list[BatchItem]:
    return [BatchItem(i, (Message("user", f"Write about {i}"),), max_output_tokens=100) for i in ids]


def drive(body: Callable[[GeminiBatchClient], Awaitable[T]]) -> T:
    return drive_client(GeminiBatchClient, body)  # type: ignore[arg-type]


def failure(body: Callable[[GeminiBatchClient], Awaitable[Any]]) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        drive(body)
    return info.value


async def run_to_end(
    client: GeminiBatchClient, ep: Endpoint, batch: list[BatchItem], label: str = "run-1"
) -> tuple[str, list[JobStatus], list[ItemResult]]:
    """Submit, poll until the job leaves ``in_progress``, then read the results."""
    job_id = await client.submit(ep, batch, label=label)
    seen = [await client.status(ep, job_id)]
    while seen[-1].state == "in_progress" and len(seen) < 10:
        seen.append(await client.status(ep, job_id))
    return job_id, seen, await client.results(ep, job_id)


def by_id(results: list[ItemResult]) -> dict[str, ItemResult]:
    return {r.custom_id: r for r in results}


# -- the happy path ---------------------------------------------------------------------
def test_submit_poll_to_the_end_then_results_with_usage(server: GeminiServer) -> None:
    server.batch.polls_to_end = 2
    server.batch.usage["b"] = {
        "promptTokenCount": 9000,
        "cachedContentTokenCount": 8192,
        "candidatesTokenCount": 6,
        "thoughtsTokenCount": 300,
        "totalTokenCount": 9306,
    }
    job_id, seen, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b")))
    assert job_id.startswith("batches/")
    assert [s.detail for s in seen] == ["BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"]
    assert [s.state for s in seen] == ["in_progress", "in_progress", "ended"]
    assert (seen[-1].total, seen[-1].completed, seen[-1].failed) == (2, 2, 0)
    assert results == [
        ItemResult("a", "ok", text="Batch answer", usage=Usage(input_tokens=11, output_tokens=6)),
        ItemResult(
            "b",
            "ok",
            text="Batch answer",
            usage=Usage(input_tokens=9000, output_tokens=306, cache_read_tokens=8192, reasoning_tokens=300),
        ),
    ]


def test_the_request_is_the_chat_request_with_the_label_and_keys(server: GeminiServer) -> None:
    messages = (
        Message("system", "Answer in French."),
        Message("user", "Describe", (ImageInput(TINY_PNG, "image/png"),)),
        Message("assistant", "Une image"),
        Message("user", "More"),
    )
    batch = [BatchItem("row-1", messages, max_output_tokens=64, temperature=0.2), *items("row-2")]
    drive(lambda c: c.submit(endpoint(server), batch, label="sparklio-batch-7"))
    sent = server.requests[-1]
    assert sent.method == "POST" and sent.path == f"/v1beta/models/{MODEL}:batchGenerateContent"
    assert sent.headers.get("x-goog-api-key") == KEY
    assert sent.body["batch"]["displayName"] == "sparklio-batch-7"
    requests = sent.body["batch"]["inputConfig"]["requests"]["requests"]
    assert [r["metadata"] for r in requests] == [{"key": "row-1"}, {"key": "row-2"}]
    first = requests[0]["request"]
    assert first["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.2}
    assert [c["role"] for c in first["contents"]] == ["user", "model", "user"]
    assert first["systemInstruction"]["parts"] == [{"text": "Answer in French."}]

    async def chat(client: GeminiClient) -> None:
        await collect(client, ChatRequest(endpoint(server), messages, max_output_tokens=64, temperature=0.2))

    drive_client(GeminiClient, chat)
    assert server.requests[-1].body == first  # a batch item sends exactly what a chat call sends


def test_items_are_matched_by_position_when_the_keys_are_not_echoed(server: GeminiServer) -> None:
    server.batch.echo_keys = False
    server.batch.item_errors["b"] = "bad row"
    ep = endpoint(server)
    job_id = drive(lambda c: c.submit(ep, items("a", "b", "c"), label="x"))
    drive(lambda c: c.status(ep, job_id))

    # A fresh client (as after a restart) still matches them, from the job's own input.
    results = drive(lambda c: c.results(ep, job_id))
    assert [(r.custom_id, r.outcome) for r in results] == [("a", "ok"), ("b", "error"), ("c", "ok")]


def test_without_keys_a_job_with_gaps_hands_no_item_another_items_answer(server: GeminiServer) -> None:
    """Entries are in input order, but an expired job answers only some requests: by
    position, ``c``'s answer would be taken for ``b``'s."""
    server.batch.echo_keys = False
    server.batch.expired_ids = {"b"}
    server.batch.usage["c"] = {"promptTokenCount": 5, "candidatesTokenCount": 1}
    _, _, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b", "c")))
    assert all(r.outcome == "expired" and r.usage is None for r in results)


# -- items and jobs that do not end well -------------------------------------------------
def test_item_errors_are_error_results(server: GeminiServer) -> None:
    server.batch.item_errors["b"] = f"Request contains an invalid argument (key {KEY})"
    _, seen, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b", "c")))
    assert (seen[-1].completed, seen[-1].failed) == (2, 1)
    got = by_id(results)
    assert got["a"].outcome == got["c"].outcome == "ok"
    assert got["b"].outcome == "error" and got["b"].usage is None
    assert got["b"].error is not None and "invalid argument" in got["b"].error and KEY not in got["b"].error


def test_a_refused_item_is_an_error_with_its_usage(server: GeminiServer) -> None:
    server.finish_reason = "SAFETY"
    _, _, results = drive(lambda c: run_to_end(c, endpoint(server), items("a")))
    assert results[0].outcome == "error" and results[0].error is not None and "SAFETY" in results[0].error
    assert results[0].usage == Usage(input_tokens=11, output_tokens=6)


def test_an_expired_job_reports_its_unanswered_items_expired(server: GeminiServer) -> None:
    server.batch.expired_ids = {"b"}
    _, seen, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b")))
    assert (seen[-1].state, seen[-1].detail) == ("ended", "BATCH_STATE_EXPIRED")
    assert [(r.custom_id, r.outcome) for r in results] == [("a", "ok"), ("b", "expired")]


def test_a_failed_job_says_why_and_every_item_is_an_error(server: GeminiServer) -> None:
    server.batch.fail_job = "Batch input exceeds the 20 MB limit"
    _, seen, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b")))
    assert seen[-1].state == "failed" and seen[-1].error == "Batch input exceeds the 20 MB limit"
    assert [(r.custom_id, r.outcome) for r in results] == [("a", "error"), ("b", "error")]


def test_cancel_keeps_the_answered_items_and_cancels_the_rest(server: GeminiServer) -> None:
    server.batch.polls_to_end = 5
    server.batch.answered_before_cancel = 1
    ep = endpoint(server)

    async def body(client: GeminiBatchClient) -> tuple[JobStatus, JobStatus, list[ItemResult]]:
        job_id = await client.submit(ep, items("a", "b", "c"), label="x")
        before = await client.status(ep, job_id)
        await client.cancel(ep, job_id)
        return before, await client.status(ep, job_id), await client.results(ep, job_id)

    before, after, results = drive(body)
    assert server.requests[2].method == "POST" and server.requests[2].path.endswith(":cancel")
    assert before.state == "in_progress"
    assert (after.state, after.detail) == ("ended", "BATCH_STATE_CANCELLED")
    assert [(r.custom_id, r.outcome) for r in results] == [("a", "ok"), ("b", "cancelled"), ("c", "cancelled")]


def test_a_malformed_entry_is_that_items_error(server: GeminiServer) -> None:
    server.batch.malformed_ids = {"b"}
    _, seen, results = drive(lambda c: run_to_end(c, endpoint(server), items("a", "b", "c")))
    assert seen[-1].state == "ended"
    got = by_id(results)
    assert got["a"].outcome == got["c"].outcome == "ok"
    assert got["b"].outcome == "error" and got["b"].error is not None and "unreadable" in got["b"].error


# -- find --------------------------------------------------------------------------------
def test_find_pages_through_the_list_by_label_count_and_time(server: GeminiServer) -> None:
    server.batch.page_size = 1
    ep = endpoint(server)
    start = time.time() - 1

    async def body(client: GeminiBatchClient) -> tuple[str, list[str | None]]:
        wanted = await client.submit(ep, items("a", "b"), label="sparklio-42")
        for label in ("other-1", "other-2"):
            await client.submit(ep, items("a"), label=label)
        return wanted, [
            await client.find(ep, "sparklio-42", total=2, created_after=start),
            await client.find(ep, "sparklio-43", total=2, created_after=start),
            await client.find(ep, "sparklio-42", total=3, created_after=start),
            await client.find(ep, "sparklio-42", total=2, created_after=time.time() + 60),
        ]

    wanted, found = drive(body)
    assert found == [wanted, None, None, None]
    assert any("pageToken=2" in r.path for r in server.requests if r.method == "GET")


# -- failures of the calls themselves ------------------------------------------------------
def test_a_rejected_key_is_an_auth_error_without_the_key(server: GeminiServer) -> None:
    server.script(Fault(status=401, message=f"API key {KEY} is not valid"))
    err = failure(lambda c: c.submit(endpoint(server), items("a"), label="x"))
    assert isinstance(err, AuthError) and KEY not in str(err) and KEY not in err.message

    server.api_key = "the-right-key"
    err = failure(lambda c: c.status(endpoint(server), "batches/fakebatch1"))
    assert isinstance(err, AuthError) and KEY not in str(err)


def test_rate_limit_is_transient_with_retry_after(server: GeminiServer) -> None:
    server.script(Fault(status=429, headers={"Retry-After": "3"}, path_contains="/batches"))
    job_id = drive(lambda c: c.submit(endpoint(server), items("a"), label="x"))
    err = failure(lambda c: c.status(endpoint(server), job_id))
    assert isinstance(err, TransientError) and err.retry_after_s == 3.0


def test_a_job_id_that_is_not_a_batch_name_is_refused(server: GeminiServer) -> None:
    err = failure(lambda c: c.results(endpoint(server), "../models/x"))
    assert isinstance(err, InvalidRequestError)
    assert not server.requests


def test_a_job_gemini_does_not_have_is_not_an_unknown_model(server: GeminiServer) -> None:
    for call in ("status", "cancel"):
        err = failure(lambda c, call=call: getattr(c, call)(endpoint(server), "batches/gone"))
        assert type(err) is InvalidRequestError and "batches/gone" in err.message


def test_the_factory_builds_the_gemini_batch_client() -> None:
    client = create_batch_client("google")
    assert isinstance(client, GeminiBatchClient) and isinstance(client, BatchJobClient)
