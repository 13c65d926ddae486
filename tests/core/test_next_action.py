"""What follows a failed attempt: the pure next-action function, over every kind of
failure x try number x the policy's retries x whether the attempt billed anything.

The dispatcher used to decide and change the session's state in one method; the
function now only returns a value. Each case also checks that nothing it was given
changed, and that asking twice gives the same answer.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from decimal import Decimal

import pytest

from sparklio_desktop.core.budget import BudgetExceeded
from sparklio_desktop.core.dispatch.next_action import NextAction, SessionFailure, next_action
from sparklio_desktop.core.dispatch.watchdog import StalledError
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.routing_policy import RetryRules
from sparklio_desktop.core.pricing import UnpricedModelError
from sparklio_desktop.core.providers.errors import (
    AuthError,
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    StreamBrokenError,
    TransientError,
    UnsupportedError,
)


def budget_refusal(at_cap: str) -> BudgetExceeded:
    return BudgetExceeded(
        "Monthly budget reached", month="2025-03", requested_usd=Decimal("0.02"), left_usd=Decimal(0), at_cap=at_cap
    )


# kind -> (a fresh error each time, the action whatever the try number: (kind, session failure, larger window))
ALWAYS: dict[str, tuple[Callable[[], SparklioError], tuple[str, SessionFailure | None, bool]]] = {
    "stalled": (
        lambda: StalledError("no first token within 10 s", phase="first_token", limit_s=10.0, provider="openai"),
        ("next model", None, False),
    ),
    "auth": (
        lambda: AuthError("invalid x-api-key", provider="anthropic", status=401),
        ("next model", SessionFailure("provider", "401: invalid x-api-key"), False),
    ),
    "auth without status": (
        lambda: AuthError("permission denied", provider="google"),
        ("next model", SessionFailure("provider", "auth: permission denied"), False),
    ),
    "model not found": (
        lambda: ModelNotFoundError("no such model gpt-9", provider="openai", status=404),
        ("next model", SessionFailure("model", "no such model gpt-9"), False),
    ),
    "context too long": (
        lambda: ContextLengthError("prompt is too long", provider="openai", status=400),
        ("next model", None, True),
    ),
    "invalid request": (
        lambda: InvalidRequestError("content policy", provider="openai", status=400),
        ("stop", None, False),
    ),
    "stream broken": (
        lambda: StreamBrokenError("connection reset", text_received="Autumn", output_tokens=2, provider="anthropic"),
        ("next model", None, False),
    ),
    "unsupported": (lambda: UnsupportedError("no embeddings here", provider="anthropic"), ("next model", None, False)),
    "budget at cap, stop": (lambda: budget_refusal("stop"), ("stop", None, False)),
    "budget at cap, local only": (lambda: budget_refusal("local_only"), ("next model", None, False)),
    "unpriced": (lambda: UnpricedModelError("GPT Mystery has no price"), ("next model", None, False)),
}
# kind -> (Retry-After the server sent, or None)
TRANSIENT = {
    "transient": None,
    "transient, Retry-After 5 s": 5.0,
    "transient, Retry-After past the cap": 120.0,
    "transient, Retry-After 0": 0.0,
}
RULES = [
    RetryRules(max_retries=0),
    RetryRules(max_retries=1, backoff_s=[0.5]),
    RetryRules(max_retries=3, backoff_s=[1, 2, 4]),
    RetryRules(max_retries=3, honour_retry_after=False),
    RetryRules(max_retries=2, max_retry_after_s=0),
]
TRIES = range(5)


def expected_transient(retry_after: float | None, retry_index: int, rules: RetryRules, billed: bool) -> NextAction:
    if billed or retry_index >= rules.max_retries:
        return NextAction("next model")
    asked = retry_after if rules.honour_retry_after else None
    if asked is None:
        return NextAction("retry", rules.backoff_s[min(retry_index, len(rules.backoff_s) - 1)])
    return NextAction("next model") if asked > rules.max_retry_after_s else NextAction("retry", asked)


def decide_unchanged(error: SparklioError, retry_index: int, rules: RetryRules, billed: bool) -> NextAction:
    """next_action's answer, failing if it changed the error or the rules, or answers twice differently."""
    error_before, rules_before = copy.deepcopy(vars(error)), rules.model_dump()
    action = next_action(error, retry_index=retry_index, retry=rules, billed=billed)
    assert vars(error) == error_before, "next_action changed the error"
    assert rules.model_dump() == rules_before, "next_action changed the retry rules"
    assert next_action(error, retry_index=retry_index, retry=rules, billed=billed) == action
    return action


@pytest.mark.parametrize(
    ("kind", "retry_index", "rules", "billed"), list(itertools.product(ALWAYS, TRIES, RULES, (False, True)))
)
def test_failures_that_never_retry(kind: str, retry_index: int, rules: RetryRules, billed: bool) -> None:
    make, (action_kind, failure, larger) = ALWAYS[kind]
    action = decide_unchanged(make(), retry_index, rules, billed)
    assert action == NextAction(action_kind, 0.0, failure, larger)


@pytest.mark.parametrize(
    ("kind", "retry_index", "rules", "billed"), list(itertools.product(TRANSIENT, TRIES, RULES, (False, True)))
)
def test_transient_failures_retry_until_the_policy_says_stop(
    kind: str, retry_index: int, rules: RetryRules, billed: bool
) -> None:
    retry_after = TRANSIENT[kind]
    error = TransientError("rate limited", retry_after_s=retry_after, provider="openai", status=429)
    action = decide_unchanged(error, retry_index, rules, billed)
    assert action == expected_transient(retry_after, retry_index, rules, billed)
    assert action.session_failure is None and not action.needs_larger_context


def test_the_table_reaches_every_action() -> None:
    """The cases above are not all one answer: each action and each session failure occurs."""
    seen = {next_action(make(), retry_index=0, retry=RetryRules(), billed=False).kind for make, _ in ALWAYS.values()}
    seen.add(next_action(TransientError("503"), retry_index=0, retry=RetryRules()).kind)
    assert seen == {"retry", "next model", "stop"}


def test_a_billed_transient_failure_is_never_retried() -> None:
    """One reservation covers one billed call: retrying after a charge could spend twice the hold."""
    error = TransientError("the connection dropped", provider="openai")
    assert next_action(error, retry_index=0, retry=RetryRules(), billed=False) == NextAction("retry", 1.0)
    assert next_action(error, retry_index=0, retry=RetryRules(), billed=True) == NextAction("next model")


def test_only_a_retry_waits() -> None:
    with pytest.raises(ValueError, match="only a retry waits"):
        NextAction("next model", 1.0)
    with pytest.raises(ValueError, match="negative"):
        NextAction("retry", -1.0)
