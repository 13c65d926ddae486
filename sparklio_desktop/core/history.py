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

:func:`fit_context` adds the context economy (docs/conversations.md, "What a follow-up
sends"): the limit is the task's ``context.max_history_tokens`` (the policy), the turns
pushed out of it are kept as a running :class:`HistorySummary` (written by the cheapest
capable model, core/history_summary.py, stored with the conversation), and a conversation
may opt out and send everything. It is pure and cheap (counts are memoised per text), so
the preview and the run call it with the same inputs and get the same window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeVar

from sparklio_desktop.core import tokens

__all__ = [
    "HISTORY_MESSAGE_LIMIT", "HISTORY_TOKEN_LIMIT", "SUMMARY_REFRESH_TURNS", "ContextWindow", "HistorySummary",
    "fit_context", "fit_history", "history_tokens", "summary_block",
]  # fmt: skip

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


@lru_cache(maxsize=8192)
def _text_cost(text: str) -> int:
    # Its own memo, larger than core/tokens.py's: a long conversation's every turn is
    # counted for the full-history figure on each preview and run.
    return tokens.count_text(text)[0] + tokens.TOKENS_PER_MESSAGE


def _cost(message: _Turn) -> int:
    return _text_cost(message.content)


def history_tokens(history: Sequence[_Turn]) -> int:
    """Tokens of ``history`` sent whole (framing included, reply priming not)."""
    return sum(_cost(m) for m in history)


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


# A refresh of the summary waits until this many questions (user turns, each with its
# answer) have been pushed out of the window: at most one summarising call per 8 turns.
SUMMARY_REFRESH_TURNS = 8


@dataclass(frozen=True)
class HistorySummary:
    """The running summary of a conversation's oldest turns: its text and how many of the
    thread's first messages it covers (``turns``). Stored with the conversation."""

    text: str
    turns: int


@dataclass(frozen=True)
class ContextWindow:
    """What a follow-up sends of its conversation, and what that saves.

    ``turns``: the kept turns, oldest first; ``context_message``: the summary (and the
    names of images no longer sent) sent before them as a system message (None: none);
    ``sent_tokens``: the kept turns and that message together;
    ``full_tokens``: the whole history sent as it is; ``refresh_due``: enough turns have
    been pushed out since the summary was written that it should be rewritten (the keeper,
    core/history_summary.py, does it before the run); ``start``: the index of the first
    kept turn; ``pushed_out``: the attachment names of turns that are not sent.
    """

    turns: tuple[_Turn, ...]
    context_message: str | None
    sent_tokens: int
    full_tokens: int
    refresh_due: bool = False
    start: int = 0
    pushed_out_attachments: tuple[str, ...] = ()

    @property
    def saved_tokens(self) -> int:
        return max(0, self.full_tokens - self.sent_tokens)


def summary_block(summary: str | None, attachments: Sequence[str] = ()) -> str:
    """The context message sent before the kept turns: the summary, and the images shared
    in turns no longer sent, by name (they are referred to, never resent)."""
    parts: list[str] = []
    if summary:
        parts.append(f"Summary of the earlier conversation:\n{summary.strip()}")
    if attachments:
        names = ", ".join(dict.fromkeys(_file_name(a) for a in attachments))
        parts.append(f"Images shared earlier (not resent): {names}")
    return "\n\n".join(parts)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1] or path


def _user_turns(history: Sequence[_Turn], start: int, end: int) -> int:
    return sum(1 for m in history[start:end] if m.role == "user")


def fit_context(
    history: Sequence[_M],
    limit: int = HISTORY_TOKEN_LIMIT,
    summary: HistorySummary | None = None,
    *,
    send_everything: bool = False,
    attachments: Sequence[Sequence[str]] = (),
    max_messages: int = HISTORY_MESSAGE_LIMIT,
) -> ContextWindow:
    """The window a follow-up sends (docs/conversations.md, "What a follow-up sends").

    - ``send_everything`` (the conversation opted out): every turn, no summary.
    - Otherwise the turns that fit ``limit`` (:func:`fit_history`). Turns pushed out of it
      are covered by ``summary`` (when it still matches the thread: ``summary.turns`` at
      most the history's length) or, while fewer than :data:`SUMMARY_REFRESH_TURNS`
      questions have been pushed out since it was written, sent whole: no turn is dropped
      without being summarised, and the summary is rewritten at most once per 8 turns.
      When 8 or more are waiting, ``refresh_due`` is set and the window is the fitted one
      (what the keeper's new summary will cover; without a refresh, the stale summary).

    ``attachments``: each turn's attachment names, parallel to ``history`` (may be empty).
    """
    full = history_tokens(history)
    if not history:
        return ContextWindow((), None, 0, 0)
    if send_everything:
        return ContextWindow(tuple(history), None, full, full)
    kept, kept_tokens = fit_history(history, limit, max_messages)
    start = len(history) - len(kept)
    if start == 0:
        return ContextWindow(tuple(history), None, full, full)
    covered = 0
    text = None
    if summary is not None and 0 < summary.turns <= len(history):
        covered, text = summary.turns, summary.text
    refresh_due = _user_turns(history, covered, start) >= SUMMARY_REFRESH_TURNS
    if not refresh_due and covered < start:
        start = covered  # the turns not summarised yet are sent whole until a refresh
        while start < len(history) and history[start].role != "user":
            start += 1
        kept = tuple(history[start:])
        kept_tokens = history_tokens(kept)
    if start == 0:
        return ContextWindow(tuple(history), None, full, full)
    names = tuple(name for turn in attachments[:start] for name in turn)
    block = summary_block(text, names)
    sent = kept_tokens + (_text_cost(block) if block else 0)
    return ContextWindow(tuple(kept), block or None, sent, full, refresh_due, start, names)
