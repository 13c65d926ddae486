"""A copy of a SQLite file taken before its pending migrations run, kept until they commit.

Why: a new Sparklio migrates the user's files (ledger, response cache, conversations,
gallery, batches) forward on its first start. Each upgrade runs in one transaction, so a
failing migration already leaves the file as it was; the copy covers what a transaction
cannot (a disk or file system failing mid-way, a migration found wrong later) and gives
the user a file to keep or send with a report. It is deleted once the migration has
committed; when the migration fails it stays, and the error names it.

The copy is taken with SQLite's online backup API (it reads the WAL's pages too, so no
checkpoint is needed) on a connection of its own, **before** the migration takes the
write lock: a backup run inside the migrating ``BEGIN IMMEDIATE`` hung in an earlier
attempt. A file with nothing to migrate (a new, empty file; a file at the current
version; a file from a newer Sparklio, which is refused) gets no copy. The name is
``<file>.before-v<N>.bak``, N being the schema version (the count of migrations) the
upgrade goes to (for the ledger, ``SCHEMA_VERSION`` in schema_version.py: the legacy
steps and the Alembic revisions after the baseline). No SQLAlchemy here: the plain-``sqlite3`` stores use it too.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Sequence
from contextlib import closing, suppress
from pathlib import Path

from sparklio_desktop.core.ledger.sqlite_file import BUSY_TIMEOUT_MS

__all__ = [
    "BackupFailed", "backup_before_upgrade", "backup_if_needed", "backup_name", "copy_before_upgrade", "discard",
    "kept_note", "needs_backup",
]  # fmt: skip


class BackupFailed(Exception):
    """The copy could not be written (disk full, folder not writable): the upgrade must not run."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        detail = getattr(cause, "strerror", None) or str(cause) or type(cause).__name__
        super().__init__(f"cannot keep a copy of it before the upgrade: {detail}")


def backup_name(path: Path, version: int) -> Path:
    """Where the copy of ``path`` taken before the upgrade to schema ``version`` goes."""
    return path.with_name(f"{path.name}.before-v{version}.bak")


def needs_backup(conn: sqlite3.Connection, names: Sequence[str]) -> bool:
    """Whether the file behind ``conn`` holds data and misses some of ``names`` (and lists
    none this code lacks). Asked on the connection the store opens anyway: a connection of
    its own cost milliseconds per command (opening and closing a WAL file's shared memory)."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return False  # a new, empty file: nothing to keep
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")} if "_migrations" in tables else set()
    if done - set(names):
        return False  # a newer Sparklio wrote it: the migration refuses it before writing
    return bool(set(names) - done)


def backup_if_needed(conn: sqlite3.Connection, path: Path | str | None, names: Sequence[str]) -> Path | None:
    """Copy the file behind ``conn`` (at ``path``) beside it when it has migrations to run;
    return the copy, or None. ``conn`` must not be inside a transaction. A file that
    cannot be read gets no copy: the migration that follows reports what is wrong with it,
    in the store's own words. Raises :class:`BackupFailed` when the copy cannot be written."""
    if path is None or str(path) in ("", ":memory:"):
        return None
    try:
        if not needs_backup(conn, names):
            return None
    except sqlite3.DatabaseError:
        return None  # damaged or not SQLite's: opening it says so
    return _copy(conn, backup_name(Path(path), len(names)))


def copy_before_upgrade(conn: sqlite3.Connection, path: Path | str, version: int) -> Path:
    """Copy the file behind ``conn`` (at ``path``) to :func:`backup_name` ``(path, version)``,
    for a caller that has decided an upgrade is due (the ledger's Alembic upgrade,
    schema_upgrade.py, which reads ``alembic_version`` itself). ``conn`` must not be inside
    a transaction. Raises :class:`BackupFailed` when the copy cannot be written."""
    return _copy(conn, backup_name(Path(path), version))


def backup_before_upgrade(path: Path | str | None, names: Sequence[str]) -> Path | None:
    """:func:`backup_if_needed` on a connection of its own (for callers without one)."""
    if path is None or str(path) in ("", ":memory:") or not Path(path).is_file():
        return None
    try:
        with closing(
            sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        ) as source:
            return backup_if_needed(source, path, names)
    except sqlite3.DatabaseError:
        return None


def _copy(source: sqlite3.Connection, target: Path) -> Path:
    """Write the copy under a temporary name and rename it into place, so a crash never
    leaves a half-written ``.bak`` (or replaces a whole one with it)."""
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise BackupFailed(exc) from None
    os.close(handle)
    temp_path = Path(temp)
    try:
        with closing(sqlite3.connect(temp_path, isolation_level=None)) as copy:
            source.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        os.replace(temp_path, target)
    except (OSError, sqlite3.Error) as exc:
        raise BackupFailed(exc) from None
    finally:
        for leftover in (temp_path, Path(f"{temp_path}-wal"), Path(f"{temp_path}-shm"), Path(f"{temp_path}-journal")):
            with suppress(OSError):
                leftover.unlink()
    return target


def discard(backup: Path | None) -> None:
    """The migration committed: the copy is no longer needed."""
    if backup is not None:
        with suppress(FileNotFoundError):
            backup.unlink()


def kept_note(backup: Path) -> str:
    """What a failed upgrade's one-line error adds: the file is unchanged, and where the copy is."""
    return f"the upgrade was rolled back and the file is unchanged; a copy from before it is kept as {backup}"
