"""A real, throwaway Redis for the shared-cache tests: ``redis-server`` on loopback.

Each server runs in the foreground in a temporary folder, on a free port, with nothing
saved to disk (``--save '' --appendonly no``), and is stopped by its fixture. Tests that
need one are skipped, with the reason, only when the binary is missing; ``.ci/run``
installs it (the Debian package ``redis-server``), so CI always runs them.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server_process import free_port, start_and_wait

REDIS_SERVER = shutil.which("redis-server")
MISSING = "redis-server is not installed (apt-get install redis-server; .ci/run installs it)"


def _command(sock: socket.socket, *parts: str) -> bytes:
    wire = f"*{len(parts)}\r\n" + "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)
    sock.sendall(wire.encode())
    return sock.recv(65536)


class RedisServer:
    """One ``redis-server`` process; ``password`` sets ``requirepass``."""

    def __init__(self, password: str | None = None) -> None:
        if REDIS_SERVER is None:
            pytest.skip(MISSING)
        self.password = password
        self.port = 0
        self._folder = Path(tempfile.mkdtemp(prefix="sparklio-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start (or start again, on the same port, empty) and wait until it answers."""
        assert REDIS_SERVER is not None
        self.port = self.port or free_port()  # started again: the same port, as a restarted Redis
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        self._process = start_and_wait(
            args,
            name="redis-server",
            port=self.port,
            answers=self._answers,
            timeout_s=10,
            poll_s=0.02,
            cwd=self._folder,
        )
        return self

    def _answers(self) -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2) as sock:
            return _command(sock, "PING").startswith((b"+PONG", b"-NOAUTH"))
        return False

    def command(self, *parts: str) -> bytes:
        """One command, raw (authenticated first when there is a password)."""
        with socket.create_connection(("127.0.0.1", self.port), 2) as sock:
            if self.password:
                assert _command(sock, "AUTH", self.password).startswith(b"+OK")
            return _command(sock, *parts)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._folder, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_session_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def redis_server(redis_session_server: RedisServer) -> RedisServer:
    """The session's Redis, emptied for this test."""
    assert redis_session_server.command("FLUSHALL").startswith(b"+OK")
    return redis_session_server


@pytest.fixture
def own_redis_server() -> Iterator[RedisServer]:
    """A Redis of this test's own, which it may stop (Redis going down mid-session)."""
    server = RedisServer().start()
    yield server
    server.close()
