"""The one display form of money (core/money.py, docs/routing.md §3), and its JSON form."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from sparklio_desktop.core import money
from sparklio_desktop.core.ledger import money as ledger_money
from sparklio_desktop.core.money import format_usd, json_usd


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0", "$0.00"),  # free, local or nothing spent: one form
        ("0E-12", "$0.00"),
        ("1234.5", "$1,234.50"),
        ("1", "$1.00"),
        ("50", "$50.00"),
        ("1.005", "$1.01"),  # half-up at the cent
        ("0.95", "$0.95"),
        ("0.1", "$0.10"),
        ("0.0405", "$0.0405"),
        ("0.04", "$0.04"),
        ("0.012345", "$0.0123"),
        ("0.99996", "$1.00"),
        ("0.009", "$0.009"),
        ("0.004", "$0.004"),
        ("0.00042", "$0.00042"),
        ("0.0000015", "$0.000002"),
        ("0.000000075", "<$0.000001"),  # one token of a cheap model is not free
        ("0.000000000001", "<$0.000001"),
        ("-0.5", "-$0.50"),
        ("-1234.5", "-$1,234.50"),
    ],
)
def test_one_display_rule(amount: str, shown: str) -> None:
    assert format_usd(Decimal(amount)) == shown


def test_an_unknown_amount_says_so() -> None:
    assert format_usd(None) == "unknown cost"


def test_json_money_is_exact_text() -> None:
    assert json_usd(Decimal("0.0090000")) == "0.009"
    assert json_usd(Decimal("1E+2")) == "100"
    assert json_usd(Decimal("0E-12")) == "0"
    assert json_usd(None) is None


def test_the_ledger_uses_the_same_exact_form() -> None:
    assert ledger_money.to_picodollars is money.to_picodollars
    assert ledger_money.from_picodollars is money.from_picodollars
    assert not hasattr(ledger_money, "format_usd")


def test_format_usd_distinct_keeps_unequal_amounts_apart() -> None:
    """The fewest decimals that tell amounts apart; unchanged where format_usd already does."""
    from sparklio_desktop.core.money import format_usd_distinct

    assert format_usd_distinct(Decimal("0.03"), Decimal("0.02")) == ("$0.03", "$0.02")
    assert format_usd_distinct(Decimal("0.02"), Decimal("0.0199999")) == ("$0.02", "$0.0199999")
    assert format_usd_distinct(Decimal("1.004"), Decimal("0.99996")) == ("$1.004", "$1.00")
    assert format_usd_distinct(Decimal("1234.567"), Decimal("1234.5649")) == ("$1,234.57", "$1,234.56")
    assert format_usd_distinct(Decimal("5"), Decimal("5")) == ("$5.00", "$5.00")
    tiny = format_usd_distinct(Decimal("0.0000001"), Decimal("0.0000002"))
    assert tiny == ("$0.0000001", "$0.0000002")
    rng = random.Random(7)
    for _ in range(2000):
        a = Decimal(rng.randrange(1, 10**14)) / Decimal(10**12)
        b = a + Decimal(rng.choice([1, 3, 10**4, 10**7, 10**9])) / Decimal(10**12)
        tb, ta = format_usd_distinct(b, a)
        assert ta != tb, (a, b)
        assert Decimal(ta[1:].replace(",", "")) < Decimal(tb[1:].replace(",", ""))  # the order survives
