"""The route planner (core/routing/planner.py): one live state for previews, ``sparklio route``,
compare and runs, against real ledger files and the loopback provider servers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from decimal import Decimal

import pytest
from keyring.backends import null

from sparklio_desktop.core.compare import router_top_candidates
from sparklio_desktop.core.dispatch import Finished, Routed, RunRequest
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ratings.votes_store import VoteStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.services import open_services, route_planner
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

TASK = "copywriting_standard"
SONNET, GPT4 = "anthropic/claude-3-5-sonnet", "openai/gpt-4"


def _spend(path, request_id: str, cost: str) -> None:
    with LedgerStore.open(path) as ledger:
        ledger.finish_attempt(
            AttemptRecord(
                request_id=request_id,
                attempt=1,
                task_type=TASK,
                model_id=GPT4,
                provider="openai",
                outcome="ok",
                cost_usd=Decimal(cost),
            )
        )


def _vote_gpt4_over_sonnet(path, times: int) -> None:
    with VoteStore.open(path) as store:
        for _ in range(times):
            comparison = store.record_comparison(
                task_type=TASK, prompt="a caption", models=(GPT4, SONNET), order_shown=(GPT4, SONNET), blind=True
            )
            store.record_vote(comparison, "a")


def _only_the_loopback_providers(workspace: Workspace) -> LiveState:
    return LiveState(
        unavailable={
            m.id: (Rule.NO_API_KEY, "test")
            for m in workspace.catalog.values()
            if m.provider not in ("openai", "anthropic")
        }
    )


@pytest.fixture
def servers(monkeypatch):
    with AnthropicServer() as anthropic, OpenAIServer() as openai:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-planner-test-0123456789")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-planner-test-0123456789")
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        yield anthropic, openai


def _run(services, request: RunRequest):
    async def go():
        routed = result = None
        try:
            async for event in services.dispatcher.stream(request):
                if isinstance(event, Routed):
                    routed = event.decision
                elif isinstance(event, Finished):
                    result = event.result
        finally:
            await services.dispatcher.aclose()
        return routed, result

    return asyncio.run(go())


def test_month_spend_comes_from_the_injected_ledger(tmp_path):
    """The budget guard and the router's budget cap read the same ledger: the one the
    services were opened on, not the default file."""
    _spend(paths.ledger_path(), "in-the-default-file", "7.5")
    injected = tmp_path / "other.sqlite3"
    _spend(injected, "in-the-injected-file", "1.25")
    workspace = Workspace()
    services = open_services(workspace, ledger_path=injected, keys=KeyStore(backend=null.Keyring()), probe=LiveState)
    try:
        live = services.planner.live_state(TASK)
        assert live.spent_usd == Decimal("1.25") == services.budget.status().spent_usd
        assert live.budget_usd == Decimal(str(workspace.settings.budget.monthly_usd))
    finally:
        services.close()


def test_after_a_401_the_plan_is_the_chain_the_next_run_takes(servers):
    anthropic, _ = servers
    anthropic.script(Fault(status=401, message="invalid x-api-key", error_type="authentication_error"))
    workspace = Workspace()
    services = open_services(
        workspace, keys=KeyStore(backend=null.Keyring()), probe=lambda: _only_the_loopback_providers(workspace)
    )
    try:
        request = RouteRequest(task=TASK, prompt="Three captions", explore=False)
        assert services.planner.plan(request).chain[0] == SONNET
        _, first = _run(services, RunRequest(route=request, use_cache=False))
        assert first.model == GPT4 and first.attempts[0].model == SONNET  # the 401 moved it on
        preview = services.planner.plan(request)
        assert SONNET not in preview.chain
        assert preview.candidate(SONNET).excluded_by is Rule.UNAVAILABLE
        routed, second = _run(services, RunRequest(route=request, use_cache=False))
        assert routed.chain == preview.chain and second.model == preview.chain[0]
        assert router_top_candidates(services.planner, TASK, 2)[0] == preview.chain[0]  # compare proposes it too
    finally:
        services.close()


def test_votes_that_promote_a_model_move_the_plan_the_route_command_and_the_run(servers):
    _vote_gpt4_over_sonnet(paths.ledger_path(), 40)
    workspace = Workspace()
    services = open_services(
        workspace, keys=KeyStore(backend=null.Keyring()), probe=lambda: _only_the_loopback_providers(workspace)
    )
    try:
        request = RouteRequest(task=TASK, prompt="Three captions", explore=False)
        preview = services.planner.plan(request)
        assert preview.chain[:2] == (GPT4, SONNET)
        assert preview.candidate(GPT4).role == "rated"
        routed, result = _run(services, RunRequest(route=request, use_cache=False))
        assert routed.chain == preview.chain and result.model == GPT4
    finally:
        services.close()
    # `sparklio route` builds the same planner over the same votes.
    cli = route_planner(Workspace()).plan(request)
    assert cli.chain[:2] == (GPT4, SONNET)
    shown = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparklio_desktop",
            "route",
            "--task",
            TASK,
            "--prompt",
            "Three captions",
            "--no-explore",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["chain"][:2] == [GPT4, SONNET]


def test_a_change_during_a_probe_makes_that_probe_stale():
    """A catalog entry added (or a key set) while a probe is in flight: the refresh that
    waited for that probe must not keep its answer as fresh for the next 5 seconds."""
    from sparklio_desktop.core.routing.planner import RoutePlanner

    started, release = threading.Event(), threading.Event()
    probes: list[int] = []

    def probe() -> LiveState:
        probes.append(len(probes) + 1)
        if len(probes) == 1:
            started.set()
            assert release.wait(30)
        return LiveState(local_tags={"probe": str(len(probes))})

    planner = RoutePlanner(Workspace(), probe=probe)

    async def scenario() -> tuple[LiveState, LiveState]:
        first = asyncio.create_task(planner.refresh())
        await asyncio.to_thread(started.wait, 30)
        planner.invalidate()  # the change, while probe 1 runs
        second = asyncio.create_task(planner.refresh())  # waits for the lock
        release.set()
        return await first, await second

    first, second = asyncio.run(scenario())
    # Probe 1 came back stale, so the refresh probed again; the waiting one found that fresh.
    assert first.local_tags == second.local_tags == {"probe": "2"} and probes == [1, 2]
    assert asyncio.run(planner.refresh()).local_tags == {"probe": "2"}  # fresh now: no third probe
    assert probes == [1, 2]
