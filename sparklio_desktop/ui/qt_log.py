"""Qt's own messages (warnings about fonts, platform plugins, style sheets) into the log.

Why: an installed app has no terminal; what Qt prints to standard error is lost, yet it
is often what explains a blank window or a missing icon. :func:`install` routes every
``qDebug``/``qWarning``/``qCritical`` through Python's logging under the ``qt`` logger, so
it reaches the log file (core/logs.py: redacted, rotated, at ``SPARKLIO_LOG_LEVEL``) and,
for warnings and worse, standard error as before. The previous handler comes back when
the window closes (pytest-qt installs its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

__all__ = ["install"]

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

_log = logging.getLogger("qt")


def _handle(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    category = getattr(context, "category", None)
    prefix = f"{category}: " if category and category != "default" else ""
    _log.log(_LEVELS.get(kind, logging.WARNING), "%s%s", prefix, message)


def install() -> Callable[[], Any]:
    """Route Qt's messages to the log; returns what puts the previous handler back."""
    previous = qInstallMessageHandler(_handle)

    def restore() -> None:
        qInstallMessageHandler(previous)

    return restore
