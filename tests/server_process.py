"""What the tests' throwaway servers share: a free loopback port, and starting a server
process then waiting until it answers (tests/postgres_server.py, tests/redis_server.py).

A server that exits while starting is reported with its exit status, one that never answers
with its port: either is a RuntimeError, so a broken install fails the test that needed it
instead of hanging the session.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["free_port", "start_and_wait"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_and_wait(
    args: Sequence[str],
    *,
    name: str,
    port: int,
    answers: Callable[[], bool],
    timeout_s: float,
    poll_s: float,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``args`` (output discarded) and return the process once ``answers()`` is true.

    ``name`` and ``port`` are for the messages: the server exited (with its status) or did
    not answer within ``timeout_s``; ``answers`` is polled every ``poll_s`` seconds.
    """
    process = subprocess.Popen(list(args), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} on port {port}")
        if answers():
            return process
        time.sleep(poll_s)
    process.kill()
    process.wait()
    raise RuntimeError(f"{name} did not answer on port {port}")
