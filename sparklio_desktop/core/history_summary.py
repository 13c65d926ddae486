"""The running summary of a conversation's older turns: when to rewrite it, and the call.

Why a summary: a trimmed conversation forgets what was decided twenty turns ago. The turns
pushed out of the task's history limit (core/history.py ``fit_context``) are kept as a
short summary, stored with the conversation and sent before the kept turns, so a long
conversation costs about its window, not its length (docs/conversations.md, "What a
follow-up sends").

Why it is cheap: it is rewritten only when :data:`~sparklio_desktop.core.history.
SUMMARY_REFRESH_TURNS` questions have been pushed out since the last one (at most one
summarising call per 8 turns), each call folds only those turns into the previous summary,
and the call is routed like any task (the route planner, the dispatcher, the ledger) as a
``chat`` on the ``low`` budget tier with a concise system prompt: the cheapest capable
model, a local Ollama one when installed (when no model of that tier can be used, as the
conversation's own task, which the follow-up is about to run anyway). It is a ledger row like every call; its run id
is ``summary-<conversation id>`` (``sparklio history --run summary-ID`` lists them) and
the spend panel takes its cost off the saving it made.

A failed summarising call costs the follow-up nothing: the run goes on with the summary it
had (the window then is the fitted one) and the next follow-up tries again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from sparklio_desktop.core.history import ContextWindow, HistorySummary, fit_context
from sparklio_desktop.core.ledger.reports import SUMMARY_RUN_PREFIX  # the ledger reads the name

if TYPE_CHECKING:
    from sparklio_desktop.core.conversations.records import ConversationContext
    from sparklio_desktop.core.dispatch.events import RunResult
    from sparklio_desktop.core.dispatch.request import RunRequest
    from sparklio_desktop.core.policy.catalog import ModelSpec
    from sparklio_desktop.core.providers.base import Message

__all__ = [
    "SUMMARY_MAX_OUTPUT_TOKENS", "SUMMARY_RUN_PREFIX", "SUMMARY_SYSTEM_PROMPT", "SUMMARY_TASK", "SummaryRefresh",
    "history_words", "refresh_summary", "summary_prompt", "summary_request", "tokens_worth_usd",
]  # fmt: skip

# Routed like any task: the quick conversational task, on the low budget tier (local first).
SUMMARY_TASK = "chat"
SUMMARY_BUDGET = "low"
SUMMARY_MAX_OUTPUT_TOKENS = 300
SUMMARY_SYSTEM_PROMPT = (
    "Update the summary of this conversation for the assistant that continues it. Keep goals, "
    "decisions, facts, names, numbers, preferences and open questions. At most 150 words, plain text, no preamble."
)


class Runner(Protocol):
    """What runs the summarising call (core.dispatch.Dispatcher)."""

    async def run(self, request: RunRequest) -> RunResult: ...


@dataclass(frozen=True)
class SummaryRefresh:
    """A new summary and the call that wrote it (to store with the conversation)."""

    summary: HistorySummary
    through_turn: int  # the id of the last turn it covers
    model: str | None
    request_id: str
    cost_usd: Decimal


def summary_prompt(previous: str | None, turns: Sequence[Message], attachments: Sequence[Sequence[str]] = ()) -> str:
    """The summarising call's prompt: the summary so far and the turns to fold into it."""
    lines: list[str] = []
    if previous:
        lines += ["Summary so far:", previous.strip(), ""]
    lines.append("Turns to add:")
    for index, turn in enumerate(turns):
        names = attachments[index] if index < len(attachments) else ()
        shared = f" [images: {', '.join(n.replace(chr(92), '/').rsplit('/', 1)[-1] for n in names)}]" if names else ""
        lines.append(f"{'Creator' if turn.role == 'user' else 'Assistant'}{shared}: {turn.content.strip()}")
    return "\n".join(lines)


def summary_request(
    context: ConversationContext,
    window: ContextWindow,
    *,
    task: str = SUMMARY_TASK,
    budget: str | None = SUMMARY_BUDGET,
) -> RunRequest:
    """The summarising call for the turns ``window`` pushes out that the summary lacks
    (routed as ``task`` on the ``budget`` tier; None: the task's own)."""
    from sparklio_desktop.core.dispatch.request import RunRequest
    from sparklio_desktop.core.routing.router import RouteRequest

    covered = context.summary.turns if context.summary is not None else 0
    prompt = summary_prompt(
        context.summary.text if context.summary is not None else None,
        context.history[covered : window.start],
        context.attachments[covered : window.start],
    )
    route = RouteRequest(
        task=task,
        budget=budget,
        prompt=prompt,
        system_prompt=SUMMARY_SYSTEM_PROMPT,
        explore=False,
        output_tokens=SUMMARY_MAX_OUTPUT_TOKENS,
    )
    return RunRequest(
        route=route,
        max_output_tokens=SUMMARY_MAX_OUTPUT_TOKENS,
        run_id=f"{SUMMARY_RUN_PREFIX}{context.conversation_id}",
        origin="summary",
    )


async def refresh_summary(
    runner: Runner, context: ConversationContext, limit: int, task: str | None = None
) -> SummaryRefresh | None:
    """Rewrite the summary when it is due (``fit_context``'s ``refresh_due``); None when it
    is not due, the conversation opted out, or the call gave no answer. ``task``: the
    conversation's task, which routes the call when no low-tier model can be used."""
    if context.send_everything:
        return None
    window = fit_context(context.history, limit, context.summary, attachments=context.attachments)
    if not window.refresh_due or window.start < 1:
        return None
    result = await runner.run(summary_request(context, window))
    if not result.ok and not result.attempts and task is not None:
        # No model of the low tier can be used here (only a premium provider's key, say):
        # routed as the conversation's own task, which the follow-up is about to run.
        result = await runner.run(summary_request(context, window, task=task, budget=None))
    text = result.output.strip() if result.ok else ""
    if not text:
        return None
    return SummaryRefresh(
        HistorySummary(text, window.start),
        context.turn_ids[window.start - 1],
        result.model,
        result.request_id,
        result.cost_usd,
    )


def tokens_worth_usd(model: ModelSpec | None, input_tokens: int) -> Decimal | None:
    """What ``input_tokens`` of input cost on ``model`` (the pricing core); None: unpriced."""
    from sparklio_desktop.core.errors import SparklioError
    from sparklio_desktop.core.pricing import price_call

    if model is None or model.unpriced:
        return None
    try:
        return price_call(model, input_tokens=max(0, input_tokens)).cost_usd
    except SparklioError:
        return None


def history_words(sent: int, saved: int, everything: bool, model: ModelSpec | None) -> str:
    """The preview's and the answer chip's line: "history trimmed: 3,200 tokens, saved ~$0.009";
    with the opt-out, what sending the whole history costs; "" when nothing was trimmed."""
    from sparklio_desktop.core.money import format_usd

    if everything and sent:
        worth = tokens_worth_usd(model, sent)
        cost = f", ~{format_usd(worth)} a message" if worth is not None else ""
        return f"sending the whole history: {sent:,} tokens{cost}"
    if not saved:
        return ""
    worth = tokens_worth_usd(model, saved)
    return f"history trimmed: {saved:,} tokens" + (f", saved ~{format_usd(worth)}" if worth is not None else "")
