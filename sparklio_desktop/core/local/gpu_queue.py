"""One GPU, one job at a time: the queue every local image job waits in.

The Images view, a recipe's image step and a batch's image rows may all ask for an image at
once. The pipeline can only run one job at a time (a second one would double the VRAM), so
they wait here in order of arrival, each with its place in the queue that the window shows,
and each can be cancelled on its own: a waiting job leaves the queue without touching the
GPU; a running one is cancelled like any awaited request (the engine stops between two
denoising steps).

The queue lives on the event loop (asyncio, no threads): ``run`` is awaited by the job's own
task, so cancelling that task is cancelling the job, and nothing here can deadlock with the
GPU worker thread. Listeners are told of every change (a job queued, started, finished) on
the loop's thread; the Images view-model turns that into a Qt signal.

What happens *between* two jobs (making room beside Ollama, loading another checkpoint)
belongs to the job itself: its body runs the VRAM arbitration first, so the arbitration
sees the GPU as the previous job left it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

__all__ = ["GpuJobView", "GpuQueue", "JobState"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class JobState(StrEnum):
    WAITING = "waiting"
    RUNNING = "running"


@dataclass(frozen=True)
class GpuJobView:
    """A job as the window lists it: ``place`` 0 is the running job."""

    job_id: str
    label: str
    source: str  # "images", "recipe", "batch", "cli", …
    state: JobState
    place: int
    waited_s: float


class _Job:
    __slots__ = ("job_id", "label", "source", "task", "wake", "state", "queued_at")

    def __init__(self, job_id: str, label: str, source: str, task: asyncio.Task[object] | None) -> None:
        self.job_id, self.label, self.source, self.task = job_id, label, source, task
        self.wake = asyncio.Event()
        self.state = JobState.WAITING
        self.queued_at = time.monotonic()


class GpuQueue:
    def __init__(self) -> None:
        self._jobs: list[_Job] = []  # in order; the first is running once it has started
        self._listeners: list[Callable[[tuple[GpuJobView, ...]], None]] = []
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ watching

    def snapshot(self) -> tuple[GpuJobView, ...]:
        now = time.monotonic()
        return tuple(
            GpuJobView(j.job_id, j.label, j.source, j.state, place, round(now - j.queued_at, 3))
            for place, j in enumerate(self._jobs)
        )

    def subscribe(self, listener: Callable[[tuple[GpuJobView, ...]], None]) -> Callable[[], None]:
        """Call ``listener(snapshot)`` after every change; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self) -> None:
        snap = self.snapshot()
        for listener in list(self._listeners):
            try:
                listener(snap)
            except Exception:  # a broken listener must not stop the GPU queue
                log.exception("GPU queue listener failed")

    def __len__(self) -> int:
        return len(self._jobs)

    # ------------------------------------------------------------------- running

    async def run(self, work: Callable[[], Awaitable[T]], *, label: str, source: str = "images") -> T:
        """Wait for the GPU, then await ``work()``; the job leaves the queue however it ends."""
        job = _Job(f"gpu-{next(self._ids)}", label, source, asyncio.current_task())
        self._jobs.append(job)
        self._changed()
        try:
            while self._jobs[0] is not job:
                await job.wake.wait()
                job.wake.clear()
            job.state = JobState.RUNNING
            self._changed()
            return await work()
        finally:
            head = self._jobs[0] is job
            self._jobs.remove(job)
            if head and self._jobs:
                self._jobs[0].wake.set()
            self._changed()

    def cancel(self, job_id: str) -> bool:
        """Cancel one job (waiting or running); False when it is not in the queue any more."""
        for job in self._jobs:
            if job.job_id == job_id and job.task is not None and not job.task.done():
                job.task.cancel()
                return True
        return False
