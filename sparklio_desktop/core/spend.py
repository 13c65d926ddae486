"""This month's spend, for routing's budget cap, without paying for what it does not need.

When no ledger exists yet nothing has been spent, and nothing is opened. An existing
ledger is read through ``sqlite3`` (core/ledger/reader.py) unless the store must first
migrate it or close what ended processes left open: ``sparklio route`` imports no
SQLAlchemy either way in the common case.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.settings import paths


def month_spend_usd(month: str | None = None, path: Path | None = None) -> Decimal:
    ledger_path = path or paths.ledger_path()
    if not ledger_path.is_file():
        return Decimal(0)
    # Only with a ledger to read: a fresh install loads none of it (~10 ms of a route).
    from sparklio_desktop.core.ledger.months import current_month
    from sparklio_desktop.core.ledger.reader import open_for_reading

    with open_for_reading(ledger_path) as ledger:
        return ledger.month_spend(month or current_month())
