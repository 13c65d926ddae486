"""A guard against reference-count bugs in PySide6 6.12.0 that abort the process.

What goes wrong, measured here with PySide6 6.12.0 on CPython 3.11 (6.11.3 is fine):

- every ``signal.emit(...)`` made from Python returns ``True`` without taking a
  reference to it, so each emit takes one reference away from ``True``;
- every call of a method that returns nothing (``setMarkdown``, ``setValue``,
  ``setObjectName``...) returns ``None`` the same way.

On CPython 3.11 ``True`` and ``None`` are not immortal: after enough calls (a streamed
answer makes several per token) the count reaches zero and the interpreter aborts with
"Fatal Python error: bool_dealloc" or "none_dealloc".

What this does: :func:`apply` measures both leaks on the installed PySide6. Only where
one shows, it adds a large, fixed number of references (2**40: at 100,000 leaking
calls a second that lasts over four months) to the objects concerned (``True`` and
``False``, or ``None``). They are static objects that are never freed, so the extra
count is harmless; on a fixed PySide6, or on CPython 3.12+ where these objects are
immortal, nothing is touched. Remove this module once the project requires a PySide6
without the bug (pin ``pyside6-essentials!=6.12.0``).
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

PAD = 2**40
PROBE_CALLS = 16
_padded: set[str] = set()


def _leak(target: Any, call: Any) -> bool:
    before = sys.getrefcount(target)
    for _ in range(PROBE_CALLS):
        call()
    return before - sys.getrefcount(target) >= PROBE_CALLS


def leaks() -> dict[str, bool]:
    """Which singletons the installed PySide6 leaks: ``{"emit": ..., "void": ...}``."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    return {
        "emit": _leak(True, probe.ping.emit),
        "void": _leak(None, lambda: probe.setObjectName("probe")),
    }


def _pad(value: Any) -> None:
    count = ctypes.c_ssize_t.from_address(id(value))
    count.value += PAD


def apply() -> set[str]:
    """Pad the reference counts the installed PySide6 leaks; returns what was padded."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return set(_padded)
    found = leaks()
    if found["emit"] and "emit" not in _padded:
        _pad(True)
        _pad(False)
        _padded.add("emit")
    if found["void"] and "void" not in _padded:
        _pad(None)
        _padded.add("void")
    return set(_padded)
