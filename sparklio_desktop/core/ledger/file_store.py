"""What every store over the ledger shares: open (and migrate), close, transactions.

The ledger is a SQLite file in the data folder, or, in team mode, a PostgreSQL database
(core/ledger/location.py): :meth:`LedgerFileStore.open` takes a path, a
``postgresql+psycopg://`` URL, or None (the team URL when one is set, else the default
file). ``store.target`` is what was opened (the path, or the URL: show it with
``location.redacted_url``), ``store.path`` the file (None for a database), ``store.engine``
the SQLAlchemy engine and ``store.dialect`` ``"sqlite"`` or ``"postgresql"``. An empty
team database gets the ledger's schema (postgres_schema.create_baseline) on first open,
under a lock, so two installs opening it at once create it once.

The usage ledger (:class:`LedgerStore`) and the votes of compare-and-rate
(``core.ratings.votes_store.VoteStore``) keep their tables in the same SQLite file; each opens
it the same way, so the migrations always run first and writes always go through the
single serialising writer.

The ledger is never replaced behind the user's back. A damaged file gives a one-line
:class:`~sparklio_desktop.core.ledger.engine.DatabaseFileError` on every command, and
only ``sparklio doctor --repair`` sets it aside. Two consequences here:

* a new ledger is built under a temporary name and linked into place, so a ledger file
  is never legitimately empty; an existing zero-byte ledger is a damaged one (its
  records are gone, and silently starting a fresh one would reset the month's spend
  the budget guard counts on);
* before opening, the folder is checked by creating a file in it (``os.access`` says
  yes to root whatever the permissions), so a read-only data folder is reported as
  such before any paid request, not as a driver error after it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from sparklio_desktop.core.ledger.engine import create_postgres_engine, create_sqlite_engine, writer
from sparklio_desktop.core.ledger.location import database_url, is_database_url
from sparklio_desktop.core.ledger.schema_upgrade import upgrade_ledger
from sparklio_desktop.core.ledger.sqlite_file import LABEL, check_folder_writable, check_not_empty
from sparklio_desktop.core.settings import paths

__all__ = ["LABEL", "LedgerFileStore", "check_folder_writable", "check_not_empty"]


def _create(target: Path) -> None:
    """Build a migrated ledger under a temporary name and link it into place.

    Linking fails if another process got there first; then theirs is kept. Either way
    the name ``target`` never points at a half-made (empty) file.
    """
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.new-", dir=target.parent)
    os.close(handle)
    temp_path = Path(temp)
    try:
        engine = create_sqlite_engine(temp_path, LABEL)
        try:
            upgrade_ledger(writer(engine))
        finally:
            engine.dispose()  # the last connection checkpoints the WAL into the file
        try:
            os.link(temp_path, target)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not target.exists():
                os.replace(temp_path, target)
    finally:
        for leftover in (temp_path, Path(f"{temp_path}-wal"), Path(f"{temp_path}-shm")):
            with suppress(FileNotFoundError):
                leftover.unlink()


def _open_database(url: str) -> Engine:
    """An engine over the team database at ``url``, brought to the current schema by the
    same Alembic history as the file (its baseline creates an empty database's tables;
    core/ledger/schema_upgrade.py takes an advisory lock, so installs starting together
    upgrade it once)."""
    engine = create_postgres_engine(url, LABEL)
    try:
        upgrade_ledger(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


class LedgerFileStore:
    """Open with :meth:`open` (runs pending migrations), close with :meth:`close`, or use
    it as a context manager."""

    def __init__(self, engine: Engine, target: Path | str) -> None:
        self._engine = engine
        self.dialect: str = engine.dialect.name
        self._writer = writer(engine) if self.dialect == "sqlite" else engine
        self.target: Path | str = target
        self.path: Path | None = Path(target) if self.dialect == "sqlite" else None

    @property
    def engine(self) -> Engine:
        return self._engine

    @classmethod
    def open(cls, path: Path | str | None = None) -> Self:
        """Open (creating if needed) the ledger at ``path``: a file, a team database's URL, or
        None (``$SPARKLIO_DATABASE_URL`` / ``storage.database_url`` when set, else
        ``data_dir()/ledger.sqlite3``)."""
        if path is None:
            path = database_url()
        if is_database_url(path):
            assert isinstance(path, str)
            return cls(_open_database(path), path)
        target = Path(path) if path is not None else paths.ledger_path()
        check_folder_writable(target.parent, target)
        if not target.exists() and not target.is_symlink():
            _create(target)
        check_not_empty(target)
        engine = create_sqlite_engine(target, LABEL)
        try:
            upgrade_ledger(writer(engine))
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, target)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read transaction: every query in it sees the same snapshot."""
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as conn:
            yield conn
