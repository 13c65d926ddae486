"""The Chat page: conversations on the left, the thread with the composer under it in the
middle, the route preview and the inspector on the right (hidden with Ctrl+I).

Why the composer's own widgets are moved rather than rebuilt: the composer view keeps its
options, prompt and preview wiring in one place (ui/views/composer_view.py); this page
only lends them a place. Its route-preview box moves to the right-hand panel, and its
single-answer view is hidden: answers live in the thread. Every splitter is named, so the
main window remembers its sizes.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from sparklio_desktop.ui.views.composer_view import ComposerView
from sparklio_desktop.ui.views.conversation_sidebar import ConversationSidebar
from sparklio_desktop.ui.views.thread_view import ThreadView


def _split_child(view: QWidget, name: str, index: int) -> QWidget | None:
    splitter = view.findChild(QSplitter, name)
    return splitter.widget(index) if splitter is not None and splitter.count() > index else None


def _narrow(view: QWidget) -> None:
    """Let a panel made for a whole tab fit a pane (the window is usable at 1024 px): combo
    boxes size to a short text instead of their longest item, labels wrap."""
    for combo in view.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(8)
        combo.setMinimumWidth(80)  # a set minimum wins over the longest item's size hint
    for label in view.findChildren(QLabel):
        label.setWordWrap(True)


class ChatPage(QWidget):
    """Three panes in one remembered splitter."""

    def __init__(
        self,
        sidebar: ConversationSidebar,
        thread: ThreadView,
        composer: ComposerView,
        inspector: QWidget,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.sidebar = sidebar
        self.thread_view = thread
        self.composer = composer
        self.inspector = inspector
        preview = getattr(composer, "preview_box", None) or _split_child(composer, "composer-editor-preview", 1)
        # Answers live in the thread: the composer's own answer view, result line and Copy are
        # hidden (and the stream no longer drawn twice); its attempt line, generated images,
        # Save as .md and stars stay under the prompt for the latest answer.
        for name in ("answer", "result_label", "copy_button"):
            part = getattr(composer, name, None)
            if isinstance(part, QWidget):
                part.hide()
        answer_view = getattr(composer, "answer", None)
        if answer_view is not None and hasattr(answer_view, "append_text"):
            composer.vm.tokenReceived.disconnect(answer_view.append_text)
        answer_area = _split_child(composer, "composer-top-answer", 1)
        if answer_area is not None:
            answer_area.setSizePolicy(answer_area.sizePolicy().horizontalPolicy(), QSizePolicy.Policy.Maximum)
        empty_state = getattr(composer, "empty_state", None)
        if isinstance(empty_state, QWidget):  # the example prompts stand where the thread will be
            thread.use_empty_state(empty_state)
        history_detail = inspector.findChild(QSplitter, "inspector-history-detail")
        if history_detail is not None:  # in a narrow pane: the history above the detail
            history_detail.setOrientation(Qt.Orientation.Vertical)
        _narrow(inspector)
        _narrow(composer)

        center = QSplitter(Qt.Orientation.Vertical)
        center.setObjectName("chat-thread-composer")
        center.addWidget(thread)
        center.addWidget(composer)
        center.setStretchFactor(0, 3)
        center.setStretchFactor(1, 1)
        center.setSizes([600, 180])  # the compact composer: the prompt and one row

        self.route_panel = QSplitter(Qt.Orientation.Vertical)
        self.route_panel.setObjectName("chat-route-inspector")
        self.route_panel.setAccessibleName("Route panel")
        self.preview = preview
        if preview is not None:
            preview.setMinimumWidth(0)
            self.route_panel.addWidget(preview)
        self.route_panel.addWidget(inspector)
        self.route_panel.setSizes([260, 520])

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("chat-panes")
        self.splitter.addWidget(sidebar)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.route_panel)
        # Set minimums win over the panels' own hints (made for a whole tab), so the window
        # stays usable at 1024 x 700 with the route panel shown.
        sidebar.setMinimumWidth(160)
        center.setMinimumWidth(380)
        self.route_panel.setMinimumWidth(240)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([240, 620, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)
