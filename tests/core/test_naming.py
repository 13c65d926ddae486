"""Plain words for models, tasks, chains and what a run did (core/naming.py), down to a
real fallback: Claude 3.5 Sonnet answers HTTP 500 four times on the loopback server,
then GPT-4 answers, and the sentence says so."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.naming import (
    Try,
    chain_words,
    error_words,
    fallback_words,
    model_name,
    outcome_sentence,
    outcome_words,
    readable_id,
    task_description,
    task_words,
    times,
)
from tests.core import test_dispatch as dispatch
from tests.fakes.loopback import Fault

# The dispatcher's harness and loopback servers (tests/core/test_dispatch.py), as fixtures here.
fast_policy = dispatch.fast_policy
servers = dispatch.servers
harness = dispatch.harness

SONNET, GPT4 = dispatch.SONNET, dispatch.GPT4


def test_models_are_named_from_the_catalog_else_readably(catalog):
    assert model_name(catalog, "anthropic/claude-3-5-sonnet") == "Claude 3.5 Sonnet"
    assert model_name(catalog, "openai/gpt-4") == "GPT-4"
    # A model the catalog no longer lists (a past request's): its name at the provider.
    assert model_name(catalog, "openai/gpt-3.5-turbo-0301") == "gpt-3.5-turbo-0301"
    assert model_name(catalog, "") == "an unknown model"
    assert readable_id("no-provider") == "no-provider" and readable_id("ollama/") == "ollama/"


def test_tasks_read_as_words(raw_policy):
    assert task_words(raw_policy, "copywriting_standard") == "Copywriting"
    assert task_words(raw_policy, "image_generation_quality") == "Image generation"
    assert task_words(None, "chat") == "Chat"
    # Every shipped task has words of its own, never its id.
    for task in raw_policy.tasks:
        assert "_" not in task_words(raw_policy, task), task
    # A task a user adds reads as its id in words.
    assert task_words(raw_policy, "social_threads") == "Social threads"
    assert task_description(raw_policy, "copywriting_standard") == "Captions, posts and product copy."
    assert task_description(raw_policy, "no_such_task") == "" and task_description(None, "chat") == ""


def test_the_chain_in_words(catalog):
    chain = ["anthropic/claude-3-5-sonnet", "openai/gpt-4-turbo", "ollama/qwen2.5"]
    assert chain_words(catalog, chain) == "If it fails: GPT-4 Turbo → Qwen 2.5"
    assert chain_words(catalog, chain[:1]) == "" and chain_words(catalog, []) == ""
    assert fallback_words(["A", "B"]) == "If it fails: B"


def test_failures_in_words():
    assert error_words("TransientError", "scripted failure", 500) == "a server error (HTTP 500)"
    assert error_words("TransientError", "scripted failure") == "a server error"  # the ledger keeps no status
    assert error_words("TransientError", "Rate limit reached", 429) == "rate limiting (HTTP 429)"
    assert error_words("TransientError", "the request timed out") == "a timeout"
    assert error_words("TransientError", "connection failed: ConnectError") == "a connection error"
    assert error_words("TransientError", "Overloaded", 529) == "an overloaded server (HTTP 529)"
    assert error_words("AuthError", "invalid x-api-key", 401) == "a refused API key (HTTP 401)"
    assert error_words("SomethingNew", "?") == "an error (SomethingNew)"
    assert [times(n) for n in (1, 2, 4)] == ["once", "twice", "4 times"]
    assert [outcome_words(o) for o in ("ok", "error", "cache_hit", "new_kind")] == [
        "answered",
        "failed",
        "from the cache",
        "new kind",
    ]


def test_outcomes_in_words():
    name = {SONNET: "Claude 3.5 Sonnet", GPT4: "GPT-4", "ollama/qwen2.5": "Qwen 2.5"}.__getitem__
    assert outcome_sentence([Try(SONNET, "ok")], name) == "Claude 3.5 Sonnet answered."
    assert outcome_sentence([Try(SONNET, "cache_hit")], name) == (
        "Answered from the cache (an earlier answer by Claude 3.5 Sonnet)."
    )
    two_models = [
        Try(SONNET, "error", "TransientError", "boom", 503),
        Try(SONNET, "error", "TransientError", "boom", 503),
        Try(GPT4, "stalled", "StalledError", "no first token"),
        Try("ollama/qwen2.5", "ok"),
    ]
    assert outcome_sentence(two_models, name) == (
        "Qwen 2.5 answered after Claude 3.5 Sonnet failed twice with a server error (HTTP 503)"
        " and GPT-4 went silent once."
    )
    explored = [Try(GPT4, "ok")]
    assert outcome_sentence(explored, name, exploration=True, usual=SONNET, exploration_rate=0.1) == (
        "Explored: GPT-4 was tried instead of the usual pick, Claude 3.5 Sonnet (A/B exploration, 10%). GPT-4 answered."
    )
    nobody = [Try(SONNET, "error", "InvalidRequestError", "content policy", 400)]
    assert outcome_sentence(nobody, name) == (
        "No model answered: Claude 3.5 Sonnet failed once with a refusal of the request (HTTP 400)."
    )
    refused = [Try(SONNET, "error", "BudgetError", "over budget")]
    assert outcome_sentence(refused, name) == "No model answered: Claude 3.5 Sonnet was held back by the budget."
    cancelled = [Try(SONNET, "cancelled", None, "cancelled by the user")]
    assert outcome_sentence(cancelled, name) == "Cancelled while Claude 3.5 Sonnet was answering."
    assert (
        outcome_sentence([], name, error="No model fits: everything excluded") == "No model fits: everything excluded."
    )
    assert outcome_sentence([], name) == "Nothing was sent."


@pytest.mark.usefixtures("harness")
def test_a_fallback_after_four_server_errors_says_what_happened(harness, servers):
    anthropic, _ = servers
    retries = harness.workspace.policy.retry.max_retries
    anthropic.script(*[Fault(status=500) for _ in range(retries + 1)])
    result = harness.run()
    assert result.model == GPT4 and [a.model for a in result.attempts] == [SONNET] * (retries + 1) + [GPT4]

    # Live, the run still knows each failure's HTTP status.
    live = [Try(a.model, a.outcome, a.error_class, a.error, a.status) for a in result.attempts]
    name = lambda model_id: model_name(harness.workspace.catalog, model_id)  # noqa: E731
    assert outcome_sentence(live, name) == (
        f"GPT-4 answered after Claude 3.5 Sonnet failed {times(retries + 1)} with a server error (HTTP 500)."
    )
    # From the ledger (no status kept): the same story, without the number.
    rows = harness.ledger.attempts(result.request_id)
    stored = [Try(a.model_id, a.outcome, a.error_class, a.error_message) for a in rows]
    assert outcome_sentence(stored, name) == (
        f"GPT-4 answered after Claude 3.5 Sonnet failed {times(retries + 1)} with a server error."
    )
