"""An output folder checked before anything is paid for: made if needed, and proven to take files.

Why a probe file rather than ``os.access``: ACLs, read-only mounts and full disks answer
``access`` wrongly; creating and removing a file is what the run will do.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sparklio_desktop.core.errors import SparklioError

__all__ = ["writable_folder"]


def writable_folder(name: str | Path, label: str) -> Path:
    """``name`` as a folder that exists and takes files; else a one-line ``SparklioError``
    starting with ``label`` (the option or field the user filled in)."""
    out = Path(name).expanduser()
    if out.exists() and not out.is_dir():
        raise SparklioError(f"{label}: is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sparklio-write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SparklioError(f"{label}: cannot write there: {exc.strerror or exc}") from None
    return out
