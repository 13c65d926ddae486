"""What to do after a failed attempt, as a pure function of the failure.

Why pure: the dispatcher used to decide and act in one method, which also marked the
provider or the model unavailable for the session as a side effect; the rules could not
be read, or tested, apart from a whole run. :func:`next_action` only reads its
arguments and returns a :class:`NextAction`; the dispatcher applies what it says
(waits, records a session failure in the route planner, skips models with a smaller
context window). The table, from docs/dispatch.md:

=============================================  ==========================================
failure                                         next action
=============================================  ==========================================
stalled (no first token / went silent)          next model, never a retry
transient (connection, timeout, 408, 429, 5xx)  retry after the backoff or the server's
                                                Retry-After; the next model once retries
                                                are spent, when Retry-After passes the
                                                cap, or when the attempt billed anything
401/403                                         next model; the provider is out for the
                                                session
model not found                                 next model; the model is out for the
                                                session
context too long                                next model with a larger window
invalid request / content policy                stop, with the provider's message
budget refused, at-cap policy ``stop``          stop, with the budget's message
budget refused (``local_only``), unpriced       next model
anything else (a broken stream, unsupported)    next model
=============================================  ==========================================

An attempt that billed something (output or images arrived) is never retried: one
budget reservation covers one call's worst case, so retrying under it could spend
twice what was reserved (docs/dispatch.md, "The budget's guarantee").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sparklio_desktop.core.dispatch.watchdog import StalledError
from sparklio_desktop.core.errors import BudgetError, SparklioError
from sparklio_desktop.core.policy.routing_policy import RetryRules
from sparklio_desktop.core.providers.errors import (
    AuthError,
    ContextLengthError,
    InvalidRequestError,
    ModelNotFoundError,
    TransientError,
)

__all__ = ["ActionKind", "NextAction", "SessionFailure", "next_action"]

ActionKind = Literal["retry", "next model", "stop"]


@dataclass(frozen=True)
class SessionFailure:
    """Leave this provider (a 401/403) or this model ("model not found") out of every
    route for the rest of the session; ``why`` is shown in the route's explanation."""

    scope: Literal["provider", "model"]
    why: str


@dataclass(frozen=True)
class NextAction:
    kind: ActionKind
    wait_s: float = 0.0  # before the retry
    session_failure: SessionFailure | None = None  # for the caller to record
    needs_larger_context: bool = False  # skip the models whose window is not larger

    def __post_init__(self) -> None:
        if self.wait_s < 0 or (self.wait_s and self.kind != "retry"):
            raise ValueError(f"only a retry waits, and never a negative time: {self}")


NEXT_MODEL = NextAction("next model")
STOP = NextAction("stop")


def next_action(error: SparklioError, *, retry_index: int, retry: RetryRules, billed: bool = False) -> NextAction:
    """What follows the failure ``error`` of try ``retry_index`` (0 for the first) of one
    model, under the policy's ``retry`` rules. ``billed``: the attempt was charged for
    something (output or images arrived), so it is not retried."""
    if isinstance(error, StalledError):
        return NEXT_MODEL  # a model that stalls is in trouble; a retry costs another wait
    if isinstance(error, TransientError):
        if billed or retry_index >= retry.max_retries:
            return NEXT_MODEL
        asked = error.retry_after_s if retry.honour_retry_after else None
        if asked is None:
            return NextAction("retry", retry.backoff(retry_index))
        if asked > retry.max_retry_after_s:
            return NEXT_MODEL
        return NextAction("retry", max(0.0, asked))
    if isinstance(error, AuthError):
        return NextAction(
            "next model", session_failure=SessionFailure("provider", f"{error.status or 'auth'}: {error.message}")
        )
    if isinstance(error, ModelNotFoundError):
        return NextAction("next model", session_failure=SessionFailure("model", error.message))
    if isinstance(error, ContextLengthError):
        return NextAction("next model", needs_larger_context=True)
    if isinstance(error, InvalidRequestError):
        return STOP
    if isinstance(error, BudgetError) and getattr(error, "at_cap", None) == "stop":
        return STOP
    return NEXT_MODEL  # broken streams, unsupported, a budget refusal under local_only, unpriced
