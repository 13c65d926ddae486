"""The values the conversation store hands out, and its errors.

They are frozen dataclasses so the window's view-models can pass them across threads and
compare them; the store builds them from rows and never hands out a row.

    SparklioError
    ├── ConversationNotFound     an id (or id prefix) that names no conversation (on a team
    │                            database: none of this member's)
    ├── DatabaseFileError        (core.ledger.sqlite_file) the file cannot be used
    │   └── ConversationsFileError   ... said for the conversations file
    ├── DatabaseServerError      (core.ledger.server_errors) the team database cannot be used
    └── LedgerSchemaError        (core.ledger.schema_upgrade) it was written by a newer Sparklio
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.history import HistorySummary
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError, FileProblem
from sparklio_desktop.core.providers.base import Message

__all__ = [
    "FEEDBACK_KINDS", "ROLES", "Conversation", "ConversationContext", "ConversationNotFound", "ConversationSummary",
    "ConversationsFileError", "SearchHit", "Turn",
]  # fmt: skip

ROLES = ("user", "assistant")
# Implicit feedback on an answer: the user copied it, asked for another, or edited the
# question that led to it. Kept apart from the ledger's explicit stars and votes.
FEEDBACK_KINDS = ("copy", "regenerate", "edit")


@dataclass(frozen=True)
class ConversationSummary:
    """One sidebar row."""

    id: str
    title: str
    task: str
    pinned: bool
    created_at: datetime
    updated_at: datetime
    turns: int  # turns on the current thread


@dataclass(frozen=True)
class Conversation(ConversationSummary):
    options: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ConversationContext:
    """What a follow-up needs of its conversation (core/history.py ``fit_context``): the
    thread as provider messages, each turn's id and attachment names, the running summary
    (None when there is none or the thread changed above it) and the opt-out."""

    conversation_id: str
    history: tuple[Message, ...]
    turn_ids: tuple[int, ...]
    attachments: tuple[tuple[str, ...], ...]
    summary: HistorySummary | None
    send_everything: bool


@dataclass(frozen=True)
class Turn:
    """One turn; ``version`` of ``versions`` among its siblings (same parent, same role)."""

    id: int
    conversation_id: str
    parent_id: int | None
    role: str
    content: str
    created_at: datetime
    model: str | None = None
    request_id: str | None = None
    task: str | None = None
    cost_usd: Decimal | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    attachments: tuple[str, ...] = ()
    version: int = 1
    versions: int = 1


@dataclass(frozen=True)
class SearchHit:
    conversation: ConversationSummary
    snippet: str  # FTS5 snippet() / ts_headline with [ and ] around the matches, … where text was cut
    turn_id: int | None  # None: the title matched


class ConversationNotFound(SparklioError):
    """No conversation has that id (or the prefix is ambiguous, or it was deleted)."""

    def __init__(self, conversation_id: str, why: str = "") -> None:
        self.conversation_id = conversation_id
        super().__init__(why or f"no conversation {conversation_id} (sparklio conversations list shows them)")


class ConversationsFileError(DatabaseFileError):
    """The conversations file cannot be used. Worded for this file: a damaged one is
    mended by ``sparklio doctor --repair`` (core/doctor.py ``repair_conversations``, which
    the window can offer at start-up), which sets it aside and salvages its turns."""

    def __init__(self, path: Path, problem: FileProblem, detail: str) -> None:
        super().__init__(path, "conversations file", problem, detail)
        if problem == "damaged":
            message = (
                f"the conversations file {path} is damaged ({detail}); run `sparklio doctor --repair` "
                "to set it aside and salvage its conversations into a new one (close the app first)"
            )
            self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])

    @classmethod
    def wrap(cls, error: DatabaseFileError) -> ConversationsFileError:
        return cls(error.path, error.problem, error.detail)
