"""How numbers read in the GUI: shared so every panel formats money the same way.

Money uses the one display rule of the whole app (core/money.py, docs/routing.md §3), so a
cost reads the same in the composer, the inspector, the spend panel and the CLI.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sparklio_desktop.core.money import format_usd


def usd_text(value: Any) -> str:
    """Money as the user reads it ("$0.00042", "$1,234.50"); "–" when unknown."""
    if value is None:
        return "–"
    return format_usd(value if isinstance(value, Decimal) else Decimal(str(value)))


def seconds_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"
