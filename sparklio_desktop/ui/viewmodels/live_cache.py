"""The router's live state, probed off the event loop and kept for a few seconds.

Why: ``probe_live_state`` asks Ollama over HTTP (up to 0.3 s) and reads the ledger.
The dispatcher calls its ``live`` callable synchronously at the start of each run and
the route preview wants one per keystroke; doing either on the loop thread would
freeze the window. The app probes in an executor, keeps the answer, and hands the
dispatcher :meth:`LiveStateCache.current`, which never blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sparklio_desktop.core.router import LiveState


class LiveStateCache:
    """Holds the last probed :class:`LiveState`; refreshes it at most every ``max_age_s``."""

    def __init__(self, probe: Callable[[], LiveState], max_age_s: float = 5.0) -> None:
        self._probe = probe
        self._max_age_s = max_age_s
        self._state: LiveState | None = None
        self._at = 0.0
        self._lock: asyncio.Lock | None = None

    def current(self) -> LiveState:
        """The last known state, or "everything available" before the first probe."""
        return self._state if self._state is not None else LiveState()

    def invalidate(self) -> None:
        """Forget the state (a key was set, the budget changed): the next refresh probes."""
        self._at = 0.0

    async def refresh(self, force: bool = False) -> LiveState:
        """Probe in the default executor unless the state is fresh enough."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if force or self._state is None or time.monotonic() - self._at > self._max_age_s:
                loop = asyncio.get_running_loop()
                self._state = await loop.run_in_executor(None, self._probe)
                self._at = time.monotonic()
        return self.current()
