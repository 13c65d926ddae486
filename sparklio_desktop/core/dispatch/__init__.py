"""Running routing decisions: providers, retries, fallbacks, cache, ledger and budget.

The steps, one module each: ``request`` (the value a front end builds), ``reserve`` (the
budget's hold before a paid call), ``attempt`` (one call), ``next_action`` (what follows
a failure, a pure function), ``record`` (the ledger row of how an attempt ended), and
``runner`` (the :class:`Dispatcher` that puts them in order); ``collaborators`` types what
it is given.
"""

from sparklio_desktop.core.dispatch.collaborators import LocalImageEngine
from sparklio_desktop.core.dispatch.events import (
    AttemptFailed,
    AttemptInfo,
    AttemptStarted,
    Event,
    Finished,
    Routed,
    RunResult,
    TextChunk,
)
from sparklio_desktop.core.dispatch.request import RunRequest
from sparklio_desktop.core.dispatch.runner import Dispatcher

__all__ = [
    "AttemptFailed",
    "AttemptInfo",
    "AttemptStarted",
    "Dispatcher",
    "Event",
    "Finished",
    "LocalImageEngine",
    "Routed",
    "RunRequest",
    "RunResult",
    "TextChunk",
]
