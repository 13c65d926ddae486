"""How numbers read in the GUI: shared so every panel formats money the same way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def usd_text(value: Any) -> str:
    """Money as the user reads it: exact, no trailing zeros ("$0.00042")."""
    if value is None:
        return "–"
    amount = Decimal(str(value))
    if amount == 0:
        return "$0"
    if abs(amount) >= 100:
        return f"${amount:,.2f}"
    return "$" + f"{amount:.6f}".rstrip("0").rstrip(".")


def seconds_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"
