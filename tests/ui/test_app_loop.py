"""The window's loop stays running between its pieces (ui/app_loop.py).

qasync ends each ``run_until_complete`` with a round of Qt events after it has unmarked
the running loop; work queued for that round (a debounce timer, a task's next step) used
to run with no running loop and raise, as the route preview did on every quick launch.
"""

from __future__ import annotations

import asyncio

import qasync
from PySide6.QtCore import QTimer

from sparklio_desktop.ui.app_loop import AppLoop, release


def _late_work_between_pieces(loop: qasync.QEventLoop) -> list[str]:
    """Queue a timer that needs a running loop, for the round of events after a piece."""
    seen: list[str] = []

    def needs_loop() -> None:
        try:
            asyncio.get_running_loop()
            seen.append("running")
        except RuntimeError as exc:
            seen.append(str(exc))

    async def piece() -> None:
        # Called back once the piece is done: after qasync's own "stop" callback, so Qt
        # delivers it in the round of events that follows the piece.
        task = asyncio.current_task()
        assert task is not None
        task.add_done_callback(lambda _: QTimer.singleShot(0, needs_loop))

    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(piece())
    finally:
        release(loop)
        loop.close()
        asyncio.set_event_loop(None)
    return seen


def test_work_delivered_after_a_piece_has_its_running_loop(qapp) -> None:
    assert _late_work_between_pieces(AppLoop(qapp)) == ["running"]


def test_plain_qasync_loses_it_which_is_why_the_app_loop_exists(qapp) -> None:
    # The condition the class guards against, kept visible: if qasync stops dropping the
    # running loop before its last round of events, this fails and AppLoop can go.
    assert _late_work_between_pieces(qasync.QEventLoop(qapp)) == ["no running event loop"]


def test_release_unmarks_only_its_own_loop(qapp) -> None:
    loop = AppLoop(qapp)
    other = AppLoop(qapp)
    asyncio.events._set_running_loop(other)
    try:
        release(loop)
        assert asyncio.events._get_running_loop() is other
        release(other)
        assert asyncio.events._get_running_loop() is None
    finally:
        asyncio.events._set_running_loop(None)
        loop.close()
        other.close()
