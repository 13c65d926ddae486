"""Exact money and UTC time as SQLAlchemy column types.

Money is stored as INTEGER picodollars (1e-12 USD). Integers add exactly, so SQLite's
``SUM`` over a money column is the exact total, and per-token prices such as
$0.075 per million tokens (7.5e-8 USD per token) are representable without rounding.
A value finer than a picodollar is refused rather than rounded: a silent rounding in
a ledger is a bug that nobody notices until the totals disagree. Floats are refused
too, because ``0.1`` is not a tenth.

Times are stored as fixed-width ISO-8601 UTC text (``2025-03-14T09:26:53.123456Z``)
so that text order is time order, ``substr(ts, 1, 7)`` is the month and
``substr(ts, 1, 10)`` the day, and a plain index on the column serves month ranges.
"""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

PICOS_PER_USD = 10**12
_PICOS = Decimal(PICOS_PER_USD)
_INT64_MAX = 2**63 - 1
_EXACT = decimal.Context(prec=60, traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact])


def to_picodollars(value: Decimal | int) -> int:
    """USD as an exact integer number of picodollars; raises instead of rounding."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be a Decimal or an int of USD, not {type(value).__name__}")
    amount = Decimal(value)
    if not amount.is_finite():
        raise ValueError(f"money must be finite, got {amount}")
    try:
        scaled = amount.scaleb(12, _EXACT)
    except decimal.Inexact:
        raise ValueError(f"{amount} USD has more digits than the ledger keeps") from None
    if scaled != scaled.to_integral_value(context=_EXACT):
        raise ValueError(f"{amount} USD is not a whole number of picodollars (1e-12 USD)")
    picos = int(scaled)
    if abs(picos) > _INT64_MAX:
        raise ValueError(f"{amount} USD is too large for the ledger")
    return picos


def from_picodollars(picos: int) -> Decimal:
    """The exact Decimal USD for an integer number of picodollars.

    Division (rather than ``scaleb``) gives the shortest exact form: ``1.5``, ``0``
    and ``100``, never ``1.500000000000`` or ``0E-12``.
    """
    return _EXACT.divide(Decimal(picos), _PICOS)


def picodollars_text(picos: int) -> str:
    """``plain_decimal(from_picodollars(picos))`` by integer arithmetic (bulk export speed)."""
    sign = "-" if picos < 0 else ""
    whole, frac = divmod(abs(picos), PICOS_PER_USD)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:012d}".rstrip("0")


def format_usd(amount: Decimal) -> str:
    """A short human form: cents for amounts from a cent up, else up to 6 decimals."""
    if amount == 0:
        return "$0.00"
    if abs(amount) >= Decimal("0.01"):
        return f"${amount.quantize(Decimal('0.01'), rounding=decimal.ROUND_HALF_UP):,}"
    text = f"{amount.quantize(Decimal('0.000001'), rounding=decimal.ROUND_HALF_UP):f}"
    return "$" + (text.rstrip("0").rstrip(".") if "." in text else text)


def plain_decimal(amount: Decimal) -> str:
    """Full precision without exponent or trailing zeros (CSV and JSON friendly)."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class Money(TypeDecorator[Decimal]):
    """A USD amount: ``Decimal`` in Python, INTEGER picodollars in SQLite."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else to_picodollars(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_picodollars(int(value))


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


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` stored as sortable fixed-width ISO text."""

    impl = String(27)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else utc_iso(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_utc(value)
