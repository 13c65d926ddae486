"""The provider fault matrix (issue 9): every fault kind over the four wire formats.

Each case runs the dispatcher against the loopback fakes (tests/fakes), which speak each
provider's real wire format, with one fault scripted on the first model's call: rate
limits with a short and a long Retry-After, 500, 503, overloaded (Anthropic's 529, the
others' 503 with their own "overloaded" body), 401, 400, a stream dropped after some
output, a malformed chunk, a slow but steady answer, a stall after some chunks and a
provider that never answers. For each run:

- it ends with an answer or a clear error: ``Dispatcher.run`` returns, nothing escapes;
- every attempt is one ledger row with the right outcome, none left ``in_flight``, no
  money left reserved;
- a partial stream's received output is costed (a paid model's cost is above $0);
- the provider keys, which the scripted error bodies echo, appear nowhere: not in the
  ledger file's bytes (database and WAL), the result, its error text or the events.

Waits between retries go through an injected sleep that only records them, and the
watchdog's limits are small (tests/core/test_dispatch_stalls.py), so the module is quick.
benchmarks/probe_hardening.py runs the same matrix and reports the counts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import null

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.dispatch import Dispatcher, RunRequest, RunResult
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.config import Settings
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.core.test_dispatch_stalls import LIMIT_S, WIRES, Wire, policy_text, running_fakes
from tests.fakes.loopback import Fault, LoopbackServer

# The keys tests.core.test_dispatch_stalls.running_fakes puts in the environment.
KEYS = {
    "openai": "sk-test-openai-0123456789abcdef",
    "anthropic": "sk-ant-test-0123456789abcdef",
    "google": "gemini-test-key-0123456789",
}
SHORT_RETRY_S, LONG_RETRY_S = 2, 120  # the shipped policy's cap is 60 s
REFUSAL = "Your request was flagged by the safety system"
FAULTED, HEALTHY = "faulted", "healthy"


def _echo(wire: Wire, text: str) -> str:
    """An error message that echoes the wire's key, as some servers and proxies do."""
    key = KEYS.get(wire.name)
    return f"{text} (request sent with key {key})" if key else text


def _rate_limited(retry_after: int) -> Callable[[Wire], Fault]:
    def make(wire: Wire) -> Fault:
        kind = {"anthropic": "rate_limit_error", "openai": "rate_limit_exceeded"}.get(wire.name)
        return Fault(
            status=429,
            headers={"Retry-After": str(retry_after)},
            error_type=kind,
            message=_echo(wire, "Rate limit reached, please slow down"),
        )

    return make


def _overloaded(wire: Wire) -> Fault:
    """Anthropic's 529; the others' own way of saying the same (503 with their body)."""
    if wire.name == "anthropic":
        return Fault(status=529, error_type="overloaded_error", message=_echo(wire, "Overloaded"))
    message = {
        "openai": "The engine is currently overloaded, please try again later",
        "google": "The model is overloaded. Please try again later.",
        "ollama": "server busy, please try again.  maximum pending requests exceeded",
    }[wire.name]
    return Fault(status=503, message=_echo(wire, message))


def _unauthorized(wire: Wire) -> Fault:
    kind = {"anthropic": "authentication_error", "openai": "invalid_api_key"}.get(wire.name)
    return Fault(status=401, error_type=kind, message=_echo(wire, "Incorrect credentials provided"))


def _refused(wire: Wire) -> Fault:
    kind = {"anthropic": "invalid_request_error"}.get(wire.name)
    return Fault(status=400, error_type=kind, message=_echo(wire, REFUSAL))


@dataclass(frozen=True)
class FaultKind:
    """One fault: what the first model's call meets, and the attempts it must leave.

    ``attempts``: (whose, outcome) per attempt, whose being the faulted or the healthy
    model; ``waits``: the retry waits the injected sleep records (the policy's first
    backoff is 1 s); ``answered``: whether an answer comes back (else a clear error);
    ``partial``: the first attempt received output before it failed, which is billed."""

    name: str
    fault: Callable[[Wire], Fault | None]
    attempts: tuple[tuple[str, str], ...]
    waits: tuple[float, ...] = ()
    answered: bool = True
    partial: bool = False
    slow: bool = False


RETRIED = ((FAULTED, "error"), (FAULTED, "ok"))
MOVED_ON = ((FAULTED, "error"), (HEALTHY, "ok"))
KINDS = [
    FaultKind("429-short-retry-after", _rate_limited(SHORT_RETRY_S), RETRIED, waits=(SHORT_RETRY_S,)),
    FaultKind("429-long-retry-after", _rate_limited(LONG_RETRY_S), MOVED_ON),
    FaultKind("500", lambda w: Fault(status=500, message=_echo(w, "Internal server error")), RETRIED, waits=(1,)),
    FaultKind("503", lambda w: Fault(status=503, message=_echo(w, "Service unavailable")), RETRIED, waits=(1,)),
    FaultKind("529-overloaded", _overloaded, RETRIED, waits=(1,)),
    FaultKind("401", _unauthorized, MOVED_ON),
    FaultKind("400-refused", _refused, ((FAULTED, "error"),), answered=False),
    FaultKind("stream-dropped", lambda w: Fault(drop_after=w.lead_chunks + 3), MOVED_ON, partial=True),
    FaultKind("malformed-chunk", lambda w: Fault(malformed_after=w.lead_chunks + 3), MOVED_ON, partial=True),
    FaultKind("slow-but-steady", lambda w: None, ((FAULTED, "ok"),), slow=True),
    FaultKind(
        "stall-after-chunks",
        lambda w: Fault(stall_after=w.lead_chunks + 3),
        ((FAULTED, "stalled"), (HEALTHY, "ok")),
        partial=True,
    ),
    FaultKind("never-answers", lambda w: Fault(no_answer=True), ((FAULTED, "stalled"), (HEALTHY, "ok"))),
]


class MatrixHarness:
    """A dispatcher over a two-model chain (the wire's model, then a healthy one), a real
    ledger file and budget, and a sleep that records the waits instead of waiting."""

    def __init__(self, tmp_path: Path, wire: Wire) -> None:
        path = tmp_path / "policy.yaml"
        path.write_text(policy_text(wire.model, wire.healthy), encoding="utf-8")
        self.workspace = Workspace(policy_path=path)
        self.ledger_path = tmp_path / "ledger.sqlite3"
        self.ledger = LedgerStore.open(self.ledger_path)
        self.waits: list[float] = []

        async def record_sleep(seconds: float) -> None:
            self.waits.append(seconds)
            await asyncio.sleep(0)

        keep = {wire.model, wire.healthy}
        unavailable = {m.id: (Rule.NO_API_KEY, "test") for m in self.workspace.catalog.values() if m.id not in keep}
        self.dispatcher = Dispatcher(
            self.workspace,
            ledger=self.ledger,
            keys=KeyStore(backend=null.Keyring()),
            budget=BudgetGuard(self.ledger, Decimal("50"), "stop"),
            live=lambda: LiveState(unavailable=unavailable),
            settings=Settings(),
            sleep=record_sleep,
        )

    def run(self, events: list[Any]) -> RunResult:
        request = RunRequest(
            route=RouteRequest(task="stall_probe", prompt="Three captions, please", explore=False), use_cache=False
        )

        async def go() -> RunResult:
            try:
                return await self.dispatcher.run(request, events.append)
            finally:
                await self.dispatcher.aclose()

        return asyncio.run(go())

    def raw(self, query: str) -> list[tuple]:
        db = sqlite3.connect(self.ledger_path)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()

    def file_bytes(self) -> bytes:
        """The ledger's database, WAL and shared-memory files, as they are on disk."""
        return b"".join(p.read_bytes() for p in self.ledger_path.parent.glob(self.ledger_path.name + "*"))

    def close(self) -> None:
        self.ledger.close()


def _interval_knob(server: LoopbackServer) -> str:
    """The pause between streamed chunks: the fakes name this knob differently."""
    for knob in ("chunk_interval_s", "interval_s"):
        if hasattr(server, knob):
            return knob
    raise AssertionError(f"{type(server).__name__} has no chunk interval")


def _interval(server: LoopbackServer) -> float:
    return getattr(server, _interval_knob(server))


def set_slow(server: LoopbackServer, seconds: float) -> None:
    setattr(server, _interval_knob(server), seconds)


@dataclass
class CaseRun:
    """What one matrix case left behind, for the test's assertions and the benchmark's counts."""

    result: RunResult
    events: list[Any]
    waits: list[float]
    rows: list[Any]  # the ledger's attempts of the request
    in_flight: int  # rows still in_flight, over the whole ledger
    reservations: int  # reservations still held
    leaks: list[str]  # where a key was found
    faulted_is_free: bool


def run_case(tmp_path: Path, wire: Wire, kind: FaultKind, servers: dict[str, LoopbackServer]) -> CaseRun:
    faulted = servers[wire.name]
    fault = kind.fault(wire)
    if fault is not None:
        fault.path_contains = wire.path
        faulted.script(fault)
    if kind.slow:
        faulted.reply_text = " ".join(f"w{i}" for i in range(12))  # type: ignore[attr-defined]
        set_slow(faulted, LIMIT_S / 6)  # each gap well under the idle limit, the whole well above it
    h = MatrixHarness(tmp_path, wire)
    events: list[Any] = []
    try:
        result = h.run(events)
        rows = h.ledger.attempts(result.request_id)
        in_flight = h.raw("SELECT COUNT(*) FROM llm_usage WHERE outcome = 'in_flight'")[0][0]
        reservations = h.raw("SELECT COUNT(*) FROM budget_reservations")[0][0]
        open_bytes = h.file_bytes()
    finally:
        h.close()
    closed_bytes = h.file_bytes()
    texts = {
        "ledger file": open_bytes + closed_bytes,
        "result": json.dumps(result.to_dict(), default=str).encode() + repr(result).encode(),
        "error": (result.error or "").encode(),
        "events": "\n".join(repr(e) for e in events).encode(),
    }
    leaks = [
        f"{provider} key in the {where}"
        for provider, key in KEYS.items()
        for where, data in texts.items()
        if key.encode() in data
    ]
    return CaseRun(
        result, events, list(h.waits), rows, in_flight, reservations, leaks, h.workspace.catalog[wire.model].is_free
    )


def check_case(run: CaseRun, wire: Wire, kind: FaultKind) -> None:
    """The matrix's assertions for one case (also what the benchmark counts as survived)."""
    result = run.result
    whose = {FAULTED: wire.model, HEALTHY: wire.healthy}
    expected = [(whose[who], outcome) for who, outcome in kind.attempts]
    assert [(a.model, a.outcome) for a in result.attempts] == expected, [a.error for a in result.attempts]
    # Every attempt is its ledger row, with the same outcome and cost.
    assert [(r.attempt, r.model_id, r.outcome, r.cost_usd) for r in run.rows] == [
        (a.attempt, a.model, a.outcome, a.cost_usd) for a in result.attempts
    ]
    assert run.in_flight == 0 and run.reservations == 0
    assert run.waits == list(kind.waits)
    if kind.answered:
        assert result.ok and result.output and result.error is None
    else:
        assert not result.ok and result.error and REFUSAL in result.error
    first = result.attempts[0]
    if first.outcome != "ok":
        assert first.error_class and first.error  # a clear, classified reason
    if kind.slow:  # it took longer than the idle limit: only the limit per gap let it through
        assert first.latency_s is not None and first.latency_s > LIMIT_S
    if kind.partial:
        assert first.output_tokens > 0
        assert run.faulted_is_free or first.cost_usd > 0
    assert run.leaks == []


@pytest.fixture(scope="module")
def started_fakes():
    """The four fakes, started once for the module (starting and stopping four servers per
    case would double the module's time), and the environment that points the SDKs at them."""
    env: dict[str, str] = {}
    with running_fakes(env.__setitem__) as servers:
        knobs = {name: (s.reply_text, _interval(s)) for name, s in servers.items()}  # type: ignore[attr-defined]
        yield servers, env, knobs


@pytest.fixture
def fakes(started_fakes, monkeypatch):
    """The shared fakes, as each case must find them: no fault left, the usual answer."""
    servers, env, knobs = started_fakes
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name, server in servers.items():
        server.clear_script()
        server.reply_text, interval = knobs[name]  # type: ignore[attr-defined]
        set_slow(server, interval)
    yield servers


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
@pytest.mark.parametrize("wire", WIRES, ids=[w.name for w in WIRES])
def test_every_fault_ends_in_an_answer_or_a_clear_error_and_leaves_its_rows(wire, kind, fakes, tmp_path):
    run = run_case(tmp_path, wire, kind, fakes)
    check_case(run, wire, kind)
