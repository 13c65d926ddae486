"""The thread: user turns and answer cards, the answer streaming into the last card.

Why widgets built lazily: a 1,000-turn conversation must open in 200 ms, and a card with
Markdown labels costs about a millisecond; only the last ``WINDOW`` turns are built when a
conversation opens, and "Show earlier turns" (or scrolling to the top) builds the next
ones. When the same conversation changes (an answer was written, a version chosen), the
cards that did not change are kept and only the tail from the first difference is built
again. While an answer streams, tokens go to one :class:`StreamingMarkdownView` (which
renders at most every 100 ms) in a stream pane under the built cards, outside their
scroll area: the answer growing never lays out the cards again (a word-wrapped label
measures its text at every layout, about a millisecond per card). When the answer is
written, it becomes a card like the others and the pane closes.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.conversation_payloads import ThreadContents, TurnView
from sparklio_desktop.ui.viewmodels.conversations import ThreadViewModel
from sparklio_desktop.ui.widgets.markdown_stream import StreamingMarkdownView
from sparklio_desktop.ui.widgets.rich_answer import RichAnswer

WINDOW = 30  # turns built when a conversation opens, and per "Show earlier turns"
EMPTY_TEXT = "Ask anything below; Sparklio picks the model and shows what it cost."


def _tool(text: str, name: str, tip: str = "") -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setAccessibleName(name)
    button.setToolTip(tip or name)
    button.setAutoRaise(True)
    return button


class TurnCard(QFrame):
    """One turn: a user's question or an answer with its chip, body and controls."""

    def __init__(self, turn: TurnView, vm: ThreadViewModel) -> None:
        super().__init__()
        self.turn = turn
        self.vm = vm
        self.setObjectName("answerCard" if turn.role == "assistant" else "userCard")
        self.setFrameShape(QFrame.Shape.StyledPanel if turn.role == "assistant" else QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.setSpacing(4)
        self.chip: QToolButton | None = None
        self.body: QWidget
        controls = QHBoxLayout()
        controls.setSpacing(4)
        if turn.role == "user":
            who = QLabel("<b>You</b>")
            layout.addWidget(who)
            label = QLabel(turn.content)
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.PlainText)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.body = label
            layout.addWidget(label)
            self.edit = _tool("Edit", "Edit and resend", "Edit this question and send it again (a new version)")
            self.edit.clicked.connect(self._edit)
            controls.addWidget(self.edit)
        else:
            self.chip = _tool(turn.chip, f"Answer by {turn.model_name or 'unknown model'}", "")
            self.chip.setToolTip("Open the routing inspector for this request")
            self.chip.setEnabled(turn.request_id is not None)
            self.chip.setStyleSheet("QToolButton { color: palette(link); }")
            self.chip.clicked.connect(self._inspect)
            layout.addWidget(self.chip, 0, Qt.AlignmentFlag.AlignLeft)
            self.body = RichAnswer(turn.content, on_copy=lambda: vm.copied(turn.id))
            layout.addWidget(self.body)
            if turn.error:
                error = QLabel(turn.error)
                error.setWordWrap(True)
                error.setStyleSheet("color: #b00020")
                error.setAccessibleName("Answer error")
                layout.addWidget(error)
            self.copy = _tool("Copy", "Copy answer", "Copy the whole answer as Markdown")
            self.copy.clicked.connect(self._copy)
            self.regenerate = _tool("Regenerate", "Regenerate", "Ask again: the same model, or another one")
            self.regenerate.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
            menu = QMenu(self.regenerate)
            menu.aboutToShow.connect(lambda: self._fill_models(menu))
            self.regenerate.setMenu(menu)
            self.regenerate.clicked.connect(lambda: vm.regenerate(turn.id))
            controls.addWidget(self.copy)
            controls.addWidget(self.regenerate)
        controls.addStretch(1)
        self.versions: QLabel | None = None
        if turn.versions > 1:
            self.previous = _tool("<", "Previous version", "Show the previous version")
            self.next = _tool(">", "Next version", "Show the next version")
            self.versions = QLabel(f"{turn.version}/{turn.versions}")
            self.versions.setAccessibleName("Version")
            self.previous.setEnabled(turn.version > 1)
            self.next.setEnabled(turn.version < turn.versions)
            self.previous.clicked.connect(lambda: vm.show_version(turn.id, -1))
            self.next.clicked.connect(lambda: vm.show_version(turn.id, 1))
            for widget in (self.previous, self.versions, self.next):
                controls.addWidget(widget)
        layout.addLayout(controls)

    def _inspect(self) -> None:
        if self.turn.request_id is not None:
            self.vm.inspect(self.turn.request_id)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.turn.content)
        self.vm.copied(self.turn.id)

    def _fill_models(self, menu: QMenu) -> None:
        menu.clear()
        same = menu.addAction(f"Same model ({self.turn.model_name or 'as before'})")
        same.triggered.connect(lambda: self.vm.regenerate(self.turn.id))
        others = [(m, n) for m, n in self.vm.candidates if m != self.turn.model]
        if others:
            menu.addSeparator()
        for model_id, name in others:
            action = menu.addAction(f"With {name}")
            action.triggered.connect(lambda _=False, m=model_id: self.vm.regenerate(self.turn.id, m))

    def _edit(self) -> None:
        text, ok = QInputDialog.getMultiLineText(self, "Edit and resend", "Your question:", self.turn.content)
        if ok and text.strip() and text != self.turn.content:
            self.vm.edit_and_resend(self.turn.id, text)


class StreamingCard(QFrame):
    """The question just sent and the answer being written (a Markdown view that scrolls
    with the stream)."""

    def __init__(self, prompt: str | None) -> None:
        super().__init__()
        self.setObjectName("answerCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.prompt = QLabel()
        self.prompt.setTextFormat(Qt.TextFormat.PlainText)
        self.prompt.setWordWrap(True)
        self.prompt.setText(f"You: {prompt}" if prompt else "")
        self.prompt.setVisible(bool(prompt))
        self.prompt.setMaximumHeight(80)
        self.status = QLabel("Answering…")
        self.status.setStyleSheet("color: palette(mid)")
        self.answer = StreamingMarkdownView()
        self.answer.setAccessibleName("Streaming answer")
        self.answer.setFrameShape(QFrame.Shape.NoFrame)
        self.answer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout.addWidget(self.prompt)
        layout.addWidget(self.status)
        layout.addWidget(self.answer, 1)


class ThreadView(QWidget):
    """The open conversation's turns, newest at the bottom."""

    def __init__(self, vm: ThreadViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.title = QLabel()
        self.title.setAccessibleName("Conversation title")
        self.title.setStyleSheet("font-weight: 600; font-size: 12pt")
        self.task_label = QLabel()
        self.task_label.setStyleSheet("color: palette(mid)")
        # The conversation's opt-out from trimming (docs/conversations.md): every turn is sent.
        self.send_everything = QCheckBox("Send everything")
        self.send_everything.setAccessibleName("Send the whole conversation")
        self.send_everything.setToolTip(
            "Send every earlier turn with each message (no trimming, no summary); the route preview says what it costs"
        )
        self.send_everything.setChecked(vm.send_everything)
        self.send_everything.toggled.connect(vm.set_send_everything)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.send_everything)
        header.addWidget(self.task_label)

        self.scroller = QScrollArea()
        self.scroller.setWidgetResizable(True)
        self.scroller.setFrameShape(QFrame.Shape.NoFrame)
        self.scroller.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroller.setAccessibleName("Thread")
        self._inner = QWidget()
        self._turns_layout = QVBoxLayout(self._inner)
        self._turns_layout.setContentsMargins(8, 8, 8, 8)
        self._turns_layout.setSpacing(8)
        self.earlier = QPushButton("Show earlier turns")
        self.earlier.setAccessibleName("Show earlier turns")
        self.earlier.hide()
        self.earlier.clicked.connect(self.show_earlier)
        empty = QLabel(EMPTY_TEXT)
        empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        empty.setWordWrap(True)
        empty.setStyleSheet("color: palette(mid)")
        self.empty: QWidget = empty
        self._turns_layout.addWidget(self.earlier)
        self._turns_layout.addWidget(self.empty)
        self._turns_layout.addStretch(1)
        self.scroller.setWidget(self._inner)

        self.stream_pane = QWidget()
        self.stream_pane.setAccessibleName("Answer being written")
        self._stream_layout = QVBoxLayout(self.stream_pane)
        self._stream_layout.setContentsMargins(8, 0, 8, 8)
        self.stream_pane.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.scroller, 3)
        layout.addWidget(self.stream_pane, 2)

        self.cards: list[TurnCard] = []  # the built cards, in order: contents.turns[self.first:]
        self.first = 0
        self.contents = ThreadContents(None, "", None)
        self.streaming: StreamingCard | None = None
        self._own_empty = True
        self.stream_renders = 0  # Markdown renders of streamed answers (benchmarks)
        self._stick = True  # keep the view at the bottom while it grows
        bar = self.scroller.verticalScrollBar()
        bar.rangeChanged.connect(self._on_range)
        bar.valueChanged.connect(self._on_scrolled)

        vm.threadChanged.connect(self._on_thread)
        vm.runStarted.connect(self._on_run_started)
        vm.tokenReceived.connect(self._on_token)
        vm.runEnded.connect(self._on_run_ended)
        vm.sendEverythingChanged.connect(self._on_send_everything)
        self._on_thread(vm.contents)

    def _on_send_everything(self, on: bool) -> None:
        with QSignalBlocker(self.send_everything):  # the model's state, not a new choice
            self.send_everything.setChecked(on)

    # -- building ------------------------------------------------------------------------
    def _insert_at(self) -> int:
        """The layout position after the last card (before the stretch)."""
        return self._turns_layout.count() - 1

    def _drop_cards(self, from_index: int) -> None:
        for card in self.cards[from_index:]:
            self._turns_layout.removeWidget(card)
            card.hide()
            card.deleteLater()
        del self.cards[from_index:]

    def _drop_stream(self) -> None:
        if self.streaming is not None:
            self.stream_renders += self.streaming.answer.renders
            self._stream_layout.removeWidget(self.streaming)
            self.streaming.hide()
            self.streaming.deleteLater()
            self.streaming = None
        self.stream_pane.hide()

    def _on_thread(self, contents: ThreadContents) -> None:
        same = contents.id is not None and contents.id == self.contents.id
        turns = contents.turns
        self.title.setText(contents.title)
        self.task_label.setText(self.vm.task_title(contents.task))
        self.task_label.setToolTip(f"Task: {contents.task}" if contents.task else "")
        self._drop_stream()
        self._inner.setUpdatesEnabled(False)
        try:
            if not same:
                self._drop_cards(0)
                self.first = max(0, len(turns) - WINDOW)
                self._stick = True
            else:
                keep = 0
                shown = turns[self.first :]
                while keep < len(self.cards) and keep < len(shown) and self.cards[keep].turn == shown[keep]:
                    keep += 1
                self._drop_cards(keep)
            self.contents = contents
            for turn in turns[self.first + len(self.cards) :]:
                card = TurnCard(turn, self.vm)
                self._turns_layout.insertWidget(self._insert_at(), card)
                self.cards.append(card)
        finally:
            self._inner.setUpdatesEnabled(True)
        self._update_extras()
        if self._stick:
            self._to_bottom()

    def use_empty_state(self, widget: QWidget) -> None:
        """Show another view's empty state (the composer's example prompts) in place of the
        thread's own sentence; that view keeps deciding when it shows."""
        self._turns_layout.replaceWidget(self.empty, widget)
        self.empty.hide()
        self.empty = widget
        self._own_empty = False

    def _update_extras(self) -> None:
        hidden = self.first
        self.earlier.setVisible(hidden > 0)
        self.earlier.setText(f"Show earlier turns ({hidden} more)")
        if self._own_empty:
            self.empty.setVisible(not self.contents.turns and self.streaming is None)

    def show_earlier(self) -> None:
        """Build the next ``WINDOW`` older turns above the shown ones."""
        if self.first == 0:
            return
        start = max(0, self.first - WINDOW)
        bar = self.scroller.verticalScrollBar()
        from_bottom = bar.maximum() - bar.value()
        self._inner.setUpdatesEnabled(False)
        built = [TurnCard(turn, self.vm) for turn in self.contents.turns[start : self.first]]
        for offset, card in enumerate(built):
            self._turns_layout.insertWidget(2 + offset, card)  # after the button and the empty label
        self.cards[:0] = built
        self.first = start
        self._inner.setUpdatesEnabled(True)
        self._update_extras()
        self._stick = False
        QTimer.singleShot(0, bar, lambda: bar.setValue(bar.maximum() - from_bottom))  # dropped with the bar

    # -- streaming ----------------------------------------------------------------------
    def _on_run_started(self, prompt: str, kind: str) -> None:
        self._drop_stream()
        self.streaming = StreamingCard(None if kind == "regenerate" else prompt)
        self._stream_layout.addWidget(self.streaming)
        self.stream_pane.show()
        self._update_extras()
        self._stick = True
        self._to_bottom()

    def _on_token(self, text: str) -> None:
        if self.streaming is not None:
            self.streaming.answer.append_text(text)

    def _on_run_ended(self) -> None:
        if self.streaming is not None:
            self.streaming.answer.flush()
            self.streaming.status.setText("Saving…")

    # -- scrolling ------------------------------------------------------------------------
    def _to_bottom(self) -> None:
        bar = self.scroller.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _on_range(self, _low: int, high: int) -> None:
        if self._stick:
            self.scroller.verticalScrollBar().setValue(high)

    def _on_scrolled(self, value: int) -> None:
        bar = self.scroller.verticalScrollBar()
        self._stick = value >= bar.maximum() - 4
