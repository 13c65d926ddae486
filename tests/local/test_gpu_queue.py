"""The GPU queue: one job at a time, in order, each with its place and its own cancel."""

from __future__ import annotations

import asyncio

import pytest

from sparklio_desktop.core.local.gpu_queue import GpuJobView, GpuQueue, JobState


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_jobs_run_one_at_a_time_in_order_of_arrival() -> None:
    async def main() -> list[str]:
        queue = GpuQueue()
        events: list[str] = []
        running = 0

        async def job(name: str) -> str:
            nonlocal running
            running += 1
            assert running == 1, "two jobs on the GPU at once"
            events.append(f"start {name}")
            await asyncio.sleep(0.01)
            events.append(f"end {name}")
            running -= 1
            return name

        results = await asyncio.gather(*(queue.run(lambda n=n: job(n), label=n) for n in "abc"))
        assert results == ["a", "b", "c"]
        assert len(queue) == 0
        return events

    assert asyncio.run(main()) == ["start a", "end a", "start b", "end b", "start c", "end c"]


def test_every_change_is_told_with_each_jobs_place() -> None:
    async def main() -> list[tuple[tuple[str, JobState, int], ...]]:
        queue = GpuQueue()
        seen: list[tuple[GpuJobView, ...]] = []
        queue.subscribe(seen.append)
        gate = asyncio.Event()

        async def first() -> None:
            await gate.wait()

        t1 = asyncio.create_task(queue.run(first, label="portrait", source="images"))
        t2 = asyncio.create_task(queue.run(lambda: asyncio.sleep(0), label="banner", source="recipe"))
        await _settle()
        snap = queue.snapshot()
        assert [(v.label, v.state, v.place, v.source) for v in snap] == [
            ("portrait", JobState.RUNNING, 0, "images"),
            ("banner", JobState.WAITING, 1, "recipe"),
        ]
        gate.set()
        await asyncio.gather(t1, t2)
        return [tuple((v.label, v.state, v.place) for v in s) for s in seen]

    history = asyncio.run(main())
    assert history[-1] == ()  # the queue says when it is empty again
    assert (("banner", JobState.RUNNING, 0),) in history  # the second job moved up to place 0


def test_a_waiting_job_cancelled_leaves_without_running() -> None:
    async def main() -> tuple[list[str], bool]:
        queue = GpuQueue()
        ran: list[str] = []
        gate = asyncio.Event()

        async def body(name: str) -> None:
            ran.append(name)
            if name == "a":
                await gate.wait()

        ta = asyncio.create_task(queue.run(lambda: body("a"), label="a"))
        tb = asyncio.create_task(queue.run(lambda: body("b"), label="b"))
        tc = asyncio.create_task(queue.run(lambda: body("c"), label="c"))
        await _settle()
        waiting_b = queue.snapshot()[1].job_id
        assert queue.cancel(waiting_b)
        await _settle()
        assert [v.label for v in queue.snapshot()] == ["a", "c"]
        assert [v.place for v in queue.snapshot()] == [0, 1]
        gate.set()
        await asyncio.gather(ta, tc)
        with pytest.raises(asyncio.CancelledError):
            await tb
        return ran, queue.cancel(waiting_b)

    ran, again = asyncio.run(main())
    assert ran == ["a", "c"]
    assert again is False  # a job that left the queue cannot be cancelled twice


def test_cancelling_the_running_job_starts_the_next() -> None:
    async def main() -> list[str]:
        queue = GpuQueue()
        done: list[str] = []

        async def forever() -> None:
            await asyncio.Event().wait()

        async def quick() -> None:
            done.append("next")

        t1 = asyncio.create_task(queue.run(forever, label="long"))
        t2 = asyncio.create_task(queue.run(quick, label="next"))
        await _settle()
        assert queue.cancel(queue.snapshot()[0].job_id)
        await t2
        assert t1.cancelled()
        return done

    assert asyncio.run(main()) == ["next"]


def test_a_failing_job_frees_the_gpu_and_a_broken_listener_is_ignored() -> None:
    async def main() -> str:
        queue = GpuQueue()

        def broken(_: object) -> None:
            raise RuntimeError("listener bug")

        queue.subscribe(broken)

        async def boom() -> str:
            raise ValueError("out of memory")

        async def fine() -> str:
            return "ok"

        first = asyncio.create_task(queue.run(boom, label="x"))
        second = asyncio.create_task(queue.run(fine, label="y"))
        with pytest.raises(ValueError, match="out of memory"):
            await first
        return await second

    assert asyncio.run(main()) == "ok"


def test_unsubscribe_stops_the_calls() -> None:
    async def main() -> int:
        queue = GpuQueue()
        calls: list[object] = []
        stop = queue.subscribe(calls.append)
        await queue.run(lambda: asyncio.sleep(0), label="one")
        count = len(calls)
        stop()
        stop()  # twice is harmless
        await queue.run(lambda: asyncio.sleep(0), label="two")
        assert len(calls) == count
        return count

    assert asyncio.run(main()) == 3  # queued, started, finished
