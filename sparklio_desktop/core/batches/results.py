"""The results file of a batch (``--out``): one record per finished row, appended as rows finish.

JSON Lines (``.jsonl``) or CSV (``.csv``), by the file's extension; the fields are
``row``, ``outcome`` (done or failed), ``output``, ``model``, ``cost_usd`` (exact decimal
text), ``request_id`` and ``error``. Each record is one write followed by a flush, so a
killed process leaves at most one partial record at the end of the file.

Why the file is reconciled on open: the store is the truth of which rows are finished;
the file is written just after the store. When a batch resumes, :meth:`ResultsFile.open`
reads what the file already holds, drops a partial last record, and the runner appends
the finished rows the file is missing, so every finished row is in it exactly once.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sparklio_desktop.core.batches.records import BatchInputError

__all__ = ["FIELDS", "ResultRecord", "ResultsFile", "check_out_path"]

FIELDS = ("row", "outcome", "output", "model", "cost_usd", "request_id", "error")


@dataclass(frozen=True)
class ResultRecord:
    row: int
    outcome: str  # done | failed
    output: str | None
    model: str | None
    cost_usd: Decimal
    request_id: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "outcome": self.outcome,
            "output": self.output,
            "model": self.model,
            "cost_usd": str(self.cost_usd),
            "request_id": self.request_id,
            "error": self.error,
        }


def check_out_path(name: str | Path) -> Path:
    """``--out`` as a new (or empty) ``.jsonl`` or ``.csv`` file whose folder exists and
    takes files, checked before anything is paid for. A file that holds records is
    refused: its rows would be taken for this batch's (a resume appends to its own)."""
    path = Path(name).expanduser()
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise BatchInputError(f"--out {name}: results go to a .jsonl or .csv file")
    if path.is_dir():
        raise BatchInputError(f"--out {name}: is a folder, not a file")
    if path.is_file() and path.stat().st_size > 0:
        raise BatchInputError(f"--out {name}: already holds results; give a new file")
    if not path.parent.is_dir():
        raise BatchInputError(f"--out {name}: the folder {path.parent} does not exist")
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise BatchInputError(f"--out {name}: cannot write there: {exc.strerror or exc}") from None
    return path


class ResultsFile:
    """An open results file; :attr:`written` is the rows it holds."""

    def __init__(self, path: Path, handle: IO[str], written: set[int]) -> None:
        self.path = path
        self._handle = handle
        self.written = written
        self._csv = path.suffix.lower() == ".csv"

    @classmethod
    def open(cls, path: Path) -> ResultsFile:
        """Open ``path`` for appending, after reading which rows it already holds."""
        written: set[int] = set()
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        is_csv = path.suffix.lower() == ".csv"
        if text:
            records, complete = _parse_csv(text) if is_csv else _parse_jsonl(text)
            if complete != text:  # a record cut short by a kill: keep the complete ones
                path.write_text(complete, encoding="utf-8")
            written = records
        handle = open(path, "a", encoding="utf-8", newline="")
        if is_csv and not text.strip():
            handle.write(_csv_line(list(FIELDS)))
            handle.flush()
        return cls(path, handle, written)

    def append(self, record: ResultRecord) -> None:
        if record.row in self.written:
            return
        if self._csv:
            data = record.to_dict()
            line = _csv_line(["" if data[f] is None else str(data[f]) for f in FIELDS])
        else:
            line = json.dumps(record.to_dict(), ensure_ascii=False) + "\n"
        self._handle.write(line)
        self._handle.flush()
        self.written.add(record.row)

    def close(self) -> None:
        self._handle.close()


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _parse_jsonl(text: str) -> tuple[set[int], str]:
    rows: set[int] = set()
    kept: list[str] = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break  # the partial last record
        try:
            rows.add(int(json.loads(line)["row"]))
        except (ValueError, KeyError, TypeError):
            break  # not ours past this point: keep what came before
        kept.append(line)
    return rows, "".join(kept)


def _parse_csv(text: str) -> tuple[set[int], str]:
    rows: set[int] = set()
    if not text.endswith("\n"):
        # A cut record: rebuild the file from the records that parse whole.
        records = list(csv.reader(io.StringIO(text, newline="")))[:-1]
        text = "".join(_csv_line(r) for r in records)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header != list(FIELDS):
        raise BatchInputError("the results file's header is not a Sparklio batch's: give another --out")
    for record in reader:
        if len(record) == len(FIELDS) and record[0].isdigit():
            rows.add(int(record[0]))
    return rows, text
