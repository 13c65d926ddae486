"""The data folder, checked once before a command runs, so its problems read as one line.

Everything Sparklio writes lives in one folder (``$SPARKLIO_HOME`` or the platform's user
data folder). When that path is a file, sits under a file, or cannot be created, every
command used to fail deep inside with ``FileExistsError`` or ``NotADirectoryError`` and a
traceback. :func:`check_data_dir` says what is wrong with the path, and where it came
from, before any work (and any paid call) starts.
"""

from __future__ import annotations

import os

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.settings import paths

__all__ = ["DataDirError", "check_data_dir"]


class DataDirError(SparklioError):
    """The data folder is unusable: a file, or a path that cannot be created."""


def check_data_dir() -> None:
    """Create the data folder if needed; raise :class:`DataDirError` when that cannot work."""
    path = paths.data_dir(create=False)
    source = "SPARKLIO_HOME" if os.environ.get("SPARKLIO_HOME") else "the user data folder"
    if path.exists() and not path.is_dir():
        raise DataDirError(
            f"the data folder {path} ({source}) is a file, not a folder; "
            "move it away or point SPARKLIO_HOME at a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"cannot create the data folder {path} ({source}): {exc.strerror or exc}") from None
