"""Per-checkpoint choices the user made, kept in one small JSON file next to the weights.

Two choices live here: "I trust this pickle file" (a ``.ckpt``/``.bin``/``.pt`` can run
code when loaded, so loading one needs an explicit opt-in per file) and "treat this
checkpoint as type X" (the probe can be wrong about merged or pruned checkpoints).

Entries are keyed by the resolved absolute path and carry the file's size and mtime:
when the file changes, the entry no longer applies. A replaced file is a different
file, and trusting it again must be a fresh decision.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.core.local.sd.diffusers_dirs import folder_files
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.settings import paths

logger = logging.getLogger(__name__)

STORE_FILENAME = "checkpoints.json"
_VERSION = 1

PICKLE_WARNING = (
    "This checkpoint is a pickle file (.ckpt, .bin or .pt). Loading a pickle file can run "
    "any code its author put in it, with your user's rights. Only trust files from a source "
    "you trust; prefer the .safetensors version of the model when one exists."
)


def default_weights_dir(create: bool = True) -> Path:
    """Where Sparklio keeps (or links) the checkpoints it manages itself."""
    folder = paths.data_dir(create=create) / "weights" / "sd"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one version of a checkpoint file or diffusers folder."""

    path: str
    size: int
    mtime_ns: int


def fingerprint(path: Path) -> Fingerprint:
    """Resolved path + size + mtime; a folder counts all its files (newest mtime wins)."""
    resolved = path.resolve()
    if resolved.is_dir():
        size = 0
        mtime = 0
        for f in folder_files(resolved):
            st = f.stat()
            size += st.st_size
            mtime = max(mtime, st.st_mtime_ns)
        return Fingerprint(str(resolved), size, mtime)
    st = resolved.stat()
    return Fingerprint(str(resolved), st.st_size, st.st_mtime_ns)


class CheckpointStore:
    """Reads and writes the sidecar JSON; every change is written at once, atomically."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else default_weights_dir() / STORE_FILENAME
        self._entries: dict[str, dict[str, Any]] = self._load()

    def _load(self) -> dict[str, dict[str, Any]]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            entries = data["files"]
            if not isinstance(entries, dict):
                raise ValueError("'files' is not an object")
            return entries
        except (ValueError, KeyError, TypeError) as err:
            # Losing trust is the safe direction: keep the bad file for the user, start empty.
            backup = self.path.with_suffix(".json.bad")
            os.replace(self.path, backup)
            logger.warning("%s was unreadable (%s); moved to %s", self.path, err, backup.name)
            return {}

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"version": _VERSION, "files": self._entries}, indent=2), encoding="utf-8")
        os.replace(tmp, self.path)

    def _current(self, path: Path) -> dict[str, Any] | None:
        """The entry for this path, only if it still describes the file as it is now."""
        if not path.exists():
            return None
        fp = fingerprint(path)
        entry = self._entries.get(fp.path)
        if entry is None or entry.get("size") != fp.size or entry.get("mtime_ns") != fp.mtime_ns:
            return None
        return entry

    def _update(self, path: Path, **changes: Any) -> None:
        fp = fingerprint(path)
        entry = dict(self._current(path) or {})
        entry.update(size=fp.size, mtime_ns=fp.mtime_ns, **changes)
        entry = {k: v for k, v in entry.items() if v is not None and v is not False}
        if set(entry) <= {"size", "mtime_ns"}:
            self._entries.pop(fp.path, None)
        else:
            self._entries[fp.path] = entry
        self._save()

    def is_pickle_trusted(self, path: Path) -> bool:
        entry = self._current(path)
        return bool(entry and entry.get("allow_pickle"))

    def trust_pickle(self, path: Path, *, confirm: bool) -> None:
        """Opt in to loading this one pickle file. ``confirm`` must be True: the caller
        states that the user saw :data:`PICKLE_WARNING` and agreed."""
        if confirm is not True:
            raise ValueError("trust_pickle needs confirm=True after showing PICKLE_WARNING")
        self._update(path, allow_pickle=True)

    def type_override(self, path: Path) -> ModelType | None:
        entry = self._current(path)
        if not entry or "type" not in entry:
            return None
        try:
            return ModelType(entry["type"])
        except ValueError:
            return None

    def set_type_override(self, path: Path, model_type: ModelType | None) -> None:
        """Force the type the probe reports; ``None`` goes back to detection."""
        self._update(path, type=None if model_type is None else ModelType(model_type).value)

    def forget(self, path: Path) -> None:
        """Drop every choice about this path (after a delete)."""
        key = str(path.resolve())
        if self._entries.pop(key, None) is not None:
            self._save()
