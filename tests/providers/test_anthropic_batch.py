"""AnthropicBatchClient against a loopback server speaking Anthropic's Message Batches API.

The fake keeps each batch, answers ``in_progress`` for ``batch_polls_to_end`` retrieves,
then ends it and serves its results as JSON Lines (tests/fakes/anthropic_server.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import httpx2
import pytest

from sparklio_desktop.core.providers.anthropic_batch import AnthropicBatchClient
from sparklio_desktop.core.providers.base import Endpoint, ImageInput, Message, Usage
from sparklio_desktop.core.providers.batch_jobs import (
    BatchItem,
    BatchJobClient,
    ItemResult,
    JobStatus,
    create_batch_client,
)
from sparklio_desktop.core.providers.errors import AuthError, InvalidRequestError, TransientError
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault

KEY = "sk-ant-test-0123456789abcdefghij"
MODEL = "claude-3-5-sonnet-latest"
T = TypeVar("T")


@pytest.fixture
def server() -> Iterator[AnthropicServer]:
    with AnthropicServer() as fake:
        yield fake  # type: ignore[misc]


def endpoint(server: AnthropicServer, key: str | None = KEY) -> Endpoint:
    return Endpoint(provider="anthropic", api_name=MODEL, base_url=server.base_url, api_key=key)


def items(*ids: str, **kw: Any) -> list[BatchItem]:
    return [BatchItem(cid, (Message("user", f"write about {cid}"),), **kw) for cid in ids]


def run(body: Callable[[AnthropicBatchClient], Awaitable[T]], mode: str = "httpx") -> T:
    """Run ``body`` with a fresh client on a fresh loop, over an injected ``httpx`` (or ``httpx2``) pool."""

    async def main() -> T:
        async with contextlib.AsyncExitStack() as stack:
            http: Any = None
            if mode == "httpx":
                http = await stack.enter_async_context(httpx.AsyncClient())
            elif mode == "httpx2":
                http = await stack.enter_async_context(httpx2.AsyncClient())
            client = AnthropicBatchClient(http)
            try:
                return await body(client)
            finally:
                await client.aclose()
        raise AssertionError("unreachable")

    return asyncio.run(main())


async def until_ended(client: AnthropicBatchClient, ep: Endpoint, job_id: str) -> list[JobStatus]:
    seen = [await client.status(ep, job_id)]
    while seen[-1].state not in ("ended", "failed"):
        assert len(seen) < 20, seen
        seen.append(await client.status(ep, job_id))
    return seen


def submit_and_finish(
    server: AnthropicServer, batch: list[BatchItem], mode: str = "httpx"
) -> tuple[str, list[JobStatus], list[ItemResult]]:
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> tuple[str, list[JobStatus], list[ItemResult]]:
        job_id = await client.submit(ep, batch, label="sparklio-batch-7")
        seen = await until_ended(client, ep, job_id)
        return job_id, seen, await client.results(ep, job_id)

    return run(body, mode)


def by_id(results: list[ItemResult]) -> dict[str, ItemResult]:
    return {r.custom_id: r for r in results}


# -- the happy path ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["httpx", "httpx2", "own"])
def test_submit_poll_until_ended_then_results_with_text_and_usage(server: AnthropicServer, mode: str) -> None:
    server.batch_polls_to_end = 2
    server.reply_text = "A short answer."
    server.batch_usage = {
        "row-2": {"input_tokens": 40, "output_tokens": 90, "cache_read_input_tokens": 1_000,
                  "cache_creation_input_tokens": 200},
    }  # fmt: skip
    job_id, seen, results = submit_and_finish(server, items("row-1", "row-2"), mode)
    assert job_id.startswith("msgbatch_") and job_id in server.batches
    assert [s.state for s in seen] == ["in_progress", "in_progress", "ended"]
    assert seen[0] == JobStatus("in_progress", total=2, completed=0, failed=0, detail="in_progress")
    assert seen[-1] == JobStatus("ended", total=2, completed=2, failed=0, detail="ended")
    got = by_id(results)
    assert set(got) == {"row-1", "row-2"}
    assert got["row-1"] == ItemResult("row-1", "ok", text="A short answer.", usage=Usage(3, 3))
    # Anthropic's input_tokens leaves the cache out; Sparklio's input is all of it.
    assert got["row-2"].usage == Usage(
        input_tokens=1_240, output_tokens=90, cache_read_tokens=1_000, cache_write_tokens=200
    )


def test_each_item_is_sent_as_a_chat_call_would_send_it(server: AnthropicServer) -> None:
    picture = b"\x89PNG not really"
    batch = [
        BatchItem(
            "with-image",
            (Message("system", "be brief"), Message("user", "describe", (ImageInput(picture, "image/png"),))),
            max_output_tokens=300,
            temperature=0.2,
        ),
        BatchItem("plain", (Message("user", "hello"),)),
    ]
    submit_and_finish(server, batch)
    create = next(r for r in server.requests if r.method == "POST" and r.path == "/v1/messages/batches")
    assert set(create.body) == {"requests"}  # no label: Anthropic keeps none
    first, second = create.body["requests"]
    assert first["custom_id"] == "with-image" and second["custom_id"] == "plain"
    params = first["params"]
    assert params["model"] == MODEL and params["max_tokens"] == 300 and params["system"] == "be brief"
    assert "temperature" not in params and "stream" not in params
    image, text = params["messages"][0]["content"]
    assert image["source"]["media_type"] == "image/png" and base64.b64decode(image["source"]["data"]) == picture
    assert text == {"type": "text", "text": "describe"}
    assert second["params"] == {"model": MODEL, "max_tokens": 1024, "messages": [{"role": "user", "content": "hello"}]}
    auth = {k.lower(): v for k, v in create.headers.items()}
    assert auth.get("authorization") == f"Bearer {KEY}"


def test_create_batch_client_builds_this_class() -> None:
    client = create_batch_client("anthropic")
    assert isinstance(client, AnthropicBatchClient) and isinstance(client, BatchJobClient)
    assert client.provider == "anthropic"


# -- items that do not succeed ------------------------------------------------------------
def test_errored_and_expired_items(server: AnthropicServer) -> None:
    server.batch_item_errors = {"bad": "messages: text content blocks must be non-empty"}
    server.batch_expired = {"late"}
    _, seen, results = submit_and_finish(server, items("good", "bad", "late"))
    assert seen[-1] == JobStatus("ended", total=3, completed=1, failed=2, detail="ended")
    got = by_id(results)
    assert got["good"].outcome == "ok"
    assert got["bad"].outcome == "error" and got["bad"].usage is None
    assert got["bad"].error == "invalid_request_error: messages: text content blocks must be non-empty"
    assert got["late"].outcome == "expired" and got["late"].text is None and "expired" in (got["late"].error or "")


def test_an_item_error_never_carries_the_key(server: AnthropicServer) -> None:
    server.batch_item_errors = {"bad": f"the key {KEY} may not read this model"}
    _, _, results = submit_and_finish(server, items("bad"))
    (bad,) = results
    assert bad.outcome == "error" and "may not read this model" in (bad.error or "") and KEY not in (bad.error or "")


def test_a_malformed_results_line_is_an_error_for_its_item_only(server: AnthropicServer) -> None:
    server.batch_malformed = {"cut"}
    _, _, results = submit_and_finish(server, items("before", "cut", "after"))
    got = by_id(results)
    assert [r.custom_id for r in results] == ["before", "cut", "after"]
    assert got["before"].outcome == "ok" and got["after"].outcome == "ok"
    assert got["cut"].outcome == "error" and "not valid JSON" in (got["cut"].error or "")


def test_results_lines_of_an_unknown_shape_never_crash(server: AnthropicServer) -> None:
    server.batch_extra_lines = [
        '{"custom_id": "odd-type", "result": {"type": "postponed"}}',
        '{"custom_id": "no-result"}',
        '{"custom_id": "no-content", "result": {"type": "succeeded", "message": {"usage": {}}}}',
        '{"result": {"type": "succeeded"}}',  # no id: nothing to attach it to
        "[1, 2, 3]",
    ]
    _, _, results = submit_and_finish(server, items("fine"))
    got = by_id(results)
    assert set(got) == {"fine", "odd-type", "no-result", "no-content"}
    assert got["fine"].outcome == "ok"
    assert got["odd-type"].outcome == "error" and "postponed" in (got["odd-type"].error or "")
    assert got["no-result"].outcome == "error" and got["no-content"].outcome == "error"


def test_a_whole_batch_refused_at_create_is_an_invalid_request(server: AnthropicServer) -> None:
    server.batch_create_error = "requests: too many requests in one batch"
    with pytest.raises(InvalidRequestError) as info:
        run(lambda c: c.submit(endpoint(server), items("a"), label="x"))
    assert info.value.status == 400 and "too many requests" in info.value.message
    assert server.batches == {}


def test_an_archived_batch_has_failed(server: AnthropicServer) -> None:
    server.batch_archived = True
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> list[JobStatus]:
        return await until_ended(client, ep, await client.submit(ep, items("a"), label="x"))

    final = run(body)[-1]
    assert final.state == "failed" and "archived" in (final.error or "")


# -- cancel ---------------------------------------------------------------------------------
def test_cancel_ends_the_remaining_items_cancelled(server: AnthropicServer) -> None:
    server.batch_polls_to_end = 5
    server.batch_answered_before_cancel = 1
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> tuple[JobStatus, list[ItemResult]]:
        job_id = await client.submit(ep, items("done", "left-1", "left-2"), label="x")
        await client.cancel(ep, job_id)
        final = (await until_ended(client, ep, job_id))[-1]
        return final, await client.results(ep, job_id)

    final, results = run(body)
    cancel = [r for r in server.requests if r.path.endswith("/cancel")]
    assert len(cancel) == 1 and cancel[0].method == "POST"
    assert final == JobStatus("ended", total=3, completed=1, failed=0, detail="ended")
    got = by_id(results)
    assert got["done"].outcome == "ok"
    assert {got["left-1"].outcome, got["left-2"].outcome} == {"cancelled"}


def test_a_cancelling_batch_is_ending_until_it_has_ended(server: AnthropicServer) -> None:
    """Between the cancel and the end, the status is ``ending``: results are not ready yet."""
    server.batch_polls_to_end = 5
    server.batch_polls_to_cancel = 1
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> list[JobStatus]:
        job_id = await client.submit(ep, items("a", "b"), label="x")
        await client.cancel(ep, job_id)
        return await until_ended(client, ep, job_id)

    seen = run(body)
    assert [(s.state, s.detail) for s in seen] == [("ending", "canceling"), ("ended", "ended")]
    assert seen[-1].total == 2 and seen[-1].completed == 0


# -- find -------------------------------------------------------------------------------------
def test_find_returns_the_one_batch_of_that_size_created_since(server: AnthropicServer) -> None:
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> tuple[str, list[str | None]]:
        old = await client.submit(ep, items("a", "b", "c"), label="old")
        server.batches[old]["created_at"] = time.time() - 3_600
        since = time.time() - 60
        wanted = await client.submit(ep, items("a", "b", "c"), label="mine")
        other = await client.submit(ep, items("a", "b"), label="other")
        assert other != wanted
        return wanted, [
            await client.find(ep, "mine", total=3, created_after=since),
            await client.find(ep, "mine", total=5, created_after=since),  # no batch of that size
            await client.find(ep, "mine", total=3, created_after=time.time() + 60),  # none since
            await client.find(ep, "mine", total=3, created_after=since - 7_200),  # two alike: ambiguous
        ]

    wanted, found = run(body)
    assert found == [wanted, None, None, None]


def test_find_reads_every_page_of_the_list(server: AnthropicServer) -> None:
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> str | None:
        target = await client.submit(ep, items("a", "b", "c", "d"), label="mine")
        server.batches[target]["created_at"] = time.time() - 30  # the oldest
        for n in range(150):  # more than one page of 100, all newer
            await client.submit(ep, items(f"x{n}"), label="other")
        return await client.find(ep, "mine", total=4, created_after=time.time() - 120)

    found = run(body)
    lists = [r for r in server.requests if r.method == "GET" and r.path.startswith("/v1/messages/batches?")]
    assert found is not None and server.batches[found]["requests"][0]["custom_id"] == "a"
    assert len(lists) == 2 and "after_id=" in lists[1].path and "limit=100" in lists[0].path


# -- failures of the calls themselves ------------------------------------------------------------
def test_401_is_an_auth_error_without_the_key(server: AnthropicServer) -> None:
    server.script(Fault(status=401, message=f"invalid x-api-key {KEY}"))
    with pytest.raises(AuthError) as info:
        run(lambda c: c.submit(endpoint(server), items("a"), label="x"))
    assert info.value.status == 401 and KEY not in str(info.value) and KEY not in info.value.message
    assert info.value.__context__ is None


def test_429_with_retry_after_is_transient(server: AnthropicServer) -> None:
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> str:
        return await client.submit(ep, items("a"), label="x")

    job_id = run(body)
    server.script(Fault(status=429, headers={"Retry-After": "7"}, path_contains=job_id))
    with pytest.raises(TransientError) as info:
        run(lambda c: c.status(ep, job_id))
    assert info.value.status == 429 and info.value.retry_after_s == 7.0


def test_an_unknown_batch_is_an_invalid_request_not_a_missing_model(server: AnthropicServer) -> None:
    with pytest.raises(InvalidRequestError) as info:
        run(lambda c: c.status(endpoint(server), "msgbatch_nope"))
    assert info.value.status == 404 and "msgbatch_nope" in info.value.message


def test_results_before_the_end_are_refused(server: AnthropicServer) -> None:
    server.batch_polls_to_end = 5
    ep = endpoint(server)

    async def body(client: AnthropicBatchClient) -> list[ItemResult]:
        return await client.results(ep, await client.submit(ep, items("a"), label="x"))

    with pytest.raises(InvalidRequestError) as info:
        run(body)
    assert "not ended" in info.value.message
