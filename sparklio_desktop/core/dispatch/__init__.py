"""Running routing decisions: providers, retries, fallbacks, cache, ledger and budget."""

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
from sparklio_desktop.core.dispatch.runner import Dispatcher, LocalImageEngine, RunRequest

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
