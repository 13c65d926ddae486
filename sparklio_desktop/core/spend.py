"""This month's spend, for routing's budget cap, without paying for what it does not need.

When no ledger exists yet nothing has been spent, and nothing is opened. An existing
ledger is read through ``sqlite3`` (core/ledger/reader.py) unless the store must first
migrate it or close what ended processes left open: ``sparklio route`` imports no
SQLAlchemy either way in the common case. In team mode (a database URL,
core/ledger/location.py) the team's month is read through the store.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.settings import paths


def month_spend_usd(month: str | None = None, path: Path | str | None = None) -> Decimal:
    """The UTC month's spend in the ledger at ``path``: a file, a team database's URL, or
    None (the team database when one is set, else the data folder's file)."""
    from sparklio_desktop.core.ledger.location import database_url, is_database_url

    target = path if path is not None else database_url()
    if is_database_url(target):
        from sparklio_desktop.core.ledger.months import current_month
        from sparklio_desktop.core.ledger.store import LedgerStore

        with LedgerStore.open(target) as store:
            return store.month_spend(month or current_month())
    ledger_path = Path(target) if target is not None else paths.ledger_path()
    if not ledger_path.is_file():
        return Decimal(0)
    # Only with a ledger to read: a fresh install loads none of it (~10 ms of a route).
    from sparklio_desktop.core.ledger.months import current_month
    from sparklio_desktop.core.ledger.reader import open_for_reading

    with open_for_reading(ledger_path) as ledger:
        return ledger.month_spend(month or current_month())
