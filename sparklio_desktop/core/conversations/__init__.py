"""Conversations: every turn kept (the data folder's file, or the team's database), searchable, exportable.

The store (``store.py``, the shared logic; ``sqlite_store.py`` and ``postgres_store.py``,
the two backends) keeps conversations in ``conversations.sqlite``, or in a team's
PostgreSQL when a team database is set (each member's own): the full text of
every turn, the model, request id and cost of each answer, attachments by path, the task
and route options; edits and regenerations as sibling versions in a turn tree; FTS5 over
turn text and titles (tsvector on PostgreSQL); implicit feedback (copy, regenerate, edit). ``export.py`` writes a
conversation as Markdown, JSON or a standalone HTML page. docs/conversations.md is the spec.
"""

from __future__ import annotations

# The two backends register themselves with ConversationStore when imported (store.py).
from sparklio_desktop.core.conversations import postgres_store as _postgres_store  # noqa: F401
from sparklio_desktop.core.conversations import sqlite_store as _sqlite_store  # noqa: F401
from sparklio_desktop.core.conversations.export import EXPORT_FORMATS, export_conversation
from sparklio_desktop.core.conversations.records import (
    FEEDBACK_KINDS,
    Conversation,
    ConversationNotFound,
    ConversationsFileError,
    ConversationSummary,
    SearchHit,
    Turn,
)
from sparklio_desktop.core.conversations.store import FILENAME, ConversationStore, derive_title

__all__ = [
    "EXPORT_FORMATS", "FEEDBACK_KINDS", "FILENAME", "Conversation", "ConversationNotFound", "ConversationStore",
    "ConversationSummary", "ConversationsFileError", "SearchHit", "Turn", "derive_title", "export_conversation",
]  # fmt: skip
