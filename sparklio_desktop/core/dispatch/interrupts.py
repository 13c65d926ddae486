"""SIGTERM and SIGHUP mid-request: finish the attempts in flight, then exit 128 + signum.

A terminal closed under ``sparklio run`` (SIGHUP), a ``kill`` or a logout (SIGTERM)
ends the process while a provider is streaming an answer it will bill. Python's
default for these signals ends the process at once, so the attempt row would stay
``in_flight`` until the next start closed it with only its input estimate. With the
handler installed, the dispatcher's in-flight attempts are finished as
``interrupted`` with the tokens received so far (input estimate + the received
output, estimated) and their budget reservations released, and only then does the
process exit with the conventional status 128 + signum (143 for SIGTERM, 129 for
SIGHUP).

The dispatcher registers each attempt with :func:`track` when it starts and
:func:`done` when it is recorded. The handler runs as an event-loop callback
(``loop.add_signal_handler``), never inside a ledger transaction of the same
thread. Windows has no SIGHUP and no ``add_signal_handler``: there :func:`install`
does nothing, and the next start closes what was left (see
``LedgerStore.reclaim_orphans``). SIGKILL cannot be handled: the same next-start
rule covers it.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable, Hashable

__all__ = ["HANDLED_SIGNALS", "done", "finish_all", "in_flight", "install", "track"]

HANDLED_SIGNALS: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)

# (request id, attempt number) -> finishes that attempt as interrupted
_in_flight: dict[Hashable, Callable[[], None]] = {}


def track(key: Hashable, finish: Callable[[], None]) -> None:
    """Register an attempt that has started; ``finish`` records it as interrupted."""
    _in_flight[key] = finish


def done(key: Hashable) -> None:
    """The attempt ``key`` is being recorded (whatever its outcome): forget it."""
    _in_flight.pop(key, None)


def in_flight() -> int:
    return len(_in_flight)


def finish_all() -> int:
    """Finish every tracked attempt as interrupted; returns how many were finished.

    One failing write does not stop the others; each is reported on standard error.
    """
    finished = 0
    while _in_flight:
        _key, finish = _in_flight.popitem()
        try:
            finish()
            finished += 1
        except Exception as exc:  # noqa: BLE001 - finish the rest; the next start closes this one
            print(f"sparklio: could not record an interrupted attempt: {exc}", file=sys.stderr)
    return finished


def _exit(code: int) -> None:
    raise SystemExit(code)


def install(loop: asyncio.AbstractEventLoop | None = None, on_exit: Callable[[int], None] = _exit) -> None:
    """Handle SIGTERM and SIGHUP on ``loop`` (default: the running loop).

    On a signal the tracked attempts are finished, then ``on_exit(128 + signum)`` is
    called: by default it raises ``SystemExit`` out of the loop (``asyncio.run`` then
    cancels the request, whose own bookkeeping finds its attempt already finished);
    the desktop app passes a function that quits the Qt application with that status.
    """
    loop = loop or asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        finish_all()
        on_exit(128 + signum)

    for signum in HANDLED_SIGNALS:
        try:
            loop.add_signal_handler(signum, on_signal, int(signum))
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            return
