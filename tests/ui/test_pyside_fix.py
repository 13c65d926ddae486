"""The guard against PySide6 6.12.0's leaked references to True and None."""

from __future__ import annotations

import sys

from sparklio_desktop.ui import _pyside_fix


def test_leaking_singletons_are_padded(qapp):
    found = _pyside_fix.leaks()
    padded = _pyside_fix.apply()
    if sys.version_info >= (3, 12):
        assert padded == set()
        return
    assert ("emit" in padded) == found["emit"] and ("void" in padded) == found["void"]
    if found["emit"]:
        assert sys.getrefcount(True) > _pyside_fix.PAD // 2 and sys.getrefcount(False) > _pyside_fix.PAD // 2
    if found["void"]:
        assert sys.getrefcount(None) > _pyside_fix.PAD // 2
    assert _pyside_fix.apply() == padded  # idempotent: never padded twice


def test_a_long_session_of_calls_survives(qapp):
    from PySide6.QtCore import QObject, Signal

    class Source(QObject):
        ping = Signal(str)

    source = Source()
    got = []
    source.ping.connect(got.append)
    for _ in range(200_000):  # more than the counts these singletons start with
        source.ping.emit("token")
        source.setObjectName("x")
    assert len(got) == 200_000
