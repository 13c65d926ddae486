"""What the conversation sidebar and the thread receive: frozen, Qt-free values.

Why a module of its own: the sidebar and the thread are one feature (issue 12) with their
own vocabulary (rows, turns, versions); keeping their payloads here leaves
``payloads.py`` (the composer's and the panels' values) untouched while both grow. Each
value is built in :mod:`~sparklio_desktop.ui.viewmodels.conversations` from the
conversation store's objects; views import these names, never the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ConversationRow:
    """One sidebar row: the title in words (never empty), when it last changed, pinned."""

    id: str
    title: str
    task: str
    pinned: bool
    updated_at: datetime
    turns: int
    snippet: str = ""  # a search hit's matching text, with [ and ] around the matches


@dataclass(frozen=True)
class TurnView:
    """One turn of the thread as the view draws it.

    ``chip``: the answer's header in words ("GPT-4 · $0.0076 · retried once · from the
    cache"); ``happened``: the short marks behind it (fallback, retries, exploration,
    cache), so a view can show icons; ``error``: why there is no answer, shown under it.
    """

    id: int
    role: str  # "user" | "assistant"
    content: str
    model: str | None = None  # catalog id
    model_name: str = ""  # the catalog's name for it
    request_id: str | None = None
    cost_usd: Decimal | None = None
    chip: str = ""
    happened: tuple[str, ...] = ()
    error: str | None = None
    version: int = 1
    versions: int = 1


@dataclass(frozen=True)
class ThreadContents:
    """The opened conversation (``threadChanged``); ``id`` is None for a new, unsaved one."""

    id: str | None
    title: str
    task: str | None
    turns: tuple[TurnView, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class DeletedConversation:
    """A conversation just deleted (``deleted``): the undo toast names it for a few seconds."""

    id: str
    title: str
