"""This machine's own history from before team mode, and copying it into the team database.

A creator who joins a team sets the team database and restarts; from then on the spend
panel, the history and the sidebar read the team database, and what the data folder's
files hold (``ledger.sqlite3``, ``conversations.sqlite``) drops out of sight. The CLI has
moved it for a while (``ledger import --from-sqlite``, ``conversations import``); this is
the same move for the window's Settings panel, done by the same code, so both keep their
guarantees: idempotent (a second copy adds nothing, an interrupted one is simply run
again), all or nothing per file, exact spend per month and member, request ids kept so a
conversation's answers still join their ledger rows.

:func:`survey_local_history` is the dry run (what is not in the team database yet);
:func:`copy_local_history` writes it. Both block (a large ledger takes seconds), so the
window runs them on a thread of their own, never the loop's. The data folder's files are
only read (opening an older conversations file brings its schema up to date, as any open
does) and stay where they are: the copy is not a move.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

__all__ = ["LocalHistory", "copy_local_history", "survey_local_history"]


@dataclass(frozen=True)
class LocalHistory:
    """What the data folder holds that the team database does not (yet), or what a copy added."""

    requests: int  # attempts (a request's retries and fallbacks are attempts of it)
    spend_usd: Decimal  # their exact cost
    months: tuple[str, ...]  # the UTC months they fall in, oldest first
    conversations: int
    turns: int
    already_there: int  # attempts and conversations the team database holds already

    @property
    def anything(self) -> bool:
        return bool(self.requests or self.conversations)


def survey_local_history(url: str, member: str | None = None, data_dir: Path | None = None) -> LocalHistory:
    """What copying would add to the team database at ``url`` (nothing is written)."""
    return _copy(url, member, data_dir, dry_run=True)


def copy_local_history(url: str, member: str | None = None, data_dir: Path | None = None) -> LocalHistory:
    """Copy the data folder's ledger, then its conversations, into the team database as
    ``member`` (rows that name no member get it; rows that do keep theirs); what was added."""
    return _copy(url, member, data_dir, dry_run=False)


def _copy(url: str, member: str | None, data_dir: Path | None, *, dry_run: bool) -> LocalHistory:
    from sparklio_desktop.core.conversations import FILENAME, ConversationStore
    from sparklio_desktop.core.conversations.copy_in import copy_conversations
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ledger.transfer import import_into, read_sqlite_ledger
    from sparklio_desktop.core.settings import paths

    folder = data_dir if data_dir is not None else paths.data_dir()
    requests = already = conversations = turns = 0
    spend: dict[str, Decimal] = {}
    ledger_file = folder / paths.ledger_path().name
    if ledger_file.is_file():
        # The ledger first: a conversation's answers name request ids that should exist.
        with LedgerStore.open(url, member=member) as store:
            done = import_into(store, read_sqlite_ledger(ledger_file), member=member, dry_run=dry_run)
        requests, already = done.imported["llm_usage"], done.skipped["llm_usage"]
        spend = done.spend_added_usd
    chats_file = folder / FILENAME
    if chats_file.is_file():
        with ConversationStore(chats_file) as source, ConversationStore.open(url, member=member) as target:
            copied = copy_conversations(source, target, dry_run=dry_run)
        conversations, turns = copied.conversations_added, copied.turns_added
        already += copied.conversations_skipped
    return LocalHistory(
        requests=requests,
        spend_usd=sum(spend.values(), Decimal(0)),
        months=tuple(sorted(spend)),
        conversations=conversations,
        turns=turns,
        already_there=already,
    )
