"""``sparklio run --conversation new|ID``: the run's turns kept in a conversation.

Why here and not in the dispatcher: a conversation is what a front end shows; the
dispatcher runs one request and records its money in the ledger. The CLI (this module)
and the window's composer each store the turns they sent and what came back.

What is stored (docs/conversations.md): the prompt as a user turn (with the attached
image paths, by reference); when the run succeeds, the answer after it, with its model,
ledger request id, cost and what happened on the way (fallback, retries, cached,
explored); when it fails, the user turn alone, its meta holding the error and the
request id, so the next ``--conversation ID`` run continues from the question (the
failed exchange sends no answer as history). The conversation is looked up and its history
read before anything is paid for; a bad ID stops the run there.

What of the history is sent (docs/conversations.md, "What a follow-up sends"): the task's
``context.max_history_tokens``, the conversation's running summary of older turns (rewritten
here, before the run, when it is due: :func:`keep_summary`) and its opt-out
(``--send-everything on``, stored with the conversation).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store (sqlite3, json) loads only for a run that asks for a conversation
    from sparklio_desktop.core.conversations.records import ConversationContext
    from sparklio_desktop.core.dispatch import Dispatcher, RunRequest
    from sparklio_desktop.core.history_summary import SummaryRefresh

__all__ = ["RunConversation", "answer_meta", "keep_summary", "open_conversation", "with_history"]

_OPTION_NAMES = ("complexity", "budget", "speed", "quality")


@dataclass(frozen=True)
class RunConversation:
    # The conversations file, or the team database's URL (password included: never shown).
    target: Path | str = field(repr=False)
    conversation_id: str | None  # None: "new", created when the run is recorded
    context: ConversationContext | None  # None: a new conversation (no history yet)
    send_everything: bool | None = None  # --send-everything on|off: stored with the conversation
    member: str | None = None  # whose conversation (the team database; None: the file's one person)

    def record(self, args: argparse.Namespace, prompt: str, result: Any, written: list[str]) -> str:
        """Store the run's turns; returns the conversation's id."""
        from sparklio_desktop.core.conversations import ConversationStore

        options = {name: getattr(args, name, None) for name in _OPTION_NAMES}
        with ConversationStore.open(self.target, member=self.member) as store:
            if self.conversation_id is None:
                conversation_id = store.create(args.task, options=options).id
                if self.send_everything:
                    store.set_send_everything(conversation_id, True)
            else:
                conversation = store.get(self.conversation_id)
                conversation_id = conversation.id
                if conversation.task != args.task or conversation.options != options:
                    store.set_task(conversation_id, args.task, options)
            user_meta: dict[str, Any] = {}
            if not result.ok:
                user_meta = {"error": result.error, "request_id": result.request_id}
            store.add_turn(
                conversation_id,
                "user",
                prompt,
                task=args.task,
                meta=user_meta,
                attachments=[str(Path(name).expanduser().resolve()) for name in args.image],
            )
            if result.ok:
                store.add_turn(
                    conversation_id,
                    "assistant",
                    result.output,
                    model=result.model,
                    request_id=result.request_id,
                    task=args.task,
                    cost_usd=result.cost_usd,
                    meta=answer_meta(result),
                    attachments=written,
                )
        return conversation_id


def answer_meta(result: Any) -> dict[str, Any]:
    """What the chip beside an answer shows, from a dispatch ``RunResult``: a fallback
    (a later attempt on another model than the first), the retries, a cache hit, an A/B
    exploration pick."""
    attempts = result.attempts
    first = attempts[0].model if attempts else None
    return {
        "fallback": any(a.model != first for a in attempts),
        "retries": int(result.retries),
        "cached": bool(result.cache_hit),
        "explored": bool(result.exploration),
        "error": None,
    }


def open_conversation(value: str, send_everything: bool | None = None) -> RunConversation:
    """``new`` or an existing conversation's id (a unique prefix works), checked now:
    raises ``ConversationNotFound`` with a one-line message for a bad one.
    ``send_everything`` (not None) sets the conversation's opt-out first."""
    from sparklio_desktop.core.conversations import ConversationStore

    with ConversationStore.open_default() as store:
        where, member = store.reopen_target, store.member
        if value.strip().lower() == "new":
            return RunConversation(where, None, None, send_everything, member)
        conversation = store.get(value)
        if send_everything is not None:
            store.set_send_everything(conversation.id, send_everything)
        return RunConversation(where, conversation.id, store.context(conversation.id), send_everything, member)


async def keep_summary(
    conversation: RunConversation, dispatcher: Dispatcher, task: str
) -> tuple[RunConversation, SummaryRefresh | None]:
    """Rewrite the conversation's running summary when enough turns have been pushed out
    of the task's window (core/history_summary.py), and store it; the summarising call is a
    ledger row of its own. Returns the conversation with its summary, and the refresh
    (None: none was due or it gave no answer)."""
    from sparklio_desktop.core.conversations import ConversationStore
    from sparklio_desktop.core.history_summary import refresh_summary

    context = conversation.context
    spec = dispatcher.workspace.policy.tasks.get(task)
    if context is None or not context.history or spec is None:
        return conversation, None
    refresh = await refresh_summary(dispatcher, context, spec.context.max_history_tokens, task)
    if refresh is not None:
        with ConversationStore.open(conversation.target, member=conversation.member) as store:
            store.save_summary(
                context.conversation_id,
                refresh.summary,
                refresh.through_turn,
                model=refresh.model,
                request_id=refresh.request_id,
            )
        conversation = replace(conversation, context=replace(context, summary=refresh.summary))
    return conversation, refresh


def with_history(request: RunRequest, conversation: RunConversation | None) -> RunRequest:
    """The request with the conversation's history, summary, attachments and opt-out."""
    context = conversation.context if conversation is not None else None
    if context is None or not context.history:
        return request
    return replace(
        request,
        history=context.history,
        history_summary=context.summary,
        send_everything=context.send_everything,
        history_attachments=context.attachments,
    )
