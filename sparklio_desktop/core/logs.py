"""The log: ``<data folder>/logs/sparklio.log``, rotated, redacted; set up once per process.

Why a file: an installed app has no terminal, and a creator reporting a problem needs
something to send. What goes there: warnings and errors by default (``SPARKLIO_LOG_LEVEL``
= ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` or a number changes it), each with its time,
level, logger and process; a failed attempt with its request id, provider, model and the
provider's (already redacted) error (core/dispatch/record.py); an unhandled exception with
its traceback (the window's hook, ui/qt_log.py; the command line's own catch, cli.py).
The file turns over at :data:`MAX_BYTES` and keeps :data:`BACKUPS` old ones
(``sparklio.log.1`` … ``.5``): a few megabytes at most, whatever happens.

What never goes there: API keys and prompts. Every record passes :class:`RedactingFilter`
on its way to the file or the terminal: the key shapes core/redact.py knows (``sk-…``,
``sk-ant-…``, ``AIza…``, bearer headers, ``api_key=…``), the keys this process has read
(keyring, session, environment: :func:`~sparklio_desktop.core.redact.remember_secret`),
and the values of key-like environment variables are replaced, in the message, its
arguments and any traceback. No code logs a prompt; the ledger keeps the only preview
(``decisions.prompt_preview``).

The log is a convenience, never a reason not to start: a folder or file that cannot be
written (a read-only data folder, a file in the folder's place) leaves the process
logging to standard error only, with one line that says so, and no traceback. Standard
error keeps what Python printed there before (a warning's bare message), so the command
line reads as it did. No Qt here: the window adds Qt's own messages (ui/qt_log.py).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from sparklio_desktop.core.redact import known_secrets, redact
from sparklio_desktop.core.settings import paths

__all__ = [
    "BACKUPS",
    "LEVEL_VARIABLE",
    "LOG_FILENAME",
    "LOGS_FOLDER",
    "MAX_BYTES",
    "RedactingFilter",
    "active_log_file",
    "log_path",
    "log_unhandled",
    "logs_dir",
    "setup_logging",
    "shutdown_logging",
]

LOGS_FOLDER = "logs"
LOG_FILENAME = "sparklio.log"
MAX_BYTES = 1_000_000
BACKUPS = 5
LEVEL_VARIABLE = "SPARKLIO_LOG_LEVEL"
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"

# Environment variables whose values are secrets (OPENAI_API_KEY, SPARKLIO_KEY_<ID>, *_TOKEN…).
_SECRET_VARIABLE = re.compile(r"(^SPARKLIO_KEY_|_API_KEY$|_KEY$|_TOKEN$|_SECRET$|PASSWORD)", re.IGNORECASE)
_MARK = "_sparklio_handler"  # on the handlers this module installs, so a second setup replaces them


def logs_dir() -> Path:
    """The folder of the log files (Help → Open logs folder opens it)."""
    return paths.data_dir(create=False) / LOGS_FOLDER


def log_path() -> Path:
    return logs_dir() / LOG_FILENAME


def _environment_secrets() -> list[str]:
    """Values of key-like variables; short ones (``SOME_KEY=true``) are not keys, and
    replacing them would blank ordinary words out of every line."""
    return [v for name, v in os.environ.items() if len(v.strip()) >= 8 and _SECRET_VARIABLE.search(name)]


class RedactingFilter(logging.Filter):
    """Replaces secrets in a record before any handler formats it: the message with its
    arguments, the traceback, the stack. ``extra``: secrets to remove besides the ones the
    process knows (tests)."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        super().__init__()
        self._extra = tuple(extra)
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_sparklio_redacted", False):
            return True  # a record reaches the file's and the terminal's handler: redact once
        secrets = [*self._extra, *known_secrets(), *_environment_secrets()]
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what was given, redacted
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message, secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, secrets)
        record._sparklio_redacted = True
        return True


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error as it is when a record comes (tests and ``contextlib.redirect_stderr``
    swap it), with Python's last-resort format: the bare message, as before this module."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _value: object) -> None:
        pass

    def filter(self, record: logging.LogRecord) -> bool:
        """``extra={"file_only": True}``: for the file alone (a traceback the terminal shows its own way).
        No standard error at all (a windowed app on Windows): nothing to write to."""
        if sys.stderr is None or getattr(record, "file_only", False):
            return False
        return bool(super().filter(record))


class _FileHandler(logging.Handler):
    """The log file, made by the first record: ``logging.handlers`` (and pickle, which it
    imports) loads only then, so a command that logs nothing pays nothing for it. If the
    file cannot be written after all (its folder cannot be made, the disk filled up, the
    folder went read-only), it says so once on standard error and goes quiet."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.broken = False
        self._file: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.broken:
            return
        try:
            if self._file is None:
                from logging.handlers import RotatingFileHandler

                self.path.parent.mkdir(parents=True, exist_ok=True)
                rotating = RotatingFileHandler(self.path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
                rotating.setFormatter(self.formatter)
                rotating.handleError = self.handleError  # type: ignore[method-assign]  # its failures are ours
                self._file = rotating
            self._file.emit(record)
        except Exception:  # noqa: BLE001 - logging must never break the app
            self.handleError(record)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        super().close()

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        if self.broken:
            return
        self.broken = True
        _say_unwritable(self.path, sys.exc_info()[1])


def _say_unwritable(path: Path, error: BaseException | None) -> None:
    """One line on standard error: the log cannot be written. Not when the whole data
    folder is read-only: every command already says so in its own one-line error."""
    data = paths.data_dir(create=False)
    if isinstance(error, OSError) and data.is_dir() and not os.access(data, os.W_OK):
        return
    why = getattr(error, "strerror", None) or str(error) or type(error).__name__
    line = f"sparklio: warning: cannot write the log file {path} ({why}); logging to standard error only"
    print(line, file=sys.stderr)


def active_log_file() -> Path | None:
    """The file this process logs to now, or None (not set up, or it could not be written)."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _FileHandler) and getattr(handler, _MARK, False) and not handler.broken:
            return handler.path
    return None


def log_unhandled(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None, *, where: str = "the app"
) -> str:
    """Log an exception nobody caught, with its traceback (to the file alone when there is
    one, else to standard error as before), and return the one line the user is shown."""
    file = active_log_file()
    logging.getLogger("sparklio_desktop.unhandled").error(
        "unhandled error in %s", where, exc_info=(kind, value, tb), extra={"file_only": file is not None}
    )
    first = str(value).strip().splitlines()[0] if str(value).strip() else ""
    line = redact(f"{kind.__name__}: {first}" if first else kind.__name__, known_secrets())
    return f"{line} (details in {file})" if file is not None else line


def _level() -> tuple[int, str | None]:
    """The level asked for by ``SPARKLIO_LOG_LEVEL`` (default WARNING), and a complaint
    about a value that is not a level."""
    raw = os.environ.get(LEVEL_VARIABLE, "").strip()
    if not raw:
        return logging.WARNING, None
    if raw.isdigit():
        return int(raw), None
    level = logging.getLevelName(raw.upper())
    if isinstance(level, int):
        return level, None
    return logging.WARNING, f"{LEVEL_VARIABLE}={raw!r} is not a level (DEBUG, INFO, WARNING, ERROR); using WARNING"


def shutdown_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed (the end of a command,
    of the window; a test's next command sets up its own)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()


def setup_logging() -> Path | None:
    """Send this process's log records to the rotating file and to standard error, through
    the redacting filter; returns the file's path, or None when it cannot be written.

    Called by the command line for every command (cli.py) and so for the window too. A
    second call (tests run many commands in one process, each with its own data folder)
    replaces the handlers of the first. The root logger's level is changed only when
    ``SPARKLIO_LOG_LEVEL`` asks for one.
    """
    shutdown_logging()
    root = logging.getLogger()
    level, complaint = _level()
    if os.environ.get(LEVEL_VARIABLE, "").strip() and complaint is None:
        root.setLevel(level)
    redacting = RedactingFilter()
    stderr = _StderrHandler()
    stderr.setLevel(max(level, logging.WARNING))  # the terminal shows what it showed before, no more
    handlers: list[logging.Handler] = [stderr]
    path = log_path()
    target: Path | None = path
    try:
        if path.parent.exists() and not path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{path.parent} is a file, not a folder")
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "a folder is in its place")
        file_handler = _FileHandler(path)  # the folder and the file come with the first record
    except OSError as exc:
        _say_unwritable(path, exc)
        target = None
    else:
        file_handler.setLevel(level)
        file_handler.setFormatter(logging.Formatter(FILE_FORMAT))
        handlers.append(file_handler)
    for handler in handlers:
        handler.addFilter(redacting)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    if complaint:
        logging.getLogger(__name__).warning("%s", complaint)
    return target
