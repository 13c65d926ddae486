"""Money: one exact form and one display form, used by every module that handles USD.

**Exact.** Money is ``Decimal`` USD, and every amount Sparklio computes is a whole number
of picodollars (1e-12 USD): catalog prices per 1M tokens have at most 6 decimals (so a
token costs whole picodollars) and image prices at most 12 (docs/routing.md §9). The
pricing core (:mod:`sparklio_desktop.core.pricing`) therefore works in integer
picodollars and turns them into ``Decimal`` only when a cost is read; the ledger stores
the same integers. Nothing is ever rounded: an amount finer than a picodollar, a float
or a non-finite value is refused (``to_picodollars``). In JSON and CSV money is the
exact decimal text (``plain_decimal``: ``"0.009"``, never ``9E-3`` or a float).

**Display** (``format_usd``, the one rule for CLI output and the GUI; docs/routing.md §3):

- zero is ``$0.00``, whether the model is local, free or nothing was spent;
- from $1 up: cents, with thousands separators (``$1,234.50``);
- from one cent to $1: up to 4 decimals, at least 2 (``$0.95``, ``$0.0405``);
- below one cent: up to 6 decimals (``$0.004``, ``$0.00042``);
- a non-zero amount below $0.000001 is ``<$0.000001``, never ``$0`` (it is not free);
- rounding is half-up at the last digit shown; an unknown amount (``None``, an unpriced
  model) is ``unknown cost``.

Amounts shown side by side ("$0.0213 of $0.0209 left") go through ``format_usd_distinct``:
where the display rule would round two different amounts to the same text ("$0.02 of
$0.02"), it shows them all with the fewest decimals that tells them apart, so a near-cap
message never reads as nonsense. Amounts are whole picodollars, so 12 decimals always do.

This module imports nothing heavy (no SQLAlchemy), so commands that only print money
stay fast to start.
"""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_UP, Decimal

PICOS_PER_USD = 10**12
_PICOS = Decimal(PICOS_PER_USD)
_INT64_MAX = 2**63 - 1
_EXACT = decimal.Context(prec=60, traps=[decimal.InvalidOperation, decimal.Overflow, decimal.Inexact])

_ONE = Decimal(1)
_CENT = Decimal("0.01")
_MICRO = Decimal("0.000001")
_Q2 = Decimal("0.01")
_Q4 = Decimal("0.0001")
_Q6 = Decimal("0.000001")
UNKNOWN_COST = "unknown cost"
_MAX_DECIMALS = 12  # a picodollar: every amount Sparklio computes is distinct at this precision


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


def plain_decimal(amount: Decimal) -> str:
    """Full precision without exponent or trailing zeros (CSV and JSON friendly)."""
    text = f"{amount:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def json_usd(amount: Decimal | None) -> str | None:
    """Money in JSON: the exact decimal text, ``None`` for an unknown amount."""
    return None if amount is None else plain_decimal(amount)


def format_usd(amount: Decimal | None) -> str:
    """The display form (the rule is in the module docstring)."""
    if amount is None:
        return UNKNOWN_COST
    if amount == 0:
        return "$0.00"
    sign = "-" if amount < 0 else ""
    size = abs(amount)
    if size >= _ONE:
        return f"{sign}${size.quantize(_Q2, rounding=ROUND_HALF_UP):,}"
    if size >= _CENT:
        text = f"{size.quantize(_Q4, rounding=ROUND_HALF_UP):f}"
        whole, _, frac = text.partition(".")
        return f"{sign}${whole}.{frac.rstrip('0').ljust(2, '0')}"
    shown = size.quantize(_Q6, rounding=ROUND_HALF_UP)
    if shown < _MICRO:
        return f"{sign}<${_MICRO:f}"
    return f"{sign}${plain_decimal(shown)}"


def _fixed_usd(amount: Decimal, decimals: int) -> str:
    """``amount`` with ``decimals`` decimals (half-up), trailing zeros dropped down to cents."""
    sign = "-" if amount < 0 else ""
    shown = abs(amount).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    whole, _, frac = f"{shown:f}".partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{sign}${int(whole):,}.{frac}"


def format_usd_distinct(*amounts: Decimal) -> tuple[str, ...]:
    """The display form of each amount, with more decimals where needed to keep unequal
    amounts from reading the same.

    Why: "this request may cost up to $0.02 but only $0.02 is left" reads as a bug. When
    ``format_usd`` already shows every pair of unequal amounts differently, its texts are
    returned unchanged; otherwise all amounts are shown with one common number of decimals,
    the fewest (from 2) that gives every unequal pair a different text. Equal amounts read
    the same, as they should.
    """
    texts = tuple(format_usd(a) for a in amounts)
    if _distinct(amounts, texts):
        return texts
    for decimals in range(2, _MAX_DECIMALS + 1):
        texts = tuple(_fixed_usd(a, decimals) for a in amounts)
        if _distinct(amounts, texts):
            return texts
    return tuple(f"{'-' if a < 0 else ''}${plain_decimal(abs(a))}" for a in amounts)  # finer than a picodollar


def _distinct(amounts: tuple[Decimal, ...], texts: tuple[str, ...]) -> bool:
    shown: dict[str, Decimal] = {}
    for amount, text in zip(amounts, texts, strict=True):
        if shown.setdefault(text, amount) != amount:
            return False
    return True
