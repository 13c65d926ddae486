"""The template picker: choose a template, fill its variables, see the prompt as it will be
sent, and use it in the composer; or keep the composer's prompt as a template of yours.

A non-modal-loop dialog (``open()``, not ``exec()``): the event loop keeps running, so the
picker's file reads and previews are the same async work as everywhere else. It talks only
to its view-model (ui/viewmodels/template_picker.py).
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.template_picker import TemplateChoice, TemplateForm, TemplatePickerViewModel

__all__ = ["TemplatePickerDialog"]


class TemplatePickerDialog(QDialog):
    def __init__(
        self, vm: TemplatePickerViewModel, prompt: str = "", task: str | None = None, parent: QWidget | None = None
    ) -> None:
        """``prompt`` and ``task``: the composer's, for "Save this prompt as a template…"."""
        super().__init__(parent)
        self.vm = vm
        self._prompt, self._task = prompt, task
        self.setWindowTitle("Templates")
        self.setObjectName("template-picker")
        self.combo = QComboBox()
        self.combo.setAccessibleName("Template")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.system = QLabel()
        self.system.setWordWrap(True)
        self.system.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.fields_form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        self.preview = QPlainTextEdit()
        self.preview.setReadOnly(True)
        self.preview.setAccessibleName("Prompt as sent")
        self.problem = QLabel()
        self.problem.setObjectName("template-problem")
        self.problem.hide()
        self.skipped = QLabel()
        self.skipped.setWordWrap(True)
        self.skipped.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton("Use template", QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setEnabled(False)
        self.save_button = QPushButton("Save this prompt as a template…")
        self.save_button.setEnabled(bool(prompt.strip()) and task is not None)
        self.saved = QLabel()
        self.saved.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(self.combo)
        layout.addWidget(self.description)
        layout.addWidget(self.system)
        layout.addLayout(self.fields_form)
        layout.addWidget(QLabel("Prompt as it will be sent:"))
        layout.addWidget(self.preview, 1)
        layout.addWidget(self.problem)
        layout.addWidget(self.skipped)
        layout.addWidget(self.save_button)
        layout.addWidget(self.saved)
        layout.addWidget(self.buttons)

        self.combo.currentIndexChanged.connect(lambda _: self.vm.select(self.combo.currentData() or ""))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.save_button.clicked.connect(self._ask_name)
        vm.listChanged.connect(self._on_list)
        vm.formChanged.connect(self._on_form)
        vm.previewChanged.connect(self._on_preview)
        vm.previewFailed.connect(self._on_problem)
        vm.skipped.connect(self._on_skipped)
        vm.saved.connect(self._on_saved)
        vm.errorRaised.connect(self._on_problem)

    # -- from the view-model ---------------------------------------------------------------
    def _on_list(self, choices: list[TemplateChoice]) -> None:
        current = self.combo.currentData()
        with QSignalBlocker(self.combo):
            self.combo.clear()
            for c in choices:
                self.combo.addItem(f"{c.name} — {c.task}, {c.output}", c.name)
                self.combo.setItemData(
                    self.combo.count() - 1, f"{c.description} ({c.source})", Qt.ItemDataRole.ToolTipRole
                )
            self.combo.setCurrentIndex(max(0, self.combo.findData(current)))
        if choices:
            self.vm.select(self.combo.currentData())

    def _on_form(self, form: TemplateForm) -> None:
        while self.fields_form.rowCount():
            self.fields_form.removeRow(0)
        self.fields = {}
        self.description.setText(form.description)
        shown = form.system or "(none)"
        self.system.setText(f"System prompt ({form.system_tokens} tokens): {shown}")
        for field in form.fields:
            edit = QLineEdit()
            edit.setAccessibleName(field.name)
            edit.setPlaceholderText(field.default if field.default is not None else "required")
            edit.setToolTip(field.description)
            edit.textChanged.connect(lambda text, n=field.name: self.vm.set_value(n, text))
            self.fields[field.name] = edit
            self.fields_form.addRow(field.name, edit)

    def _on_preview(self, text: str) -> None:
        self.preview.setPlainText(text)
        self.problem.hide()
        self.use_button.setEnabled(True)

    def _on_problem(self, message: str) -> None:
        self.problem.setText(message)
        self.problem.show()
        self.use_button.setEnabled(False)

    def _on_skipped(self, lines: list[str]) -> None:
        self.skipped.setText("Skipped (fix the file to use it):\n" + "\n".join(lines))
        self.skipped.setVisible(bool(lines))

    def _on_saved(self, path: str) -> None:
        self.saved.setText(f"Saved as {path}")
        self.saved.show()

    # -- user actions ------------------------------------------------------------------------
    def _ask_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save as template", "Template name (letters, digits, _):")
        if ok and name and self._task is not None:
            self.vm.save_as(name.strip(), self._task, self._prompt, "")
