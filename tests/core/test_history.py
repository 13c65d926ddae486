"""What of a conversation goes with the next message (core/history.py)."""

from __future__ import annotations

from sparklio_desktop.core import tokens
from sparklio_desktop.core.dispatch import RunRequest
from sparklio_desktop.core.history import HISTORY_MESSAGE_LIMIT, HISTORY_TOKEN_LIMIT, fit_history
from sparklio_desktop.core.providers.base import Message
from sparklio_desktop.core.routing.router import RouteRequest


def _chat(pairs: int, words: int = 40) -> list[Message]:
    turns: list[Message] = []
    for i in range(pairs):
        turns.append(Message("user", f"question {i} " + "why " * 5))
        turns.append(Message("assistant", f"answer {i} " + "because " * words))
    return turns


def _tokens(messages) -> int:
    return tokens.count_chat(messages)[0] - tokens.TOKENS_REPLY_PRIMING


def test_a_short_conversation_is_sent_whole():
    history = _chat(3)
    sent, count = fit_history(history)
    assert list(sent) == history and count == _tokens(history)


def test_a_long_conversation_sends_its_newest_exchanges_within_the_limit():
    history = _chat(1000)
    sent, count = fit_history(history, max_messages=10_000)  # the token limit alone
    assert count == _tokens(sent) <= HISTORY_TOKEN_LIMIT
    assert sent[0].role == "user" and sent[-1] == history[-1]
    assert list(sent) == history[-len(sent) :]  # the newest, in order, nothing skipped
    one_more = history[-len(sent) - 2 :]  # the next older exchange would not have fitted
    assert _tokens(one_more) > HISTORY_TOKEN_LIMIT


def test_at_most_forty_messages_go_however_short():
    history = [Message(role, "ok") for _ in range(500) for role in ("user", "assistant")]
    sent, count = fit_history(history)
    assert len(sent) == HISTORY_MESSAGE_LIMIT == 40 and count == _tokens(sent) < HISTORY_TOKEN_LIMIT
    assert list(sent) == history[-40:]


def test_the_newest_exchange_goes_whole_however_long():
    history = [*_chat(2), Message("user", "Shorten this:"), Message("assistant", "word " * 20_000)]
    sent, count = fit_history(history)
    assert list(sent) == history[-2:] and count > HISTORY_TOKEN_LIMIT


def test_the_sent_part_never_opens_on_an_answer():
    history = [Message("assistant", "A greeting nobody asked for " * 10), *_chat(2)]
    sent, _count = fit_history(history, limit=10_000)
    assert sent[0].role == "user" and list(sent) == history[1:]
    assert fit_history([]) == ((), 0)


def test_a_run_sends_and_prices_what_fits():
    history = tuple(_chat(1000))
    run = RunRequest(route=RouteRequest(task="chat", prompt="And now?"), history=history)
    assert run.history == history  # kept whole: the window is what is sent
    assert 2 <= len(run.history_sent) < len(history) and run.history_sent[-1] == history[-1]
    assert run.route.history_tokens == _tokens(run.history_sent) <= HISTORY_TOKEN_LIMIT
    assert run.history_tokens_sent == run.route.history_tokens
    assert run.history_tokens_saved == _tokens(history) - run.history_tokens_sent > 0


def test_a_run_trims_even_when_its_front_end_counted_the_history():
    """The composer's preview sets history_tokens itself; the run still sends only what fits
    (a 1,000-turn conversation used to go whole: a 1 s stall building the request)."""
    history = tuple(_chat(1000))
    counted = fit_history(history)[1]
    run = RunRequest(route=RouteRequest(task="chat", prompt="And now?", history_tokens=counted), history=history)
    assert len(run.history_sent) < len(history) and run.route.history_tokens == counted
    wrong = RunRequest(route=RouteRequest(task="chat", prompt="And now?", history_tokens=5), history=history)
    assert wrong.route.history_tokens == counted
