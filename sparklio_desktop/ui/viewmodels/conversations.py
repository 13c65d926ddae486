"""The conversation sidebar's and the thread's view-models, over the conversation store.

Why two: the sidebar (a list of conversations, searched, renamed, pinned, deleted with
undo) and the thread (the turns of the open conversation, streaming into its last answer,
regenerated and edited into versions) change for different reasons; they meet through
signals in the composition root (app.py). Every store call runs on the one
:class:`SerialExecutor` thread (the store is used by one thread at a time, and SQLite
must never stall the loop); results come back as the typed values of
:mod:`~sparklio_desktop.ui.viewmodels.conversation_payloads`.

The sidebar is a :class:`QAbstractListModel` that loads pages (``fetchMore``), so 10,000
conversations never build 10,000 rows at once. The thread keeps the composer's history in
step with the store: opening a conversation loads it into the composer; a finished run is
written as a user turn and its answer (model, request id, cost, what happened); a
regenerate or an edit becomes a sibling version, browsable with ``< n/m >``.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer, Signal
from qasync import asyncSlot

from sparklio_desktop.core.conversations import (
    EXPORT_FORMATS,
    Conversation,
    ConversationStore,
    ConversationSummary,
    Turn,
    export_conversation,
)
from sparklio_desktop.core.dispatch import RunRequest
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.history_summary import SummaryRefresh, refresh_summary
from sparklio_desktop.core.money import format_usd
from sparklio_desktop.core.naming import task_words
from sparklio_desktop.core.providers.base import Message
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.composer import ComposerViewModel
from sparklio_desktop.ui.viewmodels.conversation_payloads import (
    ConversationRow,
    DeletedConversation,
    ThreadContents,
    TurnView,
)
from sparklio_desktop.ui.viewmodels.payloads import RoutePreview, RunSummary, TaskOptions

PAGE = 100  # sidebar rows loaded per page
SEARCH_DEBOUNCE_MS = 150
UNDO_SECONDS = 8
UNTITLED = "New conversation"
RowRole = Qt.ItemDataRole.UserRole + 1  # the row's ConversationRow

_IndexType = QModelIndex | QPersistentModelIndex


def _row(summary: ConversationSummary, snippet: str = "") -> ConversationRow:
    return ConversationRow(
        summary.id,
        summary.title or UNTITLED,
        summary.task,
        summary.pinned,
        summary.updated_at,
        summary.turns,
        snippet,
    )


class ConversationListModel(QAbstractListModel):
    """The sidebar's rows; ``canFetchMore``/``fetchMore`` ask the view-model for the next page."""

    def __init__(self, owner: ConversationsViewModel) -> None:
        super().__init__(owner)
        self._owner = owner
        self.rows: list[ConversationRow] = []
        self.total = 0  # rows the store holds (the list) or the hits (a search)

    def rowCount(self, parent: _IndexType = QModelIndex()) -> int:  # noqa: B008, N802 - Qt's name and default
        return 0 if parent.isValid() else len(self.rows)

    def data(self, index: _IndexType, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row = self.rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return row.snippet or row.title
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return f"{row.title}{', pinned' if row.pinned else ''}"
        if role == RowRole:
            return row
        return None

    def canFetchMore(self, parent: _IndexType) -> bool:  # noqa: N802 - Qt's name
        return not parent.isValid() and len(self.rows) < self.total and not self._owner.searching

    def fetchMore(self, parent: _IndexType) -> None:  # noqa: N802 - Qt's name
        if not parent.isValid():
            self._owner.fetch_more()

    def replace(self, rows: Sequence[ConversationRow], total: int) -> None:
        self.beginResetModel()
        self.rows = list(rows)
        self.total = total
        self.endResetModel()

    def extend(self, rows: Sequence[ConversationRow], total: int) -> None:
        self.total = total
        if rows:
            start = len(self.rows)
            self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()

    def row_of(self, conversation_id: str) -> int:
        return next((i for i, r in enumerate(self.rows) if r.id == conversation_id), -1)


class ConversationsViewModel(ViewModel):
    """The sidebar: pages of conversations, search as you type, rename, pin, delete with undo, export."""

    deleted = Signal(object)  # DeletedConversation: the undo toast shows it for UNDO_SECONDS
    restored = Signal(str)  # conversation id
    exported = Signal(str)  # the written path
    listChanged = Signal()  # the rows were (re)loaded

    def __init__(
        self,
        store: ConversationStore,
        executor: SerialExecutor,
        parent: QObject | None = None,
        *,
        model_name: Callable[[str], str] | None = None,
    ) -> None:
        """``model_name``: a catalog id's name, for the exports' bylines."""
        super().__init__(executor, parent)
        self._store = store
        self._model_name = model_name or (lambda model_id: model_id)
        self.model = ConversationListModel(self)
        self.query = ""
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DEBOUNCE_MS)
        self._search_timer.timeout.connect(self.refresh)
        self._loading = False

    @property
    def searching(self) -> bool:
        return bool(self.query.strip())

    def shutdown(self) -> None:
        self._search_timer.stop()

    async def wait_idle(self) -> None:
        if self._search_timer.isActive():  # a query still waiting for its debounce runs now
            self._search_timer.stop()
            self.refresh()
        await super().wait_idle()

    def set_search(self, text: str) -> None:
        """Filter as the user types: the query runs once, shortly after the last key."""
        if text != self.query:
            self.query = text
            self._search_timer.start()

    @asyncSlot()
    async def refresh(self) -> None:
        """Load the first page again (or the search's hits), keeping as many rows as were shown."""
        self._track()
        await self.reload()

    async def reload(self) -> None:
        """:meth:`refresh` as a coroutine of the caller's task (the thread awaits it after a write)."""
        query = self.query.strip()
        try:
            if query:
                hits = await self._executor.call(self._store.search, query, limit=PAGE)
                seen: set[str] = set()
                rows = []
                for hit in hits:  # one row per conversation, its best hit first
                    if hit.conversation.id not in seen:
                        seen.add(hit.conversation.id)
                        rows.append(_row(hit.conversation, hit.snippet))
                if query != self.query.strip():
                    return  # a newer query is on its way
                self.model.replace(rows, len(rows))
            else:
                limit = max(PAGE, len(self.model.rows))
                summaries, total = await self._executor.call(self._page, limit, 0)
                if self.query.strip():
                    return
                self.model.replace([_row(s) for s in summaries], total)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        self.listChanged.emit()

    def _page(self, limit: int, offset: int) -> tuple[list[ConversationSummary], int]:
        return self._store.list(limit=limit, offset=offset), self._store.count()

    @asyncSlot()
    async def fetch_more(self) -> None:
        self._track()
        if self._loading or self.searching:
            return
        self._loading = True
        try:
            summaries, total = await self._executor.call(self._page, PAGE, len(self.model.rows))
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        finally:
            self._loading = False
        known = {r.id for r in self.model.rows}
        self.model.extend([_row(s) for s in summaries if s.id not in known], total)

    def row(self, conversation_id: str) -> ConversationRow | None:
        index = self.model.row_of(conversation_id)
        return self.model.rows[index] if index >= 0 else None

    async def _change(self, fn: Any, *args: Any) -> bool:
        try:
            await self._executor.call(fn, *args)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return False
        await self.refresh()
        return True

    @asyncSlot(str, str)
    async def rename(self, conversation_id: str, title: str) -> None:
        self._track()
        title = " ".join(title.split())
        if not title:
            self.errorRaised.emit("A conversation's name cannot be empty.")
            return
        await self._change(self._store.rename, conversation_id, title)

    @asyncSlot(str, bool)
    async def set_pinned(self, conversation_id: str, pinned: bool) -> None:
        self._track()
        await self._change(self._store.set_pinned, conversation_id, pinned)

    @asyncSlot(str)
    async def delete(self, conversation_id: str) -> None:
        """Soft-delete it; ``deleted`` lets the view offer Undo for a few seconds."""
        self._track()
        row = self.row(conversation_id)
        if await self._change(self._store.delete, conversation_id):
            self.deleted.emit(DeletedConversation(conversation_id, row.title if row else UNTITLED))

    @asyncSlot(str)
    async def undo_delete(self, conversation_id: str) -> None:
        self._track()
        if await self._change(self._store.restore, conversation_id):
            self.restored.emit(conversation_id)

    @asyncSlot(str, str, str)
    async def export(self, conversation_id: str, fmt: str, path: str) -> None:
        """Write one conversation as Markdown, JSON or HTML."""
        self._track()
        if fmt not in EXPORT_FORMATS:
            self.errorRaised.emit(f"Cannot export as {fmt!r}: choose one of {', '.join(EXPORT_FORMATS)}.")
            return
        try:
            await self._executor.call(self._export, conversation_id, fmt, Path(path))
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        except OSError as exc:
            self.errorRaised.emit(f"Could not write {path}: {exc.strerror}")
            return
        self.exported.emit(path)

    def _export(self, conversation_id: str, fmt: str, path: Path) -> None:
        conversation = self._store.get(conversation_id)
        turns = self._store.thread(conversation.id)
        names = {t.model: self._model_name(t.model) for t in turns if t.model}
        path.write_text(export_conversation(conversation, turns, fmt, model_names=names), encoding="utf-8")


@dataclass(frozen=True)
class _PendingRun:
    """What a run that has started will be written as once it ends."""

    kind: str  # "send" | "regenerate" | "edit"
    conversation_id: str | None  # None: a new conversation, created when the answer is written
    prompt: str
    parent_id: int | None | str  # the user turn's parent ("leaf": append); regenerate: the user turn
    task: str
    options: Mapping[str, str | None]
    attachments: tuple[str, ...] = ()


def _report(task: asyncio.Task[Any]) -> None:
    """A spawned task's exception goes where an async slot's goes: ``sys.excepthook``."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        sys.excepthook(type(exc), exc, exc.__traceback__)


def model_name(workspace: Workspace, model_id: str) -> str:
    """The catalog's name for a model id (the id itself when the catalog no longer has it)."""
    try:
        return str(workspace.catalog.get_model(model_id).name)
    except (SparklioError, KeyError, AttributeError):
        return model_id


def _happened(meta: Mapping[str, Any]) -> tuple[str, ...]:
    marks = []
    retries = int(meta.get("retries") or 0)
    if retries:
        marks.append("retried once" if retries == 1 else f"retried {retries} times")
    if meta.get("fallback"):
        marks.append("fell back")
    if meta.get("explored"):
        marks.append("exploration")
    if meta.get("cached"):
        marks.append("from the cache")
    if meta.get("history_note"):  # "history trimmed: 3,200 tokens, saved ~$0.009"
        marks.append(str(meta["history_note"]))
    return tuple(marks)


class ThreadViewModel(ViewModel):
    """The open conversation: its turns, the run streaming into it, versions and feedback."""

    threadChanged = Signal(object)  # ThreadContents
    runStarted = Signal(str, str)  # the prompt, the kind ("send", "regenerate", "edit")
    tokenReceived = Signal(str)
    runEnded = Signal()  # the streamed answer is over (written, failed or cancelled)
    conversationsChanged = Signal()  # a conversation was created or got a turn: the sidebar reloads
    inspectRequested = Signal(str)  # request id: the inspector opens on it
    feedbackRecorded = Signal(str)  # "copy" | "regenerate" | "edit"
    candidatesChanged = Signal(object)  # tuple of (model id, name): what Regenerate offers
    sendEverythingChanged = Signal(bool)  # the open conversation's opt-out from trimming

    def __init__(
        self,
        store: ConversationStore,
        executor: SerialExecutor,
        composer: ComposerViewModel,
        workspace: Workspace,
        parent: QObject | None = None,
        *,
        sidebar: ConversationsViewModel | None = None,
    ) -> None:
        """``sidebar``: reloaded (and waited for) after each written answer."""
        super().__init__(executor, parent)
        self._store = store
        self._sidebar = sidebar
        self._composer = composer
        self._workspace = workspace
        self.contents = ThreadContents(None, UNTITLED, None)
        self._queued: _PendingRun | None = None  # a regenerate or an edit, until its run starts
        self._pending: _PendingRun | None = None  # the run in flight
        self.candidates: tuple[tuple[str, str], ...] = ()
        self.following = False
        self.send_everything = False  # the open conversation's opt-out (docs/conversations.md)

    def task_title(self, task: str | None) -> str:
        """The conversation's task in words for the thread's header ("Copywriting")."""
        return task_words(self._workspace.policy, task) if task else ""

    def follow_composer(self) -> None:
        """Record the composer's runs in the open conversation from now on (the window calls it
        when it shows the thread; a composer used alone, as in its own tests, records nothing)."""
        if self.following:
            return
        self.following = True
        composer = self._composer
        composer.busyChanged.connect(self._on_busy)
        composer.tokenReceived.connect(self.tokenReceived)
        composer.finished.connect(self._on_finished)
        composer.cancelled.connect(self._on_cancelled)
        composer.optionsChanged.connect(self._on_options)
        composer.previewChanged.connect(self._on_preview)
        composer.conversationChanged.connect(self._on_composer_conversation)
        composer.context_keeper = self._keep_context

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task counted at once (a slot's task counts itself only on its first
        step, which a signal near a test's end or shutdown could leave for after the loop)."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_report)

    @property
    def conversation_id(self) -> str | None:
        return self.contents.id

    # -- opening ----------------------------------------------------------------------
    def _name(self, model_id: str | None) -> str:
        return model_name(self._workspace, model_id) if model_id else ""

    def _view(self, turn: Turn) -> TurnView:
        meta = dict(turn.meta or {})
        error = meta.get("error")
        name = self._name(turn.model)
        happened = _happened(meta)
        chip = ""
        if turn.role == "assistant":
            parts = [name or "Unknown model"]
            if turn.cost_usd is not None:
                parts.append(format_usd(turn.cost_usd))
            chip = " · ".join([*parts, *happened])
        return TurnView(
            id=turn.id,
            role=turn.role,
            content=turn.content,
            model=turn.model,
            model_name=name,
            request_id=turn.request_id,
            cost_usd=turn.cost_usd,
            chip=chip,
            happened=happened,
            error=str(error) if error else None,
            version=turn.version,
            versions=turn.versions,
        )

    def _contents(self, conversation: Conversation, turns: Sequence[Turn]) -> ThreadContents:
        return ThreadContents(
            conversation.id, conversation.title or UNTITLED, conversation.task, tuple(self._view(t) for t in turns)
        )

    @staticmethod
    def _history(turns: Sequence[TurnView]) -> list[Message]:
        """The messages a follow-up sends: answered pairs only (a failed answer and its
        prompt stay in the thread, not in what the model is told)."""
        messages: list[Message] = []
        for user, answer in zip(turns, turns[1:], strict=False):
            if user.role == "user" and answer.role == "assistant" and not answer.error:
                messages += [Message("user", user.content), Message("assistant", answer.content)]
        return messages

    def _show(self, contents: ThreadContents, *, load_composer: bool) -> None:
        self.contents = contents
        self.threadChanged.emit(contents)
        if load_composer:
            answered = [t for t in contents.turns if t.role == "assistant" and t.model and not t.error]
            history = self._history(contents.turns)
            self._composer.load_conversation(history, answered[-1].model if answered else None, contents.task, {})
            if contents.id is not None:
                self._spawn(self._load_history_context(contents.id, history))

    async def _load_history_context(self, conversation_id: str, history: Sequence[Message]) -> None:
        """The stored running summary and opt-out, into the composer. The summary counts the
        stored thread's turns: it is used only when the thread is what the composer sends (a
        failed exchange, left out of what is sent, would shift it)."""
        try:
            context = await self._executor.call(self._store.context, conversation_id)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        if self.contents.id != conversation_id:
            return
        aligned = context.history == tuple(history)
        self._set_send_everything(context.send_everything)
        self._composer.set_history_context(
            context.summary if aligned else None, context.send_everything, context.attachments if aligned else ()
        )

    def _set_send_everything(self, on: bool) -> None:
        if on != self.send_everything:
            self.send_everything = on
            self.sendEverythingChanged.emit(on)

    @asyncSlot(bool)
    async def set_send_everything(self, on: bool) -> None:
        """The opt-out ("send everything": no trimming, no summary), stored with the open
        conversation; the preview then says what sending the whole history costs."""
        self._track()
        conversation_id = self.contents.id
        if conversation_id is not None:
            try:
                await self._executor.call(self._store.set_send_everything, conversation_id, on)
            except SparklioError as exc:
                self.errorRaised.emit(str(exc))
                return
        self._set_send_everything(on)
        self._composer.set_history_context(self._composer.history_summary, on)

    async def _keep_context(self, request: RunRequest) -> RunRequest:
        """Before a follow-up whose window says so: rewrite the open conversation's running
        summary (core/history_summary.py, its own ledger row), store it, and send it."""
        conversation_id = self.contents.id
        if conversation_id is None or request.send_everything:
            return request
        try:
            context = await self._executor.call(self._store.context, conversation_id)
        except SparklioError:
            return request
        if context.history != request.history:  # an edit or a regenerate above the leaf: as it is
            return request
        limit = request.history_limit if request.history_limit is not None else 0
        refresh: SummaryRefresh | None = await refresh_summary(
            self._composer.dispatcher, context, limit, request.route.task
        )
        if refresh is None:
            return request
        try:
            await self._executor.call(
                lambda: self._store.save_summary(
                    conversation_id,
                    refresh.summary,
                    refresh.through_turn,
                    model=refresh.model,
                    request_id=refresh.request_id,
                )
            )
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
        self._composer.set_history_context(refresh.summary, False)
        return replace(request, history_summary=refresh.summary)

    @asyncSlot(str)
    async def open(self, conversation_id: str) -> None:
        """Show a conversation's current path and carry it into the composer."""
        self._track()
        try:
            conversation, turns = await self._executor.call(self._read, conversation_id)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        self._show(self._contents(conversation, turns), load_composer=True)

    def _read(self, conversation_id: str) -> tuple[Conversation, list[Turn]]:
        conversation = self._store.get(conversation_id)
        return conversation, self._store.thread(conversation.id)

    def new_conversation(self) -> None:
        """An empty thread; the conversation is stored when its first answer is written."""
        self._set_send_everything(False)
        self.contents = ThreadContents(None, UNTITLED, self._composer.options.get("task"))
        self.threadChanged.emit(self.contents)
        if self._composer.options.get("task") is not None:
            self._composer.new_conversation()

    def forget(self, conversation_id: str) -> None:
        """The conversation was deleted: leave it if it is open."""
        if self.contents.id == conversation_id:
            self.new_conversation()

    def _on_composer_conversation(self, turns: int) -> None:
        if turns == 0 and self.contents.id is not None:  # the composer's own "New conversation"
            self.contents = ThreadContents(None, UNTITLED, self._composer.options.get("task"))
            self.threadChanged.emit(self.contents)

    def _on_options(self, options: TaskOptions) -> None:
        """The composer's task is the conversation's: a change is stored with it."""
        conversation_id = self.contents.id
        if conversation_id is not None and options.task != self.contents.task:
            self.contents = ThreadContents(conversation_id, self.contents.title, options.task, self.contents.turns)
            self._spawn(self._store_task(conversation_id, options.task))

    async def _store_task(self, conversation_id: str, task: str) -> None:
        try:
            await self._executor.call(self._store.set_task, conversation_id, task)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))

    def _on_preview(self, preview: RoutePreview) -> None:
        self.candidates = tuple(zip(preview.chain, preview.chain_names, strict=False))
        self.candidatesChanged.emit(self.candidates)

    # -- runs ---------------------------------------------------------------------------
    def _on_busy(self, busy: bool) -> None:
        if not busy:
            if self._pending is not None:  # the run failed before it finished (an error was shown)
                self._pending = None
                self.runEnded.emit()
                self.threadChanged.emit(self.contents)
            return
        self._pending, self._queued = self._queued, None
        if self._pending is None:  # a plain Send from the composer: appended to this thread
            options = self._composer.options
            self._pending = _PendingRun(
                "send",
                self.contents.id,
                self._composer.prompt,
                "leaf",
                options.get("task") or "chat",
                {k: v for k, v in options.items() if k != "task"},
                tuple(self._composer.image_names),
            )
        self.runStarted.emit(self._pending.prompt, self._pending.kind)

    def _on_cancelled(self) -> None:
        pending, self._pending = self._pending, None
        self.runEnded.emit()
        if pending is not None and self._composer.last_output:  # keep what had arrived, marked
            self._spawn(
                self._write(pending, None, self._composer.last_output, "Cancelled before the answer was complete.")
            )
        else:
            self.threadChanged.emit(self.contents)

    def _on_finished(self, summary: RunSummary) -> None:
        pending, self._pending = self._pending, None
        self.runEnded.emit()
        if pending is None:
            return
        self._spawn(
            self._write(pending, summary, summary.output, None if summary.ok else (summary.error or "No answer."))
        )

    async def _write(self, pending: _PendingRun, summary: RunSummary | None, output: str, error: str | None) -> None:
        meta: dict[str, Any] = {"error": error}
        if summary is not None:
            meta |= {
                "fallback": summary.fallbacks > 0,
                "retries": summary.retries,
                "explored": summary.exploration,
                "cached": summary.cache_hit,
                "history_tokens_sent": summary.history_tokens_sent,
                "history_tokens_saved": summary.history_tokens_saved,
                "history_note": summary.history_note or None,
            }
        answer: dict[str, Any] = {
            "model": summary.model if summary else None,
            "request_id": summary.request_id if summary else self._composer.last_request_id,
            "cost_usd": summary.cost_usd if summary else None,
            "meta": meta,
        }
        try:
            conversation, turns = await self._executor.call(self._persist, pending, output, answer)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        if self.contents.id in (None, pending.conversation_id):  # still open (or just created)
            self._show(self._contents(conversation, turns), load_composer=False)
        if self._sidebar is not None:  # awaited here, so waiting for the thread waits for the list too
            await self._sidebar.reload()
        self.conversationsChanged.emit()

    def _persist(self, pending: _PendingRun, output: str, answer: Mapping[str, Any]) -> tuple[Conversation, list[Turn]]:
        store = self._store
        conversation_id = pending.conversation_id
        if conversation_id is None:
            conversation_id = store.create(pending.task, options=pending.options).id
            if self.send_everything:  # chosen before the first answer: kept with the conversation
                store.set_send_everything(conversation_id, True)
        if pending.kind == "regenerate":
            assert isinstance(pending.parent_id, int)
            user_id = pending.parent_id
        else:
            parent: Any = pending.parent_id
            user_id = store.add_turn(
                conversation_id, "user", pending.prompt, parent_id=parent, task=pending.task,
                attachments=pending.attachments,
            ).id  # fmt: skip
        cost = answer["cost_usd"]
        store.add_turn(
            conversation_id,
            "assistant",
            output,
            parent_id=user_id,
            model=answer["model"],
            request_id=answer["request_id"],
            task=pending.task,
            cost_usd=cost if isinstance(cost, Decimal) else None,
            meta=answer["meta"],
        )
        return store.get(conversation_id), store.thread(conversation_id)

    def _turn(self, turn_id: int) -> tuple[int, TurnView]:
        for index, turn in enumerate(self.contents.turns):
            if turn.id == turn_id:
                return index, turn
        raise SparklioError(f"turn {turn_id} is not in the open conversation")

    def _start(self, pending: _PendingRun, history: Sequence[Message], model: str | None) -> None:
        self._queued = pending
        self._composer.send_turn(pending.prompt, history, model)

    def regenerate(self, answer_id: int, model_id: str | None = None) -> None:
        """A new version of an answer: the same prompt again, on ``model_id`` or the same model."""
        index, answer = self._turn(answer_id)
        if index == 0 or self.contents.turns[index - 1].role != "user":
            self.errorRaised.emit("This answer has no question to ask again.")
            return
        user = self.contents.turns[index - 1]
        task = self.contents.task or self._composer.options.get("task") or "chat"
        pending = _PendingRun("regenerate", self.contents.id, user.content, user.id, task, {})
        self._spawn(self._feedback(answer_id, "regenerate"))
        self._start(pending, self._history(self.contents.turns[: index - 1]), model_id or answer.model)

    def edit_and_resend(self, user_turn_id: int, text: str) -> None:
        """A new version of a question: stored beside the old one, then answered."""
        if not text.strip():
            self.errorRaised.emit("Write the new question first.")
            return
        index, _user = self._turn(user_turn_id)
        parent = self.contents.turns[index - 1].id if index > 0 else None
        task = self.contents.task or self._composer.options.get("task") or "chat"
        pending = _PendingRun("edit", self.contents.id, text, parent, task, {})
        self._spawn(self._feedback(user_turn_id, "edit"))
        self._start(pending, self._history(self.contents.turns[:index]), None)

    # -- versions, feedback, the inspector ---------------------------------------------
    @asyncSlot(int, int)
    async def show_version(self, turn_id: int, step: int) -> None:
        """``< n/m >``: make the previous (-1) or next (+1) sibling of a turn current."""
        self._track()
        conversation_id = self.contents.id
        if conversation_id is None:
            return
        try:
            result = await self._executor.call(self._step_version, conversation_id, turn_id, step)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        if result is not None and self.contents.id == conversation_id:
            self._show(self._contents(*result), load_composer=True)

    def _step_version(self, conversation_id: str, turn_id: int, step: int) -> tuple[Conversation, list[Turn]] | None:
        siblings = self._store.siblings(turn_id)
        ids = [t.id for t in siblings]
        if turn_id not in ids:
            return None
        target = ids.index(turn_id) + step
        if not 0 <= target < len(ids):
            return None
        turns = self._store.select_version(ids[target])
        return self._store.get(conversation_id), turns

    @asyncSlot(int, str)
    async def record_feedback(self, turn_id: int, kind: str) -> None:
        """Implicit feedback: a copy, a regenerate or an edit says something about the answer."""
        self._track()
        await self._feedback(turn_id, kind)

    async def _feedback(self, turn_id: int, kind: str) -> None:
        try:
            await self._executor.call(self._store.record_feedback, turn_id, kind)
        except SparklioError as exc:
            self.errorRaised.emit(str(exc))
            return
        self.feedbackRecorded.emit(kind)

    def copied(self, turn_id: int) -> None:
        self._spawn(self._feedback(turn_id, "copy"))

    def inspect(self, request_id: str) -> None:
        self.inspectRequested.emit(request_id)

    async def wait_idle(self) -> None:
        while True:
            await super().wait_idle()
            await asyncio.sleep(0)
            if not [t for t in self._tasks if not t.done()]:
                return


def relative_time(when: datetime, now: datetime | None = None) -> str:
    """ "just now", "5 min", "3 h", "yesterday", "4 d", then the date: what a sidebar row shows."""
    now = now or datetime.now(UTC)
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h"
    if seconds < 2 * 86_400:
        return "yesterday"
    if seconds < 7 * 86_400:
        return f"{int(seconds // 86_400)} d"
    return when.astimezone(UTC).strftime("%Y-%m-%d")
