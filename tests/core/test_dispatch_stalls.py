"""Providers that go silent: the fault matrix over the four wire formats (issue 9).

Each case runs the dispatcher against a loopback server that speaks the provider's
real wire format and is scripted to stall (stream a few chunks, then send nothing
while keeping the socket open) or never answer (not even a status line). The
watchdog's limits are small (1 s, 0.3 s) so the suite stays quick; the times against the
default limits are measured by benchmarks/bench_stall.py, not asserted here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import pytest
from keyring.backends import null

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.pricing import price_call
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.config import Settings
from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.gemini_server import GeminiServer
from tests.fakes.loopback import Fault, LoopbackServer
from tests.fakes.ollama_server import OllamaServer
from tests.fakes.openai_server import OpenAIServer

LIMIT_S = 0.3  # the idle limit
# The first-token limit counts from the start of the call, which on a busy test machine
# includes building the SDK's client; it is kept above that.
FIRST_S = 1.0
SONNET, GPT4 = "anthropic/claude-3-5-sonnet", "openai/gpt-4"


@dataclass(frozen=True)
class Wire:
    """One wire format: the model that is faulted, its call's path, and how many stream
    chunks carry no text before the first word (so ``stall_after`` leaves some text)."""

    name: str
    model: str
    path: str
    lead_chunks: int
    healthy: str = GPT4


WIRES = [
    Wire("openai", GPT4, "/chat/completions", 1, healthy=SONNET),
    Wire("anthropic", SONNET, "/v1/messages", 3),
    Wire("google", "google/gemini-2.0-flash", "streamGenerateContent", 0),
    Wire("ollama", "ollama/llama3.2", "/api/chat", 0),
]


def policy_text(
    primary: str, fallback: str, *, allowance_s: float = 0.0, idle_s: float = LIMIT_S, first_s: float = FIRST_S
) -> str:
    """The shipped policy with a two-model ``stall_probe`` task (batch speed) and these limits."""
    text = shipped_policy_path().read_text(encoding="utf-8")
    text = text.replace("  stream_idle_timeout_s: 20", f"  stream_idle_timeout_s: {idle_s}")
    text = text.replace(
        "first_token_timeout_s: {realtime: 10, standard: 30, batch: 120}",
        f"first_token_timeout_s: {{realtime: {first_s}, standard: {first_s}, batch: {first_s}}}",
    )
    text = text.replace("ollama_load_allowance_s: 60", f"ollama_load_allowance_s: {allowance_s}")
    task = f"""\
  stall_probe:
    description: A two-model chain for the stall tests.
    complexity: simple
    capability: text
    primary: {primary}
    fallbacks: [{fallback}]
    expected_output_tokens: 50
    typical_input_tokens: 50
    cache: none
    defaults: {{budget: premium, speed: batch}}
"""
    return text.replace("\ntasks:\n", "\ntasks:\n" + task, 1)


@contextmanager
def running_fakes(setenv: Callable[[str, str], None]) -> Iterator[dict[str, LoopbackServer]]:
    """The four fakes, started, with the keys and base URLs the SDKs read set by ``setenv``."""
    import anthropic  # noqa: F401 - imported before any limit runs

    servers = {
        "openai": OpenAIServer(),
        "anthropic": AnthropicServer(),
        "google": GeminiServer(),
        "ollama": OllamaServer(installed=["llama3.2:3b"]),
    }
    for server in servers.values():
        server.start()
    try:
        setenv("OPENAI_API_KEY", "sk-test-openai-0123456789abcdef")
        setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
        setenv("GEMINI_API_KEY", "gemini-test-key-0123456789")
        setenv("OPENAI_BASE_URL", servers["openai"].api_url)  # type: ignore[attr-defined]
        setenv("ANTHROPIC_BASE_URL", servers["anthropic"].base_url)
        setenv("GOOGLE_GEMINI_BASE_URL", servers["google"].base_url)
        setenv("OLLAMA_HOST", servers["ollama"].base_url)
        servers["openai"].reply_text = "Fallback answer from GPT-4."  # type: ignore[attr-defined]
        servers["anthropic"].reply_text = "Fallback answer from Claude."  # type: ignore[attr-defined]
        for name in ("google", "ollama"):
            servers[name].reply_text = "one two three four five six seven eight"  # type: ignore[attr-defined]
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@pytest.fixture
def fakes(monkeypatch) -> Iterator[dict[str, LoopbackServer]]:
    with running_fakes(monkeypatch.setenv) as servers:
        yield servers


class StallHarness:
    def __init__(self, tmp_path, wire: Wire, **limits: float) -> None:
        path = tmp_path / "policy.yaml"
        path.write_text(policy_text(wire.model, wire.healthy, **limits), encoding="utf-8")
        self.workspace = Workspace(policy_path=path)
        self.ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
        keep = {wire.model, wire.healthy}
        unavailable = {m.id: (Rule.NO_API_KEY, "test") for m in self.workspace.catalog.values() if m.id not in keep}
        self.dispatcher = Dispatcher(
            self.workspace,
            ledger=self.ledger,
            keys=KeyStore(backend=null.Keyring()),
            budget=BudgetGuard(self.ledger, Decimal("50"), "local_only"),
            live=lambda: LiveState(unavailable=unavailable),
            settings=Settings(),
        )

    def run(self, on_event=None):
        request = RunRequest(route=RouteRequest(task="stall_probe", prompt="Three captions, please", explore=False))

        async def go():
            try:
                return await self.dispatcher.run(request, on_event)
            finally:
                await self.dispatcher.aclose()

        return asyncio.run(go())

    def close(self) -> None:
        self.ledger.close()


@pytest.fixture
def harness_for(tmp_path):
    made: list[StallHarness] = []

    def make(wire: Wire, **kw) -> StallHarness:
        h = StallHarness(tmp_path, wire, **kw)
        made.append(h)
        return h

    yield make
    for h in made:
        h.close()


def _calls(server: LoopbackServer, path: str) -> list:
    return [r for r in server.requests if path in r.path]


def _wait_for(condition, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
def test_a_stream_that_goes_silent_is_given_up_costed_and_the_next_model_answers(wire, fakes, harness_for):
    faulted = fakes[wire.name]
    faulted.script(Fault(stall_after=wire.lead_chunks + 3, path_contains=wire.path))
    h = harness_for(wire)
    result = h.run()
    assert result.ok and result.model == wire.healthy
    assert [(a.model, a.outcome) for a in result.attempts] == [(wire.model, "stalled"), (wire.healthy, "ok")]
    assert len(_calls(faulted, wire.path)) == 1  # a stalled model is not retried
    stalled = h.ledger.attempts(result.request_id)[0]
    assert (stalled.outcome, stalled.error_class, stalled.usage_source) == ("stalled", "StalledError", "estimate")
    assert "went silent" in stalled.error_message
    assert stalled.output_tokens > 0 and stalled.input_tokens > 0  # the partial answer is costed
    model = h.workspace.catalog[wire.model]
    assert stalled.cost_usd == price_call(model, stalled.input_tokens, stalled.output_tokens, 0, "1024x1024").cost_usd
    assert model.is_free or stalled.cost_usd > 0
    assert stalled.latency_s is not None and stalled.latency_s >= LIMIT_S
    # The silent connection was closed by the client, not left to the server.
    assert _wait_for(lambda: faulted.hangups == 1)
    healthy_call = _calls(fakes[wire.healthy.split("/")[0]], "")[-1]
    assert healthy_call.time >= _calls(faulted, wire.path)[0].time


@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
def test_a_provider_that_never_answers_costs_one_wait_then_the_next_model(wire, fakes, harness_for):
    faulted = fakes[wire.name]
    faulted.script(Fault(no_answer=True, path_contains=wire.path))
    h = harness_for(wire)
    result = h.run()
    assert result.ok and result.model == wire.healthy
    assert [(a.model, a.outcome) for a in result.attempts] == [(wire.model, "stalled"), (wire.healthy, "ok")]
    assert len(_calls(faulted, wire.path)) == 1  # no retry: one first-token wait, not four
    stalled = h.ledger.attempts(result.request_id)[0]
    assert "no first token" in stalled.error_message
    assert (stalled.output_tokens, stalled.cost_usd) == (0, Decimal(0))
    assert _wait_for(lambda: faulted.hangups == 1)


def test_a_slow_but_steady_stream_is_not_a_stall(fakes, harness_for):
    wire = WIRES[1]  # Anthropic
    anthropic = fakes["anthropic"]
    anthropic.reply_text = " ".join(f"w{i}" for i in range(20))  # type: ignore[attr-defined]
    # 26 events 50 ms apart: the answer takes over 4 x the idle limit, no gap reaches it (the
    # three closing events carry no text, so 150 ms pass between the last word and the usage).
    anthropic.chunk_interval_s = LIMIT_S / 6  # type: ignore[attr-defined]
    result = harness_for(wire).run()
    assert [(a.outcome, a.error) for a in result.attempts] == [("ok", None)]


def test_an_ollama_model_that_is_not_loaded_gets_the_load_allowance(fakes, harness_for):
    wire = WIRES[3]
    ollama = fakes["ollama"]
    ollama.script(Fault(delay_s=FIRST_S * 1.5, path_contains="/api/chat"))  # loading the weights
    assert "llama3.2:3b" not in ollama.running  # type: ignore[attr-defined]
    result = harness_for(wire, allowance_s=5.0).run()
    assert result.model == "ollama/llama3.2" and [a.outcome for a in result.attempts] == ["ok"]
    assert _calls(ollama, "/api/ps")  # the dispatcher asked whether the model was loaded


def test_a_loaded_ollama_model_gets_no_allowance(fakes, harness_for):
    wire = WIRES[3]
    ollama = fakes["ollama"]
    ollama.load("llama3.2:3b")  # type: ignore[attr-defined]
    ollama.script(Fault(delay_s=FIRST_S * 1.5, path_contains="/api/chat"))
    result = harness_for(wire, allowance_s=5.0).run()
    assert [(a.model, a.outcome) for a in result.attempts] == [("ollama/llama3.2", "stalled"), (GPT4, "ok")]
