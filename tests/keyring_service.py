"""A real, private Secret Service for tests, and a keyring with no backend at all.

``tests/conftest.py`` imports the fixtures from here:

    from tests.keyring_service import no_keyring_backend, secret_service  # noqa: F401

``secret_service`` (session scope) starts a private D-Bus session bus and an unlocked
gnome-keyring on it, points this process at them and selects keyring's Secret Service
backend, so tests exercise the same code path as a Linux desktop without ever touching
the developer's own keyring: the bus, ``HOME``, ``XDG_*`` (the keyring files and the
daemon's control socket) all live in temporary folders. A private bus configuration
with no service directories keeps D-Bus from auto-starting anything else. Where
``dbus-daemon`` or ``gnome-keyring-daemon`` are missing (macOS, Windows, a bare CI
image) the tests that use it are skipped, saying what to install.

``no_keyring_backend`` selects keyring's ``fail`` backend, what keyring itself picks
on a machine with no keyring, for the :class:`KeyringUnavailable` path.
``bus_without_secret_service`` is the realistic variant: a session bus on which nothing
provides ``org.freedesktop.secrets`` (a desktop without gnome-keyring, a CI runner),
with keyring left to detect its backend by itself.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

__all__ = ["SecretServiceSession", "bus_without_secret_service", "no_keyring_backend", "secret_service"]

_PASSWORD = b"sparklio-test"
_START_TIMEOUT_S = 15.0
_ENV_VARS = (
    "DBUS_SESSION_BUS_ADDRESS",
    "HOME",
    "XDG_DATA_HOME",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_RUNTIME_DIR",
    "GNOME_KEYRING_CONTROL",
)

# A session bus that allows everything for its owner and activates nothing: without
# <servicedir>, a call racing the daemon's start cannot spawn a second, locked keyring.
_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={socket_dir}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@dataclass(frozen=True)
class SecretServiceSession:
    """What a test may want to know about the running service."""

    bus_address: str
    home: Path
    backend: KeyringBackend

    @property
    def keyrings_dir(self) -> Path:
        """Where gnome-keyring writes its files; proof that a key really was stored."""
        return self.home / ".local" / "share" / "keyrings"


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()[-2000:]
    except OSError:
        return ""


def _skip_without(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.skip(
            f"needs {' and '.join(missing)} for a real Secret Service: apt-get install gnome-keyring dbus (Linux only)"
        )


def _short_tmpdir() -> Path:
    # Unix socket paths are limited to ~108 bytes: keep sockets in a short /tmp folder.
    return Path(tempfile.mkdtemp(prefix="sparklio-ss-", dir="/tmp" if os.path.isdir("/tmp") else None))


def _start_bus(socket_dir: Path, log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str]:
    config = socket_dir / "bus.conf"
    config.write_text(_BUS_CONFIG.format(socket_dir=socket_dir / "bus"))
    (socket_dir / "bus").mkdir()
    proc = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--print-address=1", "--nofork"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _START_TIMEOUT_S)
    address = proc.stdout.readline().decode().strip() if ready else ""
    # The daemon prints nothing more; close our end now so no pipe outlives the test.
    proc.stdout.close()
    if not address:
        _stop(proc)
        raise RuntimeError("dbus-daemon printed no address")
    return proc, address


def _start_keyring(env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    # --unlock reads the password from stdin until EOF and creates (or unlocks) the
    # "login" keyring with it; without it every write ends in "Prompt dismissed".
    proc = subprocess.Popen(
        ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
        stdin=subprocess.PIPE,
        stdout=log,
        stderr=log,
        env=env,
    )
    assert proc.stdin is not None
    proc.stdin.write(_PASSWORD)
    proc.stdin.close()
    return proc


def _wait_for_unlocked_collection(proc: subprocess.Popen[bytes]) -> None:
    import secretstorage

    deadline = time.monotonic() + _START_TIMEOUT_S
    last_error = "not started"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gnome-keyring-daemon exited with {proc.returncode}")
        try:
            with closing(secretstorage.dbus_init()) as conn:
                if secretstorage.check_service_availability(conn):
                    collection = secretstorage.get_default_collection(conn)
                    if not collection.is_locked():
                        return
                    last_error = "default collection is locked"
        except secretstorage.exceptions.SecretStorageException as exc:
            last_error = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"Secret Service not ready after {_START_TIMEOUT_S}s: {last_error}")


@pytest.fixture(scope="session")
def secret_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretServiceSession]:
    """A running, unlocked gnome-keyring on a private bus, selected as keyring's backend."""
    _skip_without("dbus-daemon", "gnome-keyring-daemon")
    try:
        import secretstorage  # noqa: F401 - keyring's Linux backend needs it
        from keyring.backends import SecretService
    except ImportError as exc:  # pragma: no cover - keyring depends on it on Linux
        pytest.skip(f"secretstorage is not importable: {exc}")

    home = tmp_path_factory.mktemp("secret-service-home")
    socket_dir = _short_tmpdir()
    runtime_dir = socket_dir / "run"
    runtime_dir.mkdir(mode=0o700)
    bus_log_path = home / "dbus-daemon.log"
    keyring_log_path = home / "gnome-keyring.log"

    saved_env = {name: os.environ.get(name) for name in _ENV_VARS}
    saved_backend = keyring.core._keyring_backend  # private: restoring "not chosen yet" needs it
    bus: subprocess.Popen[bytes] | None = None
    daemon: subprocess.Popen[bytes] | None = None

    def tear_down() -> None:
        _stop(daemon)
        _stop(bus)
        keyring.core._keyring_backend = saved_backend
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(socket_dir, ignore_errors=True)

    with open(bus_log_path, "wb") as bus_log, open(keyring_log_path, "wb") as keyring_log:
        try:
            bus, address = _start_bus(socket_dir, bus_log)
            os.environ.pop("GNOME_KEYRING_CONTROL", None)
            os.environ.update(
                DBUS_SESSION_BUS_ADDRESS=address,
                HOME=str(home),
                XDG_DATA_HOME=str(home / ".local" / "share"),
                XDG_CONFIG_HOME=str(home / ".config"),
                XDG_CACHE_HOME=str(home / ".cache"),
                XDG_RUNTIME_DIR=str(runtime_dir),
            )
            daemon = _start_keyring(dict(os.environ), keyring_log)
            _wait_for_unlocked_collection(daemon)
        except (RuntimeError, OSError) as exc:
            tear_down()
            pytest.fail(
                f"could not start a private Secret Service: {exc}\n"
                f"dbus-daemon: {_read_log(bus_log_path)}\n"
                f"gnome-keyring-daemon: {_read_log(keyring_log_path)}"
            )
        backend = SecretService.Keyring()  # type: ignore[no-untyped-call]
        keyring.set_keyring(backend)
        try:
            yield SecretServiceSession(bus_address=address, home=home, backend=backend)
        finally:
            tear_down()


@pytest.fixture
def no_keyring_backend() -> Iterator[KeyringBackend]:
    """keyring's ``fail`` backend for one test: what a machine without a keyring gets."""
    saved_backend = keyring.core._keyring_backend
    backend = fail.Keyring()  # type: ignore[no-untyped-call]
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.core._keyring_backend = saved_backend


@pytest.fixture
def bus_without_secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private session bus with no Secret Service; keyring re-detects its backend.

    Yields the bus address. keyring's own configuration (``PYTHON_KEYRING_BACKEND``,
    ``keyringrc.cfg`` under ``XDG_CONFIG_HOME``) is hidden so the developer's cannot
    change the outcome.
    """
    _skip_without("dbus-daemon")
    socket_dir = _short_tmpdir()
    saved_backend = keyring.core._keyring_backend
    bus: subprocess.Popen[bytes] | None = None
    with open(tmp_path / "dbus-daemon.log", "wb") as log:
        try:
            bus, address = _start_bus(socket_dir, log)
            monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
            monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
            monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
            keyring.core._keyring_backend = None  # detect again on next use
            yield address
        finally:
            keyring.core._keyring_backend = saved_backend
            _stop(bus)
            shutil.rmtree(socket_dir, ignore_errors=True)
