"""Batches: many rows of a CSV or JSONL file, one routed request each, resumable after a crash.

``inputs`` reads the rows and the prompt template (located errors, limits), ``estimate``
prices the batch before it starts, ``store`` keeps batches and their rows in
``batches.sqlite`` (in team mode on the team's PostgreSQL, per member: ``team_database``),
``runner`` sends the rows through the dispatcher with bounded concurrency and settles a
crashed run's rows against the ledger, ``results`` writes the ``--out`` file. See docs/batches.md.
"""

from sparklio_desktop.core.batches.estimate import CONFIRM_ABOVE_USD, SAMPLE_ROWS, BatchEstimate, estimate_batch
from sparklio_desktop.core.batches.inputs import MAX_ROWS, InputRows, Template, read_rows
from sparklio_desktop.core.batches.records import (
    Batch,
    BatchBusy,
    BatchCounts,
    BatchInputError,
    BatchNotFound,
    BatchRow,
    BatchStatus,
)
from sparklio_desktop.core.batches.results import ResultRecord, ResultsFile, check_out_path
from sparklio_desktop.core.batches.runner import GROUP_SIZE, MAX_CONCURRENCY, BatchRunner, route_for
from sparklio_desktop.core.batches.store import BatchStore

__all__ = [
    "CONFIRM_ABOVE_USD",
    "GROUP_SIZE",
    "MAX_CONCURRENCY",
    "MAX_ROWS",
    "SAMPLE_ROWS",
    "Batch",
    "BatchBusy",
    "BatchCounts",
    "BatchEstimate",
    "BatchInputError",
    "BatchNotFound",
    "BatchRow",
    "BatchRunner",
    "BatchStatus",
    "BatchStore",
    "InputRows",
    "ResultRecord",
    "ResultsFile",
    "Template",
    "check_out_path",
    "estimate_batch",
    "read_rows",
    "route_for",
]
