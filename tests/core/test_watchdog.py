"""The stream watchdog on its own: which silence it reports, and what it leaves alone."""

from __future__ import annotations

import asyncio

import pytest

from sparklio_desktop.core.dispatch.watchdog import StalledError, StallLimits, watch, within

LIMITS = StallLimits(first_token_s=0.4, idle_s=0.2)


async def _events(script, closed):
    """Yield each (pause, item) after its pause; note in ``closed`` that it was closed."""
    try:
        for pause, item in script:
            await asyncio.sleep(pause)
            yield item
    finally:
        closed.append(True)


def _collect(script, limits=LIMITS):
    closed: list[bool] = []
    got: list[str] = []

    async def go():
        async for item in watch(_events(script, closed), limits, is_token=lambda e: e != "header"):
            got.append(item)

    try:
        asyncio.run(go())
    except StalledError as exc:
        return got, closed, exc
    return got, closed, None


def test_no_first_token_is_a_first_token_stall_and_the_stream_is_closed():
    got, closed, exc = _collect([(1.0, "a")])
    assert got == [] and closed == [True]
    assert exc is not None and exc.phase == "first_token" and exc.limit_s == 0.4


def test_events_before_the_first_token_do_not_extend_its_deadline():
    got, _, exc = _collect([(0.0, "header"), (0.1, "header"), (0.1, "header"), (0.1, "header"), (0.2, "a")])
    assert got == ["header"] * 4 and exc is not None and exc.phase == "first_token"


def test_silence_after_text_is_an_idle_stall():
    got, closed, exc = _collect([(0.0, "a"), (0.05, "b"), (1.0, "c")])
    assert got == ["a", "b"] and closed == [True]
    assert exc is not None and exc.phase == "idle" and "went silent" in exc.message


def test_a_steady_stream_longer_than_every_limit_passes():
    script = [(0.2, "a")] + [(0.08, f"w{i}") for i in range(10)]
    got, _, exc = _collect(script)
    assert exc is None and len(got) == 11


def test_the_providers_own_timeout_error_is_not_taken_for_a_stall():
    async def failing():
        yield "a"
        raise TimeoutError("the SDK's own")

    async def go():
        async for _ in watch(failing(), LIMITS, is_token=lambda e: True):
            pass

    with pytest.raises(TimeoutError, match="the SDK's own"):
        asyncio.run(go())


def test_a_call_that_is_not_streamed_has_a_whole_response_limit():
    with pytest.raises(StalledError) as info:
        asyncio.run(within(asyncio.sleep(1.0), 0.1, provider="openai", model="dall-e-3"))
    assert info.value.phase == "response" and info.value.provider == "openai"
    assert asyncio.run(within(asyncio.sleep(0, result=7), 1.0)) == 7


def test_the_transport_timeout_stays_above_the_watchdog():
    limits = StallLimits(first_token_s=30, idle_s=20).with_allowance(60)
    assert limits.first_token_s == 90
    assert limits.transport_timeout(30) > 90 and limits.transport_timeout(600) == 600


def test_the_sdk_is_imported_when_the_client_is_built_not_inside_the_first_token_limit():
    """In a fresh process the first call used to import its SDK (1-2 s, more under load)
    inside the watchdog's first-token limit, and a loaded machine saw a healthy provider
    recorded as stalled."""
    import subprocess
    import sys

    code = """
import sys
from sparklio_desktop.core.dispatch.endpoints import ProviderClients
assert "anthropic" not in sys.modules
ProviderClients().client("anthropic")
missing = [m for m in ("anthropic", "anthropic.resources.messages", "anthropic.lib.streaming") if m not in sys.modules]
assert not missing, missing
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
