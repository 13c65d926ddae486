"""The usage ledger: every attempt, decision and cost, in a SQLite file.

Money is exact (INTEGER picodollars in the file, ``Decimal`` USD in Python), months
are UTC, and the file survives a crash at any point. Open one with
``LedgerStore.open()``; the response cache and the budget guard build on the same
engine and migration helpers.
"""

from sparklio_desktop.core.ledger.engine import create_sqlite_engine, writer
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet, execute_all
from sparklio_desktop.core.ledger.money import (
    Money,
    UtcDateTime,
    from_picodollars,
    plain_decimal,
    to_picodollars,
    utcnow,
)
from sparklio_desktop.core.ledger.months import current_month, month_bounds, month_of, next_month
from sparklio_desktop.core.ledger.records import (
    AttemptRecord,
    Decision,
    LedgerError,
    LocalCloudSplit,
    Outcome,
    RequestSummary,
    SpendSummary,
    UsageSource,
    current_user,
)
from sparklio_desktop.core.ledger.reservations import ReserveOutcome
from sparklio_desktop.core.ledger.store import LedgerStore, default_ledger_path

__all__ = [
    "AttemptRecord",
    "Decision",
    "LEDGER_MIGRATIONS",
    "LedgerError",
    "LedgerStore",
    "LocalCloudSplit",
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
