"""Argument types with bounds, so a bad number is a usage error before any work starts.

``type=int`` accepts ``999999999999999999999`` and ``-5``; the first overflowed SQLite
further down (``history --limit``), the second silently meant something else. Every
numeric option of every command goes through :func:`int_in` or :func:`float_in`, which
give argparse's one-line usage error (exit 2) naming the option and the allowed range.
:func:`month` does the same for ``YYYY-MM`` options, within the years the ledger's month
arithmetic handles.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable

__all__ = [
    "FIRST_YEAR", "LAST_YEAR", "MAX_IMAGES", "MAX_SIDE_PX", "MAX_OUTPUT_TOKENS", "MAX_TOKENS", "SQLITE_INT_MAX",
    "float_in", "image_size", "int_in", "month",
]  # fmt: skip

SQLITE_INT_MAX = 2**63 - 1
# Far above any model's window (the largest in the catalog holds 1M tokens), far below any overflow.
MAX_TOKENS = 100_000_000
MAX_OUTPUT_TOKENS = 1_000_000
# Images one request generates (each is a separate paid call for DALL-E): a bound on
# what a typo such as --images 100 can spend.
MAX_IMAGES = 10
MAX_SIDE_PX = 4096
# Months are compared as text and stepped by the ledger; a four-digit year keeps both
# right (9999-12 would step to 10000-01). Nothing was spent before the first year.
FIRST_YEAR = 2000
LAST_YEAR = 9998


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` inclusive."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip(), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: expected {low} to {high}")
        return value

    parse.__name__ = "whole number"  # what argparse names in its message for other failures
    return parse


def float_in(low: float, high: float, *, low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or value > high:
            bracket = "(" if low_open else "["
            raise argparse.ArgumentTypeError(
                f"{text} is out of range: expected a number in {bracket}{low:g}, {high:g}]"
            )
        return value

    parse.__name__ = "number"
    return parse


def month(text: str) -> str:
    """An argparse type: ``YYYY-MM`` from ``FIRST_YEAR-01`` to ``LAST_YEAR-12``."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise argparse.ArgumentTypeError(f"'{text}' is not a month: expected YYYY-MM, e.g. 2026-11")
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        raise argparse.ArgumentTypeError(f"{text} is out of range: expected {FIRST_YEAR}-01 to {LAST_YEAR}-12")
    return match.group(0)


def image_size(text: str) -> str:
    """An argparse type: ``WIDTHxHEIGHT`` with each side a multiple of 8 from 64 to 4096."""
    match = re.fullmatch(r"(\d{1,5})[xX](\d{1,5})", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a size: expected WIDTHxHEIGHT, e.g. 1024x1024")
    width, height = int(match.group(1)), int(match.group(2))
    if not all(64 <= side <= MAX_SIDE_PX and side % 8 == 0 for side in (width, height)):
        raise argparse.ArgumentTypeError(f"{text}: width and height must be multiples of 8 from 64 to {MAX_SIDE_PX}")
    return f"{width}x{height}"
