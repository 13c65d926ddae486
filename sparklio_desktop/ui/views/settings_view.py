"""Settings: API keys (masked, in the OS keyring), endpoints, the budget, the policy, the catalog.

Every error appears inline under the field it concerns; nothing here is modal. A broken
``policy.yaml``, ``catalog.yaml`` or ``settings.json`` does not stop the app (the last good
copy, or the defaults, stay in force), so this panel is where the creator sees why.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QWheelEvent
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

from sparklio_desktop.ui.viewmodels.settings import EDITABLE_SETTINGS, SETTING_CHOICES, KeyInfo, SettingsViewModel

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

    def __init__(self, vm: SettingsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
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

    def _build(self) -> None:
        self.keys_box = QGroupBox("API keys (kept in the OS keyring)")
        self.keys_grid = QGridLayout(self.keys_box)

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
        edit.setAccessibleName(f"New {provider} API key")
        set_button = QPushButton("Set")
        set_button.setAccessibleName(f"Set {provider} key")
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
        edit.returnPressed.connect(lambda: self._set_key(provider))
        delete.clicked.connect(lambda: self.vm.delete_key(provider))
        for col, widget in enumerate((QLabel(provider), masked, edit, set_button, delete, test, result)):
            self.keys_grid.addWidget(widget, index, col)
        self.keys_grid.addWidget(error, index + 1, 0, 1, 7)
        row = self.key_rows[provider] = {
            "masked": masked,
            "edit": edit,
            "error": error,
            "set": set_button,
            "delete": delete,
            "test": test,
            "result": result,
        }
        self.errors[f"key:{provider}"] = error
        return row

    def _set_key(self, provider: str) -> None:
        edit = self.key_rows[provider]["edit"]
        key = edit.text()
        edit.clear()  # the key leaves the widget at once; only the masked form comes back
        self.vm.set_key(provider, key)

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
                row["masked"].setText("no key")
            else:
                row["masked"].setText(f"{info.masked} ({info.source})")
            row["delete"].setEnabled(info.source == "keyring")

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
