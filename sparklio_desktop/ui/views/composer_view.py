"""The composer: a prompt box, one row of controls, the route card, the streamed answer.

It only shows what :class:`ComposerViewModel` says and forwards what the user does;
widget values are pushed with signals blocked so a refresh never loops back.

Why it is this compact: under a conversation thread the composer must leave the thread
the room. The prompt box comes first and is the biggest thing; one row under it holds
Attach, the task (in words), an Options popup and Send, which shows the estimate: the
money at the point of decision. The route options (complexity, budget, speed, quality,
"Route follow-ups again", "New conversation", the system prompt) live in the popup,
pre-filled from the task table. The last answer's stars and "Save as .md…" show only
once there is an answer.

The route card (``preview_box``, which the chat page moves into its right-hand panel)
says in plain words why the first model, the estimate, the chain ("If it fails: …") and
how many models were left out, a toggle away from one line per reason, without the shell
commands the router's details end with.

Two states teach instead of listing: before the first message, one sentence and example
prompts as chips (a click fills the task and the prompt); when no model can answer, one
notice in plain words with the buttons that fix it (Add a key, Start Ollama, Open Models),
emitted as ``actionRequested`` for the window to act on, shown once: not repeated by
the chain line, the exclusions, the result line or a notification.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import QPoint, QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.composer import IMAGE_TYPES, OPTION_CHOICES, ComposerViewModel
from sparklio_desktop.ui.viewmodels.payloads import (
    AttemptUpdate,
    ExcludedModel,
    RoutePreview,
    RunSummary,
    StartedAttempt,
    TaskOptions,
)
from sparklio_desktop.ui.views.template_picker_view import TemplatePickerDialog
from sparklio_desktop.ui.widgets.format import usd_text
from sparklio_desktop.ui.widgets.image_viewer import ImageViewer
from sparklio_desktop.ui.widgets.markdown_stream import StreamingMarkdownView
from sparklio_desktop.ui.widgets.prompt_edit import PromptEdit
from sparklio_desktop.ui.widgets.stars import StarRating


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


EMPTY_SENTENCE = "Ask anything; Sparklio picks the model."
# A few prompts per task, offered as chips before the first message (tasks the policy lacks are skipped).
EXAMPLE_PROMPTS: dict[str, tuple[str, ...]] = {
    "chat": ("Help me plan a launch post for Friday",),
    "brief_questions": ("What is a good name for a coffee subscription?",),
    "copywriting_standard": ("Three Instagram captions for our autumn launch",),
    "strategy_planning": ("A three-month content plan for a small bakery",),
    "translation": ("Translate our menu intro into Spanish",),
    "code_generation": ("A Python script that renames photos by date",),
    "image_generation_quality": ("A cosy café in autumn light, watercolour",),
}
# Rule words (core/routing/decision.py) -> what fixes them, for the "no model fits" notice.
_NO_KEY, _OLLAMA_DOWN, _NOT_PULLED, _CAP = (
    "no API key",
    "provider unreachable",
    "local model not installed",
    "monthly budget cap reached",
)


_UNREACHABLE = "provider unreachable"
# A shell command in a router detail: a parenthesis holding one ("(start it with `ollama serve`)"),
# or a hint that is one ("set one with `sparklio keys set openai`").
_COMMAND_HINT = re.compile(r"\s*\([^()]*`[^()]*\)|[^()]*`.*")


def plain_detail(detail: str) -> str:
    """A router detail without the shell command it may carry ("Ollama is not running")."""
    return _COMMAND_HINT.sub("", detail).strip(" :;,")


def exclusion_lines(excluded: Sequence[ExcludedModel], count: int) -> list[str]:
    """The left-out models grouped by reason, one line each, in plain words and without
    shell commands ("Ollama is not running: Llama 3.2, Qwen 2.5"), then how many more.

    Grouped by the rule's words, except an unreachable provider, which says which one
    ("Ollama is not running"); per-model specifics (seconds, tokens) stay in the inspector."""
    groups: dict[str, list[str]] = {}
    for model in excluded:
        detail = plain_detail(model.detail)
        words = detail if model.reason == _UNREACHABLE and detail else model.reason
        groups.setdefault(words[:1].upper() + words[1:], []).append(model.name)
    lines = [f"{words}: {', '.join(names)}" for words, names in groups.items()]
    more = count - len(excluded)
    if more > 0:
        lines.append(f"… and {more} more (see Details)")
    return lines


def estimate_words(preview: RoutePreview) -> str:
    """ "~$0.0098 · ~6 s · 781 tokens in / 500 out": the first model's cost, time and work."""
    parts = ["price unknown" if preview.cost_usd is None else f"~{usd_text(preview.cost_usd)}"]
    latency = preview.latency_s
    if latency is not None:
        parts.append(f"~{latency:.0f} s" if latency >= 3 else f"~{latency:.1f} s")
    parts.append(f"{preview.input_tokens} tokens in / {preview.output_tokens} out")
    return " · ".join(parts)


def no_fit_words(reasons: tuple[str, ...]) -> tuple[str, bool]:
    """The "no model fits" notice in plain words, and whether "Start Ollama" belongs in it."""
    text = " ".join(reasons)
    fixes = []
    if _NO_KEY in text:
        fixes.append("add an API key for a cloud model")
    if _OLLAMA_DOWN in text:
        fixes.append("start Ollama for free local models")
    elif _NOT_PULLED in text:
        fixes.append("pull a local model in Models")
    if _CAP in text:
        fixes.append("raise this month's budget in Settings")
    if not fixes:
        return ("No model fits these options: try another budget, speed or quality, or open Models.", False)
    sentence = ", or ".join([", ".join(fixes[:-1]), fixes[-1]] if len(fixes) > 1 else fixes)
    return (f"No model can answer this yet: {sentence}.", _OLLAMA_DOWN in text)


NARROW_ROW_PX = 520  # an editor narrower than this gets the row's short labels
PROMPT_LINES = 4  # the prompt box's preferred height, in lines; it grows with the space it is given


class _ComposerPrompt(PromptEdit):
    """The prompt box, asking for a few lines rather than a text editor's 192 px, so the
    composer under a thread stays small; it stretches when the composer has room."""

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        lines = self.fontMetrics().lineSpacing() * PROMPT_LINES
        margins = self.contentsMargins()
        return QSize(super().sizeHint().width(), lines + margins.top() + margins.bottom() + 8)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(super().minimumSizeHint().width(), self.fontMetrics().lineSpacing() * 2 + 12)


class _Editor(QWidget):
    """The prompt and its row, saying when its width changed (a signal rather than an event
    filter on a child, which a dying parent must not receive)."""

    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self.resized.emit()


class ComposerView(QWidget):
    """Compose a task and watch it stream."""

    actionRequested = Signal(str)  # "add_key" | "start_ollama" | "open_models": the window acts

    def __init__(self, vm: ComposerViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._estimate = ""  # the Send button's "~$0.0098", from the last preview
        self._rated = 0  # the last answer's stored rating, what the stars fall back to
        self._exclusion_count = 0
        self._build()
        self._connect()
        tasks = vm.tasks()
        self._build_chips([t.name for t in tasks])
        with QSignalBlocker(self.task_combo):
            for info in tasks:
                self.task_combo.addItem(info.words or info.name, info.name)
                self.task_combo.setItemData(self.task_combo.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        if tasks:
            vm.set_task(tasks[0].name)

    # -- layout -----------------------------------------------------------------------
    def _combo(self, name: str, values: tuple[str, ...]) -> QComboBox:
        combo = QComboBox()
        combo.setAccessibleName(name)
        for value in values:
            combo.addItem(value, value)
        return combo

    def _build(self) -> None:
        self.editor = self._build_editor()
        self.preview_box = self._build_route_card()
        top = QSplitter(Qt.Orientation.Horizontal)
        top.setObjectName("composer-editor-preview")
        top.setChildrenCollapsible(False)
        top.addWidget(self.editor)
        top.addWidget(self.preview_box)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([700, 420])

        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("composer-top-answer")
        split.addWidget(top)
        split.addWidget(self._build_answer_area())
        split.setSizes([260, 380])  # on its own page: room for the route card above the answer
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        send = QShortcut(QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        send.activated.connect(self.vm.send)
        send_enter = QShortcut(QKeySequence("Ctrl+Enter"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        send_enter.activated.connect(self.vm.send)
        cancel = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cancel.activated.connect(self._escape)

    def _build_editor(self) -> QWidget:
        """The prompt box, then one row: Attach, Task, Options … Send, Cancel."""
        self.prompt = _ComposerPrompt()
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setPlaceholderText("Ask, draft, brainstorm… Ctrl+Enter sends, Esc cancels. Drop images to attach.")
        self.prompt.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.attach = QToolButton()  # a tool button, as Options: no push button's 80 px minimum
        self.attach.setText("Attach &image…")
        self.attach.setAccessibleName("Attach image")
        self.attach.setToolTip("Attach images (or drop them on the prompt)")
        self.images_label = QLabel()
        self.images_label.setAccessibleName("Attached images")
        # the names give way (cut, whole in the tooltip) before the buttons do
        self.images_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.clear_images = QToolButton()
        self.clear_images.setText("×")
        self.clear_images.setAccessibleName("Clear images")
        self.clear_images.setToolTip("Clear images")
        self.clear_images.hide()  # shown while images are attached
        self.task_label = QLabel("&Task:")
        self.task_combo = QComboBox()
        self.task_combo.setAccessibleName("Task type")
        self.task_combo.setToolTip("Task")
        self.task_combo.setMinimumContentsLength(4)  # how far it gives way in a narrow thread
        self.task_label.setBuddy(self.task_combo)
        self.options_button = QToolButton()
        self.options_button.setText("O&ptions ▾")
        self.options_button.setAccessibleName("Route options")
        self.options_button.setToolTip("Complexity, budget, speed, quality, follow-ups, the system prompt")
        self.options_popup = self._build_options_popup()
        self.send_button = QPushButton("&Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.send_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()  # in Send's place while a request runs: the row fits a narrow thread
        self.controls = row = QHBoxLayout()
        row.setSpacing(8)
        for widget in (self.attach, self.task_label, self.task_combo, self.options_button):
            row.addWidget(widget)
        row.addWidget(self.images_label, 1)
        row.addWidget(self.clear_images)
        row.addWidget(self.send_button)
        row.addWidget(self.cancel_button)

        editor = _Editor()
        editor.setObjectName("composer-editor")
        self._column = column = QVBoxLayout(editor)
        column.setContentsMargins(8, 8, 8, 8)
        column.setSpacing(8)
        column.addWidget(self.prompt, 1)
        column.addLayout(row)
        editor.resized.connect(self._fit_row)
        return editor

    def _fit_row(self) -> None:
        """Under a narrow thread (the window at 1024 px) the row keeps one line and Send its
        estimate: "Attach image…" becomes "Image…" and the "Task:" label goes (the combo's
        tooltip and accessible name still say it)."""
        narrow = self.editor.width() < NARROW_ROW_PX
        self.attach.setText("&Image…" if narrow else "Attach &image…")
        self.task_label.setVisible(not narrow)
        self.controls.setSpacing(4 if narrow else 8)
        side = 4 if narrow else 8
        self._column.setContentsMargins(side, 8, side, 8)
        Policy = QComboBox.SizeAdjustPolicy
        self.task_combo.setSizeAdjustPolicy(
            Policy.AdjustToMinimumContentsLengthWithIcon if narrow else Policy.AdjustToContents
        )

    def _build_options_popup(self) -> QFrame:
        """The route options, a click away: pre-filled from the task table, changed rarely."""
        popup = QFrame(self, Qt.WindowType.Popup)
        popup.setObjectName("composer-options")
        popup.setAccessibleName("Route options")
        popup.setFrameShape(QFrame.Shape.StyledPanel)
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.option_combos = {name: self._combo(name.capitalize(), values) for name, values in OPTION_CHOICES.items()}
        form = QFormLayout()
        for name, combo in self.option_combos.items():
            form.addRow(f"{name.capitalize()}", combo)
        # Brand voice: a profile of brand_voices.yaml put before every text prompt; the row
        # shows only when there is one to choose.
        self.voice_combo = QComboBox()
        self.voice_combo.setAccessibleName("Brand voice")
        self.voice_combo.addItem("None", None)
        self.voice_label = QLabel("Brand voice")
        form.addRow(self.voice_label, self.voice_combo)
        self.voice_combo.hide()
        self.voice_label.hide()
        self.route_again = QCheckBox("Route follow-ups again")
        self.route_again.setAccessibleName("Route follow-ups again")
        self.route_again.setToolTip("Off: a follow-up stays on the model that answered")
        self.new_conversation = QPushButton("New conversation")
        self.conversation_label = QLabel("New conversation")
        conversation = QHBoxLayout()
        conversation.addWidget(self.new_conversation)
        conversation.addWidget(self.conversation_label, 1)
        self.system_prompt = QLabel()
        self.system_prompt.setWordWrap(True)
        self.system_prompt.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        small = self.system_prompt.font()
        small.setPointSizeF(max(small.pointSizeF() * 0.9, 10.0))  # small, never under 10 pt
        small.setItalic(True)
        self.system_prompt.setFont(small)
        column = QVBoxLayout(popup)
        column.addWidget(self.description)
        column.addLayout(form)
        column.addWidget(self.route_again)
        column.addLayout(conversation)
        column.addWidget(self.system_prompt)
        # The template picker (docs/templates.md): here, with the system prompt it replaces,
        # so the row under the prompt keeps its width in a narrow thread.
        self.template_button = QPushButton("Temp&late…")
        self.template_button.setAccessibleName("Templates")
        self.template_button.setToolTip("Fill a prompt template, or save this prompt as one")
        column.addWidget(self.template_button)
        popup.setMinimumWidth(320)
        popup.setMaximumWidth(460)
        return popup

    def _show_voices(self, names: list[str]) -> None:
        current = self.vm.brand_voice
        self.voice_combo.blockSignals(True)
        self.voice_combo.clear()
        self.voice_combo.addItem("None", None)
        for name in names:
            self.voice_combo.addItem(name, name)
        self.voice_combo.setCurrentIndex(max(0, self.voice_combo.findData(current)))
        self.voice_combo.blockSignals(False)
        self.voice_combo.setVisible(bool(names))
        self.voice_label.setVisible(bool(names))

    def show_options(self) -> None:
        """Open the options popup (the brand voices are read again: the file may have changed)."""
        self.vm.load_voices()
        self._show_options()

    def _show_options(self) -> None:
        """Open the options popup over the Options button: above it when the composer sits
        at the bottom of the screen, below it otherwise."""
        popup, button = self.options_popup, self.options_button
        popup.adjustSize()
        below = button.mapToGlobal(QPoint(0, button.height()))
        screen = button.screen().availableGeometry()
        if below.y() + popup.height() > screen.bottom():
            below = button.mapToGlobal(QPoint(0, -popup.height()))
        popup.move(max(screen.left(), min(below.x(), screen.right() - popup.width())), max(screen.top(), below.y()))
        popup.show()
        self.option_combos["budget"].setFocus()

    def _build_route_card(self) -> QGroupBox:
        """Why the first model, the estimate, the chain in words, the exclusions a toggle away."""
        box = QGroupBox("Route")
        box.setObjectName("composer-route")
        inner = QWidget()
        card = QVBoxLayout(inner)
        card.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(inner)
        box.setMinimumWidth(300)
        QVBoxLayout(box).addWidget(scroll)
        self.preview_summary = QLabel("–")
        self.preview_summary.setAccessibleName("Why this model")
        self.preview_estimate = QLabel()
        self.preview_estimate.setAccessibleName("Route estimate")
        self.preview_chain = QLabel()
        self.preview_chain.setAccessibleName("Route chain")
        self.exclusions_toggle = QToolButton()
        self.exclusions_toggle.setCheckable(True)
        self.exclusions_toggle.setAutoRaise(True)
        self.exclusions_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.exclusions_toggle.setStyleSheet("QToolButton { border: none; padding: 0; text-decoration: underline }")
        self.exclusions_toggle.setAccessibleName("Show the excluded models")
        self.exclusions_toggle.hide()
        self.preview_exclusions = QLabel()
        self.preview_exclusions.setAccessibleName("Excluded models")
        self.preview_exclusions.hide()
        for label in (self.preview_summary, self.preview_estimate, self.preview_chain, self.preview_exclusions):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        card.addWidget(self.preview_summary)
        card.addWidget(self.preview_estimate)
        card.addWidget(self.preview_chain)
        card.addWidget(self.exclusions_toggle, 0, Qt.AlignmentFlag.AlignLeft)
        card.addWidget(self.preview_exclusions)
        self.no_fit = self._no_fit_notice()
        card.addWidget(self.no_fit)
        card.addStretch(1)
        return box

    def _build_answer_area(self) -> QWidget:
        """The streamed answer, its images, the result line and the last answer's actions."""
        self.answer = StreamingMarkdownView()
        self.answer.setAccessibleName("Answer")
        self.attempt_label = QLabel()
        self.attempt_label.setWordWrap(True)
        self.result_label = QLabel()
        self.result_label.setAccessibleName("Result")
        self.result_label.setWordWrap(True)
        self.images = QListWidget()
        self.images.setViewMode(QListWidget.ViewMode.IconMode)
        self.images.setAccessibleName("Generated images")
        self.images.setToolTip("Double-click or Enter to zoom")
        self.images.hide()
        self.save_image = QPushButton("Save image…")
        self.save_image.hide()
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setAccessibleName("Copy answer")
        self.save_button = QPushButton("Save as .&md…")
        self.save_button.setAccessibleName("Save answer as Markdown")
        self.stars = StarRating(name="Rate the last answer")
        self.stars.setEnabled(False)
        # Shown once there is an answer: nothing to save or rate before.
        self.answer_actions = QWidget()
        self.answer_actions.setObjectName("composer-answer-actions")
        actions = QHBoxLayout(self.answer_actions)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addWidget(self.copy_button)
        actions.addWidget(self.save_image)
        actions.addStretch(1)
        actions.addWidget(QLabel("Rate the answer:"))
        actions.addWidget(self.stars)
        actions.addWidget(self.save_button)
        self.answer_actions.hide()

        self.empty_state = QFrame()
        self.empty_state.setObjectName("composer-empty-state")
        self.empty_state.setAccessibleName("Getting started")
        empty = QVBoxLayout(self.empty_state)
        self.empty_sentence = QLabel(EMPTY_SENTENCE)
        font = self.empty_sentence.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        self.empty_sentence.setFont(font)
        self.chips_grid = QGridLayout()  # two columns: long prompts must not widen the window
        self.chips: list[QPushButton] = []
        empty.addWidget(self.empty_sentence)
        empty.addLayout(self.chips_grid)

        bottom = QWidget()
        lower = QVBoxLayout(bottom)
        lower.setContentsMargins(8, 0, 8, 8)
        lower.addWidget(self.empty_state)
        lower.addWidget(self.attempt_label)
        lower.addWidget(self.answer, 1)
        lower.addWidget(self.images)
        lower.addWidget(self.result_label)
        lower.addWidget(self.answer_actions)
        return bottom

    def set_embedded(self, embedded: bool) -> None:
        """Under a conversation thread (the chat page): the thread shows the answers, so the
        composer's own answer view, result line and Copy are hidden; the attempt line, the
        generated images and the last answer's stars and Save stay, one line under the prompt."""
        for widget in (self.answer, self.result_label, self.copy_button):
            widget.setVisible(not embedded)

    def _no_fit_notice(self) -> QFrame:
        frame = QFrame()
        frame.setObjectName("composer-no-fit")
        frame.setFrameShape(QFrame.Shape.StyledPanel)
        frame.setAccessibleName("No model can answer")
        column = QVBoxLayout(frame)
        self.no_fit_text = QLabel()
        self.no_fit_text.setWordWrap(True)
        self.no_fit_text.setAccessibleName("Why no model can answer")
        column.addWidget(self.no_fit_text)
        row = QHBoxLayout()
        self.no_fit_buttons: dict[str, QPushButton] = {}
        for action, label in (
            ("add_key", "Add a &key"),
            ("start_ollama", "Start &Ollama"),
            ("open_models", "Open Mod&els"),
        ):
            button = QPushButton(label)
            button.clicked.connect(lambda _=False, a=action: self.actionRequested.emit(a))
            self.no_fit_buttons[action] = button
            row.addWidget(button)
        row.addStretch(1)
        column.addLayout(row)
        frame.hide()
        return frame

    def _build_chips(self, tasks: list[str]) -> None:
        """One chip per example prompt of the tasks the policy has; a click fills task and prompt."""
        for task in tasks:
            for prompt in EXAMPLE_PROMPTS.get(task, ()):
                chip = QPushButton(prompt)
                chip.setFlat(True)
                chip.setStyleSheet("border: 1px solid palette(mid); border-radius: 12px; padding: 4px 10px")
                chip.setToolTip(f"Task: {task}")
                chip.clicked.connect(lambda _=False, t=task, p=prompt: self.use_example(t, p))
                self.chips_grid.addWidget(chip, len(self.chips) // 2, len(self.chips) % 2)
                self.chips.append(chip)

    def use_example(self, task: str, prompt: str) -> None:
        """Choose the example's task and put its prompt in the editor, ready to send."""
        index = self.task_combo.findData(task)
        if index >= 0:
            self.task_combo.setCurrentIndex(index)
        self.prompt.setPlainText(prompt)
        self.prompt.setFocus()

    # -- wiring -------------------------------------------------------------------------
    def _connect(self) -> None:
        vm = self.vm
        self.task_combo.currentIndexChanged.connect(lambda _: vm.set_task(self.task_combo.currentData()))
        for name, combo in self.option_combos.items():
            combo.currentIndexChanged.connect(lambda _, n=name, c=combo: vm.set_option(n, c.currentData()))
        self.prompt.textChanged.connect(lambda: vm.set_prompt(self.prompt.toPlainText()))
        self.prompt.imagesDropped.connect(vm.attach_images)
        self.prompt.submitRequested.connect(lambda: vm.send())
        self.prompt.cancelRequested.connect(vm.cancel)
        self.attach.clicked.connect(self._choose_images)
        self.clear_images.clicked.connect(vm.clear_images)
        self.options_button.clicked.connect(self.show_options)
        self.template_button.clicked.connect(self.show_templates)
        vm.promptReplaced.connect(self._on_prompt_replaced)
        vm.templateChanged.connect(self._on_template)
        self.route_again.toggled.connect(lambda on: setattr(vm, "route_again", on))
        self.voice_combo.currentIndexChanged.connect(lambda _: vm.set_brand_voice(self.voice_combo.currentData()))
        vm.voicesChanged.connect(self._show_voices)
        self.new_conversation.clicked.connect(vm.new_conversation)
        self.send_button.clicked.connect(lambda: vm.send())
        self.cancel_button.clicked.connect(vm.cancel)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.answer.text()))
        self.save_button.clicked.connect(self._save_markdown)
        self.save_image.clicked.connect(self._save_image)
        self.images.itemActivated.connect(self._open_image)
        self.stars.ratingChanged.connect(self._rate)
        self.exclusions_toggle.toggled.connect(self._show_exclusions)

        vm.optionsChanged.connect(self._on_options)
        vm.previewChanged.connect(self._on_preview)
        vm.previewFailed.connect(self._on_preview_failed)
        vm.imagesChanged.connect(self._on_images)
        vm.busyChanged.connect(self._on_busy)
        vm.requestStarted.connect(self._on_started)
        vm.tokenReceived.connect(self.answer.append_text)
        vm.attemptChanged.connect(self._on_attempt)
        vm.finished.connect(self._on_finished)
        vm.cancelled.connect(self._on_cancelled)
        vm.ratingSaved.connect(self._on_rated)
        vm.conversationChanged.connect(self._on_conversation)

    # -- user actions -----------------------------------------------------------------
    def _rate(self, stars: int) -> None:
        """A click on the stars rates the last answer; clicking the chosen star again would
        clear it, which the ledger cannot store, so the stored rating comes back."""
        if stars == 0:
            with QSignalBlocker(self.stars):
                self.stars.setRating(self._rated)
            return
        self.vm.rate(stars)

    def show_templates(self) -> TemplatePickerDialog:
        """The template picker, over the composer; "Use template" fills the prompt box."""
        self.options_popup.close()
        dialog = TemplatePickerDialog(self.vm.templates, self.vm.prompt, self.vm.options["task"], self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(self._use_template)
        self.vm.templates.reload()
        dialog.open()
        return dialog

    def _use_template(self) -> None:
        rendered = self.vm.templates.rendered()
        if rendered is not None:
            self.vm.use_template(rendered, self.vm.templates.route)

    def _on_prompt_replaced(self, text: str) -> None:
        with QSignalBlocker(self.prompt):
            self.prompt.setPlainText(text)

    def _on_template(self, name: str | None) -> None:
        self.template_button.setText(f"Temp&late: {name}" if name else "Temp&late…")
        if name:
            system = self.vm.template_system or "(none)"
            self.system_prompt.setText(f"System prompt (template {name}): {system}")

    def _escape(self) -> None:
        """Esc closes the options popup when it is open, else cancels the running request."""
        if self.options_popup.isVisible():
            self.options_popup.close()
            self.options_button.setFocus()
        else:
            self.vm.cancel()

    def _choose_images(self) -> None:
        patterns = " ".join(f"*{suffix}" for suffix in IMAGE_TYPES)
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach images", "", f"Images ({patterns})")
        if paths:
            self.vm.attach_images(paths)

    def _save_markdown(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save answer", "answer.md", "Markdown (*.md)")
        if path:
            self.vm.save_markdown(path)

    def _open_image(self, item: QListWidgetItem) -> None:
        """Double-click or Enter: a zoomable view of the image."""
        viewer = ImageViewer(item.data(Qt.ItemDataRole.UserRole), item.text(), self)
        viewer.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        viewer.show()

    def _save_image(self) -> None:
        item = self.images.currentItem() or self.images.item(0)
        if item is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save image", "image.png", "PNG (*.png)")
        if path:
            item.data(Qt.ItemDataRole.UserRole).save(path, "PNG")

    # -- view-model signals -----------------------------------------------------------
    def _on_options(self, options: TaskOptions) -> None:
        with QSignalBlocker(self.task_combo):
            self.task_combo.setCurrentIndex(max(0, self.task_combo.findData(options.task)))
        for name, combo in self.option_combos.items():
            with QSignalBlocker(combo):
                value = options.option(name)
                combo.setCurrentIndex(combo.findData(value) if value else -1)
            combo.setEnabled(name != "complexity" or options.complexity is not None)
        self.description.setText(options.description)
        self.system_prompt.setText(f"System prompt: {options.system_prompt}" if options.system_prompt else "")

    def _on_preview(self, preview: RoutePreview) -> None:
        self._show_no_fit(preview.no_fit_reasons if not preview.chain else ())
        tokens = f"{preview.input_tokens} tokens in / {preview.output_tokens} out"
        if not preview.chain:  # the notice says why, once; nothing is estimated
            self.preview_summary.clear()  # the notice below is the one sentence
            self.preview_summary.hide()
            self.preview_estimate.setText(f"Nothing would run ({tokens})")
            self.preview_chain.clear()
            self.preview_chain.hide()
            self._set_exclusions([], 0)
            self._set_estimate("")
            return
        first = preview.chain_names[0] if preview.chain_names else preview.chain[0]
        self.preview_summary.setText(preview.summary or f"{first} answers.")
        self.preview_summary.show()
        estimate = estimate_words(preview)
        self.preview_estimate.setText(f"{estimate} · {preview.history_note}" if preview.history_note else estimate)
        self.preview_chain.setText(preview.fallbacks or "No fallback: only this model fits.")
        self.preview_chain.show()
        self._set_exclusions(exclusion_lines(preview.excluded, preview.excluded_count), preview.excluded_count)
        self._set_estimate("" if preview.cost_usd is None else f"~{usd_text(preview.cost_usd)}")

    def _on_preview_failed(self, text: str) -> None:
        self.preview_summary.setText(f"Cannot route: {text}")
        self.preview_summary.show()
        self.preview_estimate.clear()
        self.preview_chain.hide()
        self._set_exclusions([], 0)
        self._set_estimate("")

    def _set_exclusions(self, lines: list[str], count: int) -> None:
        """ "N models excluded ▸", a toggle that shows one line per reason."""
        self.preview_exclusions.setText("\n".join(lines))
        self.exclusions_toggle.setVisible(count > 0)
        self._exclusion_count = count
        self._show_exclusions(self.exclusions_toggle.isChecked())

    def _show_exclusions(self, shown: bool) -> None:
        count = self._exclusion_count
        arrow = "▾" if shown else "▸"
        self.exclusions_toggle.setText(f"{_count(count, 'model', 'models')} excluded {arrow}")
        self.preview_exclusions.setVisible(shown and count > 0)

    def _set_estimate(self, estimate: str) -> None:
        """Send says what it will cost: "Send · ~$0.0098"."""
        self._estimate = estimate
        self.send_button.setText(f"&Send · {estimate}" if estimate else "&Send")
        self.send_button.setMinimumWidth(self.send_button.sizeHint().width())  # the estimate is never cut
        self.send_button.setToolTip(
            f"Send (Ctrl+Enter); the first model's estimate: {estimate}" if estimate else "Send (Ctrl+Enter)"
        )

    def _on_images(self, names: list[str]) -> None:
        self.images_label.setText(", ".join(names))
        self.images_label.setToolTip("\n".join(names))
        self.clear_images.setVisible(bool(names))

    def _show_no_fit(self, reasons: tuple[str, ...]) -> None:
        """The one place "no model fits" is said: plain words and the buttons that fix it."""
        if not reasons:
            self.no_fit.hide()
            return
        words, ollama_down = no_fit_words(reasons)
        self.no_fit_text.setText(words)
        # the per-model reasons one hover away, without the shell commands they end with
        self.no_fit_text.setToolTip("\n".join(r.split(" (", 1)[0] for r in reasons))
        self.no_fit_buttons["start_ollama"].setVisible(ollama_down)
        self.no_fit.show()

    def _on_busy(self, busy: bool) -> None:
        self.send_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.send_button.setVisible(not busy)
        self.cancel_button.setVisible(busy)
        if not busy:
            self.answer.flush()

    def _on_started(self, _request_id: str) -> None:
        self.empty_state.hide()
        self.answer.clear_text()
        self.result_label.clear()
        self.attempt_label.clear()
        self.images.clear()
        self.images.hide()
        self.save_image.hide()
        self.answer_actions.hide()
        self._rated = 0
        with QSignalBlocker(self.stars):
            self.stars.setRating(0)
        self.stars.setEnabled(False)

    def _on_attempt(self, update: AttemptUpdate) -> None:
        if isinstance(update, StartedAttempt):
            waited = f" after waiting {update.waited_s:g} s" if update.waited_s else ""
            self.attempt_label.setText(f"Attempt {update.attempt}: {update.model_name}{waited}…")
            self.answer.clear_text()  # a new attempt starts the answer again
        else:
            then = f"retrying in {update.wait_s:g} s" if update.next_action == "retry" else update.next_action
            self.attempt_label.setText(f"Attempt {update.attempt} ({update.model}) failed: {update.error}; {then}")

    def _on_finished(self, result: RunSummary) -> None:
        if result.ok:
            self.answer.set_text(result.output)
            latency = result.latency_s
            parts = [
                result.model or "",
                f"{result.input_tokens} in / {result.output_tokens} out tokens",
                usd_text(result.cost_usd),
                "–" if latency is None else f"{latency:.2f} s",
                _count(result.retries, "retry", "retries"),
                _count(result.fallbacks, "fallback", "fallbacks"),
            ]
            if result.cache_hit:
                parts.append(f"cache hit (saved {usd_text(result.saved_usd)})")
            if result.exploration:
                parts.append("A/B exploration")
            if result.history_note:
                parts.append(result.history_note)
            self.result_label.setText(" · ".join(parts))
            self.attempt_label.clear()
            self.stars.setEnabled(True)
            self.answer_actions.show()
            self._show_images(result.images)
        elif result.model is None and (result.error or "").startswith("No model fits"):
            self.answer.flush()
            self.result_label.setText("No answer: no model can run it yet (see the notice above).")
        else:
            self.answer.flush()
            self.result_label.setText(f"No answer: {result.error}")
        if result.budget_alert:
            self.attempt_label.setText(result.budget_alert)

    def _show_images(self, images: tuple[bytes, ...]) -> None:
        for index, data in enumerate(images, start=1):
            image = QImage.fromData(data)
            item = QListWidgetItem(f"Image {index}")
            item.setIcon(QPixmap.fromImage(image))
            item.setData(Qt.ItemDataRole.UserRole, image)
            self.images.addItem(item)
        self.images.setVisible(bool(images))
        self.save_image.setVisible(bool(images))

    def _on_cancelled(self) -> None:
        self.answer.flush()
        self.result_label.setText("Cancelled.")

    def _on_rated(self, stars: int) -> None:
        self._rated = stars
        with QSignalBlocker(self.stars):
            self.stars.setRating(stars)

    def _on_conversation(self, turns: int) -> None:
        self.empty_state.setVisible(turns == 0)  # a new conversation: the example prompts again
        self.conversation_label.setText(
            f"{turns} turn{'s' if turns != 1 else ''} in this conversation" if turns else "New conversation"
        )
