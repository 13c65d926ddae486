"""What of a conversation is sent with its next message: the recent turns that fit.

Why a limit at all: a conversation that lasts sends every earlier turn with each new
message, and pays for them each time. After a few hundred turns that is tens of thousands
of tokens per message (dollars on a premium model), more than some models' windows hold
(GPT-4: 8,192), and a request body large enough to stall the window while it is built. The
rule (docs/conversations.md, "What a follow-up sends"):

- the newest exchange is always sent whole, whatever its size (a follow-up on a long
  answer needs that answer);
- older turns are added newest first, a whole exchange at a time, while the total stays
  within :data:`HISTORY_TOKEN_LIMIT` tokens and :data:`HISTORY_MESSAGE_LIMIT` messages; the
  first exchange that does not fit, and everything older, stays in the conversation (shown,
  searchable, exported) but is not sent;
- the kept part starts at a user turn, so no model ever sees an answer without its question.

The count is the one the router prices with (cl100k with OpenAI's chat framing): the same
function serves :class:`~sparklio_desktop.core.dispatch.RunRequest` and the composer's
preview, so the preview prices what the run sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sparklio_desktop.core import tokens

__all__ = ["HISTORY_MESSAGE_LIMIT", "HISTORY_TOKEN_LIMIT", "fit_history"]

# Fits GPT-4's 8,192-token window with room for the new prompt, the system prompt and an answer.
HISTORY_TOKEN_LIMIT = 6_000
# Twenty exchanges, as chat apps cap their context messages (Msty, Open WebUI): enough for a
# follow-up, and the provider SDKs build each message's part of the body on the event loop
# (OpenAI's about 0.4 ms a message here): 40 keep the window's longest stall under 30 ms.
HISTORY_MESSAGE_LIMIT = 40


class _Turn(Protocol):
    @property
    def role(self) -> str: ...
    @property
    def content(self) -> str: ...


_M = TypeVar("_M", bound=_Turn)


def _cost(message: _Turn) -> int:
    return tokens.count_text(message.content)[0] + tokens.TOKENS_PER_MESSAGE


def fit_history(
    history: Sequence[_M], limit: int = HISTORY_TOKEN_LIMIT, max_messages: int = HISTORY_MESSAGE_LIMIT
) -> tuple[tuple[_M, ...], int]:
    """The turns to send and their tokens (framing included, reply priming not: the new
    prompt's count has it). Counts from the newest turn back and stops at the first that
    does not fit, so a 1,000-turn conversation costs a few dozen counts, not a thousand."""
    if not history:
        return (), 0
    # The newest exchange: from the last user turn to the end.
    start = len(history) - 1
    while start > 0 and history[start].role != "user":
        start -= 1
    total = sum(_cost(m) for m in history[start:])
    while start > 0:
        # One more exchange back: its user turn and what followed it.
        previous = start - 1
        while previous > 0 and history[previous].role != "user":
            previous -= 1
        if len(history) - previous > max_messages:
            break
        extra = sum(_cost(m) for m in history[previous:start])
        if total + extra > limit:
            break
        total += extra
        start = previous
    while start < len(history) and history[start].role != "user":  # never open on an answer
        total -= _cost(history[start])
        start += 1
    return tuple(history[start:]), total
