"""This month's spend, for routing's budget cap, without paying for what it does not need.

When no ledger exists yet nothing has been spent, and SQLAlchemy is not even imported:
``sparklio route`` stays fast on a fresh install.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.settings import paths


def month_spend_usd(month: str | None = None, path: Path | None = None) -> Decimal:
    ledger_path = path or paths.ledger_path()
    if not ledger_path.is_file():
        return Decimal(0)
    from sparklio_desktop.core.ledger import LedgerStore, current_month

    with LedgerStore.open(ledger_path) as store:
        return store.month_spend(month or current_month())
