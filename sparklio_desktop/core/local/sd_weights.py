"""Where checkpoints live, listing them, and importing or deleting them.

Sparklio's own folder is ``<data dir>/weights/sd``. Users also add folders they already
have (AUTOMATIC1111's ``models/Stable-diffusion``, ComfyUI's ``models/checkpoints``):
those are read in place, never copied, because checkpoints are 2–7 GB each.

Pickle checkpoints (``.ckpt``, ``.bin``, ``.pt``) are listed so users see them, but
they are refused for loading and import until the user trusts that one file
(:meth:`CheckpointStore.trust_pickle`), because unpickling can run code.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sparklio_desktop.core.local.errors import LocalModelError, PickleRefused
from sparklio_desktop.core.local.sd_diffusers import folder_weights, is_diffusers_folder
from sparklio_desktop.core.local.sd_probe import PICKLE_SUFFIXES
from sparklio_desktop.core.local.sd_store import CheckpointStore, default_weights_dir

Format = Literal["diffusers", "safetensors", "pickle"]
_MAX_DEPTH = 4  # A1111/ComfyUI users sort checkpoints into a few levels of subfolders
_PARTIAL_SUFFIX = ".partial"
_CHUNK = 16 * 1024 * 1024

CopyProgress = Callable[[int, int], None]
"""(bytes copied, bytes in all): a 7 GB copy takes a minute, the UI shows how far it is."""


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint on disk, as found by :func:`list_checkpoints` (no probing)."""

    path: Path
    name: str
    format: Format
    size_bytes: int
    folder: Path  # the weights folder it was found under
    pickle: bool
    trusted: bool  # for a pickle: the user opted in to loading this exact file
    is_link: bool

    @property
    def loadable(self) -> bool:
        return not self.pickle or self.trusted


def weights_folders(user_folders: Iterable[Path] = ()) -> list[Path]:
    """Sparklio's own folder first, then the user's, each once."""
    seen: set[Path] = set()
    out: list[Path] = []
    for folder in [default_weights_dir(), *map(Path, user_folders)]:
        resolved = folder.expanduser().resolve()
        if resolved not in seen and resolved.is_dir():
            seen.add(resolved)
            out.append(folder.expanduser())
    return out


def _is_companion(name: str) -> bool:
    """A1111 keeps ``<model>.vae.pt`` beside a checkpoint: a VAE, not a model."""
    lower = name.lower()
    return any(lower.endswith(f".vae{s}") for s in (".pt", ".ckpt", ".safetensors", ".bin"))


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def describe(path: Path, folder: Path | None = None, store: CheckpointStore | None = None) -> Checkpoint:
    """The :class:`Checkpoint` for one path; raises if it is not a checkpoint."""
    store = store if store is not None else CheckpointStore()
    path = Path(path)
    if path.is_dir() and is_diffusers_folder(path):
        fmt: Format = "diffusers"
        is_pickle = folder_weights(path).is_pickle
    elif path.is_file() and path.suffix.lower() == ".safetensors":
        fmt, is_pickle = "safetensors", False
    elif path.is_file() and path.suffix.lower() in PICKLE_SUFFIXES:
        fmt, is_pickle = "pickle", True
    else:
        raise LocalModelError(f"{path.name} is not a checkpoint (.safetensors, .ckpt or a diffusers folder)")
    return Checkpoint(
        path=path,
        name=path.name if fmt == "diffusers" else path.stem,
        format=fmt,
        size_bytes=_size(path),
        folder=folder if folder is not None else path.parent,
        pickle=is_pickle,
        trusted=is_pickle and store.is_pickle_trusted(path),
        is_link=path.is_symlink(),
    )


def list_checkpoints(folders: Iterable[Path] = (), *, store: CheckpointStore | None = None) -> list[Checkpoint]:
    """Every checkpoint in the default folder and ``folders``, sorted by name.

    Cheap: stats files, reads no weights. A file reachable twice (a link in Sparklio's
    folder to a file in an A1111 folder) is listed once, by the first path found.
    """
    store = store if store is not None else CheckpointStore()
    found: list[Checkpoint] = []
    seen: set[Path] = set()
    for folder in weights_folders(folders):
        for path in _scan(folder):
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                found.append(describe(path, folder, store))
            except (LocalModelError, OSError):
                continue  # vanished or unreadable while we looked: skip it
    return sorted(found, key=lambda c: (c.name.lower(), str(c.path)))


def _scan(folder: Path) -> Iterable[Path]:
    base_depth = len(folder.parts)
    for root, dirs, files in os.walk(folder, followlinks=True):
        here = Path(root)
        if is_diffusers_folder(here) and here != folder:
            dirs.clear()
            yield here
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if len(here.parts) - base_depth < _MAX_DEPTH else []
        for name in sorted(files):
            suffix = Path(name).suffix.lower()
            if name.startswith(".") or _is_companion(name):
                continue
            if suffix == ".safetensors" or suffix in PICKLE_SUFFIXES:
                yield here / name


def import_checkpoint(
    source: Path,
    *,
    mode: Literal["copy", "link"] = "copy",
    store: CheckpointStore | None = None,
    dest_dir: Path | None = None,
    progress: CopyProgress | None = None,
) -> Checkpoint:
    """Copy or link a checkpoint into Sparklio's folder.

    A link costs no disk but breaks if the original moves; a copy is independent. An
    untrusted pickle file is refused: importing is a step towards loading it. A copy
    keeps the user's trust and type choices, since it is byte-identical.
    """
    store = store if store is not None else CheckpointStore()
    source = Path(source).expanduser()
    original = describe(source, store=store)
    if original.pickle and not original.trusted:
        raise PickleRefused(source)
    dest_dir = dest_dir if dest_dir is not None else default_weights_dir()
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / source.name
    if target.exists() or target.is_symlink():
        raise LocalModelError(f"{target.name} is already in {dest_dir}")
    if mode == "link":
        try:
            os.symlink(source.resolve(), target, target_is_directory=source.is_dir())
        except OSError as err:
            raise LocalModelError(
                f"cannot link {source.name} here ({err.strerror}); on Windows links need Developer Mode: copy instead"
            ) from err
    elif mode == "copy":
        partial = target.with_name(target.name + _PARTIAL_SUFFIX)
        try:
            _copy(source, partial, progress)
            os.replace(partial, target)
        except BaseException:
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
            raise
        if original.pickle:
            store.trust_pickle(target, confirm=True)
        override = store.type_override(source)
        if override is not None:
            store.set_type_override(target, override)
    else:
        raise ValueError(f"mode must be 'copy' or 'link', not {mode!r}")
    return describe(target, dest_dir, store)


def _copy(source: Path, dest: Path, progress: CopyProgress | None) -> None:
    """Copy a file or folder in chunks, keeping mtimes (so trust fingerprints still match)."""
    files = [f for f in sorted(source.rglob("*")) if f.is_file()] if source.is_dir() else [source]
    total = sum(f.stat().st_size for f in files)
    done = 0
    for f in files:
        out = dest / f.relative_to(source) if source.is_dir() else dest
        out.parent.mkdir(parents=True, exist_ok=True)
        with f.open("rb") as src, out.open("wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        shutil.copystat(f, out)
    if progress is not None and total == 0:
        progress(0, 0)


def delete_checkpoint(checkpoint: Checkpoint | Path, *, confirm: bool, store: CheckpointStore | None = None) -> None:
    """Delete a checkpoint from disk; ``confirm=True`` must be passed explicitly.

    A link is removed, never what it points to. Deleting is allowed for untrusted
    pickle files too: removing a file runs none of its code.
    """
    if confirm is not True:
        raise ValueError("delete_checkpoint needs confirm=True")
    path = checkpoint.path if isinstance(checkpoint, Checkpoint) else Path(checkpoint)
    store = store if store is not None else CheckpointStore()
    if path.is_symlink():
        path.unlink()
        return
    describe(path, store=store)  # refuses anything that is not a checkpoint
    resolved = path.resolve()
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    store.forget(resolved)
