"""Structured output through the dispatcher: an answer that is not the JSON asked for is
retried once on the same model with the validation error, then the chain moves on; every
attempt is in the ledger with what it cost (the invalid ones too: they were paid for).

Against the loopback fakes of Anthropic (a forced tool call) and OpenAI (response_format);
the harness is test_dispatch's (copywriting_standard: Claude first, then GPT-4).
"""

from __future__ import annotations

import asyncio

import pytest

from sparklio_desktop.core.dispatch import AttemptFailed, RunRequest, RunResult
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.structured_output import JsonOutput
from tests.core import test_dispatch as base

fast_policy = base.fast_policy
servers = base.servers
harness = base.harness
SONNET, GPT4 = base.SONNET, base.GPT4

SCHEMA = {
    "type": "object",
    "properties": {"hashtags": {"type": "array", "items": {"type": "string"}, "minItems": 1}},
    "required": ["hashtags"],
    "additionalProperties": False,
}
HASHTAGS = JsonOutput("hashtag_set", SCHEMA)
VALID = '{"hashtags": ["autumn", "latte"]}'
WRONG_TYPE = '{"hashtags": "autumn latte"}'
NOT_JSON = "Sure! Here are some hashtags: #autumn #latte"


def run(harness, request: RunRequest, next_actions: list[str] | None = None) -> RunResult:
    """Run ``request``; ``next_actions`` collects what each failed attempt led to."""

    def on_event(event: object) -> None:
        if isinstance(event, AttemptFailed) and next_actions is not None:
            next_actions.append(event.next_action)

    async def go() -> RunResult:
        try:
            return await harness.dispatcher.run(request, on_event)
        finally:
            await harness.dispatcher.aclose()

    return asyncio.run(go())


def test_invalid_then_valid_on_the_same_model(harness, servers) -> None:
    anthropic, openai = servers
    anthropic.replies = [WRONG_TYPE, VALID]
    result = harness.run(json_output=HASHTAGS)
    assert result.ok and result.model == SONNET
    assert result.data == {"hashtags": ["autumn", "latte"]}
    assert result.to_dict()["data"] == {"hashtags": ["autumn", "latte"]}
    assert [a.outcome for a in result.attempts] == ["error", "ok"]
    assert result.attempts[0].error_class == "InvalidOutputError"
    assert "hashtags" in (result.attempts[0].error or "")
    # Both calls asked for the forced tool; the second carried the bad answer and the error.
    calls = [r.body for r in anthropic.requests if r.path.startswith("/v1/messages")]
    assert [c["tool_choice"] for c in calls] == [{"type": "tool", "name": "hashtag_set"}] * 2
    assert calls[1]["messages"][-2] == {"role": "assistant", "content": WRONG_TYPE}
    assert "not valid" in calls[1]["messages"][-1]["content"]
    assert "is not of type 'array'" in calls[1]["messages"][-1]["content"]
    assert not openai.requests
    # Paid attempts are never lost: the invalid answer is in the ledger with its cost.
    rows = harness.ledger.attempts(result.request_id)
    assert [(r.outcome, r.error_class) for r in rows] == [("error", "InvalidOutputError"), ("ok", None)]
    assert all(r.cost_usd > 0 and r.output_tokens > 0 for r in rows)
    assert result.cost_usd == rows[0].cost_usd + rows[1].cost_usd


def test_two_invalid_answers_move_down_the_chain(harness, servers) -> None:
    anthropic, openai = servers
    anthropic.replies = [NOT_JSON, WRONG_TYPE]
    openai.reply_text = VALID
    seen: list[str] = []
    route = RouteRequest(task="copywriting_standard", prompt="Hashtags for our latte", explore=False)
    result = run(harness, RunRequest(route=route, json_output=HASHTAGS), seen)
    assert seen == ["retry", "next model"]
    assert result.ok and result.model == GPT4 and result.data == {"hashtags": ["autumn", "latte"]}
    assert [(a.model, a.outcome) for a in result.attempts] == [(SONNET, "error"), (SONNET, "error"), (GPT4, "ok")]
    body = openai.requests[-1].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    # The next model gets the original conversation, not the correction.
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert len(harness.ledger.attempts(result.request_id)) == 3


def test_no_valid_answer_anywhere_fails_with_the_validation_error(harness, servers) -> None:
    anthropic, openai = servers
    anthropic.reply_text = NOT_JSON
    openai.reply_text = WRONG_TYPE
    result = harness.run(json_output=HASHTAGS)
    assert not result.ok and result.data is None
    assert "does not follow the schema" in (result.error or "")
    models = [a.model for a in result.attempts]
    assert all(models.count(m) == 2 for m in models) and len(models) >= 4  # each model: once, then corrected
    assert all(a.outcome == "error" for a in result.attempts)
    assert all(a.cost_usd > 0 for a in result.attempts)


def test_a_plain_request_is_not_validated(harness, servers) -> None:
    anthropic, _ = servers
    anthropic.reply_text = NOT_JSON
    result = harness.run()
    assert result.ok and result.output.startswith("Sure!") and result.data is None
    assert "tool_choice" not in anthropic.requests[-1].body


@pytest.mark.parametrize("system", ["Suggest hashtags.", ""])
def test_a_template_system_prompt_replaces_the_tasks(harness, servers, system: str) -> None:
    anthropic, _ = servers
    route = RouteRequest(task="copywriting_standard", prompt="Topic: latte", explore=False, system_prompt=system)
    assert run(harness, RunRequest(route=route)).ok
    body = anthropic.requests[-1].body
    assert body.get("system") == (system or None)  # "": no system prompt at all, not the task's


def test_a_json_request_never_goes_into_a_provider_batch_job(harness) -> None:
    from sparklio_desktop.core.dispatch.provider_batch import ProviderBatches

    route = RouteRequest(task="copywriting_standard", prompt="Hashtags", speed="batch", explore=False)
    decision = harness.dispatcher.planner.plan(route)
    model = next(harness.workspace.catalog[m] for m in decision.chain if harness.workspace.catalog[m].price.batch)
    assert ProviderBatches.why_not(model, RunRequest(route=route), decision) is None
    why = ProviderBatches.why_not(model, RunRequest(route=route, json_output=HASHTAGS), decision)
    assert why == "requests for JSON output are sent one by one"
