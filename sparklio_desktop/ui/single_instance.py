"""One window per user and data folder: a second launch brings the first to the front.

Why: a creator who clicks the start-menu entry while Sparklio is already open (often
hidden behind other windows) expects that window, not a second copy writing the same
ledger and settings. The first window listens on a ``QLocalServer`` (a Unix socket, a
named pipe on Windows) whose name is derived from the user and the data folder
(:func:`server_name`), so another user, or another ``SPARKLIO_HOME`` (tests, portable
copies), never finds it. A second launch connects, sends ``activate``, says so in one
line on standard error and exits 0; the first raises its window (:func:`bring_to_front`).

A socket left behind by a window that crashed answers nothing: the connection fails,
the stale name is removed (``QLocalServer.removeServer``) and this launch listens in its
place. Launches that must never be turned away (``--screenshot``, the start-up
benchmark's ``SPARKLIO_EXIT_WHEN_READY=1``, and any launch with
``SPARKLIO_MULTI_INSTANCE=1``) skip the guard altogether: see :func:`exempt`.
"""

from __future__ import annotations

import getpass
import hashlib
import os
from pathlib import Path

from PySide6.QtCore import QDir, QLockFile, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QWidget

__all__ = ["ACTIVATE", "MULTI_INSTANCE_VARIABLE", "SingleInstance", "bring_to_front", "exempt", "server_name"]

ACTIVATE = b"activate\n"
MULTI_INSTANCE_VARIABLE = "SPARKLIO_MULTI_INSTANCE"
CONNECT_TIMEOUT_MS = 500  # a live window answers at once; this bounds a hung one


def server_name(data_folder: Path) -> str:
    """The server's name for this user and data folder: short (a Unix socket's path is
    limited to about 100 bytes) and free of characters a pipe name cannot hold."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        user = str(os.getuid()) if hasattr(os, "getuid") else "user"
    folder = os.path.normcase(str(Path(data_folder).expanduser().resolve()))
    digest = hashlib.sha256(f"{user}\0{folder}".encode()).hexdigest()[:24]
    return f"sparklio-{digest}"


def exempt(screenshot_dir: str | None) -> bool:
    """Whether this launch runs beside a running window instead of handing over to it."""
    return (
        bool(screenshot_dir)
        or os.environ.get("SPARKLIO_EXIT_WHEN_READY") == "1"
        or os.environ.get(MULTI_INSTANCE_VARIABLE) == "1"
    )


class SingleInstance(QObject):
    """The guard of one data folder. :meth:`claim` first: False means another window
    runs (and was told to come forward); True means this one listens, and emits
    :attr:`activationRequested` when a later launch asks for the window."""

    activationRequested = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server: QLocalServer | None = None
        self._clients: list[QLocalSocket] = []

    def claim(self) -> bool:
        """Become the one window of this folder, or tell the running one to come forward.

        Two launches at once take turns (a lock file beside the socket), so the second
        cannot remove the first one's fresh socket as if it were stale."""
        lock = QLockFile(QDir(QDir.tempPath()).filePath(f"{self.name}.lock"))
        lock.tryLock(2 * CONNECT_TIMEOUT_MS)  # not had in time: go on, as without the lock
        try:
            return self._claim()
        finally:
            lock.unlock()

    def _claim(self) -> bool:
        if self.notify_running():
            return False
        QLocalServer.removeServer(self.name)  # a crashed window's socket: nobody answers on it
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            # Another launch started listening between our try and ours: hand over to it.
            if self.notify_running():
                return False
            return True  # cannot listen (odd temp folder): run unguarded rather than not at all
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def notify_running(self) -> bool:
        """Send ``activate`` to a window listening on this name; whether one took it."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(ACTIVATE)
        sent = socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(CONNECT_TIMEOUT_MS)
        return sent

    def close(self) -> None:
        if self.server is not None:
            self.server.close()  # removes the socket file
            self.server = None

    def _on_connection(self) -> None:
        assert self.server is not None
        while (client := self.server.nextPendingConnection()) is not None:
            self._clients.append(client)
            client.readyRead.connect(lambda c=client: self._on_ready(c))
            client.disconnected.connect(lambda c=client: self._forget(c))
            if client.bytesAvailable():
                self._on_ready(client)

    def _on_ready(self, client: QLocalSocket) -> None:
        while client.canReadLine():
            if bytes(client.readLine().data()) == ACTIVATE:
                self.activationRequested.emit()

    def _forget(self, client: QLocalSocket) -> None:
        if client in self._clients:
            self._on_ready(client)  # a line that came with the disconnect
            self._clients.remove(client)
            client.deleteLater()


def bring_to_front(window: QWidget) -> None:
    """Show ``window`` un-minimised (a maximised one stays maximised), raised and active;
    on X11 also ask the window manager for the focus it may otherwise refuse."""
    from PySide6.QtCore import Qt  # here: its enums take tens of ms to build, and the window builds them anyway
    from PySide6.QtGui import QGuiApplication

    window.setWindowState((window.windowState() & ~Qt.WindowState.WindowMinimized) | Qt.WindowState.WindowActive)
    window.show()
    window.raise_()
    window.activateWindow()
    handle = window.windowHandle()
    if handle is not None and QGuiApplication.platformName() == "xcb":
        handle.requestActivate()
