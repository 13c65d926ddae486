"""Side-by-side comparisons against loopback Anthropic and OpenAI servers: concurrent
columns, blind mode, votes and stars stored in the ledger and read back, the leaderboard."""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from keyring.backends import null

from sparklio_desktop.core.compare import (
    ColumnChunk,
    ColumnFinished,
    ColumnResult,
    CompareError,
    Comparison,
    blind_order,
    parse_vote,
    router_top_candidates,
)
from sparklio_desktop.core.dispatch import Dispatcher
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ratings import leaderboard
from sparklio_desktop.core.ratings.votes_store import VoteStore, prompt_sha256
from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE, LiveState
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

SONNET, OPUS = "anthropic/claude-3-5-sonnet", "anthropic/claude-3-opus"
GPT4, GPT35 = "openai/gpt-4", "openai/gpt-3.5-turbo"
REPLIES = {
    "claude-3-5-sonnet-latest": "Sonnet says maple latte season is here at last.",
    "claude-3-opus-latest": "Opus writes a longer and grander autumn caption for you.",
    "gpt-4": "GPT-4 offers three crisp captions for the launch.",
    "gpt-3.5-turbo": "GPT-3.5 keeps it short and sweet today.",
}
ANSWER = {
    SONNET: REPLIES["claude-3-5-sonnet-latest"],
    OPUS: REPLIES["claude-3-opus-latest"],
    GPT4: REPLIES["gpt-4"],
    GPT35: REPLIES["gpt-3.5-turbo"],
}
PROMPT = "Three captions for our autumn launch"


class _PerModelReplies:
    """Mixin: answer with the text of the model asked for (the server handles each request on its own thread)."""

    _local: threading.local
    _default: str

    @property
    def reply_text(self) -> str:  # type: ignore[override]
        return getattr(self._local, "text", None) or self._default

    @reply_text.setter
    def reply_text(self, value: str) -> None:
        self._default = value

    def handle(self, request: Any, fault: Any, reply: Any) -> None:
        body = request.body if isinstance(request.body, dict) else {}
        self._local.text = REPLIES.get(body.get("model", ""))
        super().handle(request, fault, reply)  # type: ignore[misc]


class Anthropic(_PerModelReplies, AnthropicServer):
    def __init__(self) -> None:
        self._local = threading.local()
        super().__init__()


class OpenAI(_PerModelReplies, OpenAIServer):
    def __init__(self) -> None:
        self._local = threading.local()
        super().__init__()


@pytest.fixture
def servers(monkeypatch):
    with Anthropic() as anthropic, OpenAI() as openai:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789abcdef")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai-0123456789abcdef")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        anthropic.usage = (100, 50)
        openai.usage = (100, 50)
        yield anthropic, openai


@pytest.fixture
def env(tmp_path, servers):
    workspace = Workspace(policy_path=shipped_policy_path())
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
    store = VoteStore.open(tmp_path / "ledger.sqlite3")
    dispatcher = Dispatcher(workspace, ledger=ledger, keys=KeyStore(backend=null.Keyring()), live=lambda: LiveState())
    yield dispatcher, ledger, store
    store.close()
    ledger.close()


def compare(dispatcher, models, **kw) -> Comparison:
    return Comparison(dispatcher, RouteRequest(task="copywriting_standard"), models, PROMPT, **kw)


def collect(comparison: Comparison) -> list[Any]:
    async def go() -> list[Any]:
        events = []
        try:
            async for event in comparison.stream():
                events.append(event)
        finally:
            await comparison.dispatcher.aclose()
        return events

    return asyncio.run(go())


def test_two_columns_stream_concurrently_with_measurements(env, servers):
    dispatcher, ledger, store = env
    for server in servers:
        server.chunk_interval_s = 0.02
    comparison = compare(dispatcher, [SONNET, GPT4], store=store)
    events = collect(comparison)

    chunks = [e for e in events if isinstance(e, ColumnChunk)]
    first_done = next(i for i, e in enumerate(events) if isinstance(e, ColumnFinished))
    assert {e.column for e in events[:first_done] if isinstance(e, ColumnChunk)} == {0, 1}
    switches = sum(1 for a, b in pairwise(chunks) if a.column != b.column)
    assert switches >= 4, [c.column for c in chunks]  # interleaved, not one column after the other

    results = comparison.results
    assert [r.model for r in results] == [SONNET, GPT4]
    assert [r.label for r in results] == ["Claude 3.5 Sonnet", "GPT-4"]
    for column, model in enumerate([SONNET, GPT4]):
        assert "".join(c.text for c in chunks if c.column == column) == ANSWER[model]
        r = results[column]
        assert r.output == ANSWER[model] and r.error is None
        assert (r.input_tokens, r.output_tokens) == (100, 50)
        assert r.ttft_s is not None and r.ttft_s > 0 and r.tokens_per_s is not None and r.tokens_per_s > 0
        assert r.latency_s >= r.ttft_s
    assert results[0].cost_usd == Decimal("0.00105")  # 100 x $3/1M + 50 x $15/1M
    assert results[1].cost_usd == Decimal("0.006")  # 100 x $30/1M + 50 x $60/1M
    rows = ledger.attempts(results[1].request_id)
    assert [(a.model_id, a.outcome, a.exploration) for a in rows] == [(GPT4, "ok", False)]
    stored = store.comparison(comparison.comparison_id)
    assert stored.models == (SONNET, GPT4) and stored.order_shown == (SONNET, GPT4) and not stored.blind
    assert stored.prompt_sha256 == prompt_sha256(PROMPT) and stored.task_type == "copywriting_standard"
    assert stored.vote is None


def test_four_columns_run_at_once(env, servers):
    dispatcher, _, store = env
    anthropic, openai = servers
    for server in servers:
        server.chunk_interval_s = 0.01
    models = [SONNET, GPT4, GPT35, OPUS]
    comparison = compare(dispatcher, models, store=store)
    events = collect(comparison)
    finished = [e for e in events if isinstance(e, ColumnFinished)]
    assert sorted(e.column for e in finished) == [0, 1, 2, 3]
    first_done_at = events.index(finished[0])
    assert {e.column for e in events[:first_done_at] if isinstance(e, ColumnChunk)} == {0, 1, 2, 3}
    assert [r.output for r in comparison.results] == [ANSWER[m] for m in models]
    assert [r.cost_usd for r in comparison.results] == [
        Decimal("0.00105"),
        Decimal("0.006"),
        Decimal("0.000125"),
        Decimal("0.00525"),
    ]
    sent = sorted(r.body["model"] for s in servers for r in s.requests if isinstance(r.body, dict))
    assert sent == sorted(REPLIES)  # each model asked exactly once: the cache is bypassed

    with pytest.raises(CompareError, match="exactly 2 columns"):
        parse_vote("a", 4)
    with pytest.raises(CompareError, match=r"name every column once \(A, B, C, D\)") as refused:
        comparison.vote("ranking", ["A", "B", "C"])
    assert "claude" not in str(refused.value) and comparison.cast is None
    vote = comparison.vote(*parse_vote("rank:D,B,A,C", 4))
    assert vote.ranking == (OPUS, GPT4, SONNET, GPT35)
    assert store.votes("copywriting_standard") == [vote]


def test_blind_mode_hides_names_until_the_vote(env):
    dispatcher, _, store = env
    models = [SONNET, GPT4, GPT35]
    seed = next(s for s in range(100) if blind_order(models, s)[0] != SONNET)
    comparison = compare(dispatcher, models, blind=True, seed=seed, store=store)
    shuffled = blind_order(models, seed)
    assert comparison.order_shown == shuffled and list(shuffled) != models
    events = collect(comparison)

    finished = [e for e in events if isinstance(e, ColumnFinished)]
    assert all(e.result.model is None for e in finished)
    assert sorted(e.result.label for e in finished) == ["A", "B", "C"]
    assert [comparison.label(i) for i in range(3)] == ["A", "B", "C"]
    assert all(r.model is None for r in comparison.results)
    assert [r.output for r in comparison.results] == [ANSWER[m] for m in shuffled]
    stored = store.comparison(comparison.comparison_id)
    assert stored.blind and stored.models == tuple(models) and stored.order_shown == shuffled

    comparison.vote("ranking", ["C", "A", "B"], stars={"A": 4, "C": 5})
    assert comparison.revealed
    assert [r.model for r in comparison.results] == list(shuffled)
    assert comparison.label(0) == dispatcher.workspace.catalog[shuffled[0]].name
    stored = store.comparison(comparison.comparison_id)
    assert stored.vote.ranking == (shuffled[2], shuffled[0], shuffled[1])
    assert stored.vote.models == shuffled
    assert dict(stored.stars) == {shuffled[0]: 4, shuffled[2]: 5}
    with pytest.raises(CompareError, match="already has a vote"):
        comparison.vote("tie")


def test_a_failed_column_reports_its_error_without_naming_a_blind_model(env, servers):
    dispatcher, ledger, store = env
    anthropic, _ = servers
    anthropic.script(
        Fault(
            status=400,
            message="Prompt rejected by claude-3-5-sonnet-latest policy.",
            error_type="invalid_request_error",
        )
    )
    comparison = compare(dispatcher, [SONNET, GPT4], blind=True, seed=1, store=store)
    collect(comparison)
    by_answer = {r.output: r for r in comparison.results}
    failed = by_answer[""]
    assert failed.error is not None and "Prompt rejected" in failed.error and failed.cost_usd == 0
    assert "claude" not in failed.error.lower() and "Sonnet" not in failed.error
    assert f"model {failed.label}" in failed.error
    assert by_answer[ANSWER[GPT4]].error is None
    comparison.vote("b" if failed.column == 0 else "a")
    revealed = [r for r in comparison.results if r.output == ""][0]
    assert revealed.model == SONNET and "Claude 3.5 Sonnet" in revealed.error


def test_votes_ties_both_bad_and_stars_read_back(env):
    dispatcher, ledger, store = env
    verdicts = []
    for kind in ("a", "b", "tie", "both_bad"):
        comparison = compare(dispatcher, [SONNET, GPT4], store=store)
        with pytest.raises(CompareError, match="every column has finished"):
            comparison.vote(kind)
        collect(comparison)
        verdicts.append(comparison.vote(kind, stars={GPT4: 2} if kind == "both_bad" else None))
    votes = store.votes("copywriting_standard")
    assert [(v.kind, v.models, v.ranking) for v in votes] == [
        (k, (SONNET, GPT4), None) for k in ("a", "b", "tie", "both_bad")
    ]
    assert votes == verdicts and store.votes("translation") == []
    assert store.votes(since=votes[-1].ts + timedelta(seconds=1)) == []

    # A composer rating on an answer's attempt counts among the stars too.
    last = comparison.results[0]
    ledger.set_rating(last.request_id, 5)
    stars = store.star_ratings("copywriting_standard")
    assert sorted((s.model_id, s.stars) for s in stars) == [(SONNET, 5), (GPT4, 2)]

    board = {r.model_id: r for r in leaderboard(votes, stars, task_type="copywriting_standard", rounds=20)}
    assert board[SONNET].votes == 4 and board[SONNET].wins == 1 and board[SONNET].losses == 1
    assert board[SONNET].ties == 2 and board[SONNET].both_bad == 1
    assert board[GPT4].stars_n == 1 and board[GPT4].stars_mean == 2.0


def test_leaderboard_from_stored_votes_recovers_the_order(tmp_path):
    strengths = {SONNET: 2.0, GPT4: 1.0, GPT35: -1.0, OPUS: 0.0}
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with VoteStore.open(tmp_path / "ledger.sqlite3") as store:
        for n in range(300):
            pair = rng.sample(sorted(strengths), 2)
            cid = store.record_comparison(
                task_type="translation",
                prompt=f"p{n}",
                models=pair,
                order_shown=pair,
                blind=True,
                ts=start + timedelta(minutes=n),
            )
            p_first = 1 / (1 + 2.718281828 ** (strengths[pair[1]] - strengths[pair[0]]))
            store.record_vote(cid, "a" if rng.random() < p_first else "b", ts=start + timedelta(minutes=n, seconds=5))
        votes = store.votes("translation")
    assert len(votes) == 300
    rows = leaderboard(votes, task_type="translation", rounds=50, seed=1)
    assert [r.model_id for r in rows] == [SONNET, GPT4, OPUS, GPT35]
    assert rows[0].rank == 1 and rows[-1].rank > 1 and not rows[0].provisional
    assert all(r.low <= r.strength <= r.high for r in rows)


def test_store_refuses_bad_records(tmp_path):
    with VoteStore.open(tmp_path / "ledger.sqlite3") as store:
        with pytest.raises(ValueError, match="must reorder"):
            store.record_comparison(
                task_type="chat", prompt="x", models=[SONNET, GPT4], order_shown=[SONNET, OPUS], blind=False
            )
        cid = store.record_comparison(
            task_type="chat", prompt="x", models=[SONNET, GPT4], order_shown=[GPT4, SONNET], blind=True
        )
        with pytest.raises(ValueError, match="stars must be an integer from 1 to 5"):
            store.record_vote(cid, "a", stars={GPT4: 6})
        with pytest.raises(ValueError, match="did not show"):
            store.record_vote(cid, "a", stars={OPUS: 3})
        assert store.votes() == []  # nothing half-written
        store.record_vote(cid, "a")
        assert store.votes()[0].models == (GPT4, SONNET)  # a = the left answer as shown


def test_setup_errors_and_router_candidates(env):
    dispatcher, _, _ = env
    with pytest.raises(CompareError, match="2-4 models"):
        compare(dispatcher, [SONNET])
    with pytest.raises(CompareError, match="once"):
        compare(dispatcher, [SONNET, SONNET])
    with pytest.raises(CompareError, match="unknown vote"):
        parse_vote("maybe", 2)
    planner = RoutePlanner(dispatcher.workspace, probe=lambda: EVERYTHING_AVAILABLE)
    top = router_top_candidates(planner, "copywriting_standard", 3)
    assert top[:3] == [SONNET, GPT4, "google/gemini-2.0-pro"]  # the task table's chain comes first


def test_closing_the_stream_cancels_every_column(env, servers):
    dispatcher, ledger, store = env
    for server in servers:
        server.chunk_interval_s = 0.05
    comparison = compare(dispatcher, [SONNET, GPT4], store=store)

    async def go() -> list[str]:
        stream = comparison.stream()
        try:
            async for event in stream:
                if isinstance(event, ColumnChunk):
                    break
        finally:
            await stream.aclose()
            await dispatcher.aclose()
        return [r.outcome for r in _all_attempts(ledger)]

    outcomes = asyncio.run(go())
    assert outcomes and set(outcomes) == {"cancelled"}
    assert all(r is None for r in comparison.results)


def _all_attempts(ledger: LedgerStore) -> list[Any]:
    rows = []
    for summary in ledger.history(limit=10):
        rows.extend(ledger.attempts(summary.request_id))
    return rows


@pytest.mark.timing
def test_four_columns_at_200_tokens_per_second_keep_the_event_loop_responsive(env, servers, monkeypatch):
    """Issue 6's number: four columns streaming at 200 tokens/s stall the loop at most 50 ms.

    A wall-clock bound, flaky on a loaded machine: left out by default (``-m timing`` runs
    it); benchmarks/bench_gui_compare.py measures the same stall through the window.

    A warm-up comparison first, on the same loop: a provider's first call imports its SDK
    and builds its client on the loop (about a second, a cold-start cost of the
    dispatcher, not of streaming).
    """
    dispatcher, _, _ = env
    long = {api: " ".join(f"w{i}" for i in range(100)) for api in REPLIES}
    monkeypatch.setattr("tests.core.test_compare.REPLIES", long)
    for server in servers:
        server.chunk_interval_s = 0.005  # 200 chunks (tokens) per second per column

    async def go() -> tuple[float, list[ColumnResult]]:
        async for _ in compare(dispatcher, [SONNET, GPT4]).stream():  # warm-up: SDK imports, clients
            pass
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            loop = asyncio.get_running_loop()
            last = loop.time()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = loop.time()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        comparison = compare(dispatcher, [SONNET, GPT4, GPT35, OPUS])
        try:
            async for _ in comparison.stream():
                pass
        finally:
            stop.set()
            await tick
            await dispatcher.aclose()
        return max(gaps), comparison.results

    worst, results = asyncio.run(go())
    assert all(r.output_tokens == 50 and r.output.count("w") == 100 for r in results)  # usage is scripted
    assert all(r.tokens_per_s is not None for r in results)
    assert worst < 0.050, f"the event loop stalled {worst * 1000:.0f} ms"
