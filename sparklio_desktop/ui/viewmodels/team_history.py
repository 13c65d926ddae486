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

from collections.abc import Callable

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

    stateChanged = Signal(str, bool, bool)  # what the box says, whether the copy button may be pressed, failed
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
        found = await self._run(survey_local_history, "Looking at this machine's own history…",
                                "This machine's own history cannot be read", can_retry=False)  # fmt: skip
        if found is None:
            return
        if found.anything:
            self.stateChanged.emit(
                f"Not in the team database yet: {describe(found)}, recorded on this machine before team mode."
                f" Copy it in to see it in Spend, History and the sidebar (as {self.member}).",
                True,
                False,
            )
        else:
            text = "Everything this machine recorded before team mode is in the team database."
            self.stateChanged.emit(text, False, False)

    @asyncSlot()
    async def copy_in(self) -> None:
        """Copy it; a second press adds nothing (what is there already is skipped)."""
        self._track()
        done = await self._run(copy_local_history, "Copying this machine's history into the team database…",
                               "Nothing was copied", can_retry=True)  # fmt: skip
        if done is None:
            return
        if not done.anything:
            text = "Nothing to copy: the team database already holds this machine's history."
            self.stateChanged.emit(text, False, False)
            return
        self.stateChanged.emit(
            f"Copied {describe(done)} into the team database. The files in this machine's data folder are kept.",
            False,
            False,
        )
        self._events.changed(LedgerChange("import"))
        self.copied.emit()

    async def _run(
        self, work: Callable[[str, str], LocalHistory], working: str, failed: str, *, can_retry: bool
    ) -> LocalHistory | None:
        """``work(url, member)`` on the thread, one at a time, saying ``working`` meanwhile;
        None when there is nothing to do (not team mode, or already running) or it failed
        (said as ``failed: <reason>``, the button on when a retry may help)."""
        if self._url is None or self._busy:
            return None
        self._busy = True
        self.stateChanged.emit(working, False, False)
        try:
            return await self._executor.call(work, self._url, self.member)
        except (SparklioError, OSError) as exc:
            self.stateChanged.emit(f"{failed}: {_reason(exc)}", can_retry, True)
            return None
        finally:
            self._busy = False

    def shutdown(self) -> None:
        self._executor.shutdown()


def _reason(exc: Exception) -> str:
    """The error's first line: where and what (the core's errors never carry a password)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]
