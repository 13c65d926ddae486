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
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store (sqlite3, json) loads only for a run that asks for a conversation
    from sparklio_desktop.core.providers.base import Message

__all__ = ["RunConversation", "answer_meta", "open_conversation"]

_OPTION_NAMES = ("complexity", "budget", "speed", "quality")


@dataclass(frozen=True)
class RunConversation:
    path: Path
    conversation_id: str | None  # None: "new", created when the run is recorded
    history: tuple[Message, ...]

    def record(self, args: argparse.Namespace, prompt: str, result: Any, written: list[str]) -> str:
        """Store the run's turns; returns the conversation's id."""
        from sparklio_desktop.core.conversations import ConversationStore

        options = {name: getattr(args, name, None) for name in _OPTION_NAMES}
        with ConversationStore(self.path) as store:
            if self.conversation_id is None:
                conversation_id = store.create(args.task, options=options).id
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


def open_conversation(value: str) -> RunConversation:
    """``new`` or an existing conversation's id (a unique prefix works), checked now:
    raises ``ConversationNotFound`` with a one-line message for a bad one."""
    from sparklio_desktop.core.conversations import ConversationStore

    with ConversationStore.open_default() as store:
        if value.strip().lower() == "new":
            return RunConversation(store.path, None, ())
        conversation = store.get(value)
        return RunConversation(store.path, conversation.id, store.history(conversation.id))
