"""Installed Ollama tags resolve to catalog entries, and the chain's local last resort answers.

`ollama pull qwen2.5` installs `qwen2.5:latest`; the catalog's Qwen 2.5 names
`qwen2.5:7b`. The route, the run and the status bar all resolve the same way
(core.routing.live.resolve_ollama_tag): exact tag, else digest, else base name (``:latest`` first).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from keyring.backends import null

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live import build_live_state, ollama_tags, resolve_local_tags, resolve_ollama_tag
from sparklio_desktop.core.routing.router import RouteRequest, route
from sparklio_desktop.core.settings.config import Settings
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.ollama_server import OllamaServer, _digest
from tests.fakes.openai_server import OpenAIServer

QWEN = "ollama/qwen2.5"


@pytest.mark.parametrize(
    ("api_name", "installed", "expected"),
    [
        ("qwen2.5:7b", {"qwen2.5:7b": "d1", "qwen2.5:latest": "d2"}, "qwen2.5:7b"),  # exact first
        ("qwen2.5", {"qwen2.5:latest": "d2"}, "qwen2.5:latest"),  # no tag means :latest
        ("Qwen2.5:7B", {"registry.ollama.ai/library/qwen2.5:7b": "d1"}, "registry.ollama.ai/library/qwen2.5:7b"),
        ("sha256:a1b2c3d4e5f6", {"my-qwen:custom": "sha256:a1b2c3d4e5f6aa", "qwen2.5:latest": "x"}, "my-qwen:custom"),
        ("qwen2.5:7b", {"qwen2.5:14b": "d3", "qwen2.5:latest": "d2"}, "qwen2.5:latest"),  # base name, :latest first
        ("qwen2.5:7b", {"qwen2.5:14b": "d3", "qwen2.5:3b": "d4"}, "qwen2.5:14b"),  # then sorted order
        ("qwen2.5:7b", {"qwen2.5-coder:latest": "d5", "llama3.2:latest": "d6"}, None),  # another model is no match
        ("qwen2.5:7b", {}, None),
    ],
)
def test_resolution_order(api_name, installed, expected):
    assert resolve_ollama_tag(api_name, installed) == expected


@pytest.fixture
def ollama(monkeypatch):
    with OllamaServer(
        installed=["qwen2.5:latest", "nomic-embed-text:latest", "llava:latest"], reply_text="Qwen answers locally."
    ) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.base_url)
        yield server


def test_a_latest_pull_serves_the_catalog_entry_in_route_and_json(ollama):
    workspace = Workspace()
    installed = ollama_tags(ollama.base_url)
    assert installed == {name: _digest(name) for name in ollama.installed}
    live = build_live_state(workspace.catalog, {}, installed, False)
    assert QWEN not in live.unavailable and live.local_tags[QWEN] == "qwen2.5:latest"
    assert live.unavailable["ollama/llama3.2"][0] is Rule.NOT_INSTALLED
    decision = route(RouteRequest(task="template_generation", explore=False), workspace.catalog, workspace.policy, live)
    assert decision.chain[0] == QWEN
    assert decision.local_tags == {QWEN: "qwen2.5:latest"}
    assert decision.to_dict()["local_tags"] == {QWEN: "qwen2.5:latest"}
    assert "runs as the installed Ollama tag qwen2.5:latest (the catalog names qwen2.5:7b)" in decision.explanation
    # the status bar counts with the same resolution
    assert set(resolve_local_tags(workspace.catalog, installed).values()) >= {"qwen2.5:latest"}


class ChainHarness:
    """A dispatcher whose live state comes from the loopback Ollama, the cloud fakes and a budget."""

    def __init__(self, tmp_path, ollama, *, spent=None, budget_usd=Decimal("50"), at_cap="local_only"):
        self.workspace = Workspace()
        self.ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
        live = build_live_state(
            self.workspace.catalog,
            {"openai": True, "anthropic": True},
            ollama_tags(ollama.base_url),
            False,
            spent_usd=spent,
            budget_usd=budget_usd,
            at_cap=at_cap,
        )
        self.live = live
        self.dispatcher = Dispatcher(
            self.workspace,
            ledger=self.ledger,
            keys=KeyStore(backend=null.Keyring()),
            budget=BudgetGuard(self.ledger, budget_usd, at_cap),
            live=lambda: live,
            settings=Settings(),
        )

    def run(self, task="copywriting_standard"):
        request = RunRequest(route=RouteRequest(task=task, prompt="Three captions", explore=False), use_cache=False)

        async def go():
            try:
                return await self.dispatcher.run(request)
            finally:
                await self.dispatcher.aclose()

        return asyncio.run(go())


@pytest.fixture
def cloud(monkeypatch):
    with AnthropicServer() as anthropic, OpenAIServer() as openai:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789abcdef")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        yield anthropic, openai


def _chat_models(ollama):
    return [r.body["model"] for r in ollama.requests if r.path == "/api/chat"]


def test_with_every_cloud_model_failing_the_local_last_resort_answers(tmp_path, ollama, cloud):
    anthropic, openai = cloud
    anthropic.script(Fault(status=401, error_type="authentication_error"))
    openai.script(Fault(status=401, error_type="invalid_api_key"))
    h = ChainHarness(tmp_path, ollama)
    try:
        result = h.run()
        assert result.decision.chain[-1] == QWEN and result.decision.candidate(QWEN).role == "last resort"
        assert result.ok and result.model == QWEN and result.output == "Qwen answers locally."
        assert [a.outcome for a in result.attempts][-1] == "ok" and len(result.attempts) >= 3
        assert _chat_models(ollama) == ["qwen2.5:latest"]  # sent with the installed tag
        assert h.ledger.attempts(result.request_id)[-1].model_id == QWEN
    finally:
        h.ledger.close()


def test_at_the_budget_cap_with_local_only_the_local_model_answers(tmp_path, ollama, cloud):
    anthropic, openai = cloud
    h = ChainHarness(tmp_path, ollama, spent=Decimal("5"), budget_usd=Decimal("5"))
    try:
        result = h.run()
        assert result.decision.chain == (QWEN,)
        assert result.model == QWEN and result.cost_usd == 0
        assert not anthropic.requests and not openai.requests
        assert _chat_models(ollama) == ["qwen2.5:latest"]
    finally:
        h.ledger.close()


def test_a_budget_refusal_mid_chain_moves_on_to_the_local_model(tmp_path, ollama, cloud):
    anthropic, openai = cloud
    # Under the cap when routed, but no paid model's worst case fits in what is left.
    h = ChainHarness(tmp_path, ollama, budget_usd=Decimal("0.000001"))
    try:
        result = h.run()
        assert result.model == QWEN
        assert all(a.outcome == "error" for a in result.attempts[:-1]) and result.attempts[-1].outcome == "ok"
        assert not anthropic.requests and not openai.requests
    finally:
        h.ledger.close()
