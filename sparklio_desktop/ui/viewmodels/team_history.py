"""Settings → Team: this machine's history from before team mode, copied into the team database.

Why in the window: a creator who joins a team sets the team database and restarts, and
their spend, history and conversations seem gone (they are still in the data folder's
files, out of sight, since every panel now reads the team database). The CLI could always
copy them in (``ledger import --from-sqlite``, ``conversations import``); a creator should
not need it. The panel says what is not in the team database yet, in plain numbers, and
one button copies it (core/team_history.py: idempotent, all or nothing per file, exact
spend). A copy is shown before it is made (the survey is its dry run) and nothing is
asked in a dialog: the button's own label says what it will do.

Why a thread of its own, not the app's serial executor: a large personal ledger takes
seconds to check and copy, and the serial executor serves every panel's database reads;
the spend panel and the sidebar must go on answering meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.location import is_database_url
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.team_history import LocalHistory, copy_local_history, survey_local_history
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange

__all__ = ["TeamHistoryViewModel", "describe"]


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def describe(history: LocalHistory) -> str:
    """What ``history`` holds, in the words the panel and the result use: "1,204 requests
    ($12.34, 2026-09 to 2026-11) and 18 conversations (96 turns)"."""
    parts = []
    if history.requests:
        span = history.months[0] if len(history.months) == 1 else f"{history.months[0]} to {history.months[-1]}"
        where = f", {span}" if history.months else ""
        parts.append(f"{_count(history.requests, 'request')} ({format_usd(history.spend_usd)}{where})")
    if history.conversations:
        parts.append(f"{_count(history.conversations, 'conversation')} ({_count(history.turns, 'turn')})")
    return " and ".join(parts)


class TeamHistoryViewModel(ViewModel):
    """The Team box of Settings; ``active`` only in team mode (the ledger in use is a server's)."""

    stateChanged = Signal(str, bool)  # what the box says, whether the copy button may be pressed
    copied = Signal()  # rows went into the team database: the spend panel and the sidebar reload

    def __init__(
        self,
        target: object,
        member: str,
        *,
        events: LedgerEvents | None = None,
        executor: SerialExecutor | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``target``: the ledger in use (a path or the team database's URL); ``member``:
        who this install writes as, whom the copied rows that name nobody are given to."""
        super().__init__(executor or SerialExecutor("sparklio-team-copy"), parent)
        self._url = target if isinstance(target, str) and is_database_url(target) else None
        self.member = member
        self._events = events or LedgerEvents(self)
        self._busy = False

    @property
    def active(self) -> bool:
        return self._url is not None

    @asyncSlot()
    async def survey(self) -> None:
        """Look at what the data folder holds that the team database does not."""
        self._track()
        if self._url is None or self._busy:
            return
        self._busy = True
        self.stateChanged.emit("Looking at this machine's own history…", False)
        try:
            found = await self._executor.call(survey_local_history, self._url, self.member)
        except (SparklioError, OSError) as exc:
            self.stateChanged.emit(f"This machine's own history cannot be read: {_reason(exc)}", False)
            return
        finally:
            self._busy = False
        if found.anything:
            self.stateChanged.emit(
                f"Not in the team database yet: {describe(found)}, recorded on this machine before team mode."
                f" Copy it in to see it in Spend, History and the sidebar (as {self.member}).",
                True,
            )
        else:
            self.stateChanged.emit("Everything this machine recorded before team mode is in the team database.", False)

    @asyncSlot()
    async def copy_in(self) -> None:
        """Copy it; a second press adds nothing (what is there already is skipped)."""
        self._track()
        if self._url is None or self._busy:
            return
        self._busy = True
        self.stateChanged.emit("Copying this machine's history into the team database…", False)
        try:
            done = await self._executor.call(copy_local_history, self._url, self.member)
        except (SparklioError, OSError) as exc:
            self.stateChanged.emit(f"Nothing was copied: {_reason(exc)}", True)
            return
        finally:
            self._busy = False
        if not done.anything:
            self.stateChanged.emit("Nothing to copy: the team database already holds this machine's history.", False)
            return
        self.stateChanged.emit(
            f"Copied {describe(done)} into the team database. The files in this machine's data folder are kept.",
            False,
        )
        self._events.changed(LedgerChange("import"))
        self.copied.emit()

    def shutdown(self) -> None:
        self._executor.shutdown()


def _reason(exc: Exception) -> str:
    """The error's first line: where and what (the core's errors never carry a password)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
