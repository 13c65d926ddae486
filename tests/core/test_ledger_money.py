"""Money is exact to the picodollar; times are aware UTC; months are UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sparklio_desktop.core.ledger.money import (
    from_picodollars,
    parse_utc,
    picodollars_text,
    plain_decimal,
    to_picodollars,
    utc_iso,
)
from sparklio_desktop.core.ledger.months import (
    current_month,
    month_bounds,
    month_days,
    month_of,
    next_month,
)


@pytest.mark.parametrize(
    ("usd", "picos"),
    [
        (Decimal("1"), 10**12),
        (Decimal("0.000000000001"), 1),
        (Decimal("0.0000000750"), 75_000),  # $0.075 per Mtok, per token
        (Decimal("2.50"), 2_500_000_000_000),
        (0, 0),
        (3, 3 * 10**12),
        (Decimal("-0.5"), -500_000_000_000),
        (Decimal("1E+3"), 10**15),
    ],
)
def test_picodollars_round_trip_exactly(usd: Decimal | int, picos: int) -> None:
    assert to_picodollars(usd) == picos
    assert from_picodollars(picos) == Decimal(usd)


@pytest.mark.parametrize("bad", [Decimal("0.0000000000001"), Decimal("1.0000000000005")])
def test_amounts_finer_than_a_picodollar_are_refused_not_rounded(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="picodollar"):
        to_picodollars(bad)


def test_more_digits_than_kept_is_refused() -> None:
    with pytest.raises(ValueError):
        to_picodollars(Decimal("1." + "0" * 70 + "1"))


@pytest.mark.parametrize("bad", [0.1, "0.1", True, None])
def test_floats_strings_and_bools_are_not_money(bad: object) -> None:
    with pytest.raises(TypeError):
        to_picodollars(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), Decimal("1E+10")])
def test_non_finite_and_absurd_amounts_are_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        to_picodollars(bad)


def test_read_back_values_have_the_shortest_exact_form() -> None:
    assert str(from_picodollars(1_500_000_000_000)) == "1.5"
    assert str(from_picodollars(0)) == "0"
    assert str(from_picodollars(100 * 10**12)) == "100"
    assert plain_decimal(from_picodollars(1)) == "0.000000000001"
    assert plain_decimal(Decimal("1E+2")) == "100"


@pytest.mark.parametrize("picos", [0, 1, 10**12, 1_500_000_000_000, 123_456_789, -5, -(10**13), 2**63 - 1])
def test_fast_export_text_equals_the_decimal_form(picos: int) -> None:
    assert picodollars_text(picos) == plain_decimal(from_picodollars(picos))


def test_timestamps_are_fixed_width_sortable_utc_text() -> None:
    plus_two = timezone(timedelta(hours=2))
    when = datetime(2025, 3, 1, 1, 30, tzinfo=plus_two)
    text = utc_iso(when)
    assert text == "2025-02-28T23:30:00.000000Z"
    assert parse_utc(text) == when
    assert parse_utc(text).tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_iso(datetime(2025, 3, 1))


def test_months_are_utc() -> None:
    assert month_of(datetime(2025, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=2)))) == "2025-02"
    assert next_month("2025-12") == "2026-01"
    start, end = month_bounds("2024-02")
    assert (start, end) == (datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    assert len(month_days("2024-02")) == 29
    assert current_month(datetime(2025, 7, 31, 23, 59, tzinfo=UTC)) == "2025-07"
    for bad in ("2025-13", "2025-1", "25-01", "2025-01-01"):
        with pytest.raises(ValueError):
            month_bounds(bad)
