"""Exact money and UTC time, as the ledger stores them.

Money is stored as INTEGER picodollars (1e-12 USD). Integers add exactly, so SQLite's
``SUM`` over a money column is the exact total, and per-token prices such as
$0.075 per million tokens (7.5e-8 USD per token) are representable without rounding.
A value finer than a picodollar is refused rather than rounded: a silent rounding in
a ledger is a bug that nobody notices until the totals disagree. Floats are refused
too, because ``0.1`` is not a tenth. Those rules, and the display form, are
:mod:`sparklio_desktop.core.money`'s; this module maps them onto columns.

Times are stored as fixed-width ISO-8601 UTC text (``2025-03-14T09:26:53.123456Z``)
so that text order is time order, ``substr(ts, 1, 7)`` is the month and
``substr(ts, 1, 10)`` the day, and a plain index on the column serves month ranges.

The SQLAlchemy column types built on these are in ``column_types.py``: the read-only
reader (``reader.py``) converts values without importing SQLAlchemy.
"""

from __future__ import annotations

from datetime import UTC, datetime

# The exact form lives in core/money.py (with the display form); the ledger re-exports it.
from sparklio_desktop.core.money import PICOS_PER_USD as PICOS_PER_USD
from sparklio_desktop.core.money import from_picodollars as from_picodollars
from sparklio_desktop.core.money import picodollars_text as picodollars_text
from sparklio_desktop.core.money import plain_decimal as plain_decimal
from sparklio_desktop.core.money import to_picodollars as to_picodollars


def utc_iso(value: datetime) -> str:
    """The stored text form of an aware datetime; naive datetimes are refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC); got a naive datetime")
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)
