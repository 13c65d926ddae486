"""The composer: options, prompt, live route preview, the streamed answer, the rating.

It only shows what :class:`ComposerViewModel` says and forwards what the user does;
widget values are pushed with signals blocked so a refresh never loops back.

Two states teach instead of listing: before the first message, one sentence and example
prompts as chips (a click fills the task and the prompt); when no model can answer, one
notice in plain words with the buttons that fix it (Add a key, Start Ollama, Open Models),
emitted as ``actionRequested`` for the window to act on, shown once: not repeated by
the chain line, the result line or a notification.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QPixmap, QShortcut
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
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.composer import IMAGE_TYPES, OPTION_CHOICES, ComposerViewModel
from sparklio_desktop.ui.viewmodels.payloads import AttemptUpdate, RoutePreview, RunSummary, StartedAttempt, TaskOptions
from sparklio_desktop.ui.widgets.format import usd_text
from sparklio_desktop.ui.widgets.image_viewer import ImageViewer
from sparklio_desktop.ui.widgets.markdown_stream import StreamingMarkdownView
from sparklio_desktop.ui.widgets.prompt_edit import PromptEdit


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


class ComposerView(QWidget):
    """Compose a task and watch it stream."""

    actionRequested = Signal(str)  # "add_key" | "start_ollama" | "open_models": the window acts

    def __init__(self, vm: ComposerViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._build()
        self._connect()
        tasks = vm.tasks()
        self._build_chips([t.name for t in tasks])
        with QSignalBlocker(self.task_combo):
            for info in tasks:
                self.task_combo.addItem(f"{info.name} — {info.description}", info.name)
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
        self.task_combo = QComboBox()
        self.task_combo.setAccessibleName("Task type")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.option_combos = {name: self._combo(name.capitalize(), values) for name, values in OPTION_CHOICES.items()}
        form = QFormLayout()
        form.addRow("&Task", self.task_combo)
        form.addRow("", self.description)
        for name, combo in self.option_combos.items():
            form.addRow(f"{name.capitalize()}", combo)
        self.route_again = QCheckBox("Route follow-ups again")
        self.route_again.setAccessibleName("Route follow-ups again")
        self.new_conversation = QPushButton("New conversation")
        self.conversation_label = QLabel("New conversation")
        row = QHBoxLayout()
        row.addWidget(self.route_again)
        row.addWidget(self.new_conversation)
        row.addWidget(self.conversation_label, 1)

        self.system_prompt = QLabel()
        self.system_prompt.setWordWrap(True)
        self.system_prompt.setStyleSheet("color: palette(mid); font-style: italic")
        self.prompt = PromptEdit()
        self.prompt.setAccessibleName("Prompt")
        self.prompt.setPlaceholderText("Write your prompt. Ctrl+Enter sends, Esc cancels. Drop images to attach.")
        self.attach = QPushButton("Attach &image…")
        self.attach.setAccessibleName("Attach image")
        self.clear_images = QPushButton("Clear images")
        self.images_label = QLabel()
        self.send_button = QPushButton("&Send")
        self.send_button.setAccessibleName("Send")
        self.send_button.setToolTip("Send (Ctrl+Enter)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel")
        self.cancel_button.setToolTip("Cancel (Esc)")
        self.cancel_button.setEnabled(False)
        buttons = QHBoxLayout()
        for widget in (self.attach, self.clear_images, self.images_label):
            buttons.addWidget(widget)
        buttons.addStretch(1)
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.cancel_button)

        editor = QWidget()
        left = QVBoxLayout(editor)
        left.addLayout(form)
        left.addLayout(row)
        left.addWidget(self.system_prompt)
        left.addWidget(self.prompt, 1)
        left.addLayout(buttons)

        preview_box = QGroupBox("Route preview")
        preview_inner = QWidget()
        preview = QVBoxLayout(preview_inner)
        preview_scroll = QScrollArea()
        preview_scroll.setWidgetResizable(True)
        preview_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        preview_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        preview_scroll.setWidget(preview_inner)
        preview_box.setMinimumWidth(300)
        QVBoxLayout(preview_box).addWidget(preview_scroll)
        self.preview_chain = QLabel("–")
        self.preview_chain.setWordWrap(True)
        self.preview_chain.setAccessibleName("Route preview chain")
        self.preview_estimate = QLabel()
        self.preview_estimate.setAccessibleName("Route preview estimate")
        self.preview_exclusions = QLabel()
        self.preview_exclusions.setWordWrap(True)
        self.preview_exclusions.setAccessibleName("Route preview exclusions")
        for widget in (self.preview_chain, self.preview_estimate, self.preview_exclusions):
            widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            preview.addWidget(widget)
        self.no_fit = self._no_fit_notice()
        preview.addWidget(self.no_fit)
        preview.addStretch(1)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.setObjectName("composer-editor-preview")
        top.addWidget(editor)
        top.addWidget(preview_box)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([700, 420])

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
        self.stars: list[QToolButton] = []
        actions = QHBoxLayout()
        actions.addWidget(self.copy_button)
        actions.addWidget(self.save_button)
        actions.addWidget(self.save_image)
        actions.addStretch(1)
        actions.addWidget(QLabel("Rate:"))
        for n in range(1, 6):
            star = QToolButton()
            star.setText("☆")
            star.setAccessibleName(f"Rate {n} star{'s' if n > 1 else ''}")
            star.setToolTip(f"{n} of 5")
            star.setEnabled(False)
            star.clicked.connect(lambda _=False, n=n: self.vm.rate(n))
            self.stars.append(star)
            actions.addWidget(star)

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
        lower.addWidget(self.empty_state)
        lower.addWidget(self.attempt_label)
        lower.addWidget(self.answer, 1)
        lower.addWidget(self.images)
        lower.addWidget(self.result_label)
        lower.addLayout(actions)

        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("composer-top-answer")
        split.addWidget(top)
        split.addWidget(bottom)
        layout = QVBoxLayout(self)
        layout.addWidget(split)

        send = QShortcut(QKeySequence("Ctrl+Return"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        send.activated.connect(self.vm.send)
        send_enter = QShortcut(QKeySequence("Ctrl+Enter"), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        send_enter.activated.connect(self.vm.send)
        cancel = QShortcut(QKeySequence(Qt.Key.Key_Escape), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        cancel.activated.connect(self.vm.cancel)

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
        self.route_again.toggled.connect(lambda on: setattr(vm, "route_again", on))
        self.new_conversation.clicked.connect(vm.new_conversation)
        self.send_button.clicked.connect(lambda: vm.send())
        self.cancel_button.clicked.connect(vm.cancel)
        self.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(self.answer.text()))
        self.save_button.clicked.connect(self._save_markdown)
        self.save_image.clicked.connect(self._save_image)
        self.images.itemActivated.connect(self._open_image)

        vm.optionsChanged.connect(self._on_options)
        vm.previewChanged.connect(self._on_preview)
        vm.previewFailed.connect(lambda text: self.preview_chain.setText(f"Cannot route: {text}"))
        vm.imagesChanged.connect(lambda names: self.images_label.setText(", ".join(names)))
        vm.busyChanged.connect(self._on_busy)
        vm.requestStarted.connect(self._on_started)
        vm.tokenReceived.connect(self.answer.append_text)
        vm.attemptChanged.connect(self._on_attempt)
        vm.finished.connect(self._on_finished)
        vm.cancelled.connect(self._on_cancelled)
        vm.ratingSaved.connect(self._on_rated)
        vm.conversationChanged.connect(self._on_conversation)

    # -- user actions -----------------------------------------------------------------
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
        if not preview.chain:
            self.preview_chain.setText("Chain: none (see below)")
            self.preview_estimate.setText(
                f"Nothing would run ({preview.input_tokens} tokens in / {preview.output_tokens} out)"
            )
            self.preview_exclusions.clear()
            return
        self.preview_chain.setText("Chain: " + " → ".join(preview.chain_names))
        latency = preview.latency_s
        tokens = f"{preview.input_tokens} tokens in / {preview.output_tokens} out"
        self.preview_estimate.setText(
            f"Estimated {usd_text(preview.cost_usd)}, {'–' if latency is None else f'{latency:.1f} s'}, {tokens}"
        )
        # The exclusions that matter: the best-scoring models that were left out.
        lines = [f"{m.name}: {m.reason}" + (f" ({m.detail})" if m.detail else "") for m in preview.excluded]
        more = preview.excluded_count - len(lines)
        if more > 0:
            lines.append(f"… and {more} more (see the inspector)")
        self.preview_exclusions.setText("\n".join(["Excluded:", *lines]) if lines else "")

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
        for star in self.stars:
            star.setText("☆")
            star.setEnabled(False)

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
            self.result_label.setText(" · ".join(parts))
            self.attempt_label.clear()
            for star in self.stars:
                star.setEnabled(True)
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
        for n, star in enumerate(self.stars, start=1):
            star.setText("★" if n <= stars else "☆")

    def _on_conversation(self, turns: int) -> None:
        self.empty_state.setVisible(turns == 0)  # a new conversation: the example prompts again
        self.conversation_label.setText(
            f"{turns} turn{'s' if turns != 1 else ''} in this conversation" if turns else "New conversation"
        )
