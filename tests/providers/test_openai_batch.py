"""OpenAIBatchClient against the fake OpenAI server speaking the Files and Batch API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
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
from sparklio_desktop.core.providers.openai_batch import OpenAIBatchClient, job_state
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

KEY = "sk-test-0123456789abcdefghijklmnop"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: OpenAIServer, key: str | None = KEY, model: str = "gpt-4o-mini") -> Endpoint:
    return Endpoint(provider="openai", api_name=model, base_url=server.api_url, api_key=key)


def items(*ids: str, **kw: Any) -> list[BatchItem]:
    return [BatchItem(i, (Message("user", f"write about {i}"),), **kw) for i in ids]


def run(body: Callable[[OpenAIBatchClient], Awaitable[T]]) -> T:
    """Run ``body`` with a fresh batch client on a fresh loop, closing everything afterwards."""

    async def main() -> T:
        async with httpx.AsyncClient() as http:
            client = create_batch_client("openai", http)
            assert isinstance(client, OpenAIBatchClient) and isinstance(client, BatchJobClient)
            try:
                return await body(client)
            finally:
                await client.aclose()

    return asyncio.run(main())


async def poll_to_end(client: BatchJobClient, ep: Endpoint, job_id: str) -> list[JobStatus]:
    seen = []
    for _ in range(20):
        status = await client.status(ep, job_id)
        seen.append(status)
        if status.state in ("ended", "failed"):
            return seen
    raise AssertionError(f"the job never ended: {seen}")


def by_id(results: list[ItemResult]) -> dict[str, ItemResult]:
    return {r.custom_id: r for r in results}


def uploaded_lines(server: OpenAIServer) -> list[dict[str, Any]]:
    upload = next(r for r in server.requests if r.path == "/v1/files" and r.method == "POST")
    assert upload.form["purpose"].text == "batch"
    assert (upload.form["file"].filename or "").endswith(".jsonl")
    return [json.loads(line) for line in upload.form["file"].text.splitlines()]


def error_of(body: Callable[[OpenAIBatchClient], Awaitable[object]]) -> ProviderError:
    async def expect(client: OpenAIBatchClient) -> ProviderError:
        with pytest.raises(ProviderError) as info:
            await body(client)
        return info.value

    return run(expect)


# -- the whole round trip --------------------------------------------------------------
def test_submit_poll_and_results(server: OpenAIServer) -> None:
    server.reply_text = "A short answer."
    server.batch_polls_to_end = 3
    server.batch_usage = {"b": (120, 40)}
    server.cached_tokens = 64
    server.reasoning_tokens = 16
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> tuple[str, list[JobStatus], list[ItemResult]]:
        job_id = await client.submit(ep, items("a", "b", max_output_tokens=300, temperature=0.2), label="sb-1-g1")
        return job_id, await poll_to_end(client, ep, job_id), await client.results(ep, job_id)

    job_id, seen, results = run(body)
    assert job_id.startswith("batch_")
    assert [(s.state, s.detail) for s in seen] == [
        ("in_progress", "in_progress"),
        ("in_progress", "in_progress"),
        ("ending", "finalizing"),
        ("ended", "completed"),
    ]
    assert (seen[-1].total, seen[-1].completed, seen[-1].failed) == (2, 2, 0)
    got = by_id(results)
    assert set(got) == {"a", "b"}
    assert got["a"].outcome == "ok" and got["a"].text == "A short answer."
    assert got["a"].usage == Usage(input_tokens=3, output_tokens=3, cache_read_tokens=64, reasoning_tokens=16)
    assert got["b"].usage == Usage(input_tokens=120, output_tokens=40, cache_read_tokens=64, reasoning_tokens=16)


def test_the_request_the_server_received(server: OpenAIServer) -> None:
    ep = endpoint(server, model="gpt-4.1-mini")
    image = ImageInput(b"\x89PNG fake", "image/png")
    item = BatchItem(
        "row-7_x",
        (Message("system", "Be brief."), Message("user", "What is this?", images=(image,))),
        max_output_tokens=500,
        temperature=0.5,
    )

    run(lambda client: client.submit(ep, [item, *items("row-8")], label="sparklio-batch-42"))
    upload = next(r for r in server.requests if r.path == "/v1/files")
    assert upload.form["file"].filename == "sparklio-sparklio-batch-42.jsonl"
    lines = uploaded_lines(server)
    assert [line["custom_id"] for line in lines] == ["row-7_x", "row-8"]
    first = lines[0]
    assert (first["method"], first["url"]) == ("POST", "/v1/chat/completions")
    assert first["body"] == {
        "model": "gpt-4.1-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORyBmYWtl"}},
                ],
            },
        ],
        "max_completion_tokens": 500,
        "temperature": 0.5,
    }
    assert lines[1]["body"] == {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "write about row-8"}]}
    create = next(r for r in server.requests if r.path == "/v1/batches" and r.method == "POST")
    assert create.body["endpoint"] == "/v1/chat/completions"
    assert create.body["completion_window"] == "24h"
    assert create.body["metadata"] == {"sparklio_label": "sparklio-batch-42", "sparklio_items": "2"}
    assert create.body["input_file_id"] in server.files
    assert create.headers["authorization"] == f"Bearer {KEY}"


def test_an_item_sends_what_a_chat_call_sends(server: OpenAIServer) -> None:
    ep = endpoint(server)
    messages = (
        Message("system", "You write captions."),
        Message("user", "Caption this", images=(ImageInput(b"GIF89a", "image/gif"),)),
        Message("assistant", "A cat."),
        Message("user", "Shorter."),
    )
    request = ChatRequest(ep, messages, max_output_tokens=64, temperature=0.0)

    async def body(client: OpenAIBatchClient) -> None:
        events = [event async for event in client.stream_chat(request)]
        assert isinstance(events[-1], Usage)
        await client.submit(ep, [BatchItem("one", messages, max_output_tokens=64, temperature=0.0)], label="same")

    run(body)
    chat = next(r for r in server.requests if r.path == "/v1/chat/completions").body
    assert chat.pop("stream") is True and chat.pop("stream_options") == {"include_usage": True}
    assert uploaded_lines(server)[0]["body"] == chat


# -- items that do not answer --------------------------------------------------------------
def test_item_errors_and_expired_items(server: OpenAIServer) -> None:
    server.batch_item_errors = {"bad": Fault(status=400, message="Invalid 'messages[0].content': too long.")}
    server.batch_expire = {"late"}
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> tuple[JobStatus, list[ItemResult]]:
        job_id = await client.submit(ep, items("ok", "bad", "late"), label="mixed")
        return (await poll_to_end(client, ep, job_id))[-1], await client.results(ep, job_id)

    status, results = run(body)
    assert (status.state, status.detail) == ("ended", "expired")
    assert (status.completed, status.failed) == (1, 2)
    got = by_id(results)
    assert got["ok"].outcome == "ok"
    assert got["bad"].outcome == "error" and got["bad"].usage is None
    assert got["bad"].error == "HTTP 400: Invalid 'messages[0].content': too long."
    assert got["late"].outcome == "expired" and got["late"].text is None
    assert "batch_expired" in (got["late"].error or "")


def test_a_failed_job_says_why(server: OpenAIServer) -> None:
    server.batch_fail = "The model gpt-nope does not exist or you do not have access to it."
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> tuple[JobStatus, list[ItemResult]]:
        job_id = await client.submit(ep, items("a"), label="doomed")
        return (await poll_to_end(client, ep, job_id))[-1], await client.results(ep, job_id)

    status, results = run(body)
    assert (status.state, status.detail, status.total) == ("failed", "failed", 0)
    assert status.error == "The model gpt-nope does not exist or you do not have access to it."
    assert results == []


def test_cancel_ends_the_unanswered_items_cancelled(server: OpenAIServer) -> None:
    server.batch_polls_to_end = 5
    server.batch_answered_before_cancel = 1
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> tuple[list[JobStatus], list[ItemResult]]:
        job_id = await client.submit(ep, items("done", "c1", "c2"), label="stop-me")
        first = await client.status(ep, job_id)
        await client.cancel(ep, job_id)
        return [first, *await poll_to_end(client, ep, job_id)], await client.results(ep, job_id)

    seen, results = run(body)
    assert [s.state for s in seen] == ["in_progress", "ended"]
    assert seen[-1].detail == "cancelled"
    cancel = [r for r in server.requests if r.path.endswith("/cancel")]
    assert len(cancel) == 1 and cancel[0].method == "POST"
    got = by_id(results)
    assert got["done"].outcome == "ok" and got["done"].usage is not None
    assert (got["c1"].outcome, got["c2"].outcome) == ("cancelled", "cancelled")


def test_cancelling_is_ending(server: OpenAIServer) -> None:
    server.batch_polls_to_end = 5
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> str:
        job_id = await client.submit(ep, items("a"), label="x")
        await client.cancel(ep, job_id)
        return job_id

    job_id = run(body)
    assert server.batches[job_id].status == "cancelling"
    assert job_state("cancelling") == "ending"
    assert job_state("validating") == "in_progress"
    assert job_state("some_new_word") == "in_progress"


def test_a_malformed_result_line_is_that_items_error(server: OpenAIServer) -> None:
    server.batch_malformed = {
        "cut": None,  # the real line cut in half: not JSON, but its custom_id is readable
        "shape": json.dumps({"custom_id": "shape", "response": {"status_code": 200, "body": {"choices": []}}}),
        "gone": "%%% garbage without an id %%%",
    }
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> list[ItemResult]:
        job_id = await client.submit(ep, items("fine", "cut", "shape", "gone"), label="m")
        await poll_to_end(client, ep, job_id)
        return await client.results(ep, job_id)

    got = by_id(run(body))
    assert set(got) == {"fine", "cut", "shape"}  # "gone" cannot be told apart: reported missing
    assert got["fine"].outcome == "ok"
    assert got["cut"].outcome == "error" and "not valid JSON" in (got["cut"].error or "")
    assert got["shape"].outcome == "error" and "IndexError" in (got["shape"].error or "")


# -- find ----------------------------------------------------------------------------------
def test_find_by_label_across_pages(server: OpenAIServer) -> None:
    server.batch_list_limit = 2
    ep = endpoint(server)
    before = time.time() - 5

    async def body(client: OpenAIBatchClient) -> list[str | None]:
        wanted = await client.submit(ep, items("a", "b"), label="recover-me")
        for n in range(5):  # newer jobs push it to the third page
            await client.submit(ep, items("a"), label=f"other-{n}")
        return [
            wanted,
            await client.find(ep, "recover-me", total=2, created_after=before),
            await client.find(ep, "recover-me", total=3, created_after=before),
            await client.find(ep, "absent", total=2, created_after=before),
            await client.find(ep, "recover-me", total=2, created_after=time.time() + 3600),
        ]

    wanted, found, wrong_total, absent, too_new = run(body)
    assert found == wanted
    assert (wrong_total, absent, too_new) == (None, None, None)
    pages = [r for r in server.requests if r.method == "GET" and r.path.startswith("/v1/batches?")]
    assert any("after=" in r.path for r in pages)


# -- failures of the calls themselves ----------------------------------------------------------
def test_401_is_an_auth_error_without_the_key(server: OpenAIServer) -> None:
    server.script(Fault(status=401, message=f"Incorrect API key provided: {KEY}.", error_type="invalid_api_key"))
    ep = endpoint(server)
    error = error_of(lambda client: client.submit(ep, items("a"), label="k"))
    assert isinstance(error, AuthError)
    assert KEY not in str(error) and KEY not in repr(error.__dict__)
    assert error.__context__ is None


def test_429_on_status_is_transient_with_retry_after(server: OpenAIServer) -> None:
    server.script(
        Fault(status=429, headers={"Retry-After": "7"}, message="Rate limit reached", path_contains="/batches/")
    )
    ep = endpoint(server)

    async def body(client: OpenAIBatchClient) -> None:
        job_id = await client.submit(ep, items("a"), label="r")
        await client.status(ep, job_id)

    error = error_of(body)
    assert isinstance(error, TransientError)
    assert error.retry_after_s == 7


def test_unknown_job_and_empty_submit(server: OpenAIServer) -> None:
    ep = endpoint(server)
    assert isinstance(error_of(lambda client: client.status(ep, "batch_nope")), ProviderError)
    assert isinstance(error_of(lambda client: client.submit(ep, [], label="e")), InvalidRequestError)
    assert not any(r.path == "/v1/files" for r in server.requests)


def test_a_refused_job_deletes_its_upload(server: OpenAIServer) -> None:
    server.script(Fault(status=400, message="metadata is invalid", path_contains="/v1/batches"))
    ep = endpoint(server)
    error = error_of(lambda client: client.submit(ep, items("a"), label="refused"))
    assert isinstance(error, InvalidRequestError)
    assert server.files == {}
    assert any(r.method == "DELETE" and r.path.startswith("/v1/files/") for r in server.requests)


def test_a_timed_out_create_keeps_its_upload(server: OpenAIServer) -> None:
    """The job may have been created before the answer was lost: its input must stay."""
    server.script(Fault(status=503, message="upstream timed out", path_contains="/v1/batches"))
    ep = endpoint(server)
    error = error_of(lambda client: client.submit(ep, items("a"), label="maybe"))
    assert isinstance(error, TransientError)
    assert len(server.files) == 1
    assert not any(r.method == "DELETE" for r in server.requests)
