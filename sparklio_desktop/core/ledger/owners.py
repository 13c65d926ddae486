"""Which process owns a reservation or an in-flight attempt, and whether it is still there.

A budget reservation must live exactly as long as the request that holds it: a clock
cannot tell a crashed request from a slow one (a batch-speed request can stream for
more than ten minutes, and one reservation covers all its retries). So every
reservation and every in-flight attempt names its owner: the PID and a token for
that process's start. The owner is gone when no process has that PID, or when the
process that has it started at another moment (the PID was reused), or when it is a
zombie. Only then may its money be reclaimed.

Start tokens, per OS (no psutil):

* Linux: ``<boot id>:<start time in clock ticks>`` from ``/proc/sys/kernel/random/boot_id``
  and field 22 of ``/proc/<pid>/stat``; exact, and different after a reboot.
* Windows: the process creation time (``GetProcessTimes``, 100 ns units).
* Other POSIX systems (macOS, BSD): ``ps -o lstart= -p PID`` (to the second), with
  ``os.kill(pid, 0)`` deciding whether the PID exists at all.

When the OS gives no token for a process that does exist (``ps`` missing, access
denied), the token is ``""`` and the owner counts as alive while its PID exists:
money is never released on a guess. Owners are judged only on their own machine: on a
team database every row names its host, each install reclaims its own host's orphans,
and what a machine gone for good held is released by a person with ``sparklio ledger
release-host HOST --yes`` (core/ledger/reservations.py, docs/team.md).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["PROVIDER_JOB_PREFIX", "ProcessOwner", "is_gone", "provider_job_owner", "start_token", "this_process"]

# The start token of rows held by a provider's batch job rather than by a process
# (core/dispatch/provider_batch.py): such a job outlives the process that submitted it,
# and its rows are settled when its results are collected, never reclaimed as orphans.
PROVIDER_JOB_PREFIX = "provider-job:"


@dataclass(frozen=True)
class ProcessOwner:
    pid: int
    start: str  # the start token; "" when the OS gave none


@lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def _linux_token(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = stat[stat.rfind(b")") + 2 :].split()
    if not fields or fields[0] in (b"Z", b"X"):  # a zombie (or dead) process has ended
        return None
    return f"{_boot_id()}:{fields[19].decode('ascii')}"  # field 22 overall: starttime


def _windows_token(pid: int) -> str | None:  # pragma: no cover - exercised on Windows only
    if sys.platform != "win32":  # only called on Windows; the check tells mypy that WinDLL exists below
        raise NotImplementedError("Windows only")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return "" if ctypes.get_last_error() == 5 else None  # 5: access denied (it exists)
    try:
        code = wintypes.DWORD()
        if kernel32.GetExitCodeProcess(handle, ctypes.byref(code)) and code.value != 259:  # STILL_ACTIVE
            return None
        created, ignored = wintypes.FILETIME(), wintypes.FILETIME()
        if not kernel32.GetProcessTimes(
            handle, ctypes.byref(created), ctypes.byref(ignored), ctypes.byref(ignored), ctypes.byref(ignored)
        ):
            return ""
        return str(created.dwHighDateTime << 32 | created.dwLowDateTime)
    finally:
        kernel32.CloseHandle(handle)


def _posix_token(pid: int) -> str | None:  # pragma: no cover - exercised off Linux only
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, owned by someone else
    import subprocess  # off Linux only: `sparklio spend`, `history` and `route` read owners too

    try:
        out = subprocess.run(
            ["ps", "-o", "lstart=", "-p", str(pid)],
            capture_output=True,
            text=True,
            timeout=5,
            env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if out.returncode != 0 and not out.stdout.strip():
        return None
    return out.stdout.strip()


def start_token(pid: int) -> str | None:
    """The start token of process ``pid``; None when there is no such (live) process."""
    if pid <= 0:
        return None
    if sys.platform.startswith("linux"):
        return _linux_token(pid)
    if sys.platform == "win32":  # pragma: no cover
        return _windows_token(pid)
    return _posix_token(pid)  # pragma: no cover


_this: ProcessOwner | None = None


def provider_job_owner(job_id: str) -> ProcessOwner:
    """The owner of a provider batch job's reservation and ``in_flight`` rows: no process
    (PID 0), so no ending process releases them; the job's settlement does."""
    return ProcessOwner(0, f"{PROVIDER_JOB_PREFIX}{job_id}")


def this_process() -> ProcessOwner:
    """This process as an owner (computed once per PID, so a forked child gets its own)."""
    global _this
    pid = os.getpid()
    if _this is None or _this.pid != pid:
        _this = ProcessOwner(pid, start_token(pid) or "")
    return _this


def is_gone(pid: int | None, start: str | None) -> bool:
    """True when the owner (``pid``, ``start``) has ended; rows without an owner count as gone.

    Rows without an owner were written before owners were recorded (migration
    ``m004_attempt_lifecycle``), by a version that has since been replaced.
    """
    if start is not None and start.startswith(PROVIDER_JOB_PREFIX):
        return False  # held by a provider's batch job: settled when its results arrive
    if pid is None:
        return True
    current = start_token(pid)
    if current is None:
        return True
    return bool(start) and bool(current) and current != start
