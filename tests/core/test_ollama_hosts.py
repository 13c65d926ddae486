"""Several Ollama hosts (this machine's and LAN GPU boxes): each host's own /api/tags and
/api/ps decide what it serves, the local host wins a tie, a model only on a LAN host is
sent there, a host that is down (or silent) takes only its own models out, and the local
GPU arbiter never waits for or evicts on behalf of a LAN host.

Two loopback Ollama servers on two ports play the local host (A) and a LAN box (B).
"""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import pytest
from keyring.backends import null

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest
from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local.gpu_arbiter import GpuArbiter
from sparklio_desktop.core.local.ollama_admin import OllamaAdmin
from sparklio_desktop.core.local.sd.service import StableDiffusionService
from sparklio_desktop.core.local.vram import GIB
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live import ollama_hosts_of, probe_machine
from sparklio_desktop.core.routing.ollama_hosts import (
    HOSTS_ENV_VAR,
    configured_ollama_hosts,
    ollama_base_url,
    probe_ollama_hosts,
)
from sparklio_desktop.core.routing.router import RouteRequest, route
from sparklio_desktop.core.settings.config import Settings, load_settings, set_setting
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.loopback import Fault
from tests.fakes.ollama_server import OllamaServer
from tests.local.test_gpu_arbiter import FakePipeline

QWEN = "ollama/qwen2.5"
LLAMA = "ollama/llama3.2"
TASK = "template_generation"


def two_hosts(a: OllamaServer, b: OllamaServer | str) -> Settings:
    lan = b if isinstance(b, str) else b.base_url
    return Settings.model_validate({"providers": {"ollama": {"host": a.base_url, "hosts": [lan]}}})


def label(server: OllamaServer) -> str:
    return f"127.0.0.1:{server.port}"


@pytest.fixture
def hosts():
    with (
        OllamaServer(installed=["llama3.2:latest"], reply_text="A answers.") as a,
        OllamaServer(installed=["qwen2.5:latest", "llama3.2:latest"], reply_text="B answers.") as b,
    ):
        yield a, b


# -- the setting ----------------------------------------------------------------------


def test_the_setting_takes_a_list_from_config_set_and_names_a_bad_entry(tmp_path):
    path = tmp_path / "settings.json"
    set_setting("providers.ollama.hosts", "http://gpu-a:11434, gpu-b:11434", path)
    assert load_settings(path).providers.ollama.hosts == ["http://gpu-a:11434", "gpu-b:11434"]
    with pytest.raises(ConfigError) as bad:
        set_setting("providers.ollama.hosts", "gpu-a:11434,ftp://gpu-b", path)
    assert bad.value.field == "providers.ollama.hosts"
    assert "entry 2 'ftp://gpu-b' is not an http:// or https:// URL" in str(bad.value)
    assert load_settings(path).providers.ollama.hosts == ["http://gpu-a:11434", "gpu-b:11434"]  # not saved
    path.write_text(json.dumps({"providers": {"ollama": {"hosts": ["gpu-a", "gpu-b:port"]}}}, indent=2))
    with pytest.raises(ConfigError) as in_file:
        load_settings(path)
    assert in_file.value.line == 4 and "entry 2 'gpu-b:port' has a port that is not a number" in str(in_file.value)


def test_the_local_host_comes_first_and_each_host_once(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    hosts = configured_ollama_hosts("127.0.0.1:11434", ["gpu-b", "http://127.0.0.1:11434", "gpu-b:11434"])
    assert [(h.url, h.label, h.local) for h in hosts] == [
        ("http://127.0.0.1:11434", "local", True),
        ("http://gpu-b:11434", "gpu-b:11434", False),
    ]
    assert len(ollama_hosts_of(Settings())) == 1  # no LAN host: the single-host install
    monkeypatch.setenv(HOSTS_ENV_VAR, "gpu-c:11434, ftp://nope")
    from_env = ollama_hosts_of(Settings())
    assert [h.label for h in from_env] == ["local", "gpu-c:11434", "ftp://nope"]
    assert from_env[2].problem is not None and HOSTS_ENV_VAR in from_env[2].problem


# -- routing --------------------------------------------------------------------------


def test_a_model_only_on_the_lan_host_routes_there_and_the_explanation_names_it(hosts):
    a, b = hosts
    workspace = Workspace()
    live = probe_machine(workspace, two_hosts(a, b))
    assert QWEN not in live.unavailable and live.ollama_hosts[QWEN].url == ollama_base_url(b.base_url)
    assert live.ollama_hosts[LLAMA].local  # on both: the local host
    decision = route(RouteRequest(task=TASK, explore=False), workspace.catalog, workspace.policy, live)
    assert decision.chain[0] == QWEN
    assert f"runs on the LAN Ollama host {label(b)}" in decision.explanation
    trace = decision.to_dict()
    assert trace["ollama_hosts"][QWEN] == {"url": ollama_base_url(b.base_url), "label": label(b), "local": False}
    assert [r.path for r in b.requests].count("/api/ps") == 1  # each host's own /api/ps was asked


def test_a_model_on_both_hosts_prefers_the_local_one(hosts):
    a, b = hosts
    a.installed = ["qwen2.5:latest", "llama3.2:latest"]
    b.load("qwen2.5:latest")  # loaded on the LAN box, installed locally: local still wins
    workspace = Workspace()
    live = probe_machine(workspace, two_hosts(a, b))
    assert live.ollama_hosts[QWEN].local and live.local_tags[QWEN] == "qwen2.5:latest"
    decision = route(RouteRequest(task=TASK, explore=False), workspace.catalog, workspace.policy, live)
    assert decision.chain[0] == QWEN and "runs on this machine's Ollama" in decision.explanation


def test_a_model_on_no_host_names_where_to_pull_it(hosts):
    a, b = hosts
    rule, detail = probe_machine(Workspace(), two_hosts(a, b)).unavailable["ollama/mistral"]
    assert rule is Rule.NOT_INSTALLED and detail == f"pull it with `ollama pull mistral:7b` on local or {label(b)}"


def test_among_lan_hosts_the_one_with_the_model_loaded_wins(hosts):
    a, b = hosts
    with OllamaServer(installed=["qwen2.5:latest"]) as c:
        c.load("qwen2.5:latest")
        settings = Settings.model_validate(
            {"providers": {"ollama": {"host": a.base_url, "hosts": [b.base_url, c.base_url]}}}
        )
        live = probe_machine(Workspace(), settings)
        assert live.ollama_hosts[QWEN].url == ollama_base_url(c.base_url)


def test_a_lan_host_that_is_down_takes_only_its_own_models_out(hosts):
    a, b = hosts
    dead, b_label = b.base_url, label(b)
    b.stop()
    workspace = Workspace()
    live = probe_machine(workspace, two_hosts(a, dead))
    rule, detail = live.unavailable[QWEN]
    assert rule is Rule.UNREACHABLE
    refused = "refused the connection (is `ollama serve` running there?)"
    assert detail == f"not on local, and Ollama host {b_label} {refused}"
    assert LLAMA not in live.unavailable and live.ollama_hosts[LLAMA].local  # the local host keeps working
    decision = route(RouteRequest(task=TASK, explore=False), workspace.catalog, workspace.policy, live)
    assert b_label in decision.candidate(QWEN).exclusion_detail


def test_a_silent_lan_host_costs_one_short_timeout_not_a_hang(hosts):
    a, b = hosts
    b.script(Fault(no_answer=True, path_contains="/api/tags"))
    settings = two_hosts(a, b)
    started = time.monotonic()
    probes = probe_ollama_hosts(ollama_hosts_of(settings), timeout_s=0.3)
    elapsed = time.monotonic() - started
    assert probes[0].reachable and not probes[1].reachable
    assert probes[1].reason == "no answer within 0.3 s"
    assert elapsed < 3  # generous: the bound is the 0.3 s timeout, asked of both hosts at once


def test_no_host_answering_names_each(hosts):
    a, b = hosts
    urls, b_label = (a.base_url, b.base_url), label(b)
    a.stop()
    b.stop()
    settings = Settings.model_validate({"providers": {"ollama": {"host": urls[0], "hosts": [urls[1]]}}})
    rule, detail = probe_machine(Workspace(), settings).unavailable[LLAMA]
    assert rule is Rule.UNREACHABLE and detail.startswith("no Ollama host answers: Ollama host local refused")
    assert b_label in detail


# -- dispatch -------------------------------------------------------------------------


def _run_local(tmp_path, settings: Settings, live, local_images=None):
    """Route at the budget cap (local models only) and run through the dispatcher."""
    workspace = Workspace()
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    capped = type(live)(**{**live.__dict__, "spent_usd": Decimal(5), "budget_usd": Decimal(5)})
    dispatcher = Dispatcher(
        workspace,
        ledger=ledger,
        keys=KeyStore(backend=null.Keyring()),
        budget=BudgetGuard(ledger, Decimal(5), "local_only"),
        live=lambda: capped,
        settings=settings,
        local_images=local_images,
    )
    request = RunRequest(route=RouteRequest(task=TASK, prompt="Three captions", explore=False), use_cache=False)

    async def go():
        try:
            return await dispatcher.run(request)
        finally:
            await dispatcher.aclose()

    try:
        return asyncio.run(go())
    finally:
        ledger.close()


class RoomLog:
    """A local image engine that only records who asked it for GPU room."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float, str | None]] = []

    async def generate(self, *args, **kwargs):  # pragma: no cover - never drawn here
        raise AssertionError("no image here")

    async def make_room_for_ollama(self, name: str, vram_gb: float, host: str | None = None) -> None:
        self.asked.append((name, vram_gb, host))


def test_dispatch_sends_a_lan_model_to_its_host(tmp_path, hosts):
    a, b = hosts
    settings = two_hosts(a, b)
    live = probe_machine(Workspace(), settings)
    room = RoomLog()
    result = _run_local(tmp_path, settings, live, room)
    assert result.ok and result.model == QWEN and result.output == "B answers."
    assert [r.body["model"] for r in b.requests if r.path == "/api/chat"] == ["qwen2.5:latest"]
    assert not [r for r in a.requests if r.path == "/api/chat"]
    assert room.asked and room.asked[0][2] == ollama_base_url(b.base_url)  # the engine is told the host


def test_dispatch_keeps_a_model_on_both_hosts_local(tmp_path, hosts):
    a, b = hosts
    a.installed = ["qwen2.5:latest"]
    b.load("qwen2.5:latest")  # warm on the LAN box: the local host still answers
    settings = two_hosts(a, b)
    result = _run_local(tmp_path, settings, probe_machine(Workspace(), settings))
    assert result.ok and result.output == "A answers."
    assert not [r for r in b.requests if r.path == "/api/chat"]


# -- the GPU arbiter, per host ----------------------------------------------------------


def local_arbiter(a: OllamaServer, pipeline: Pipeline) -> GpuArbiter:
    return GpuArbiter(12 * GIB, lambda: OllamaAdmin(a.base_url), pipeline.residency, pipeline.unload, host=a.base_url)


Pipeline = FakePipeline  # the SD engine's report, as the arbiter's own tests fake it


def test_a_lan_model_neither_asks_nor_evicts_on_the_local_gpu(hosts):
    a, b = hosts
    a.load("llama3.2", size_vram=9 * GIB)
    pipeline = Pipeline(8 * GIB)
    arbiter = local_arbiter(a, pipeline)
    plan = asyncio.run(arbiter.before_ollama("qwen2.5:latest", int(5.5 * GIB), b.base_url))
    assert plan.actions == () and plan.fits and "not involved" in plan.note
    assert pipeline.unloads == 0 and not a.requests and not b.requests  # nobody was even asked
    assert arbiter.last_plan is None  # the local card's accounting is untouched
    local = asyncio.run(arbiter.before_ollama("llama3.2:latest", 2 * GIB, a.base_url))
    assert arbiter.last_plan is local
    assert set(arbiter.plans) == {ollama_base_url(a.base_url), ollama_base_url(b.base_url)}
    sd = asyncio.run(arbiter.before_sd("sdxl.safetensors", 5 * GIB))
    assert [x.name for x in sd.actions] == ["llama3.2:latest"]  # only the local host's models count


def test_the_service_leaves_the_pipeline_alone_for_a_lan_model(hosts):
    a, b = hosts
    pipeline = Pipeline(8 * GIB)
    arbiter = local_arbiter(a, pipeline)
    service = StableDiffusionService(arbiter=arbiter)
    try:
        asyncio.run(service.make_room_for_ollama("qwen2.5:7b", 5.5, b.base_url))
        assert pipeline.unloads == 0
        asyncio.run(service.make_room_for_ollama("qwen2.5:7b", 5.5, a.base_url))
        assert pipeline.unloads == 1
    finally:
        service.close()


def test_the_catalog_refresh_lists_the_models_of_every_host(hosts):
    from sparklio_desktop.core import catalog_refresh

    a, b = hosts
    report = asyncio.run(catalog_refresh.refresh_catalog(settings=two_hosts(a, b), providers=["ollama"], timeout_s=2.0))
    (ollama,) = report.providers
    assert sorted(m.api_name for m in ollama.listed or ()) == ["llama3.2:latest", "qwen2.5:latest"]
