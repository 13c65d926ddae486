"""The explanation leads with one sentence that answers "why this model", and says when
the best total score did not win because the task table chose another (core/routing/explain.py)."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.explain import Pick, lead_from_trace, lead_sentence, table_of_trace
from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE, LiveState
from sparklio_desktop.core.routing.router import Router, RouteRequest


@pytest.fixture(scope="module")
def router(catalog, policy):
    return Router(catalog, policy)


def decide(router, live=EVERYTHING_AVAILABLE, **kw):
    kw.setdefault("explore", False)
    return router.route(RouteRequest(**kw), live)


def best_eligible(decision):
    return max((c for c in decision.candidates if c.excluded_by is None), key=lambda c: c.scores.total)


def no_key(catalog, provider):
    return LiveState(unavailable={m.id: (Rule.NO_API_KEY, "test") for m in catalog.values() if m.provider == provider})


def test_the_best_total_did_not_win_the_task_table_chose(router):
    d = decide(router, task="copywriting_standard")
    best = best_eligible(d)
    assert d.chain[0] == "anthropic/claude-3-5-sonnet" and best.id != d.chain[0]
    assert best.scores.total > d.candidate(d.chain[0]).scores.total
    assert d.summary == (
        f"{best.name} leads on total score ({best.scores.total:.2f}) but the task table puts "
        "Claude 3.5 Sonnet first for copywriting."
    )
    # The lead comes first; the numbers and the rest of the story follow.
    assert d.explanation.startswith(d.summary + " Options: standard budget, standard speed, standard quality.")
    assert "If it fails: GPT-4, then Gemini 2.0 Pro" in d.explanation


def test_the_task_tables_first_choice_that_is_also_the_best(router, catalog):
    d = decide(router, task="chat")
    assert best_eligible(d).id == d.chain[0]
    assert d.summary == "Gemini 2.0 Flash: the task table's first choice for chat."


def test_a_fallback_names_the_first_choice_and_why_it_is_out(router, catalog):
    d = decide(router, no_key(catalog, "anthropic"), task="copywriting_standard")
    assert d.chain[0] == "openai/gpt-4"
    assert d.summary.endswith(
        "the task table puts GPT-4 next for copywriting (its first choice, Claude 3.5 Sonnet, is out: no API key)."
    )


def test_every_role_has_its_sentence():
    a, b = Pick("x/a", "Alpha", "", 0.7), Pick("x/b", "Beta", "", 0.9)
    assert lead_sentence("chat", [a._replace(role="fill-in"), b], a, None) == (
        "Alpha: the best total score (0.70) for chat that fits your options."
    )
    # Cloud fill-ins go before local ones, so a local model can have the better total.
    assert lead_sentence("chat", [a._replace(role="fill-in"), b], b._replace(name="Qwen 2.5"), None) == (
        "Alpha: the best total score among cloud models (0.70) for chat; local models such as Qwen 2.5 (0.90) go last."
    )
    assert lead_sentence("chat", [a._replace(role="exploration"), b], b, None) == (
        "Alpha: an A/B exploration pick for chat instead of Beta (a small share of requests tries an alternative)."
    )
    out = b._replace(excluded="no API key")
    assert lead_sentence("chat", [a._replace(role="last resort")], None, out) == (
        "Alpha: a local model, the only kind left for chat (the task table's first choice, Beta, is out: no API key)."
    )
    assert lead_sentence("chat", [a._replace(role="rated"), b], a, b) == (
        "Alpha: creators' ratings put it ahead of Beta, the task table's first choice for chat."
    )
    assert lead_sentence("chat", [], None, None) == "No model fits this chat request."
    # Totals equal to four places are a tie: the table's pick is then the best too.
    tie = Pick("x/c", "Gamma", "", 0.70001)
    assert lead_sentence("chat", [a._replace(role="primary")], tie, None) == (
        "Alpha: the task table's first choice for chat."
    )
    close = Pick("x/c", "Gamma", "", 0.7034)
    assert lead_sentence("chat", [a._replace(role="primary")], close, None).startswith(
        "Gamma leads on total score (0.703) but"
    )


def test_a_stored_trace_leads_with_the_same_sentence(router, catalog, policy):
    """The inspector rebuilds the lead of a past request from its stored trace."""
    lives = [EVERYTHING_AVAILABLE, no_key(catalog, "anthropic"), no_key(catalog, "openai")]
    for live in lives:
        for task in policy.tasks:
            d = decide(router, live, task=task)
            trace = d.to_dict()
            assert "summary" not in trace  # the JSON contract is unchanged
            assert lead_from_trace(trace, table_of_trace(trace, policy.task(task).chain)) == d.summary, task


def test_a_trace_resolves_the_task_tables_families(catalog, raw_policy):
    """Today's policy names families (family/claude-sonnet): the trace says what each became."""
    router = Router(catalog, raw_policy)
    d = decide(router, no_key(catalog, "anthropic"), task="copywriting_standard")
    trace = d.to_dict()
    table = table_of_trace(trace, raw_policy.task("copywriting_standard").chain)
    assert table[0] == "anthropic/claude-3-5-sonnet"
    assert lead_from_trace(trace, table) == d.summary
    assert "(its first choice, Claude 3.5 Sonnet, is out: no API key)" in d.summary
