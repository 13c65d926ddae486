"""The window's event loop: qasync's, kept marked as running between its pieces.

The app drives the loop in pieces (``run_until_complete`` until the window closes, then
until the warm-up loads and the services have shut down), and qasync ends each piece with
one more round of Qt events after it has marked the loop as stopped. A debounce timer or a
task step delivered in that round ran with no running loop, and any ``asyncio.to_thread``
or ``asyncio.current_task()`` in it raised "no running event loop" (the composer's route
preview did, at quit and on ``SPARKLIO_EXIT_WHEN_READY`` launches). Keeping the loop
marked as running between the pieces gives every step the conditions it has while
``app.exec()`` runs; :func:`release` unmarks it once the app is done with it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import qasync

__all__ = ["AppLoop", "release"]


class AppLoop(qasync.QEventLoop):
    """A :class:`qasync.QEventLoop` that stays the thread's running loop after each piece."""

    def run_forever(self) -> Any:
        try:
            return super().run_forever()
        finally:
            asyncio.events._set_running_loop(self)


def release(loop: asyncio.AbstractEventLoop) -> None:
    """Unmark ``loop`` as the running loop (before it is closed, or another one is used)."""
    if asyncio.events._get_running_loop() is loop:
        asyncio.events._set_running_loop(None)
