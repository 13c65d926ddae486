"""What every view-model shares: a serial executor for blocking calls, tracked tasks.

Why a serial executor: SQLite writes, keyring look-ups (D-Bus) and file reads block,
and the event loop must never stall (the issue's 50 ms budget). One worker thread
keeps database work ordered, as Anki's task manager does; results come back to the
loop as awaited values and only then become signals.

Why tracked tasks: asyncio keeps only weak references to running tasks, so each
async slot registers its own task until it is done (STYLE: "every spawned task is
referenced until done"). Exceptions leave through ``sys.excepthook`` (qasync's
``asyncSlot`` does that), which the app turns into a non-modal notification and the
tests turn into failures.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

_T = TypeVar("_T")


class SerialExecutor:
    """One background thread for blocking calls, awaited from the event loop."""

    def __init__(self, name: str = "sparklio-db") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class ViewModel(QObject):
    """Base of the view-models: an ``errorRaised`` signal and task bookkeeping."""

    errorRaised = Signal(str)

    def __init__(self, executor: SerialExecutor, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = executor
        self._tasks: set[asyncio.Task[Any]] = set()

    def _track(self) -> asyncio.Task[Any] | None:
        """Keep a strong reference to the running task until it finishes."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return task

    def shutdown(self) -> None:
        """Stop timers that would start work; the app calls it before closing the loop."""

    async def wait_idle(self) -> None:
        """Wait for every task this view-model started (tests, screenshots, shutdown).

        A slot's task registers itself on its first step, so yield once before looking:
        a slot called just before this call is then counted too.
        """
        current = asyncio.current_task()
        while True:
            await asyncio.sleep(0)
            pending = [t for t in self._tasks if t is not current and not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)
