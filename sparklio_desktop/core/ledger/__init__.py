"""The usage ledger: every attempt, decision and cost, in a SQLite file.

Money is exact (INTEGER picodollars in the file, ``Decimal`` USD in Python), months
are UTC, and the file survives a crash at any point. Open one with
``LedgerStore.open()``; the response cache and the budget guard build on the same
engine and migration helpers. ``LedgerReader`` (``reader.py``) answers the quick
read-only commands without importing SQLAlchemy.

The names below load on first use (PEP 562): importing one SQLAlchemy-free module of
the package, such as ``reader`` or ``money``, does not import the store and SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.column_types import Money, UtcDateTime
    from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
    from sparklio_desktop.core.ledger.members import current_user
    from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet, execute_all
    from sparklio_desktop.core.ledger.money import from_picodollars, plain_decimal, to_picodollars, utcnow
    from sparklio_desktop.core.ledger.months import current_month, month_bounds, month_of, next_month
    from sparklio_desktop.core.ledger.reader import LedgerReader
    from sparklio_desktop.core.ledger.records import (
        AttemptRecord,
        Decision,
        LedgerError,
        LocalCloudSplit,
        MemberSpend,
        Outcome,
        RequestSummary,
        SpendSummary,
        UsageSource,
    )
    from sparklio_desktop.core.ledger.reservations import ReserveOutcome
    from sparklio_desktop.core.ledger.store import LedgerStore, default_ledger_path

# name -> the module of this package that defines it
_WHERE = {
    "Money": "column_types", "UtcDateTime": "column_types",
    "create_sqlite_engine": "engine", "writer": "engine",
    "LEDGER_MIGRATIONS": "migrations", "MigrationSet": "migrations", "execute_all": "migrations",
    "from_picodollars": "money", "plain_decimal": "money", "to_picodollars": "money",
    "utcnow": "money",
    "current_month": "months", "month_bounds": "months", "month_of": "months", "next_month": "months",
    "LedgerReader": "reader",
    "AttemptRecord": "records", "Decision": "records", "LedgerError": "records", "LocalCloudSplit": "records",
    "MemberSpend": "records", "Outcome": "records", "RequestSummary": "records", "SpendSummary": "records",
    "UsageSource": "records", "current_user": "members",
    "ReserveOutcome": "reservations",
    "LedgerStore": "store", "default_ledger_path": "store",
}  # fmt: skip

__all__ = [
    "AttemptRecord",
    "Decision",
    "LEDGER_MIGRATIONS",
    "LedgerError",
    "LedgerReader",
    "LedgerStore",
    "LocalCloudSplit",
    "MemberSpend",
    "MigrationSet",
    "Money",
    "Outcome",
    "RequestSummary",
    "ReserveOutcome",
    "SpendSummary",
    "UsageSource",
    "UtcDateTime",
    "create_sqlite_engine",
    "current_month",
    "current_user",
    "default_ledger_path",
    "execute_all",
    "from_picodollars",
    "month_bounds",
    "month_of",
    "next_month",
    "plain_decimal",
    "to_picodollars",
    "utcnow",
    "writer",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found once; later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
