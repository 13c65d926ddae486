"""Running decisions against loopback servers that speak Anthropic's and OpenAI's wire
formats: retries, waits, fallbacks, the ledger's exact costs, the cache and the budget."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from keyring.backends import null

from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.cache import ResponseCache
from sparklio_desktop.core.dispatch import AttemptFailed, Dispatcher, RunRequest, TextChunk
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.core.settings.secrets import KeyStore
from sparklio_desktop.core.workspace import Workspace
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import OpenAIServer

ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"
OPENAI_KEY = "sk-test-openai-0123456789abcdef"
SONNET, GPT4, PRO = "anthropic/claude-3-5-sonnet", "openai/gpt-4", "google/gemini-2.0-pro"


@pytest.fixture
def fast_policy(tmp_path):
    text = shipped_policy_path().read_text(encoding="utf-8")
    text = text.replace("backoff_s: [1, 2, 4]", "backoff_s: [0.01, 0.02, 0.04]")
    text = text.replace(
        "standard: {max_latency_s: 10, score_reference_s: 5, timeout_s: 90}",
        "standard: {max_latency_s: 10, score_reference_s: 5, timeout_s: 1}",
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def servers(monkeypatch):
    with AnthropicServer() as anthropic, OpenAIServer() as openai:
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic.base_url)
        monkeypatch.setenv("OPENAI_BASE_URL", openai.api_url)
        anthropic.reply_text = "Autumn is here, and so is our maple latte."
        openai.reply_text = "Fallback answer from GPT-4."
        yield anthropic, openai


class Harness:
    def __init__(self, tmp_path, policy_path, budget_usd=Decimal("50"), at_cap="local_only", sleep=None, cache=None):
        self.workspace = Workspace(policy_path=policy_path)
        self.ledger = LedgerStore.open(tmp_path / "ledger.sqlite3")
        self.cache = cache or ResponseCache(tmp_path / "cache.sqlite3")  # a RedisResponseCache in test_redis_cache
        self.budget = BudgetGuard(self.ledger, budget_usd, at_cap)
        self.waits: list[float] = []

        async def record_sleep(seconds: float) -> None:
            self.waits.append(seconds)
            await asyncio.sleep(0)

        # Google and the local models are not served in these tests.
        unavailable = {
            m.id: (Rule.NO_API_KEY, "test")
            for m in self.workspace.catalog.values()
            if m.provider in ("google", "ollama", "diffusers")
        }
        self.dispatcher = Dispatcher(
            self.workspace,
            ledger=self.ledger,
            keys=KeyStore(backend=null.Keyring()),
            cache=self.cache,
            budget=self.budget,
            live=lambda: LiveState(unavailable=unavailable),
            sleep=sleep or record_sleep,
        )

    def run(
        self,
        prompt="Three captions for our autumn launch",
        task="copywriting_standard",
        images=None,
        image_size=None,
        **kw,
    ):
        route = RouteRequest(task=task, prompt=prompt, images=images, image_size=image_size, explore=False)
        request = RunRequest(route=route, **kw)

        async def go():
            try:
                return await self.dispatcher.run(request)
            finally:
                await self.dispatcher.aclose()

        return asyncio.run(go())

    def close(self):
        self.cache.close()
        self.ledger.close()


@pytest.fixture
def harness(tmp_path, fast_policy, servers):
    h = Harness(tmp_path, fast_policy)
    yield h
    h.close()


def test_answer_is_recorded_with_its_exact_cost(harness, servers):
    anthropic, _ = servers
    anthropic.usage = (120, 80)
    result = harness.run()
    assert result.ok and result.model == SONNET
    assert result.output == "Autumn is here, and so is our maple latte."
    assert result.cost_usd == Decimal("0.00156")  # 120 x $3/1M + 80 x $15/1M
    rows = harness.ledger.attempts(result.request_id)
    assert len(rows) == 1
    row = rows[0]
    assert (row.outcome, row.input_tokens, row.output_tokens, row.usage_source) == ("ok", 120, 80, "provider")
    assert row.cost_usd == Decimal("0.00156")
    assert row.price_input_per_mtok == Decimal("3") and row.price_output_per_mtok == Decimal("15")
    assert row.ttft_s is not None and row.latency_s >= row.ttft_s
    decision = harness.ledger.decision(result.request_id)
    assert decision.final_model_id == SONNET and decision.trace["chain"][0] == SONNET
    sent = [r for r in anthropic.requests if r.path.endswith("/messages")][0]
    assert sent.body["system"] and sent.body["messages"][-1]["content"]
    assert sent.body["max_tokens"] == 1024  # the output the budget reserved for: 2 x 500, at least 1,024


def test_transient_errors_retry_with_the_policy_backoff(harness, servers):
    anthropic, openai = servers
    anthropic.script(Fault(status=529, error_type="overloaded_error"), Fault(status=500))
    result = harness.run()
    assert result.model == SONNET
    assert [a.outcome for a in result.attempts] == ["error", "error", "ok"]
    assert [a.waited_s for a in result.attempts] == [0.0, 0.01, 0.02]
    assert harness.waits == [0.01, 0.02]
    assert not any(r.path.endswith("/chat/completions") for r in openai.requests)


def test_retry_after_replaces_the_backoff(harness, servers):
    anthropic, _ = servers
    anthropic.script(Fault(status=429, headers={"retry-after-ms": "30"}, error_type="rate_limit_error"))
    result = harness.run()
    assert harness.waits == [0.03] and result.model == SONNET


def test_retry_after_over_the_cap_moves_on(harness, servers):
    anthropic, openai = servers
    anthropic.script(Fault(status=429, headers={"Retry-After": "120"}, error_type="rate_limit_error"))
    result = harness.run()
    assert harness.waits == []
    assert result.model == GPT4 and result.output == "Fallback answer from GPT-4."
    assert [a.model for a in result.attempts] == [SONNET, GPT4]


def test_real_retry_after_one_second_is_waited(tmp_path, fast_policy, servers):
    anthropic, _ = servers
    h = Harness(tmp_path, fast_policy, sleep=asyncio.sleep)
    try:
        anthropic.script(Fault(status=429, headers={"Retry-After": "1"}, error_type="rate_limit_error"))
        start = time.monotonic()
        result = h.run()
        assert time.monotonic() - start >= 1.0
        assert result.model == SONNET and result.attempts[1].waited_s == 1.0
    finally:
        h.close()


def test_fallback_after_the_last_retry(harness, servers):
    anthropic, _ = servers
    anthropic.script(*[Fault(status=503) for _ in range(4)])
    result = harness.run()
    assert [a.model for a in result.attempts] == [SONNET] * 4 + [GPT4]
    assert result.model == GPT4
    assert harness.waits == [0.01, 0.02, 0.04]


def test_auth_failure_marks_the_provider_unavailable_for_the_session(harness, servers):
    anthropic, _ = servers
    anthropic.script(Fault(status=401, error_type="authentication_error"))
    first = harness.run()
    assert first.model == GPT4 and first.attempts[0].error_class == "AuthError"
    assert harness.waits == []
    calls_before = len(anthropic.requests)
    second = harness.run(prompt="Another caption")
    assert second.model == GPT4 and len(anthropic.requests) == calls_before
    assert second.decision.candidate(SONNET).excluded_by is Rule.UNAVAILABLE


def test_content_policy_refusal_stops_with_the_providers_message(harness, servers):
    anthropic, openai = servers
    anthropic.script(
        Fault(status=400, message="Your request was flagged by our usage policies.", error_type="invalid_request_error")
    )
    result = harness.run()
    assert not result.ok and result.model is None
    assert "flagged by our usage policies" in result.error
    assert not any(r.path.endswith("/chat/completions") for r in openai.requests)


def test_broken_stream_records_what_arrived_and_the_next_model_starts_again(harness, servers):
    anthropic, _ = servers
    anthropic.script(Fault(drop_after=6))
    result = harness.run()
    assert result.model == GPT4 and result.output == "Fallback answer from GPT-4."
    broken = result.attempts[0]
    assert broken.outcome == "error" and broken.error_class == "StreamBrokenError" and broken.output_tokens > 0
    assert broken.cost_usd > 0  # the tokens that arrived were billed


def test_context_length_error_skips_smaller_windows(harness, servers):
    anthropic, openai = servers
    anthropic.script(
        Fault(
            status=400, message="prompt is too long: 250000 tokens > 200000 maximum", error_type="invalid_request_error"
        )
    )
    result = harness.run()
    assert result.attempts[0].error_class == "ContextLengthError"
    # GPT-4's 8,000-token window is smaller than Sonnet's: it is not tried.
    assert not any(r.path.endswith("/chat/completions") for r in openai.requests)
    assert result.model is None


def test_cache_hit_is_free_and_says_what_it_saved(harness, servers):
    anthropic, _ = servers
    anthropic.usage = (120, 80)
    first = harness.run()
    second = harness.run()
    assert second.cache_hit and second.output == first.output and second.cost_usd == 0
    assert second.saved_usd == Decimal("0.00156")
    row = harness.ledger.attempts(second.request_id)[0]
    assert row.outcome == "cache_hit" and row.cost_usd == 0 and row.saved_usd == Decimal("0.00156")
    assert len([r for r in anthropic.requests if r.path.endswith("/messages")]) == 1
    bypass = harness.run(use_cache=False)
    assert not bypass.cache_hit


def test_errors_and_partials_are_never_cached(harness, servers):
    anthropic, _ = servers
    anthropic.script(Fault(drop_after=6))  # text arrives, then the connection drops
    broken = harness.run()
    assert broken.attempts[0].error_class == "StreamBrokenError"
    again = harness.run()
    assert not again.cache_hit and again.model == SONNET


def test_budget_alert_fires_once_a_month(tmp_path, fast_policy, servers):
    anthropic, _ = servers
    anthropic.usage = (1000, 2500)  # $0.003 + $0.0375 = $0.0405, 81% of $0.05
    h = Harness(tmp_path, fast_policy, budget_usd=Decimal("0.05"))
    try:
        first = h.run()
        assert first.budget_alert and "81" in first.budget_alert
        assert "($0.0405 of $0.05)" in first.budget_alert  # the display rule, not "$0.04" rounded by hand
        anthropic.usage = (10, 10)
        second = h.run(prompt="small one", use_cache=False)
        assert second.budget_alert is None
    finally:
        h.close()


def test_cap_with_stop_refuses_paid_requests(tmp_path, fast_policy, servers):
    anthropic, openai = servers
    h = Harness(tmp_path, fast_policy, budget_usd=Decimal("0.001"), at_cap="stop")
    try:
        result = h.run()
        assert result.model is None and "Not enough budget left" in result.error  # near the cap, not at it
        assert "raise the budget" in result.error
        assert not any(r.path.endswith("/messages") for r in anthropic.requests)
    finally:
        h.close()


def test_cancellation_stops_the_stream_quickly_and_is_recorded(harness, servers):
    anthropic, _ = servers
    anthropic.reply_text = " ".join(f"word{i}" for i in range(200))
    anthropic.chunk_interval_s = 0.05

    async def go():
        agen = harness.dispatcher.stream(
            RunRequest(
                route=RouteRequest(task="copywriting_standard", prompt="long one", explore=False), use_cache=False
            )
        )
        chunks = 0

        async def consume():
            nonlocal chunks
            async for event in agen:
                if isinstance(event, TextChunk):
                    chunks += 1

        async def three_chunks() -> None:
            while chunks < 3:
                await asyncio.sleep(0.01)

        task = asyncio.create_task(consume())
        await asyncio.wait_for(three_chunks(), 10)  # a deadline against a hang, not a speed check
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await harness.dispatcher.aclose()

    asyncio.run(go())
    # The 200-word stream takes 10 s: the server saw the client hang up before its end.
    assert anthropic.disconnected.wait(2) and anthropic.streams_completed == 0
    rows = list(harness.ledger.history(limit=5))
    attempts = harness.ledger.attempts(rows[0].request_id)
    assert attempts[-1].outcome == "cancelled" and attempts[-1].output_tokens >= 3


def test_keys_never_reach_the_ledger(harness, servers):
    anthropic, _ = servers
    anthropic.script(Fault(status=401, message=f"invalid x-api-key {ANTHROPIC_KEY}", error_type="authentication_error"))
    result = harness.run()
    rows = harness.ledger.attempts(result.request_id)
    assert ANTHROPIC_KEY not in (rows[0].error_message or "")
    harness.ledger.close()
    for name in ("ledger.sqlite3", "ledger.sqlite3-wal"):
        path = harness.ledger.path.parent / name
        if path.exists():
            assert ANTHROPIC_KEY.encode() not in path.read_bytes()


def test_twenty_concurrent_requests_near_the_cap_never_overshoot(tmp_path, fast_policy, servers):
    anthropic, _ = servers
    anthropic.usage = (20, 1000)  # $0.01506 each; each reserves its worst case (1,024 output tokens) first
    anthropic.chunk_interval_s = 0.01
    budget = Decimal("0.10")
    h = Harness(tmp_path, fast_policy, budget_usd=budget, at_cap="stop")
    try:

        async def go():
            try:
                return await asyncio.gather(
                    *[
                        h.dispatcher.run(
                            RunRequest(
                                route=RouteRequest(task="copywriting_standard", prompt=f"caption {i}", explore=False),
                                use_cache=False,
                            )
                        )
                        for i in range(20)
                    ]
                )
            finally:
                await h.dispatcher.aclose()

        results = asyncio.run(go())
        answered = [r for r in results if r.ok]
        refused = [r for r in results if not r.ok]
        assert answered and refused
        assert all("Monthly budget reached" in r.error or "Not enough budget left" in r.error for r in refused)
        spent = h.ledger.month_spend(h.budget.status().month)
        assert spent == sum(r.cost_usd for r in answered) and spent <= budget
    finally:
        h.close()


def test_dalle_images_are_generated_one_call_each_and_priced_per_image(tmp_path, fast_policy, servers):
    _, openai = servers
    h = Harness(tmp_path, fast_policy)
    try:
        result = h.run(
            prompt="A maple latte on a wooden table", task="image_generation_quality", images=2, image_size="1792x1024"
        )
        assert result.model == "openai/dall-e-3" and len(result.images) == 2
        assert result.images[0].startswith(b"\x89PNG")
        assert result.cost_usd == Decimal("0.16")
        calls = [r for r in openai.requests if r.path.endswith("/images/generations")]
        assert len(calls) == 2 and all(c.body["n"] == 1 and c.body["size"] == "1792x1024" for c in calls)
    finally:
        h.close()


def test_images_made_before_a_failed_call_are_billed_and_not_made_again(tmp_path, fast_policy, servers):
    """The third of three DALL-E calls fails with a 500: the two images made were paid for.
    They used to be recorded at $0 and the model retried (three more paid images under a
    reservation for three); now the attempt is billed for two and the next model follows."""
    _, openai = servers
    openai.script(
        Fault(path_contains="/images/"), Fault(path_contains="/images/"), Fault(status=500, path_contains="/images/")
    )
    h = Harness(tmp_path, fast_policy)
    try:
        events = []
        route = RouteRequest(task="image_generation_quality", prompt="A maple latte", images=3, explore=False)

        async def go():
            try:
                return await h.dispatcher.run(RunRequest(route=route), on_event=events.append)
            finally:
                await h.dispatcher.aclose()

        result = asyncio.run(go())
        first = result.attempts[0]
        assert (first.model, first.outcome, first.cost_usd) == ("openai/dall-e-3", "error", Decimal("0.08"))
        assert [e.next_action for e in events if isinstance(e, AttemptFailed)][0] == "next model"
        assert sum(1 for r in openai.requests if r.path.endswith("/images/generations")) == 3
        (row, *_) = h.ledger.attempts(result.request_id)
        assert (row.images, row.cost_usd, row.price_per_image) == (2, Decimal("0.08"), Decimal("0.040"))
        assert h.ledger.month_spend(h.budget.status().month) == result.cost_usd
    finally:
        h.close()


def test_a_forced_unpriced_model_is_refused_before_any_call(tmp_path, fast_policy, servers, sparklio_home):
    _, openai = servers
    (sparklio_home / "catalog.yaml").write_text(
        """\
models:
  - id: openai/gpt-mystery
    name: GPT Mystery
    provider: openai
    api_name: gpt-mystery
    capabilities: [text]
    price: null
    quality: 8
""",
        encoding="utf-8",
    )
    h = Harness(tmp_path, fast_policy)
    try:
        from sparklio_desktop.core.pricing import UnpricedModelError

        with pytest.raises(UnpricedModelError, match="GPT Mystery .* has no price"):
            h.run(model="openai/gpt-mystery")
        assert not any(r.path.endswith("/chat/completions") for r in openai.requests)
    finally:
        h.close()


@pytest.mark.parametrize("n_images", [0, -1, True, 1.5])
def test_a_request_for_no_images_is_refused_before_any_call(tmp_path, fast_policy, servers, n_images):
    """``n_images=0`` used to bill one DALL-E image; every front end builds the same RunRequest."""
    from sparklio_desktop.core.errors import SparklioError

    _, openai = servers
    h = Harness(tmp_path, fast_policy)
    try:
        with pytest.raises(SparklioError, match="number of images"):
            h.run(prompt="A maple latte", task="image_generation_quality", images=n_images)
        assert not any(r.path.endswith("/images/generations") for r in openai.requests)
        assert h.ledger.history(limit=10) == []
    finally:
        h.close()
