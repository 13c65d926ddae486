"""Settings: API keys (masked, in the OS keyring), endpoints, the budget, the policy, the catalog.

Each key shows where it comes from ("keyring", "session only — forgotten when Sparklio
closes", "environment: OPENAI_API_KEY"). Where there is no OS keyring, the panel says in
plain words how to enable one on this OS and offers "Use for this session only" instead
of Set, as the first-run guide does (the same view-model code stores the key for both).
A pasted key stays in its (masked) field until it is taken, so that it can still be used
for the session when the keyring turns out to be missing.

Every error appears inline under the field it concerns; nothing here is modal. A broken
``policy.yaml``, ``catalog.yaml`` or ``settings.json`` does not stop the app (the last good
copy, or the defaults, stay in force), so this panel is where the creator sees why.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QShowEvent, QWheelEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sparklio_desktop.ui.viewmodels.settings import (
    EDITABLE_SETTINGS,
    NOT_SAVED_NO_KEYRING,
    SETTING_CHOICES,
    KeyInfo,
    SettingsViewModel,
    key_source_words,
)
from sparklio_desktop.ui.viewmodels.team_history import TeamHistoryViewModel

ERROR_STYLE = "color: #b02a37"


def _error_label(name: str) -> QLabel:
    label = QLabel()
    label.setAccessibleName(name)
    label.setWordWrap(True)
    label.setStyleSheet(ERROR_STYLE)
    label.hide()
    return label


class _ChoiceBox(QComboBox):
    """A combo box that takes the mouse wheel only once it has focus: scrolling the panel
    over an unfocused one scrolls the panel instead of silently changing (and saving) a
    setting, as a stock QComboBox inside a scroll area does."""

    def __init__(self) -> None:
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt's name
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # goes on to the scroll area


class SettingsView(QWidget):
    """Keys, endpoints, budget and policy, each applied as soon as it is edited."""

    def __init__(
        self, vm: SettingsViewModel, parent: QWidget | None = None, *, team_history: TeamHistoryViewModel | None = None
    ) -> None:
        """``team_history``: the Team box's view-model (shown in team mode only)."""
        super().__init__(parent)
        self.vm = vm
        self.team_history = team_history
        self._surveyed = False
        self.key_rows: dict[str, dict[str, Any]] = {}
        self.fields: dict[str, QLineEdit | QComboBox] = {}
        self.errors: dict[str, QLabel] = {}
        self._build()
        vm.keysChanged.connect(self._on_keys)
        vm.valuesChanged.connect(self._on_values)
        vm.fieldError.connect(self._on_field_error)
        vm.policyStatusChanged.connect(self._on_policy)
        vm.catalogStatusChanged.connect(self._on_catalog)
        vm.settingsStatusChanged.connect(self._on_settings_status)
        vm.notice.connect(self.notice_label.setText)
        vm.connectionTested.connect(self._on_connection)
        vm.keyResult.connect(self._on_key_result)
        vm.keyringStatus.connect(self._on_keyring_status)
        vm.keyringUnavailable.connect(self._on_keyring_unavailable)
        self.keyring_available = True  # until the view-model says otherwise

    def _build(self) -> None:
        self.keys_box = QGroupBox("API keys (kept in the OS keyring)")
        keys_column = QVBoxLayout(self.keys_box)
        self.keyring_help = _error_label("How to enable the keyring")
        self.keyring_help.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.keys_grid = QGridLayout()
        keys_column.addWidget(self.keyring_help)
        keys_column.addLayout(self.keys_grid)

        settings_box = QGroupBox("Endpoints, budget and defaults")
        form = QFormLayout(settings_box)
        self.settings_status = _error_label("Settings file error")
        form.addRow(self.settings_status)
        for key, label in EDITABLE_SETTINGS.items():
            if key == "policy.path":
                continue
            field: QLineEdit | QComboBox
            if key in SETTING_CHOICES:
                field = _ChoiceBox()
                for value in SETTING_CHOICES[key]:
                    field.addItem(value or "(task table)", value)
                field.currentIndexChanged.connect(lambda _, k=key, f=field: self.vm.set_value(k, f.currentData()))
            else:
                field = QLineEdit()
                field.editingFinished.connect(lambda k=key, f=field: self.vm.set_value(k, f.text()))
            field.setAccessibleName(label)
            self.fields[key] = field
            self.errors[key] = _error_label(f"{label} error")
            form.addRow(label, field)
            form.addRow("", self.errors[key])

        policy_box = QGroupBox("Routing policy")
        policy = QVBoxLayout(policy_box)
        self.policy_path = QLineEdit()
        self.policy_path.setAccessibleName("Policy file")
        self.policy_path.setPlaceholderText("(the user's policy.yaml, else the shipped one)")
        self.policy_path.editingFinished.connect(lambda: self.vm.set_value("policy.path", self.policy_path.text()))
        self.fields["policy.path"] = self.policy_path
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_policy)
        self.reload_button = QPushButton("&Reload policy")
        self.reload_button.setAccessibleName("Reload policy")
        self.reload_button.clicked.connect(lambda: self.vm.reload_policy())
        row = QHBoxLayout()
        row.addWidget(self.policy_path, 1)
        row.addWidget(browse)
        row.addWidget(self.reload_button)
        self.policy_status = QLabel()
        self.policy_status.setAccessibleName("Policy status")
        self.policy_status.setWordWrap(True)
        self.errors["policy.path"] = _error_label("Policy file error")
        policy.addLayout(row)
        policy.addWidget(self.errors["policy.path"])
        policy.addWidget(self.policy_status)

        catalog_box = QGroupBox("Your model catalog")
        catalog = QVBoxLayout(catalog_box)
        self.catalog_path = QLabel()
        self.catalog_path.setAccessibleName("Catalog file")
        self.catalog_path.setWordWrap(True)
        self.catalog_path.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reload_catalog_button = QPushButton("Reload &catalog")
        self.reload_catalog_button.setAccessibleName("Reload catalog")
        self.reload_catalog_button.clicked.connect(lambda: self.vm.reload_catalog())
        row = QHBoxLayout()
        row.addWidget(self.catalog_path, 1)
        row.addWidget(self.reload_catalog_button)
        self.catalog_status = QLabel()
        self.catalog_status.setAccessibleName("Catalog status")
        self.catalog_status.setWordWrap(True)
        self.catalog_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        catalog.addLayout(row)
        catalog.addWidget(self.catalog_status)

        self.notice_label = QLabel()
        self.notice_label.setAccessibleName("Settings notice")
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.keys_box)
        layout.addWidget(self._team_box())
        layout.addWidget(settings_box)
        layout.addWidget(policy_box)
        layout.addWidget(catalog_box)
        layout.addWidget(self.notice_label)
        layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.addWidget(scroll)

    def _team_box(self) -> QGroupBox:
        """Team mode: what this machine recorded before it, and the button that copies it in."""
        box = QGroupBox("Team: your history from before team mode")
        column = QVBoxLayout(box)
        self.team_history_label = QLabel()
        self.team_history_label.setAccessibleName("History from before team mode")
        self.team_history_label.setWordWrap(True)
        self.team_history_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.copy_history_button = QPushButton("Co&py into the team database")
        self.copy_history_button.setAccessibleName("Copy my history into the team database")
        self.copy_history_button.setToolTip(
            "Your requests, their costs and your conversations from this machine's data folder;"
            " what the team database already holds is skipped, and the files stay as they are"
        )
        self.copy_history_button.setEnabled(False)
        row = QHBoxLayout()
        row.addWidget(self.team_history_label, 1)
        row.addWidget(self.copy_history_button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(row)
        team = self.team_history
        box.setVisible(team is not None and team.active)
        if team is not None:
            team.stateChanged.connect(self._on_team_history)
            self.copy_history_button.clicked.connect(lambda: team.copy_in())
        self.team_box = box
        return box

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        """The first time Settings is shown in team mode, look at what is left to copy
        (not at start: a ledger's survey reads the whole file)."""
        super().showEvent(event)
        if not self._surveyed and self.team_history is not None and self.team_history.active:
            self._surveyed = True
            self.team_history.survey()

    def _on_team_history(self, text: str, can_copy: bool, failed: bool) -> None:
        self.team_history_label.setStyleSheet(ERROR_STYLE if failed else "")
        self.team_history_label.setText(text)
        self.copy_history_button.setEnabled(can_copy)

    def _browse_policy(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Policy file", self.policy_path.text(), "YAML (*.yaml *.yml)")
        if path:
            self.policy_path.setText(path)
            self.vm.set_value("policy.path", path)

    def _key_row(self, provider: str) -> dict[str, Any]:
        row = self.key_rows.get(provider)
        if row is not None:
            return row
        index = len(self.key_rows) * 2
        masked = QLabel()
        masked.setAccessibleName(f"{provider} key")
        edit = QLineEdit()
        edit.setEchoMode(QLineEdit.EchoMode.Password)
        edit.setPlaceholderText("paste a new key")
        edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance("paste a new key") + 40)
        edit.setAccessibleName(f"New {provider} API key")
        set_button = QPushButton("Set")
        set_button.setAccessibleName(f"Set {provider} key")
        set_button.setVisible(self.keyring_available)
        session = QPushButton("Use for this session only")
        session.setAccessibleName(f"Use the {provider} key for this session only")
        session.setToolTip("Held in memory only, never written; forgotten when Sparklio closes")
        session.setVisible(not self.keyring_available)
        delete = QPushButton("Delete")
        delete.setAccessibleName(f"Delete {provider} key")
        test = QPushButton("Test")
        test.setAccessibleName(f"Test {provider} connection")
        test.setToolTip("Make the cheapest authenticated call (list models)")
        result = QLabel()
        result.setAccessibleName(f"{provider} connection result")
        result.setWordWrap(True)
        error = _error_label(f"{provider} key error")
        test.clicked.connect(lambda: self._test(provider))
        set_button.clicked.connect(lambda: self._set_key(provider))
        session.clicked.connect(lambda: self._use_for_session(provider))
        edit.returnPressed.connect(lambda: self._set_key(provider))
        delete.clicked.connect(lambda: self.vm.delete_key(provider))
        widgets = (QLabel(provider), masked, edit, set_button, session, delete, test, result)
        for col, widget in enumerate(widgets):
            self.keys_grid.addWidget(widget, index, col)
        self.keys_grid.addWidget(error, index + 1, 0, 1, len(widgets))
        row = self.key_rows[provider] = {
            "masked": masked,
            "edit": edit,
            "error": error,
            "set": set_button,
            "session": session,
            "delete": delete,
            "test": test,
            "result": result,
        }
        self.errors[f"key:{provider}"] = error
        return row

    def _set_key(self, provider: str) -> None:
        # The key stays in its masked field until it is taken (_on_key_result clears it):
        # without a keyring, "Use for this session only" takes it from there.
        self.vm.set_key(provider, self.key_rows[provider]["edit"].text())

    def _use_for_session(self, provider: str) -> None:
        edit = self.key_rows[provider]["edit"]
        if edit.text().strip():
            self.vm.use_key_for_session(provider, edit.text())

    def _test(self, provider: str) -> None:
        row = self.key_rows[provider]
        row["result"].setStyleSheet("")
        row["result"].setText("Testing…")
        self.vm.test_connection(provider)

    def _on_connection(self, provider: str, ok: bool, message: str) -> None:
        row = self.key_rows.get(provider)
        if row is not None:
            row["result"].setStyleSheet("" if ok else ERROR_STYLE)
            row["result"].setText(message)

    # -- view-model signals --------------------------------------------------------------
    def _on_keys(self, infos: list[KeyInfo]) -> None:
        for info in infos:
            row = self._key_row(info.provider)
            if info.masked is None:
                row["masked"].setText(key_source_words(None))
            else:
                row["masked"].setText(f"{info.masked} ({key_source_words(info.source)})")
            row["delete"].setEnabled(info.source in ("keyring", "session"))  # an environment key is not ours

    def _on_key_result(self, provider: str, outcome: str, message: str) -> None:
        row = self.key_rows.get(provider)
        if row is None or outcome not in ("keyring", "session"):
            return  # an error shows under the row (fieldError); no keyring: _on_keyring_unavailable
        row["edit"].clear()  # taken: only the masked form comes back
        row["result"].setStyleSheet("")
        row["result"].setText(message)

    def _on_keyring_status(self, available: bool, explanation: str) -> None:
        """No keyring here: say how to enable it, and offer the session instead of Set."""
        self.keyring_available = available
        self.keys_box.setTitle(
            "API keys (kept in the OS keyring)" if available else "API keys (no OS keyring here: session only)"
        )
        self.keyring_help.setText(explanation)
        self.keyring_help.setVisible(not available)
        for row in self.key_rows.values():
            row["set"].setVisible(available)
            row["session"].setVisible(not available)

    def _on_keyring_unavailable(self, provider: str, explanation: str) -> None:
        """Set was pressed and there is no keyring (it went away since the panel looked)."""
        self._on_keyring_status(False, explanation)
        row = self.key_rows.get(provider)
        if row is not None:
            row["result"].setStyleSheet(ERROR_STYLE)
            row["result"].setText(NOT_SAVED_NO_KEYRING)

    def _on_values(self, values: dict[str, str]) -> None:
        for key, text in values.items():
            field = self.fields.get(key)
            if field is None:
                continue
            with QSignalBlocker(field):
                if isinstance(field, QComboBox):
                    field.setCurrentIndex(max(0, field.findData(text)))
                elif not field.hasFocus():
                    field.setText(text)

    def _on_field_error(self, key: str, message: str) -> None:
        label = self.errors.get(key)
        if label is not None:
            label.setText(message)
            label.setVisible(bool(message))

    def _on_policy(self, path: str, error: str) -> None:
        if error:
            self.policy_status.setStyleSheet(ERROR_STYLE)
            self.policy_status.setText(f"{error}\nThe last valid policy stays in force.")
        else:
            self.policy_status.setStyleSheet("")
            self.policy_status.setText(f"Valid: {path}")

    def _on_catalog(self, path: str, error: str) -> None:
        self.catalog_path.setText(path or "(the shipped catalog only)")
        if error:
            self.catalog_status.setStyleSheet(ERROR_STYLE)
            self.catalog_status.setText(f"{error}\nThe last good catalog stays in force until this file is fixed.")
        else:
            self.catalog_status.setStyleSheet("")
            self.catalog_status.setText(
                "In force." if path else "No catalog.yaml: the shipped models only (add models from the Models panel)."
            )

    def _on_settings_status(self, error: str) -> None:
        self.settings_status.setText(
            f"{error}\nEach invalid setting uses its default until it is fixed." if error else ""
        )
        self.settings_status.setVisible(bool(error))
