"""What every store over the ledger file shares: open (and migrate), close, transactions.

The usage ledger (:class:`LedgerStore`) and the votes of compare-and-rate
(``core.votes_store.VoteStore``) keep their tables in the same SQLite file; each opens
it the same way, so the migrations always run first and writes always go through the
single serialising writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine

from sparklio_desktop.core import paths
from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS


class LedgerFileStore:
    """Open with :meth:`open` (runs pending migrations), close with :meth:`close`, or use
    it as a context manager."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.path = path

    @classmethod
    def open(cls, path: Path | str | None = None) -> Self:
        """Open (creating if needed) the ledger at ``path``, default ``data_dir()/ledger.sqlite3``."""
        target = Path(path) if path is not None else paths.ledger_path()
        engine = create_sqlite_engine(target)
        try:
            LEDGER_MIGRATIONS.apply(writer(engine))
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
