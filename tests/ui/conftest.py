"""Fixtures for the GUI tests: a qasync loop, failing async slots, the app's services.

Following the stack notes: pytest-qt gives the QApplication; each test gets its own
``qasync.QEventLoop`` set as the current loop and closed afterwards. qasync's
``asyncSlot`` sends a slot's exception to ``sys.excepthook``, which here records it
and fails the test, so an exception in a slot can never pass silently.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
import qasync

from sparklio_desktop.core.settings.paths import shipped_policy_path
from sparklio_desktop.ui.app_loop import AppLoop, release

OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture
def qloop(qapp) -> Iterator[qasync.QEventLoop]:
    loop = AppLoop(qapp)  # the app's loop (ui/app_loop.py): running between pieces, as under app.exec()
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    yield loop
    release(loop)
    loop.close()
    asyncio.set_event_loop(None)
    # Collect the closed loop's timers and socket notifiers now: left to a later test's
    # loop, their destruction runs inside Qt's timer dispatch and can crash the process.
    gc.collect()


@pytest.fixture(autouse=True)
def async_slot_errors(monkeypatch) -> Iterator[list[str]]:
    """Every exception that reaches sys.excepthook fails the test that raised it."""
    errors: list[str] = []

    def hook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        errors.append("".join(traceback.format_exception(kind, value, tb)))

    monkeypatch.setattr(sys, "excepthook", hook)
    yield errors
    assert not errors, "exceptions in async slots:\n" + "\n".join(errors)


def run(loop: asyncio.AbstractEventLoop, awaitable: Any, timeout: float = 15.0) -> Any:
    """Drive a coroutine or a task (an async slot's return value) to completion."""
    return loop.run_until_complete(asyncio.wait_for(asyncio.ensure_future(awaitable), timeout))


async def until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``condition()`` on the running loop; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def wait_until(loop: asyncio.AbstractEventLoop, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Spin the loop until ``condition()`` holds; fail after ``timeout`` seconds."""
    loop.run_until_complete(until(condition, timeout))


def settle_all(loop: asyncio.AbstractEventLoop, ctx: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Spin the loop until ``condition()`` holds and every view-model of ``ctx`` is idle, in
    one run (see ``settle``): a signal near the end may start another view-model's slot
    (a written answer reloads the sidebar), which must not be stepped after the loop stops."""

    async def go() -> None:
        await until(condition, timeout)
        await ctx.wait_idle()

    run(loop, go(), timeout + 5)


class IdleViewModel(Protocol):
    async def wait_idle(self) -> None: ...


@pytest.fixture
def settle(qloop) -> Callable[..., None]:
    """``settle(vm, condition, timeout=15)``: spin the loop until ``condition`` holds and the
    view-model is idle, in one run of the loop.

    Why one run: qasync's ``run_until_complete`` processes Qt events once more after the
    loop stops, outside a running loop; a task stepped there breaks anyio (``no running
    event loop``). Waiting for the view-model's tasks before stopping leaves none to step.
    """

    def settle_(vm: IdleViewModel, condition: Callable[[], bool] = lambda: True, timeout: float = 15.0) -> None:
        async def go() -> None:
            await until(condition, timeout)
            await vm.wait_idle()

        run(qloop, go(), timeout + 5)

    return settle_


@pytest.fixture
def fast_policy(tmp_path):
    """The shipped policy with tiny retry waits, as its own file (it can be broken later)."""
    text = shipped_policy_path().read_text(encoding="utf-8")
    assert "backoff_s: [1, 2, 4]" in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace("backoff_s: [1, 2, 4]", "backoff_s: [0.01, 0.01, 0.01]"), encoding="utf-8")
    return path


@pytest.fixture
def openai_server(monkeypatch):
    from tests.fakes.openai_server import OpenAIServer

    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.api_url)
        yield server


@pytest.fixture
def anthropic_server(monkeypatch):
    from tests.fakes.anthropic_server import AnthropicServer

    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
        yield server


@pytest.fixture
def make_ctx(qloop, fast_policy):
    """Build the app's services and view-models (call after the servers are up)."""
    from sparklio_desktop.app import build_context
    from sparklio_desktop.core.workspace import Workspace

    made = []

    def make(**kwargs: Any):
        ctx = build_context(workspace=Workspace(policy_path=kwargs.pop("policy_path", fast_policy)), **kwargs)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        run(qloop, ctx.aclose())
