"""Gives up on provider calls that go silent, so a hung provider costs a bounded wait.

A transport timeout cannot tell a slow answer from a dead one: the speed class's
``timeout_s`` is a read timeout that restarts with every byte, a server that keeps the
socket open and sends nothing holds the request until it closes the socket, and a
timeout counts as transient, so it was retried three times. This module puts two
limits on a streamed answer (docs/dispatch.md, "Silent streams"):

- the first-token limit (per speed class, policy ``dispatch.first_token_timeout_s``):
  from the start of the call to the first piece of text; a local Ollama model that is
  not loaded yet gets ``dispatch.ollama_load_allowance_s`` more;
- the idle limit (``dispatch.stream_idle_timeout_s``): between any two events once text
  has started to arrive.

A call that breaks either limit raises :class:`StalledError`. It is not a
``TransientError``: the dispatcher records the attempt as ``stalled`` with what arrived
and moves on to the next model at once, without retrying the one that stalled.

A call that is not streamed (an image, an embedding) has one whole-response limit:
the speed class's ``timeout_s``, because a whole image is not a first token (DALL-E 3
takes 10-20 s, beyond a real-time first-token limit). It too ends as ``stalled``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sparklio_desktop.core.providers.errors import ProviderError

T = TypeVar("T")
Phase = Literal["first_token", "idle", "response"]

# The transport's own read timeout is kept above the watchdog's limits by this margin,
# so that a silent provider is always given up by the watchdog (no retry), never by a
# transport timeout (a transient error, retried).
TRANSPORT_MARGIN_S = 5.0


class StalledError(ProviderError):
    """The provider went silent: no first token, no next chunk, or no response in time."""

    def __init__(self, message: str, *, phase: Phase, limit_s: float, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.phase = phase
        self.limit_s = limit_s


@dataclass(frozen=True)
class StallLimits:
    """The limits for one call, in seconds."""

    first_token_s: float
    idle_s: float

    def with_allowance(self, extra_s: float) -> StallLimits:
        """More time for the first token (a local model that must be loaded first)."""
        return StallLimits(self.first_token_s + extra_s, self.idle_s)

    def transport_timeout(self, speed_timeout_s: float) -> float:
        """The read timeout to give the transport: the speed class's, but never below
        the watchdog's own limits (plus a margin)."""
        return max(speed_timeout_s, max(self.first_token_s, self.idle_s) + TRANSPORT_MARGIN_S)


async def watch(
    events: AsyncIterator[T],
    limits: StallLimits,
    *,
    is_token: Callable[[T], bool],
    provider: str = "",
    model: str = "",
) -> AsyncIterator[T]:
    """Yield ``events`` as they come; raise :class:`StalledError` when one is late.

    Until the first event for which ``is_token`` is true, the deadline is fixed at the
    call's start plus ``limits.first_token_s`` (events before it, such as a usage
    header, do not extend it); from then on each event must follow the previous one
    within ``limits.idle_s``. The wrapped iterator is closed on the way out, whatever
    the reason, so the HTTP stream is released at once.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limits.first_token_s
    started = False
    iterator = aiter(events)
    try:
        while True:
            try:
                async with asyncio.timeout_at(deadline) as scope:
                    item = await anext(iterator)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if not scope.expired():
                    raise  # the provider's own timeout, not ours
                if started:
                    raise StalledError(
                        f"the stream went silent: no data for {limits.idle_s:g} s",
                        phase="idle",
                        limit_s=limits.idle_s,
                        provider=provider,
                        model=model,
                    ) from None
                raise StalledError(
                    f"no first token within {limits.first_token_s:g} s",
                    phase="first_token",
                    limit_s=limits.first_token_s,
                    provider=provider,
                    model=model,
                ) from None
            if not started and is_token(item):
                started = True
            if started:
                deadline = loop.time() + limits.idle_s
            yield item
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()


async def within(call: Awaitable[T], limit_s: float, *, provider: str = "", model: str = "") -> T:
    """Await a call that is not streamed; :class:`StalledError` when it takes longer than ``limit_s``."""
    try:
        async with asyncio.timeout(limit_s) as scope:
            return await call
    except TimeoutError:
        if not scope.expired():
            raise
        raise StalledError(
            f"no response within {limit_s:g} s", phase="response", limit_s=limit_s, provider=provider, model=model
        ) from None
