"""The conversation sidebar: search, New, the list (pinned first, newest first), a context
menu (Rename, Pin, Export, Delete) and an Undo toast after a delete.

Why a QListView with a delegate: the rows are painted from the view-model's paged list
model, so thousands of conversations cost a few painted rows, not a widget each.
"""

from __future__ import annotations

from functools import partial

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.conversation_payloads import ConversationRow, DeletedConversation
from sparklio_desktop.ui.viewmodels.conversations import (
    UNDO_SECONDS,
    ConversationsViewModel,
    RowRole,
    relative_time,
)

EXPORT_FILTERS = {"md": "Markdown (*.md)", "json": "JSON (*.json)", "html": "HTML (*.html)"}


class ConversationDelegate(QStyledItemDelegate):
    """A row: a pin mark, the title (elided), the relative time on the right; a search
    hit's snippet on a second line."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        row = index.data(RowRole)
        lines = 2 if isinstance(row, ConversationRow) and row.snippet else 1
        return QSize(option.rect.width(), option.fontMetrics.height() * lines + 12)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        row = index.data(RowRole)
        if not isinstance(row, ConversationRow):
            return
        style = option.widget.style() if option.widget else None
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_colour = palette.highlightedText().color() if selected else palette.text().color()
        dim = palette.highlightedText().color() if selected else palette.placeholderText().color()
        metrics = option.fontMetrics
        line = metrics.height()
        rect = option.rect.adjusted(8, 6, -8, -6)
        when = relative_time(row.updated_at)
        when_width = metrics.horizontalAdvance(when) + 8
        painter.save()
        painter.setPen(dim)
        painter.drawText(
            QRect(rect.right() - when_width, rect.top(), when_width, line), Qt.AlignmentFlag.AlignRight, when
        )
        title = ("★ " if row.pinned else "") + row.title
        painter.setPen(text_colour)
        title_rect = QRect(rect.left(), rect.top(), rect.width() - when_width, line)
        painter.drawText(
            title_rect,
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(title, Qt.TextElideMode.ElideRight, title_rect.width()),
        )
        if row.snippet:
            painter.setPen(dim)
            snippet_rect = QRect(rect.left(), rect.top() + line, rect.width(), line)
            snippet = " ".join(row.snippet.split())
            painter.drawText(
                snippet_rect,
                Qt.AlignmentFlag.AlignLeft,
                metrics.elidedText(snippet, Qt.TextElideMode.ElideRight, rect.width()),
            )
        painter.restore()


class ConversationSidebar(QWidget):
    """Lists the conversations; ``openRequested`` and ``newRequested`` go to the thread."""

    openRequested = Signal(str)
    newRequested = Signal()
    deletedConversation = Signal(str)

    def __init__(self, vm: ConversationsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search chats…")
        self.search.setAccessibleName("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.new_button = QToolButton()
        self.new_button.setText("+")
        self.new_button.setAccessibleName("New conversation")
        self.new_button.setToolTip("New conversation (Ctrl+N)")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.search, 1)
        top.addWidget(self.new_button)

        self.list = QListView()
        self.list.setAccessibleName("Conversations")
        self.list.setModel(vm.model)
        self.list.setItemDelegate(ConversationDelegate(self.list))
        self.list.setUniformItemSizes(False)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.empty = QLabel("No conversations yet.")
        self.empty.setStyleSheet("color: palette(mid)")
        self.empty.setWordWrap(True)

        self.toast = QWidget()
        self.toast.setObjectName("undoToast")
        self.toast_label = QLabel()
        self.toast_label.setWordWrap(True)
        self.undo_button = QToolButton()
        self.undo_button.setText("Undo")
        self.undo_button.setAccessibleName("Undo delete")
        toast = QHBoxLayout(self.toast)
        toast.setContentsMargins(8, 4, 4, 4)
        toast.addWidget(self.toast_label, 1)
        toast.addWidget(self.undo_button)
        self.toast.setStyleSheet("#undoToast { background: palette(tool-tip-base); border-radius: 4px; }")
        self.toast.hide()
        self._toast_timer = QTimer(self)
        self._toast_timer.setSingleShot(True)
        self._toast_timer.timeout.connect(self.toast.hide)
        self._deleted: DeletedConversation | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty)
        layout.addWidget(self.toast)

        self.search.textChanged.connect(vm.set_search)
        self.new_button.clicked.connect(self.newRequested)
        self.list.clicked.connect(self._open_index)
        self.list.activated.connect(self._open_index)
        self.list.customContextMenuRequested.connect(self._menu)
        self.undo_button.clicked.connect(self._undo)
        vm.deleted.connect(self._on_deleted)
        vm.listChanged.connect(self._on_list)
        delete = QShortcut(
            QKeySequence(QKeySequence.StandardKey.Delete), self.list, context=Qt.ShortcutContext.WidgetShortcut
        )
        delete.activated.connect(self._delete_current)
        rename = QShortcut(QKeySequence(Qt.Key.Key_F2), self.list, context=Qt.ShortcutContext.WidgetShortcut)
        rename.activated.connect(self._rename_current)

    def _delete_current(self) -> None:
        current = self._current()
        if current is not None:
            self.vm.delete(current)

    def _rename_current(self) -> None:
        current = self._current()
        if current is not None:
            self.rename(current)

    def _current(self) -> str | None:
        row = self.list.currentIndex().data(RowRole)
        return row.id if isinstance(row, ConversationRow) else None

    def _open_index(self, index: QModelIndex) -> None:
        row = index.data(RowRole)
        if isinstance(row, ConversationRow):
            self.openRequested.emit(row.id)

    def _on_list(self) -> None:
        self.empty.setVisible(self.vm.model.rowCount() == 0)
        self.empty.setText("No conversation matches." if self.vm.searching else "No conversations yet.")

    def select(self, conversation_id: str | None) -> None:
        """Show which conversation is open (without opening it again)."""
        index = -1 if conversation_id is None else self.vm.model.row_of(conversation_id)
        if index < 0:
            self.list.clearSelection()
            return
        self.list.setCurrentIndex(self.vm.model.index(index))

    # -- the context menu -------------------------------------------------------------------
    def _menu(self, at: QPoint) -> None:
        row = self.list.indexAt(at).data(RowRole)
        if not isinstance(row, ConversationRow):
            return
        menu = QMenu(self)
        menu.addAction("Rename…", lambda: self.rename(row.id))
        menu.addAction("Unpin" if row.pinned else "Pin to top", lambda: self.vm.set_pinned(row.id, not row.pinned))
        export = menu.addMenu("Export as")
        for fmt, label in (("md", "Markdown…"), ("json", "JSON…"), ("html", "HTML…")):
            export.addAction(label, partial(self.export, row.id, fmt))
        menu.addSeparator()
        menu.addAction("Delete", lambda: self.vm.delete(row.id))
        menu.exec(self.list.viewport().mapToGlobal(at))

    def rename(self, conversation_id: str) -> None:
        row = self.vm.row(conversation_id)
        title, ok = QInputDialog.getText(self, "Rename conversation", "Name:", text=row.title if row else "")
        if ok:
            self.vm.rename(conversation_id, title)

    def export(self, conversation_id: str, fmt: str = "md") -> None:
        row = self.vm.row(conversation_id)
        stem = "".join(c if c.isalnum() or c in " -_" else "_" for c in (row.title if row else "conversation"))[:60]
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export conversation", f"{stem.strip() or 'conversation'}.{fmt}", ";;".join(EXPORT_FILTERS.values())
        )
        if path:
            picked = next((f for f, label in EXPORT_FILTERS.items() if label == chosen), fmt)
            self.vm.export(conversation_id, picked, path)

    # -- undo ----------------------------------------------------------------------------------
    def _on_deleted(self, deleted: DeletedConversation) -> None:
        self._deleted = deleted
        self.toast_label.setText(f"Deleted “{deleted.title}”.")
        self.toast.show()
        self._toast_timer.start(UNDO_SECONDS * 1000)
        self.deletedConversation.emit(deleted.id)

    def _undo(self) -> None:
        if self._deleted is not None:
            self.vm.undo_delete(self._deleted.id)
            self._deleted = None
        self.toast.hide()
