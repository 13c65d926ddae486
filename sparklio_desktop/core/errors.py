"""Errors the user may see. Each one's ``str()`` is a single line meant for a person.

    SparklioError
    ├── ConfigError          a policy, catalog or settings file is invalid (file:line: field: what)
    ├── UnknownNameError     an unknown task, model, provider or option value
    ├── BudgetError          the monthly budget refuses a paid request
    ├── KeyringUnavailable   no OS keyring backend to store an API key
    └── ProviderError        (sparklio_desktop.core.providers.errors) a provider call failed

No traceback reaches the user: the CLI and GUI catch ``SparklioError`` and show ``str(err)``.
"""

from __future__ import annotations

from collections.abc import Iterable


class SparklioError(Exception):
    """Base of every error Sparklio reports to a person."""


class ConfigError(SparklioError):
    """A data file is invalid. Carries where, so the user can go and fix it."""

    def __init__(self, path: str, line: int | None, field: str, message: str) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        field_part = f" {field}:" if field else ""
        super().__init__(f"{where}:{field_part} {message}")


class ConfigErrors(ConfigError):
    """Several problems in one file; the first is the headline, all are listed."""

    def __init__(self, errors: list[ConfigError]) -> None:
        first = errors[0]
        super().__init__(first.path, first.line, first.field, first.message)
        self.errors = errors

    def __str__(self) -> str:
        return "\n".join(Exception.__str__(e) for e in self.errors)


class UnknownNameError(SparklioError):
    """An unknown task, model or option value; lists the valid ones."""

    def __init__(self, kind: str, name: str, valid: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        super().__init__(f"unknown {kind} '{name}'; valid: {', '.join(self.valid)}")


class BudgetError(SparklioError):
    """The monthly budget is spent and the policy says paid requests stop."""


class KeyringUnavailable(SparklioError):
    """No OS keyring backend is available to keep API keys."""
