"""The cyclic garbage collector is off while the window is built and back on once it is
shown (app.py: start-up builds a long-lived heap the collector would scan for nothing)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sparklio_desktop import app


@pytest.fixture
def collector() -> Iterator[None]:
    was_on = gc.isenabled()
    yield
    gc.unfreeze()  # the test process keeps its usual collector (the warm-up's freeze undone too)
    if was_on:
        gc.enable()
    else:
        gc.disable()


def test_start_up_runs_without_the_collector_and_freezes_what_it_built(collector: None) -> None:
    gc.enable()
    was_on = app._collector_off_for_start_up()
    assert was_on and not gc.isenabled()
    built = [[n] for n in range(1000)]  # what start-up keeps
    frozen_before = gc.get_freeze_count()
    app._collector_back_on(was_on)
    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(built)
    app._collector_back_on(was_on)  # the second call (run_app's finally) changes nothing
    assert gc.isenabled()


def test_a_caller_that_had_the_collector_off_keeps_it_off(collector: None) -> None:
    gc.disable()
    frozen_before = gc.get_freeze_count()
    was_on = app._collector_off_for_start_up()
    assert not was_on
    app._collector_back_on(was_on)
    assert not gc.isenabled()
    assert gc.get_freeze_count() == frozen_before
