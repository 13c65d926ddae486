"""Running as an installed app: Help → Open logs folder, Qt's messages and unhandled errors
in the log, and one window per data folder (ui/single_instance.py), with a real
``QLocalServer`` in this process and real second launches as processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QDir, QObject, Qt, QUrl, Slot, qWarning
from PySide6.QtGui import QDesktopServices
from PySide6.QtNetwork import QLocalSocket
from PySide6.QtWidgets import QMainWindow

from sparklio_desktop.app import build_window
from sparklio_desktop.core import logs
from sparklio_desktop.ui import qt_log
from sparklio_desktop.ui.single_instance import SingleInstance, bring_to_front, exempt, server_name


@pytest.fixture(autouse=True)
def closed_logging() -> Iterator[None]:
    yield
    logs.shutdown_logging()


class _Opened(QObject):
    """Takes the place of the file manager: records the URLs the app asks to open."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_help_open_logs_folder_opens_the_data_folders_logs(qtbot, make_ctx, sparklio_home: Path) -> None:
    window = build_window(make_ctx())
    qtbot.addWidget(window)
    assert window.logs_action in window.menu_actions()
    assert window.logs_action.text().replace("&", "") == "Open logs folder"
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")
    try:
        window.logs_action.trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(u.toLocalFile()) for u in opened.urls] == [sparklio_home / "logs"]
    assert (sparklio_home / "logs").is_dir()  # made, so the file manager has something to show


def test_qt_warnings_reach_the_log_file(qapp, sparklio_home: Path) -> None:
    path = logs.setup_logging()
    assert path is not None
    restore = qt_log.install()
    try:
        qWarning("a Qt warning for the log")
    finally:
        restore()
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")
    assert "WARNING qt" in text and "a Qt warning for the log" in text


def test_an_unhandled_error_is_logged_with_its_traceback_and_shown_in_one_line(sparklio_home: Path, capsys) -> None:
    path = logs.setup_logging()
    assert path is not None
    try:
        raise ValueError("boom with sk-proj-ABCDEFGHIJKLMNOPQRST inside\nand a second line")
    except ValueError as exc:
        line = logs.log_unhandled(type(exc), exc, exc.__traceback__, where="the window")
    assert line == f"ValueError: boom with [REDACTED] inside (details in {path})"
    assert capsys.readouterr().err == ""  # the traceback is for the file alone
    text = path.read_text(encoding="utf-8")
    assert "unhandled error in the window" in text and "Traceback" in text and "test_running_app.py" in text
    assert "ABCDEFGHIJKLMNOPQRST" not in text


# -- one window per data folder -------------------------------------------------------


def test_the_name_is_per_data_folder_and_short(tmp_path: Path) -> None:
    a, b = server_name(tmp_path / "a"), server_name(tmp_path / "b")
    assert a != b and a == server_name(tmp_path / "a" / ".." / "a")
    assert a.startswith("sparklio-") and len(a) < 40


def test_exempt_launches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARKLIO_EXIT_WHEN_READY", raising=False)
    monkeypatch.delenv("SPARKLIO_MULTI_INSTANCE", raising=False)
    assert not exempt(None)
    assert exempt("/tmp/shots")
    monkeypatch.setenv("SPARKLIO_MULTI_INSTANCE", "1")
    assert exempt(None)
    monkeypatch.setenv("SPARKLIO_MULTI_INSTANCE", "0")
    monkeypatch.setenv("SPARKLIO_EXIT_WHEN_READY", "1")
    assert exempt(None)


@pytest.fixture
def guard(qapp, sparklio_home: Path) -> Iterator[SingleInstance]:
    first = SingleInstance(server_name(sparklio_home))
    yield first
    first.close()


def test_a_second_claim_hands_over_to_the_first(qtbot, guard: SingleInstance) -> None:
    assert guard.claim() and guard.server is not None and guard.server.isListening()
    second = SingleInstance(guard.name)
    with qtbot.waitSignal(guard.activationRequested, timeout=5000):
        assert not second.claim()
    assert second.server is None


def _launch(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "SPARKLIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    environment.pop("SPARKLIO_MULTI_INSTANCE", None)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
    )


def _launch_in_background(home: Path, **env: str) -> subprocess.Popen[str]:
    environment = {**os.environ, "SPARKLIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", **env}
    environment.pop("SPARKLIO_MULTI_INSTANCE", None)
    environment.pop("SPARKLIO_EXIT_WHEN_READY", None)
    return subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )


def test_a_second_launch_focuses_the_running_window_and_exits_0(qtbot, guard: SingleInstance) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    window.showMinimized()
    assert guard.claim()
    raised: list[bool] = []
    guard.activationRequested.connect(lambda: (bring_to_front(window), raised.append(True)))
    home = Path(os.environ["SPARKLIO_HOME"])
    # The second launch blocks on its connection while this loop is not running, so it
    # runs in the background and this loop serves it.
    second = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SPARKLIO_HOME": str(home), "QT_QPA_PLATFORM": "offscreen"},
    )
    try:
        qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)
        out, err = second.communicate(timeout=10)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate()
    assert second.returncode == 0, err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and "already running" in err and str(home) in err
    qtbot.waitUntil(lambda: bool(raised), timeout=5000)
    assert not window.windowState() & Qt.WindowState.WindowMinimized
    assert window.isVisible()


def test_a_stale_socket_after_a_crash_is_taken_over(qapp, sparklio_home: Path) -> None:
    import socket

    name = server_name(sparklio_home)
    stale = Path(QDir.tempPath()) / name
    if not hasattr(socket, "AF_UNIX"):
        pytest.skip("named pipes (Windows) leave nothing behind")
    # What a killed window leaves: the socket file, with nobody listening on it.
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(str(stale))
    assert stale.exists()
    fresh = SingleInstance(name)
    try:
        assert not fresh.notify_running()  # nobody answers
        assert fresh.claim() and fresh.server is not None and fresh.server.isListening()
        assert Path(fresh.server.fullServerName()) == stale
    finally:
        fresh.close()
    assert not stale.exists()


def test_exempt_launches_run_beside_a_running_window(qapp, sparklio_home: Path) -> None:
    """A screenshot run and the start-up benchmark are never turned away (real processes)."""
    first = _launch_in_background(sparklio_home)
    try:
        deadline = time.monotonic() + 60
        name = server_name(sparklio_home)
        while time.monotonic() < deadline:  # wait until the first window listens
            probe = QLocalSocket()
            probe.connectToServer(name)
            if probe.waitForConnected(200):
                probe.disconnectFromServer()
                break
            time.sleep(0.2)
        else:
            pytest.fail("the first window never listened")
        ready = _launch(sparklio_home, SPARKLIO_EXIT_WHEN_READY="1")
        assert ready.returncode == 0, ready.stderr
        assert "ready " in ready.stdout and "already running" not in ready.stderr
        handed = _launch(sparklio_home)
        assert handed.returncode == 0 and "already running" in handed.stderr
    finally:
        first.terminate()
        first.communicate(timeout=60)


def test_the_windows_error_hook_logs_the_traceback_and_shows_one_line(qtbot, make_ctx, sparklio_home: Path, capsys):
    from sparklio_desktop.app import show_error
    from sparklio_desktop.core.errors import SparklioError

    window = build_window(make_ctx())
    qtbot.addWidget(window)
    path = logs.setup_logging()
    assert path is not None
    try:
        {}["missing"]
    except KeyError as exc:
        show_error(window, type(exc), exc, exc.__traceback__)
    shown = window.notification.text()
    assert shown == f"KeyError: 'missing' (details in {path})"
    err = capsys.readouterr().err
    assert err == f"sparklio: error: {shown}\n"  # one line, no traceback on the terminal
    text = path.read_text(encoding="utf-8")
    assert "ERROR sparklio_desktop.unhandled [" in text and "unhandled error in the window" in text
    assert "Traceback" in text and "KeyError" in text
    show_error(window, SparklioError, SparklioError("the ledger is busy; try again"), None)
    assert window.notification.text() == "the ledger is busy; try again"
    assert capsys.readouterr().err == "sparklio: error: the ledger is busy; try again\n"
    assert "the ledger is busy; try again" in path.read_text(encoding="utf-8")
