"""A batch's input rows (CSV with a header row, or JSON Lines of objects) and its prompt
template, checked before anything is routed or paid for.

Every problem is one :class:`BatchInputError` line that says where: the file, the line
and, where it helps, the column (``rows.csv:14: expected 3 fields, found 4``). The limits
below bound what a typo can cost before the estimate is even shown.

The template is Python's brace syntax, limited to plain names: ``{column}`` inserts that
column's value, ``{{`` and ``}}`` are literal braces; a format spec, a conversion or a
name that is not a column is refused with its position in the template.
"""

from __future__ import annotations

import csv
import io
import json
import string
from dataclasses import dataclass
from pathlib import Path

from sparklio_desktop.core.batches.records import BatchInputError

__all__ = ["MAX_FILE_BYTES", "MAX_PROMPT_CHARS", "MAX_ROWS", "InputRows", "Template", "read_rows"]

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_ROWS = 100_000
MAX_PROMPT_CHARS = 200_000  # one rendered prompt; far above a row of content work, far below a mistake


@dataclass(frozen=True)
class InputRows:
    """The rows of an input file: each a mapping of column -> text, with the file line it starts on."""

    path: Path
    columns: tuple[str, ...]  # CSV: the header; JSONL: every key seen, in first-seen order
    rows: tuple[dict[str, str], ...]
    lines: tuple[int, ...]


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if not path.is_file():
        raise BatchInputError(f"{path}: not a file")
    if size > MAX_FILE_BYTES:
        raise BatchInputError(f"{path}: {size:,} bytes is more than the {MAX_FILE_BYTES // 2**20} MiB a batch reads")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchInputError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise BatchInputError(f"{path}:{line}:{column}: not UTF-8 text (byte 0x{data[exc.start]:02x})") from None


def read_rows(path: Path | str) -> InputRows:
    """Read ``path`` by its extension: ``.csv`` or ``.jsonl`` (``.ndjson``)."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise BatchInputError(f"{path}: a batch reads .csv or .jsonl files, not {suffix or 'a file without one'}")
    text = _read_text(path)
    found = _read_csv(path, text) if suffix == ".csv" else _read_jsonl(path, text)
    if not found.rows:
        raise BatchInputError(f"{path}: has no rows")
    return found


def _read_csv(path: Path, text: str) -> InputRows:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise BatchInputError(f"{path}:{reader.line_num}: {exc}") from None
    if header is None:
        raise BatchInputError(f"{path}: is empty; the first row must name the columns")
    columns = tuple(name.strip() for name in header)
    for number, name in enumerate(columns, start=1):
        if not name:
            raise BatchInputError(f"{path}:1: column {number} of the header row has no name")
        if columns.index(name) != number - 1:
            raise BatchInputError(f"{path}:1: column {number}: the header names {name!r} twice")
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader, None)
        except csv.Error as exc:
            raise BatchInputError(f"{path}:{reader.line_num}: {exc}") from None
        if fields is None:
            break
        if not fields or fields == [""]:
            continue  # a blank line
        if len(fields) != len(columns):
            raise BatchInputError(f"{path}:{start}: expected {len(columns)} fields (the header's), found {len(fields)}")
        rows.append(dict(zip(columns, fields, strict=True)))
        lines.append(start)
        if len(rows) > MAX_ROWS:
            raise BatchInputError(f"{path}:{start}: more than {MAX_ROWS:,} rows; split the file")
    return InputRows(path, columns, tuple(rows), tuple(lines))


def _read_jsonl(path: Path, text: str) -> InputRows:
    columns: dict[str, None] = {}
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BatchInputError(f"{path}:{number}:{exc.colno}: not JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise BatchInputError(f"{path}:{number}: expected a JSON object, found {type(value).__name__}")
        row = {str(key): item if isinstance(item, str) else json.dumps(item) for key, item in value.items()}
        for key in row:
            columns.setdefault(key, None)
        rows.append(row)
        lines.append(number)
        if len(rows) > MAX_ROWS:
            raise BatchInputError(f"{path}:{number}: more than {MAX_ROWS:,} rows; split the file")
    return InputRows(path, tuple(columns), tuple(rows), tuple(lines))


@dataclass(frozen=True)
class Template:
    """A parsed prompt template: literal text and the column names between them."""

    text: str
    parts: tuple[tuple[str, str | None], ...]  # (literal, column or None)

    @classmethod
    def parse(cls, text: str) -> Template:
        if not text.strip():
            raise BatchInputError("--prompt-template is empty")
        parts: list[tuple[str, str | None]] = []
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError as exc:
            raise BatchInputError(f"--prompt-template: {exc} (write {{{{ and }}}} for literal braces)") from None
        position = 0
        for literal, name, spec, conversion in parsed:
            position += len(literal)
            if name is not None and (spec or conversion):
                raise BatchInputError(
                    f"--prompt-template: column {position + 1}: {{{name}...}} has a format or conversion; "
                    "only plain {column} names are allowed"
                )
            if name is not None and not name.strip():
                raise BatchInputError(f"--prompt-template: column {position + 1}: {{}} names no column")
            parts.append((literal, name))
        if not any(name for _, name in parts):
            raise BatchInputError("--prompt-template names no {column}: every row would send the same prompt")
        return cls(text, tuple(parts))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name in self.parts if name is not None))

    def check(self, rows: InputRows) -> None:
        """Every ``{column}`` is a column of the file, and of every JSONL object."""
        for name in self.fields:
            if name not in rows.columns:
                shown = ", ".join(rows.columns) or "none"
                raise BatchInputError(
                    f"--prompt-template: {{{name}}} is not a column of {rows.path.name} (columns: {shown})"
                )
        for row, line in zip(rows.rows, rows.lines, strict=True):
            missing = [name for name in self.fields if name not in row]
            if missing:
                raise BatchInputError(f"{rows.path}:{line}: the object has no {missing[0]!r} for the template")

    def render(self, row: dict[str, str]) -> str:
        return "".join(literal + (row[name] if name is not None else "") for literal, name in self.parts)

    def prompts(self, rows: InputRows) -> list[str]:
        """Every row's prompt; an empty or oversized one is refused with its line."""
        self.check(rows)
        prompts = []
        for row, line in zip(rows.rows, rows.lines, strict=True):
            prompt = self.render(row)
            if not prompt.strip():
                raise BatchInputError(f"{rows.path}:{line}: the prompt for this row is empty")
            if len(prompt) > MAX_PROMPT_CHARS:
                raise BatchInputError(
                    f"{rows.path}:{line}: the prompt is {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,}"
                )
            prompts.append(prompt)
        return prompts
