"""Provider jobs across a kill in the one window a CLI test cannot hit, and through Anthropic.

A process killed after the provider accepted a job and before its id was stored leaves the
job ``submitting``: the next poll finds it by its label and collects it; when the provider
has no such job, the rows are let go (attempts closed at $0, the hold released, the rows
pending again). And a user's catalog model that genai-prices prices with batch rates
(Claude Sonnet 4.5) goes through Anthropic's Message Batches, recorded at the batch rate.
Real ledger and batches files, the real dispatcher and provider clients, loopback servers.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
from keyring.backends import null

from sparklio_desktop.core.batches import BatchRunner, BatchStore
from sparklio_desktop.core.batches.job_runner import JobDriver
from sparklio_desktop.core.batches.jobs import JobStore
from sparklio_desktop.core.batches.runner import request_for
from sparklio_desktop.core.dispatch.provider_batch import JobItem, ProviderBatches
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.services import open_services
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.openai_server import OpenAIServer

OPTIONS = {"speed": "batch", "no_explore": True}


def _services(only: str):
    workspace = Workspace()

    def live() -> LiveState:
        return LiveState(
            unavailable={m.id: (Rule.NO_API_KEY, "test") for m in workspace.catalog.values() if m.provider != only}
        )

    return open_services(workspace, keys=KeyStore(backend=null.Keyring()), probe=live)


@pytest.fixture
def openai_setup(tmp_path: Path, monkeypatch, team_mode: str | None):
    """The loopback OpenAI server, services routed to it alone, and the batch store: the
    file, then (team mode) the ledger and the batches on the team database."""
    with OpenAIServer() as openai:
        openai.usage = (20, 10)
        openai.batch_polls_to_end = 0
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-recovery-0123456789abcdef")
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        services = _services("openai")
        store = BatchStore.open_default()
        assert store.team == (team_mode is not None)
        try:
            yield openai, services, store
        finally:
            store.close()
            services.close()


def _batch(store: BatchStore, prompts: list[str]):
    batch_id = store.create(
        task="copywriting_standard", template="{q}", options=OPTIONS, source_path="rows.csv", out_path=None,
        concurrency=4, prompts=prompts,
    )  # fmt: skip
    return store.get(batch_id)


async def _held_job(jobs: ProviderBatches, store: BatchStore, batch) -> tuple[object, list[JobItem]]:
    """What a killed `batch run` left: the job ``submitting``, its rows and its ledger hold."""
    items = []
    for row in store.rows(batch.id, "pending"):
        item = await jobs.prepare(request_for(batch, row.prompt), f"{row.row_index:032x}")
        assert isinstance(item, JobItem), item
        items.append(item)
    model = items[0].model
    job = JobStore(store).create(
        batch.id, model.provider, model.id, [(i + 1, it.request_id) for i, it in enumerate(items)]
    )
    await jobs.hold(job.id, items)
    return job, items


def test_a_job_the_provider_accepted_before_the_kill_is_found_by_its_label(openai_setup) -> None:
    openai, services, store = openai_setup
    batch = _batch(store, ["caption one", "caption two", "caption three"])
    jobs = ProviderBatches(services.dispatcher)

    async def go() -> None:
        job, items = await _held_job(jobs, store, batch)
        await jobs.submit(job.id, items)  # the provider has it; the process "dies" before storing its id
        assert JobStore(store).open_jobs(batch.id)[0].state == "submitting"
        driver = JobDriver(store, jobs, batch, lambda p: request_for(batch, p), lambda records: None,
                           first_poll_s=0.01, max_poll_s=0.01)  # fmt: skip
        assert await driver.watch()
        await jobs.aclose()

    asyncio.run(go())
    counts = store.counts(batch.id)
    assert (counts.done, counts.pending, counts.running) == (3, 0, 0)
    assert sum(1 for r in openai.requests if r.method == "POST" and r.path == "/v1/batches") == 1
    outcomes = [a.outcome for i in range(1, 4) for a in services.ledger.attempts(f"{i:032x}")]
    assert outcomes == ["ok"] * 3
    assert services.ledger.budget_snapshot(_month())[1] == 0


def test_a_job_that_never_reached_the_provider_lets_its_rows_go(openai_setup) -> None:
    openai, services, store = openai_setup
    batch = _batch(store, ["caption one", "caption two"])
    jobs = ProviderBatches(services.dispatcher)

    async def go() -> None:
        await _held_job(jobs, store, batch)  # held, then killed before the provider call
        assert services.ledger.budget_snapshot(_month())[1] > 0
        driver = JobDriver(store, jobs, batch, lambda p: request_for(batch, p), lambda records: None,
                           first_poll_s=0.01, max_poll_s=0.01)  # fmt: skip
        assert await driver.watch()
        await jobs.aclose()

    asyncio.run(go())
    counts = store.counts(batch.id)
    assert (counts.pending, counts.running, counts.done) == (2, 0, 0)
    assert [r.job_id for r in store.rows(batch.id)] == [None, None]
    attempts = [a for i in (1, 2) for a in services.ledger.attempts(f"{i:032x}")]
    assert [(a.outcome, a.cost_usd) for a in attempts] == [("cancelled", Decimal(0))] * 2
    assert "never reached the provider" in (attempts[0].error_message or "")
    assert services.ledger.budget_snapshot(_month())[1] == 0
    assert not any(r.path == "/v1/batches" and r.method == "POST" for r in openai.requests)


SONNET_45 = """\
version: 1
models:
  - id: anthropic/claude-sonnet-4-5
    name: Claude Sonnet 4.5
    provider: anthropic
    api_name: claude-sonnet-4-5-20250929
    capabilities: [text]
    family: claude-sonnet
    released: 2025-09-29
    price: genai-prices
"""


def test_a_genai_priced_claude_goes_through_message_batches_at_the_batch_rate(
    tmp_path: Path, sparklio_home: Path, monkeypatch, team_mode: str | None
) -> None:
    (sparklio_home / "catalog.yaml").write_text(SONNET_45, encoding="utf-8")
    with AnthropicServer() as anthropic:
        anthropic.usage = (1000, 200)
        anthropic.batch_polls_to_end = 1
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-recovery-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        services = _services("anthropic")
        store = BatchStore.open_default()
        assert store.team == (team_mode is not None)
        try:
            sonnet = services.workspace.catalog["anthropic/claude-sonnet-4-5"]
            assert sonnet.price is not None and sonnet.price.batch is not None
            batch = _batch(store, ["caption one", "caption two"])
            jobs = ProviderBatches(services.dispatcher)
            runner = BatchRunner(store, services.dispatcher, batch, jobs=jobs, first_poll_s=0.01, max_poll_s=0.01)

            async def go() -> None:
                await runner.run()
                await jobs.aclose()
                await services.dispatcher.aclose()

            asyncio.run(go())
            rows = store.rows(batch.id)
            assert [(r.status, r.model) for r in rows] == [("done", "anthropic/claude-sonnet-4-5")] * 2
            # $1.50 and $7.50 per million at the batch rate: half of $3 and $15.
            assert [r.cost_usd for r in rows] == [Decimal("0.003")] * 2
            assert [r for r in anthropic.requests if r.path.endswith("/v1/messages")] == []
            attempt = services.ledger.attempts(rows[0].request_id or "")[0]
            assert (attempt.batch, attempt.price_input_per_mtok, attempt.price_output_per_mtok) == (
                True, Decimal("1.5"), Decimal("7.5"),
            )  # fmt: skip
        finally:
            store.close()
            services.close()


def _month() -> str:
    from sparklio_desktop.core.ledger import current_month

    return current_month()
