"""Where checkpoints live, listing them, and importing or deleting them.

Sparklio's own folder is ``<data dir>/weights/sd``. Users also add folders they already
have (AUTOMATIC1111's ``models/Stable-diffusion``, ComfyUI's ``models/checkpoints``):
those are read in place, never copied, because checkpoints are 2–7 GB each.

Pickle checkpoints (``.ckpt``, ``.bin``, ``.pt``) are listed so users see them, but
they are refused for loading and import until the user trusts that one file
(:meth:`CheckpointStore.trust_pickle`), because unpickling can run code.

Weights folders are the user's, so discovery expects anything: links that loop or point
outside, unreadable files and folders, trees thousands of levels deep, a configured path
that is a file. The walk is iterative and bounded (depth and entry count), follows a
folder link only to a folder not searched yet (resolved paths in a seen set, which ends
loops), and never raises: a checkpoint-looking entry it cannot use is listed with its
``problem``, and folders it skipped are reported in :class:`WeightsScan`.
:func:`probe_checkpoints` adds the header probe, so "usable" is decided in one place for
the CLI, the Models panel and local generation; import refuses what does not probe.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.local.errors import CheckpointUnreadable, LocalModelError, PickleRefused
from sparklio_desktop.core.local.sd.diffusers_dirs import MODEL_INDEX, folder_files, folder_weights, is_diffusers_folder
from sparklio_desktop.core.local.sd.probe import PICKLE_SUFFIXES, ProbeResult, probe
from sparklio_desktop.core.local.sd.store import CheckpointStore, default_weights_dir

Format = Literal["diffusers", "safetensors", "pickle"]
_MAX_DEPTH = 4  # A1111/ComfyUI users sort checkpoints into a few levels of subfolders
_MAX_ENTRIES = 50_000  # directory entries looked at per weights folder: a runaway tree stops here
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
    problem: str | None = None  # why this entry cannot be used at all (broken link, unreadable, ...)

    @property
    def loadable(self) -> bool:
        return self.problem is None and (not self.pickle or self.trusted)


@dataclass(frozen=True)
class Skipped:
    """A folder (or a configured weights path) discovery did not search, and why."""

    path: Path
    why: str


@dataclass(frozen=True)
class WeightsScan:
    checkpoints: list[Checkpoint]
    skipped: list[Skipped]


@dataclass(frozen=True)
class ProbedCheckpoint:
    """A listed checkpoint with its header probe; ``problem`` says why it is unusable."""

    checkpoint: Checkpoint
    probe: ProbeResult | None
    problem: str | None

    @property
    def usable(self) -> bool:
        return self.problem is None


def weights_folders(user_folders: Iterable[Path] = ()) -> list[Path]:
    """Sparklio's own folder first, then the user's, each once."""
    seen: set[Path] = set()
    out: list[Path] = []
    for folder in [default_weights_dir(), *map(Path, user_folders)]:
        try:
            resolved = folder.expanduser().resolve()
            is_dir = resolved.is_dir()
        except (OSError, RuntimeError):  # a link loop (RuntimeError on Python 3.11), unreadable
            continue
        if resolved not in seen and is_dir:
            seen.add(resolved)
            out.append(folder.expanduser())
    return out


def _is_companion(name: str) -> bool:
    """A1111 keeps ``<model>.vae.pt`` beside a checkpoint: a VAE, not a model."""
    lower = name.lower()
    return any(lower.endswith(f".vae{s}") for s in (".pt", ".ckpt", ".safetensors", ".bin"))


def _size(path: Path) -> int:
    if path.is_dir():
        total = 0
        for f in folder_files(path):
            try:
                total += f.stat().st_size
            except OSError:
                continue
        return total
    return path.stat().st_size


def _why_unusable(path: Path) -> str | None:
    """A reason when ``path`` is a link that goes nowhere, or a loop."""
    try:
        path.resolve(strict=True)
    except RuntimeError:
        return "symbolic link loop"
    except FileNotFoundError:
        return "broken link: its target is missing" if path.is_symlink() else "vanished while listed"
    except OSError as err:
        return "symbolic link loop" if err.errno == errno.ELOOP else f"cannot read: {err.strerror or err}"
    return None


def _unusable(path: Path, folder: Path, why: str) -> Checkpoint:
    suffix = path.suffix.lower()
    fmt: Format = "pickle" if suffix in PICKLE_SUFFIXES else "safetensors" if suffix == ".safetensors" else "diffusers"
    return Checkpoint(path=path, name=path.stem if fmt != "diffusers" else path.name, format=fmt, size_bytes=0,
                      folder=folder, pickle=fmt == "pickle", trusted=False, is_link=path.is_symlink(),
                      problem=why)  # fmt: skip


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
    Entries that look like checkpoints but cannot be used are listed with a ``problem``.
    """
    return scan_weights(folders, store=store).checkpoints


def scan_weights(folders: Iterable[Path] = (), *, store: CheckpointStore | None = None) -> WeightsScan:
    """:func:`list_checkpoints` plus what was skipped; never raises for what is on disk."""
    store = store if store is not None else CheckpointStore()
    folders = [Path(f).expanduser() for f in folders]
    found: list[Checkpoint] = []
    skipped = [Skipped(f, why) for f in folders if (why := _why_not_a_folder(f)) is not None]
    seen: set[Path] = set()
    for folder in weights_folders(folders):
        for item in _scan(folder):
            if isinstance(item, Skipped):
                skipped.append(item)
                continue
            path = item
            problem = _why_unusable(path)
            if problem is not None:
                found.append(_unusable(path, folder, problem))
                continue
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            try:
                found.append(describe(path, folder, store))
            except (SparklioError, OSError) as err:
                found.append(_unusable(path, folder, _reason(err)))
    found.sort(key=lambda c: (c.name.lower(), str(c.path)))
    return WeightsScan(found, skipped)


def _why_not_a_folder(path: Path) -> str | None:
    try:
        if path.is_dir():
            return None
        if path.is_file():
            return "is a file, not a folder"
        if path.is_symlink():
            return "a link whose target is missing (or a link loop)"
        return "no such folder"
    except (OSError, RuntimeError) as err:
        return f"cannot read: {getattr(err, 'strerror', None) or err}"


def _reason(err: BaseException) -> str:
    if isinstance(err, CheckpointUnreadable):
        return err.why
    if isinstance(err, OSError):
        return f"cannot read: {err.strerror or err}"
    return str(err)


def probe_checkpoints(
    folders: Iterable[Path] = (), *, store: CheckpointStore | None = None, listed: Iterable[Checkpoint] | None = None
) -> list[ProbedCheckpoint]:
    """Every listed checkpoint (``listed``, else a fresh listing of ``folders``) with its header
    probe (≈ms each); a probe failure is the problem."""
    store = store if store is not None else CheckpointStore()
    rows: list[ProbedCheckpoint] = []
    for c in listed if listed is not None else list_checkpoints(folders, store=store):
        if c.problem is not None:
            rows.append(ProbedCheckpoint(c, None, c.problem))
            continue
        try:
            rows.append(ProbedCheckpoint(c, probe(c.path, store), None))
        except (SparklioError, OSError) as err:
            rows.append(ProbedCheckpoint(c, None, _reason(err)))
    return rows


def scan_files(folder: Path) -> Iterator[Path]:
    """The weight files under ``folder`` with the same bounded, loop-safe walk (LoRAs use it)."""
    for item in _scan(folder):
        if isinstance(item, Path) and _why_unusable(item) is None:
            yield item


def _scan(folder: Path) -> Iterator[Path | Skipped]:
    """Checkpoint candidates under ``folder`` (files by suffix, diffusers folders), bounded."""
    try:
        seen_dirs = {folder.resolve(strict=True)}
    except (OSError, RuntimeError) as err:
        yield Skipped(folder, _reason(err) if isinstance(err, OSError) else "symbolic link loop")
        return
    budget = _MAX_ENTRIES
    stack: list[tuple[Path, int]] = [(folder, 0)]
    while stack:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            yield Skipped(here, f"cannot read this folder: {err.strerror or err}")
            continue
        if here != folder and any(e.name == MODEL_INDEX for e in entries):
            yield here  # a diffusers folder: one checkpoint, not a tree to search
            continue
        subdirs: list[Path] = []
        for entry in entries:
            budget -= 1
            if budget < 0:
                yield Skipped(folder, f"stopped after {_MAX_ENTRIES} entries; move checkpoints to a smaller folder")
                return
            name = entry.name
            if name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir()  # follows links; False for a broken link or a loop
            except OSError:
                is_dir = False
            if is_dir:
                if depth + 1 > _MAX_DEPTH:
                    continue  # deeper than users sort checkpoints; not searched
                try:
                    real = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    yield Skipped(path, "symbolic link loop")
                    continue
                if real in seen_dirs:
                    yield Skipped(path, "links to a folder searched already (a link loop?)")
                    continue
                seen_dirs.add(real)
                subdirs.append(path)
                continue
            if _is_companion(name):
                continue
            suffix = os.path.splitext(name)[1].lower()
            if suffix == ".safetensors" or suffix in PICKLE_SUFFIXES:
                yield path
        stack.extend((d, depth + 1) for d in reversed(subdirs))


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
    untrusted pickle file is refused: importing is a step towards loading it. So is a
    file whose header does not probe (:class:`CheckpointUnreadable` with the reason): it
    could never be used, and once in the weights folder it would only be listed as such.
    A copy keeps the user's trust and type choices, since it is byte-identical.
    """
    store = store if store is not None else CheckpointStore()
    source = Path(source).expanduser()
    problem = _why_unusable(source)
    if problem is not None:
        raise CheckpointUnreadable(source, problem)
    original = describe(source, store=store)
    if original.pickle and not original.trusted:
        raise PickleRefused(source)
    probe(source, store)  # raises CheckpointUnreadable, with the reason, for a broken header
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
    files = sorted(folder_files(source)) if source.is_dir() else [source]
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
