"""The portable form of ledger rows (``sparklio.ledger/1``), and the checks a row passes on import.

An export file is JSON Lines: a header, then one object per row naming its ``table``. Values
are what JSON holds without loss: money as exact decimal text (``"0.000075"``, never a float),
times as ISO-8601 UTC text, booleans as ``true``/``false``. The columns come from
``schema.py``'s tables, so a column added by a later migration travels without a change here
(give it a default below if it is NOT NULL with a default in its migration).

A file is data from outside: a forged or damaged row must be refused with its line, never
written half-checked. :func:`parse_row` checks each value's type, the CHECK rules of the
migrations (a negative amount, an attempt 0, an unknown outcome) and JSON text columns, and
returns the values as the SQLAlchemy column types take them. What it refuses raises
:class:`RowProblem` (the caller adds the file and line).

Only the moved tables are here: ``llm_usage`` (without its local ``id``; ``in_flight`` rows
are never moved, their cost is not known yet), ``decisions``, ``comparisons`` (with the file's
own ``id``, which the file's votes name) and ``votes``. The reservations and alerts belong to
the install that made them; the rollups are rebuilt by the triggers as the rows go in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from sqlalchemy import Boolean, Column, Float, Integer, Table

from sparklio_desktop.core.ledger import column_types
from sparklio_desktop.core.ledger.column_types import Money, UtcDateTime
from sparklio_desktop.core.ledger.members import HOST_LIMIT, member_name_problem
from sparklio_desktop.core.ledger.money import plain_decimal, to_picodollars, utc_iso
from sparklio_desktop.core.ledger.records import IN_FLIGHT, OUTCOMES, USAGE_SOURCES
from sparklio_desktop.core.ledger.schema import comparisons, decisions, llm_usage, votes

__all__ = ["MOVED_TABLES", "NOT_MOVED", "RowProblem", "parse_row", "portable_columns", "row_encoder"]

MOVED_TABLES: Final[dict[str, Table]] = {t.name: t for t in (llm_usage, decisions, comparisons, votes)}
# Named in the header's note and the docs: what an export leaves behind, and why.
NOT_MOVED: Final = (
    "budget_reservations and alerts stay with the install that made them; "
    "in_flight attempts are not exported (their cost is not known yet); "
    "usage_daily and usage_monthly are rebuilt from the attempts as they go in"
)
# Columns each install numbers for itself: the target numbers the rows again.
_LOCAL_IDS: Final = {"llm_usage": {"id"}, "votes": {"id"}}
# NOT NULL columns whose migration gives a default: a row of an older file may lack them.
_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "llm_usage": {
        **dict.fromkeys(("input_tokens", "output_tokens", "images"), 0),
        **dict.fromkeys(("cache_read_tokens", "cache_write_tokens", "reasoning_tokens"), 0),
        "cost_usd": Decimal(0),
        "saved_usd": Decimal(0),
        "waited_s": 0.0,
        "exploration": False,
        "batch": False,
    },
    "decisions": {"exploration": False, "history_tokens_sent": 0, "history_tokens_saved": 0},
    "comparisons": {"blind": True},
    "votes": {},
}
_NON_NEGATIVE: Final = frozenset(
    {
        "input_tokens", "output_tokens", "images", "cache_read_tokens", "cache_write_tokens",
        "reasoning_tokens", "history_tokens_sent", "history_tokens_saved", "price_tier_above_tokens",
    }
)  # fmt: skip
_JSON_TEXT: Final = frozenset({"trace_json", "models_json", "order_shown_json", "ranking_json", "stars_json"})
_CHOICES: Final[dict[str, frozenset[str]]] = {
    "outcome": OUTCOMES - {IN_FLIGHT},
    "usage_source": USAGE_SOURCES,
    "vote": frozenset({"a", "b", "tie", "both_bad", "rank"}),
}
_QUOTE_LIMIT = 60
# The flag columns' types: SQLAlchemy's Boolean, or the ledger's own 0/1 type where
# column_types.py has one (the team ledger keeps INTEGER flags on PostgreSQL too).
_FLAG_TYPES: Final[tuple[type, ...]] = tuple(
    kind for kind in (Boolean, getattr(column_types, "IntBoolean", None)) if isinstance(kind, type)
)


class RowProblem(ValueError):
    """Why one row of a file cannot be imported (one line; the caller says where)."""


def portable_columns(table: Table) -> list[Column[Any]]:
    """The columns of ``table`` that travel (every one but the install's own row ids)."""
    local = _LOCAL_IDS.get(table.name, set())
    return [column for column in table.columns if column.name not in local]


def _same(value: Any) -> Any:
    return value


def _encoder(column: Column[Any]) -> Callable[[Any], Any]:
    if isinstance(column.type, Money):
        return plain_decimal
    if isinstance(column.type, UtcDateTime):
        return utc_iso
    if isinstance(column.type, _FLAG_TYPES):
        return bool
    return _same


def row_encoder(
    table: Table, present: Collection[str]
) -> tuple[list[Column[Any]], Callable[[Sequence[Any]], dict[str, Any]]]:
    """The columns of ``table`` to read (those of ``present`` that travel), and a function
    from one row of them (read through the column types) to its portable JSON object.

    A ledger from before a migration lacks that migration's columns: they are left out of
    the object, and :func:`parse_row` gives them their defaults.
    """
    columns = [column for column in portable_columns(table) if column.name in present]
    steps = [(str(column.name), _encoder(column)) for column in columns]  # plain str, not quoted_name
    name = str(table.name)

    def encode(row: Sequence[Any]) -> dict[str, Any]:
        obj: dict[str, Any] = {"table": name}
        for (key, convert), value in zip(steps, row, strict=True):
            obj[key] = None if value is None else convert(value)
        return obj

    return columns, encode


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "..."


def _money(where: str, value: Any) -> Decimal:
    if type(value) is not str:
        raise RowProblem(f'{where} is money as decimal text (e.g. "0.0125"), not {_quote(value)}')
    try:
        amount = Decimal(value)
        to_picodollars(amount)
    except (InvalidOperation, ValueError):
        raise RowProblem(f"{where} {_quote(value)} is not an exact amount of USD") from None
    if amount < 0:
        raise RowProblem(f"{where} is negative ({_quote(value)}); money in the ledger is never negative")
    return amount


def _time(where: str, value: Any) -> datetime:
    if type(value) is not str:
        raise RowProblem(f"{where} is an ISO-8601 UTC time, not {_quote(value)}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise RowProblem(f"{where} {_quote(value)} is not an ISO-8601 time") from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise RowProblem(f"{where} {_quote(value)} has no time zone (expected UTC, ...Z)")
    return when.astimezone(UTC)


def _bool(where: str, value: Any) -> bool:
    if type(value) is not bool:
        raise RowProblem(f"{where} is true or false, not {_quote(value)}")
    return value


def _int(where: str, value: Any) -> int:
    if type(value) is not int:
        raise RowProblem(f"{where} is a whole number, not {_quote(value)}")
    return value


def _float(where: str, value: Any) -> float:
    if type(value) is not float and type(value) is not int:
        raise RowProblem(f"{where} is a number, not {_quote(value)}")
    return float(value)


def _text(where: str, value: Any) -> str:
    if type(value) is not str:
        raise RowProblem(f"{where} is text, not {_quote(value)}")
    return value


def _parser(column: Column[Any]) -> Callable[[str, Any], Any]:
    kind = column.type
    if isinstance(kind, Money):
        return _money
    if isinstance(kind, UtcDateTime):
        return _time
    if isinstance(kind, _FLAG_TYPES):
        return _bool
    if isinstance(kind, Integer):
        return _int
    if isinstance(kind, Float):
        return _float
    return _text


_MISSING: Final = object()
# Per moved table: (column, its parser, "table.column" for messages, nullable, default or _MISSING).
_SPECS: Final = {
    name: tuple(
        (c.name, _parser(c), f"{name}.{c.name}", bool(c.nullable), _DEFAULTS[name].get(c.name, _MISSING))
        for c in portable_columns(table)
    )
    for name, table in MOVED_TABLES.items()
}
_ALLOWED: Final = {name: frozenset(c[0] for c in spec) | {"table"} for name, spec in _SPECS.items()}


# Per table, the columns some rule above looks at.
_RULED: Final = {
    name: tuple(c.name for c in portable_columns(t) if c.name in _NON_NEGATIVE | _JSON_TEXT | set(_CHOICES))
    for name, t in MOVED_TABLES.items()
}


def _check_rules(table: str, values: Mapping[str, Any]) -> None:
    """The migrations' CHECK rules, and what a moved row must be, checked before any write."""
    for name in _RULED[table]:
        value = values[name]
        if value is None:
            continue
        if name in _NON_NEGATIVE and value < 0:
            raise RowProblem(f"{table}.{name} is negative ({value})")
        if name in _CHOICES and value not in _CHOICES[name]:
            if name == "outcome" and value == IN_FLIGHT:
                raise RowProblem(f"{table}.outcome is in_flight: an attempt still running is never moved")
            raise RowProblem(f"{table}.{name} {_quote(value)} is not one of {', '.join(sorted(_CHOICES[name]))}")
        if name in _JSON_TEXT:
            try:
                json.loads(value)
            except ValueError:
                raise RowProblem(f"{table}.{name} is not JSON text") from None
    if table == "llm_usage":
        if values["attempt"] < 1:
            raise RowProblem(f"llm_usage.attempt is numbered from 1, not {values['attempt']}")
        rating = values.get("rating")
        if rating is not None and not 1 <= rating <= 5:
            raise RowProblem(f"llm_usage.rating is 1 to 5, not {rating}")
        member = values.get("member")
        if member is not None and (problem := member_name_problem(member)) is not None:
            raise RowProblem(f"llm_usage.member {_quote(member)}: {problem}")
        host = values.get("host")
        if host is not None and not 0 < len(host) <= HOST_LIMIT:
            raise RowProblem(f"llm_usage.host is 1 to {HOST_LIMIT} characters")
    if table in ("llm_usage", "decisions") and not values["request_id"]:
        raise RowProblem(f"{table}.request_id is empty")


def parse_row(obj: Any) -> tuple[str, dict[str, Any]]:
    """(table, values) for one portable row object; RowProblem says what is wrong with it.

    A column the file does not carry takes its migration's default (NULL where it has
    none); a column the table does not have, or a table that is not moved, is refused: a
    file that carries them was not written by this version of Sparklio.
    """
    if type(obj) is not dict:
        raise RowProblem(f"a row is a JSON object, not {_quote(obj)}")
    name = obj.get("table")
    if not isinstance(name, str) or name not in _SPECS:
        raise RowProblem(f"unknown table {_quote(name)}; rows are of {', '.join(MOVED_TABLES)}")
    unknown = obj.keys() - _ALLOWED[name]
    if unknown:
        raise RowProblem(f"{name} has no column {_quote(min(unknown))}")
    values: dict[str, Any] = {}
    for column, parse, where, nullable, default in _SPECS[name]:
        value = obj.get(column, _MISSING)
        if value is _MISSING:
            if default is not _MISSING:
                values[column] = default
            elif nullable:
                values[column] = None
            else:
                raise RowProblem(f"{name} row is missing {column}")
        elif value is None:
            if not nullable:
                raise RowProblem(f"{where} cannot be null")
            values[column] = None
        else:
            values[column] = parse(where, value)
    _check_rules(name, values)
    return name, values
