"""Every routing rule of docs/routing.md, one test each."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from sparklio_desktop.core.errors import UnknownNameError
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.live import build_live_state
from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE, LiveState
from sparklio_desktop.core.routing.router import Router, RouteRequest


@pytest.fixture(scope="module")
def router(catalog, policy):
    return Router(catalog, policy)


def decide(router, live=EVERYTHING_AVAILABLE, **kw):
    kw.setdefault("explore", False)
    return router.route(RouteRequest(**kw), live)


def excluded(decision, model_id):
    return decision.candidate(model_id).excluded_by


def test_task_table_chain_is_the_default_order(router, policy):
    for name, task in policy.tasks.items():
        d = decide(router, task=name)
        assert list(d.chain[: len(task.chain)]) == task.chain or name in ("copywriting_premium", "strategy_planning"), (
            name
        )
    d = decide(router, task="copywriting_standard")
    assert d.chain[:3] == ("anthropic/claude-3-5-sonnet", "openai/gpt-4", "google/gemini-2.0-pro")
    assert [d.candidate(m).role for m in d.chain[:3]] == ["primary", "fallback", "fallback"]


def test_scores_are_the_weighted_sum(router, policy):
    w = policy.weights
    d = decide(router, task="trend_analysis")
    for c in d.candidates:
        s = c.scores
        assert 0 <= min(s.complexity, s.cost, s.speed, s.quality) and max(s.complexity, s.cost, s.speed, s.quality) <= 1
        assert s.total == pytest.approx(
            w.complexity * s.complexity + w.cost * s.cost + w.speed * s.speed + w.quality * s.quality
        )
    # cheaper means a higher cost score; faster a higher speed score
    assert d.candidate("google/gemini-2.0-flash").scores.cost > d.candidate("openai/gpt-4").scores.cost
    assert d.candidate("google/gemini-2.0-flash").scores.speed > d.candidate("anthropic/claude-3-opus").scores.speed


def test_low_tier_removes_what_it_avoids_and_fills_the_chain(router):
    d = decide(router, task="brief_questions", budget="low")
    assert excluded(d, "openai/gpt-4") is Rule.AVOIDED_BY_TIER
    assert excluded(d, "anthropic/claude-3-5-sonnet") is Rule.AVOIDED_BY_TIER
    # Gemini Pro is the low tier's occasional model: only for complex tasks
    assert excluded(d, "google/gemini-2.0-pro") is Rule.OCCASIONAL_ONLY
    assert len(d.chain) == 3
    assert all(d.candidate(m).role == "fill-in" for m in d.chain)
    fill_totals = [d.candidate(m).scores.total for m in d.chain]
    cloud = [d.candidate(m) for m in d.chain if not d.candidate(m).local]
    local = [d.candidate(m) for m in d.chain if d.candidate(m).local]
    assert [c.id for c in cloud + local] == list(d.chain)  # cloud fill-ins first, local ones last
    assert [c.scores.total for c in cloud] == sorted((c.scores.total for c in cloud), reverse=True)
    others = [c for c in d.candidates if c.excluded_by is None and c.id not in d.chain]
    assert all(c.scores.total <= min(fill_totals) for c in others)


def test_low_tier_admits_gemini_pro_for_complex_tasks(router):
    d = decide(router, task="strategy_planning", budget="low")
    assert "google/gemini-2.0-pro" in d.chain
    assert excluded(d, "openai/gpt-4-turbo") is Rule.AVOIDED_BY_TIER
    assert excluded(d, "anthropic/claude-3-opus") is Rule.AVOIDED_BY_TIER


def test_standard_tier_uses_gpt4_turbo_only_where_the_table_names_it(router):
    d = decide(router, task="strategy_planning")
    assert d.chain[0] == "openai/gpt-4-turbo"
    d = decide(router, task="brief_questions", input_tokens=9_000)  # GPT-4's window is too small
    assert excluded(d, "openai/gpt-4-turbo") is Rule.OCCASIONAL_ONLY


def test_realtime_keeps_only_models_under_three_seconds(router):
    d = decide(router, task="copywriting_standard", speed="realtime")
    assert excluded(d, "anthropic/claude-3-5-sonnet") is Rule.TOO_SLOW
    assert set(d.chain) == {"google/gemini-2.0-flash", "openai/gpt-3.5-turbo", "ollama/mistral"}
    for model_id in d.chain:
        assert d.candidate(model_id).latency_s < 3
    for c in d.candidates:
        if c.latency_s is not None and c.latency_s >= 3:
            assert c.excluded_by is not None and (c.excluded_by is Rule.TOO_SLOW or Rule.TOO_SLOW in c.other_rules)


def test_complex_tasks_keep_only_complex_capable_models(router):
    d = decide(router, task="copywriting_premium")
    assert d.chain == ("anthropic/claude-3-opus", "openai/gpt-4-turbo", "anthropic/claude-3-5-sonnet")
    for model_id in ("google/gemini-2.0-flash", "openai/gpt-3.5-turbo", "ollama/qwen2.5"):
        assert (
            excluded(d, model_id) is Rule.NOT_COMPLEX_CAPABLE
            or Rule.NOT_COMPLEX_CAPABLE in d.candidate(model_id).other_rules
        )
    # a medium task can be made complex from the command line
    d = decide(router, task="brief_questions", complexity="complex")
    assert "ollama/llama3.2" not in d.chain


def test_chain_ends_with_a_local_model(router):
    d = decide(router, task="copywriting_standard")
    last = d.candidate(d.chain[-1])
    assert last.local and last.role == "last resort"
    assert sum(1 for m in d.chain if d.candidate(m).local) == 1


def test_context_window_too_small(router):
    d = decide(router, task="brief_questions", input_tokens=10_000)
    assert excluded(d, "openai/gpt-4") is Rule.CONTEXT_TOO_SMALL
    assert "window holds 8,000" in d.candidate("openai/gpt-4").exclusion_detail
    assert d.chain[0] == "anthropic/claude-3-5-sonnet"


def test_availability_rules(catalog, router):
    live = build_live_state(catalog, has_key={"openai": True}, ollama_models={"llama3.2:3b"}, sd_available=False)
    d = decide(router, live, task="copywriting_standard")
    assert excluded(d, "anthropic/claude-3-5-sonnet") is Rule.NO_API_KEY
    assert excluded(d, "ollama/qwen2.5") is Rule.NOT_INSTALLED
    assert d.chain[0] == "openai/gpt-4" and d.chain[-1] == "ollama/llama3.2"
    down = build_live_state(catalog, has_key={}, ollama_models=None, sd_available=False)
    d = decide(router, down, task="chat")
    assert excluded(d, "ollama/qwen2.5") is Rule.UNREACHABLE
    assert not d.chain and d.no_fit_reasons
    assert "No model fits" in d.explanation


def test_image_generation_bulk_goes_local_when_a_checkpoint_is_installed(catalog, router):
    with_sd = build_live_state(catalog, has_key={"openai": True}, ollama_models=set(), sd_available=True)
    assert decide(router, with_sd, task="image_generation_bulk").chain[0] == "local/stable-diffusion"
    without = build_live_state(catalog, has_key={"openai": True}, ollama_models=set(), sd_available=False)
    d = decide(router, without, task="image_generation_bulk")
    assert d.chain[0] == "openai/dall-e-3" and excluded(d, "local/stable-diffusion") is Rule.NOT_INSTALLED


def test_nothing_fits_is_a_decision_not_an_exception(router):
    d = decide(router, task="image_analysis", budget="low", input_tokens=2_000_000)
    assert d.chain == () and not d.fits
    assert len(d.no_fit_reasons) == 2 and d.estimate.cost_usd is None


def test_budget_cap_local_only(catalog, router):
    live = LiveState(spent_usd=Decimal("50"), budget_usd=Decimal("50"), at_cap="local_only")
    d = decide(router, live, task="copywriting_standard")
    assert d.chain and all(d.candidate(m).local for m in d.chain)
    assert excluded(d, "anthropic/claude-3-5-sonnet") is Rule.BUDGET_CAP
    assert d.candidate("ollama/llama3.2").excluded_by is None  # free models are never capped


def test_budget_cap_stop_refuses_paid_but_keeps_free_primaries(router):
    live = LiveState(spent_usd=Decimal("60"), budget_usd=Decimal("50"), at_cap="stop")
    d = decide(router, live, task="copywriting_standard")
    assert d.chain == () and "stops paid requests" in d.explanation
    d = decide(router, live, task="template_generation")
    assert d.chain == ("ollama/qwen2.5",)


def test_quality_override_from_ratings(router):
    plain = decide(router, task="translation")
    rated = decide(router, LiveState(quality={"openai/gpt-3.5-turbo": 9.9}), task="translation")
    c_plain, c_rated = plain.candidate("openai/gpt-3.5-turbo"), rated.candidate("openai/gpt-3.5-turbo")
    assert c_rated.quality == 9.9 and c_rated.catalog_quality == 7.0
    assert c_rated.scores.quality > c_plain.scores.quality


def test_exploration_rate_and_hard_filters(router):
    n, hits = 2000, 0
    for seed in range(n):
        d = router.route(RouteRequest(task="copywriting_standard", speed="realtime", seed=seed))
        if d.exploration:
            hits += 1
            first = d.candidate(d.chain[0])
            assert first.excluded_by is None and first.role == "exploration"
            assert first.latency_s < 3
    sd = math.sqrt(n * 0.05 * 0.95)
    assert abs(hits - n * 0.05) <= 4 * sd, hits


def test_exploration_is_reproducible_and_can_be_switched_off(router):
    seeds = [s for s in range(400) if router.route(RouteRequest(task="chat", seed=s)).exploration]
    assert seeds, "some seed must explore"
    again = router.route(RouteRequest(task="chat", seed=seeds[0]))
    assert again.exploration and again.chain == router.route(RouteRequest(task="chat", seed=seeds[0])).chain
    assert not router.route(RouteRequest(task="chat", seed=seeds[0], explore=False)).exploration


def test_exploration_never_pricier_past_the_alert(router):
    live = LiveState(spent_usd=Decimal("45"), budget_usd=Decimal("50"))
    for seed in range(600):
        d = router.route(RouteRequest(task="trend_analysis", seed=seed), live)
        if d.exploration:
            primary = router.route(RouteRequest(task="trend_analysis", explore=False), live).chain[0]
            assert d.candidate(d.chain[0]).cost_usd <= d.candidate(primary).cost_usd


def test_unknown_task_and_option(router):
    with pytest.raises(UnknownNameError, match="unknown task 'poetry'; valid: brief_questions"):
        decide(router, task="poetry")
    with pytest.raises(UnknownNameError, match="valid: batch, realtime, standard"):
        decide(router, task="chat", speed="warp")


def test_prompt_is_counted_exactly_for_openai(router):
    d = decide(router, task="code_generation", prompt="Write a Python function that reverses a string.")
    assert d.chain[0] == "openai/gpt-4"
    assert d.estimate.input_tokens_exact and d.estimate.token_method.startswith("exact")
    sonnet = decide(router, task="copywriting_standard", prompt="Write a caption.")
    assert not sonnet.estimate.input_tokens_exact and "estimate" in sonnet.estimate.token_method


def test_decision_json_contract(router):
    payload = decide(router, task="copywriting_standard", input_tokens=500).to_dict()
    assert set(payload) >= {"chain", "candidates", "estimate", "explanation", "exploration"}
    assert set(payload["estimate"]) >= {"input_tokens", "output_tokens", "cost_usd", "latency_s"}
    for c in payload["candidates"]:
        assert set(c["scores"]) == {"complexity", "cost", "speed", "quality", "total"}
        assert "excluded_by" in c and "id" in c
    assert payload["estimate"]["cost_usd"] == "0.009"  # 500 x $3/1M + 500 x $15/1M


def test_ratings_move_a_well_rated_model_ahead_with_evidence(router):
    rated = LiveState(quality={"openai/gpt-4": 10.0}, rating_votes={"openai/gpt-4": 30})
    d = decide(router, rated, task="copywriting_standard")
    assert d.chain[:2] == ("openai/gpt-4", "anthropic/claude-3-5-sonnet")
    assert d.candidate("openai/gpt-4").role == "rated" and "ratings" in d.explanation
    few = LiveState(quality={"openai/gpt-4": 10.0}, rating_votes={"openai/gpt-4": 5})
    assert decide(router, few, task="copywriting_standard").chain[0] == "anthropic/claude-3-5-sonnet"
    small_gap = LiveState(quality={"openai/gpt-4": 9.8}, rating_votes={"openai/gpt-4": 30})  # < 9.5 + 0.5
    assert decide(router, small_gap, task="copywriting_standard").chain[0] == "anthropic/claude-3-5-sonnet"


def test_ratings_can_be_switched_off(catalog, policy):
    off = Router(catalog, policy.model_copy(update={"ratings": policy.ratings.model_copy(update={"enabled": False})}))
    rated = LiveState(quality={"openai/gpt-4": 10.0}, rating_votes={"openai/gpt-4": 30})
    assert (
        off.route(RouteRequest(task="copywriting_standard", explore=False), rated).chain[0]
        == "anthropic/claude-3-5-sonnet"
    )


def test_a_conversation_is_priced_for_the_history_it_sends(router):
    """Issue 12: a follow-up estimated at 44 input tokens was billed 766 (its earlier turns)."""
    alone = decide(router, task="chat", prompt="And a fourth one?")
    follow_up = decide(router, task="chat", prompt="And a fourth one?", history_tokens=722)
    assert follow_up.estimate.input_tokens == alone.estimate.input_tokens + 722
    assert follow_up.estimate.cost_usd > alone.estimate.cost_usd
    # A picture or an embedding is made of the prompt alone: earlier turns are not sent.
    for task in ("image_generation_quality", "embeddings"):
        assert (
            decide(router, task=task, prompt="a cat", history_tokens=722).estimate.input_tokens
            == decide(router, task=task, prompt="a cat").estimate.input_tokens
        )
    with pytest.raises(Exception, match="negative"):
        decide(router, task="chat", prompt="x", history_tokens=-1)


def test_a_run_counts_its_history_once_into_the_route():
    from sparklio_desktop.core import tokens
    from sparklio_desktop.core.dispatch import RunRequest
    from sparklio_desktop.core.providers.base import Message

    history = (Message("user", "Write three captions for our pumpkin latte."), Message("assistant", "1. Cosy " * 60))
    run = RunRequest(route=RouteRequest(task="chat", prompt="Shorter, please."), history=history)
    expected = tokens.count_chat(history)[0] - tokens.TOKENS_REPLY_PRIMING
    assert run.route.history_tokens == expected > 60
    assert RunRequest(route=RouteRequest(task="chat", prompt="x")).route.history_tokens == 0
