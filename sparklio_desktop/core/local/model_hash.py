"""The AutoV2 hash of a checkpoint or LoRA file, as AUTOMATIC1111 and Civitai show it.

AutoV2 is the first 10 hex digits of the file's SHA-256. Reading a 2 to 7 GB file takes
seconds, so each hash is computed once and kept in ``<data>/model-hashes.json`` under the
file's resolved path, its size and its modification time: a file replaced in place gets
a new hash, a file that did not change is never read again. A diffusers *folder* has no
AutoV2 hash (A1111 hashes single files only): :func:`autov2_hash` answers None for it.

The cache is a small JSON file written atomically; a damaged one is forgotten, never an
error (it is only a cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from sparklio_desktop.core.settings import paths

__all__ = ["CACHE_FILENAME", "autov2_hash", "sha256_file"]

CACHE_FILENAME = "model-hashes.json"
_CHUNK = 1 << 20
_lock = threading.Lock()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _read_cache(cache: Path) -> dict[str, dict[str, object]]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_cache(cache: Path, data: dict[str, dict[str, object]]) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".model-hashes-", dir=cache.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=0, sort_keys=True)
        os.replace(tmp, cache)
    except OSError:
        return  # a cache that cannot be written only costs a re-read next time


def autov2_hash(path: Path, *, cache: Path | None = None) -> str | None:
    """The AutoV2 hash of the file at ``path`` (computed once, then read from the cache),
    or None for a folder or a file that cannot be read."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_file():
        return None
    cache = cache or paths.data_dir() / CACHE_FILENAME
    key = str(path.resolve())
    with _lock:
        entry = _read_cache(cache).get(key)
        if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            sha = entry.get("sha256")
            if isinstance(sha, str) and len(sha) == 64:
                return sha[:10]
    try:
        sha = sha256_file(path)
    except OSError:
        return None
    with _lock:
        data = _read_cache(cache)
        data[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha}
        _write_cache(cache, data)
    return sha[:10]
