"""Exact money and UTC time as SQLAlchemy column types (the rules are in ``money.py``).

``Money`` is a ``Decimal`` of USD in Python and INTEGER picodollars in SQLite;
``UtcDateTime`` an aware UTC ``datetime`` in Python and fixed-width ISO text in SQLite.
They sit apart from ``money.py`` so that the conversions load without SQLAlchemy.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from sparklio_desktop.core.ledger.money import from_picodollars, parse_utc, to_picodollars, utc_iso

__all__ = ["IntBoolean", "Money", "UtcDateTime"]


class Money(TypeDecorator[Decimal]):
    """A USD amount: ``Decimal`` in Python, INTEGER picodollars in SQLite (64-bit), BIGINT
    in a team's PostgreSQL (where SQLAlchemy would cast an ``Integer`` parameter to a
    32-bit INTEGER, too small for picodollars)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else to_picodollars(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_picodollars(int(value))


class IntBoolean(TypeDecorator[bool]):
    """A flag: ``bool`` in Python, INTEGER 0/1 in the table on both backends.

    SQLite has no boolean type, and the team ledger on PostgreSQL keeps the same INTEGER
    columns (core/ledger/postgres_schema.py) so the driver-level SQL writes 0/1 on both;
    SQLAlchemy's ``Boolean`` would send PostgreSQL a boolean, which an INTEGER refuses."""

    impl = Integer
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(bool(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> bool | None:
        return None if value is None else bool(value)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC ``datetime`` stored as sortable fixed-width ISO text."""

    impl = String(27)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else utc_iso(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else parse_utc(value)
