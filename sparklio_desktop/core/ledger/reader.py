"""Read-only answers from the ledger without SQLAlchemy, for the quick commands.

``sparklio spend``, ``history`` and ``route`` (which reads the month's spend) each run as
a whole process, and importing SQLAlchemy was about 40% of that. :class:`LedgerReader`
opens the file with the standard library's ``sqlite3`` and asks the very SQL the store
asks (``reports.py``), so the numbers are the same, exact to the picodollar.

It reads only a file that :meth:`LedgerStore.open
<sparklio_desktop.core.ledger.store.LedgerStore.open>` would leave as it is. The store
creates a missing file, runs pending migrations, and closes what ended processes left
open (their in-flight attempts become ``interrupted``, their reservations are
released): all writes. So :meth:`LedgerReader.open` returns ``None`` when the file does
not exist yet, when its schema is not this build's head (schema_version.py), when an
ended process left something open, or when SQLite complains while it checks; the caller then opens the store
(:func:`open_for_reading` does both), which does what it always did, errors included.
The folder and empty-file checks are the store's own (``sqlite_file.py``), so a
read-only folder or a zero-byte ledger reads the same one-line error as before. A file
problem found later, by a query, is translated by the same :func:`file_error` as the
store's engine uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sparklio_desktop.core.ledger import reports, reservations
from sparklio_desktop.core.ledger.location import database_url, is_database_url
from sparklio_desktop.core.ledger.records import HistorySaving, RequestSummary, SpendSummary
from sparklio_desktop.core.ledger.schema_version import NewerSchema, read_state
from sparklio_desktop.core.ledger.sqlite_file import (
    BUSY_TIMEOUT_MS,
    LABEL,
    DatabaseFileError,
    check_folder_writable,
    check_not_empty,
    configure_connection,
    file_error,
)
from sparklio_desktop.core.settings import paths

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.store import LedgerStore

__all__ = ["LedgerReader", "open_for_reading"]


class LedgerReader:
    """Reads the ledger through ``sqlite3``; each call is one read transaction (one snapshot).

    Make one with :meth:`open`; close it with :meth:`close`, or use it as a context manager.
    """

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path

    @classmethod
    def open(cls, path: Path | str | None = None) -> Self | None:
        """A reader over the ledger at ``path`` (default ``data_dir()/ledger.sqlite3``), or
        ``None`` when only :meth:`LedgerStore.open` can open it as it would (see the module
        docstring). Raises the store's own error for a read-only folder or an empty file.

        A team database (``path`` a URL, or None while ``$SPARKLIO_DATABASE_URL`` or
        ``storage.database_url`` is set) is never read here: ``None``, and the store reads it.
        """
        if is_database_url(path) or (path is None and database_url() is not None):
            return None
        target = Path(path) if path is not None else paths.ledger_path()
        check_folder_writable(target.parent, target)
        if not target.exists():
            return None  # the store creates it
        check_not_empty(target)
        try:
            db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        except sqlite3.Error:
            return None
        reader = cls(db, target)
        try:
            configure_connection(db)  # as the store's engine and direct connection are
            if not reader._as_the_store_leaves_it():
                reader.close()
                return None
        except sqlite3.Error:
            reader.close()
            return None  # the store says what is wrong with the file
        except DatabaseFileError:
            reader.close()
            raise
        return reader

    def _as_the_store_leaves_it(self) -> bool:
        """The schema is this build's head, and no ended process left an attempt or a reservation open."""
        with self._snapshot() as db:
            try:  # as the store's upgrade reads it (core/ledger/schema_upgrade.py)
                state = read_state(lambda sql: db.execute(sql).fetchall())
            except NewerSchema as exc:  # a downgrade: refused here as the store refuses it, nothing written
                raise DatabaseFileError(self.path, LABEL, "unopenable", exc.detail) from None
            if not state.current:
                return False
            return not reservations.find_orphans(db)  # the store's own check, on this connection

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")  # nothing was written: this ends the read

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction; a file problem becomes the store's one-line error."""
        try:
            with self._snapshot() as db:
                yield db
        except sqlite3.Error as exc:
            translated = file_error(self.path, LABEL, exc)
            if translated is not None:
                raise translated from None
            raise

    # -- the store's read API, for the commands that only read ---------------------------

    def month_spend(self, month: str, user: str | None = None, member: str | None = None) -> Decimal:
        with self._read() as db:
            return reports.month_spend(db, month, user, member)

    def budget_snapshot(self, month: str) -> tuple[Decimal, Decimal]:
        """(spent, outstanding reservations) of the month, read together (the store's SQL)."""
        with self._read() as db:
            return reservations.month_spend_usd(db, month), reservations.reserved_usd(db, month)

    def member_snapshot(self, month: str, member: str) -> tuple[Decimal, Decimal]:
        """(spent, outstanding reservations) of one team member in the month (the store's SQL)."""
        with self._read() as db:
            return reservations.member_snapshot(db, month, member)

    def history_saving(self, month: str, user: str | None = None) -> HistorySaving:
        """The month's conversation history saving, in a read of its own (core/ledger/reports.py)."""
        try:
            with self._read() as db:
                return reports.history_saving(db, month, user)
        except DatabaseFileError as exc:
            if exc.problem != "damaged":
                raise
            if self._db.in_transaction:  # the read's COMMIT failed on the damaged page
                self._db.execute("ROLLBACK")
            return reports.damaged_history(exc)

    def spend_summary(
        self,
        month: str,
        user: str | None = None,
        *,
        local_providers: Iterable[str],
        member: str | None = None,
    ) -> SpendSummary:
        with self._read() as db:
            summary = reports.spend_summary(db, month, local_providers, user, member)
        return replace(summary, history=self.history_saving(month, user))

    def daily_spend(self, month: str, user: str | None = None, member: str | None = None) -> list[tuple[date, Decimal]]:
        with self._read() as db:
            return reports.daily_spend(db, month, user, member)

    def history(
        self,
        limit: int = 50,
        search: str | None = None,
        task: str | None = None,
        model: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        run_id: str | None = None,
        member: str | None = None,
    ) -> list[RequestSummary]:
        with self._read() as db:
            return reports.history(db, limit, search, task, model, since, until, run_id, member)

    def speed_rows(self) -> list[tuple[Any, ...]]:
        """Each model's recent successful calls, which measure its speed (core/speed.py)."""
        with self._read() as db:
            return reports.speed_rows(db)

    def has_votes(self) -> bool:
        """Whether any compare vote was ever cast (the route preview skips the ratings when not)."""
        with self._read() as db:
            found: int = db.execute("SELECT EXISTS (SELECT 1 FROM votes)").fetchone()[0]
            return found == 1


def open_for_reading(path: Path | str | None = None) -> LedgerReader | LedgerStore:
    """A :class:`LedgerReader` when the file allows it, else the store, opened as ever
    (importing SQLAlchemy). Both answer ``month_spend``, ``budget_snapshot``,
    ``spend_summary``, ``daily_spend`` and ``history`` alike."""
    if path is None:
        path = database_url()  # team mode: the team's database, through the store
    reader = None if is_database_url(path) else LedgerReader.open(path)
    if reader is not None:
        return reader
    from sparklio_desktop.core.ledger.store import LedgerStore  # SQLAlchemy: creates, migrates, reclaims

    return LedgerStore.open(path)
