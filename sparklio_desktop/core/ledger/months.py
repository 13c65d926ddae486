"""Calendar months in UTC, the unit of the budget and of the spend panel.

A month is ``'YYYY-MM'`` and runs from its first day 00:00 UTC (inclusive) to the
next month's first day 00:00 UTC (exclusive). UTC rather than local time keeps
totals the same on every machine and across daylight-saving changes; a user east or
west of Greenwich sees a few hours at either end of their local month counted in the
neighbouring month.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(month: str) -> tuple[int, int]:
    match = _MONTH.match(month)
    if not match:
        raise ValueError(f"month must look like 'YYYY-MM', got {month!r}")
    return int(match.group(1)), int(match.group(2))


def month_of(when: datetime) -> str:
    """The UTC month an aware datetime falls in."""
    if when.tzinfo is None:
        raise ValueError("month_of needs a timezone-aware datetime")
    utc = when.astimezone(UTC)
    return f"{utc.year:04d}-{utc.month:02d}"


def current_month(now: datetime | None = None) -> str:
    return month_of(now or datetime.now(UTC))


def next_month(month: str) -> str:
    year, mon = parse_month(month)
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def month_start(month: str) -> datetime:
    year, mon = parse_month(month)
    return datetime(year, mon, 1, tzinfo=UTC)


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of the month in UTC."""
    return month_start(month), month_start(next_month(month))


def month_days(month: str) -> list[date]:
    """Every calendar day of the month, in order."""
    start, end = month_bounds(month)
    return [(start + timedelta(days=i)).date() for i in range((end - start).days)]


def day_bounds_text(month: str) -> tuple[str, str]:
    """``[first day, first day of next month)`` as ``YYYY-MM-DD`` text, for day keys."""
    start, end = month_bounds(month)
    return start.date().isoformat(), end.date().isoformat()
