"""A recipe run's record: ``recipe-runs/<run_id>/state.json`` in the data folder, or a row of
the team database.

Why a file per run, rewritten whole and atomically after every step: a run that stops
(a step failed after its fallbacks, the budget, a kill) must resume from its first
unfinished step without sending a finished one again. The record keeps the recipe as it
was when the run started (an edit to the file later does not change a run half done),
the inputs as given (text, or the path of a file or image, read again on resume), the
route options, the brand voice, and per step its status, request id, model, cost, output
and files. ``os.replace`` makes each write all-or-nothing, so a crash leaves the last
complete record, never half of one.

Team mode (a team database URL is set, core/ledger/location.py): the same JSON is the
run's row in ``recipe_runs`` (core/recipes/team_runs.py), written in one transaction per
save (the same all-or-nothing), so any install of the member resumes it; :func:`run_lock`
claims the row instead of a ``flock``, across machines. The files the steps wrote stay
where they were written, on the machine that ran those steps.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.location import database_url
from sparklio_desktop.core.settings import paths

if TYPE_CHECKING:
    from sparklio_desktop.core.recipes.team_runs import TeamRuns

__all__ = [
    "RunBusyError", "RunState", "StepState", "UnknownRunError", "new_run_id", "run_lock", "runs_dir",
    "unfinished_records",
]  # fmt: skip

STATE_FILENAME = "state.json"
_RUN_ID_RE = re.compile(r"[0-9a-f]{12}")


class UnknownRunError(SparklioError):
    """No recipe run by that id in the data folder."""


class RunBusyError(SparklioError):
    """Another process is running (or resuming) this run now."""


def _team_runs() -> TeamRuns | None:
    """The team database's runs when one is set (team mode), else None (the data folder)."""
    url = database_url()
    if url is None:
        return None
    from sparklio_desktop.core.recipes.team_runs import TeamRuns

    return TeamRuns.shared(url)


@contextlib.contextmanager
def run_lock(run_id: str) -> Iterator[None]:
    """Hold the run's lock while its steps are sent, so two ``resume`` of one run never
    send a step twice. On a file an OS lock (``flock``): a killed process releases it by
    dying; where there is no ``fcntl`` (Windows) runs are not locked. On a team database a
    claim on the run's row (core/recipes/team_runs.py), refused in one line while a live
    process of this host, or any process of another host, holds it."""
    runs = _team_runs()
    if runs is not None:
        try:
            refusal = runs.claim(run_id)
        finally:
            runs.close()
        if refusal is not None:
            raise RunBusyError(refusal)
        try:
            yield
        finally:
            # A release the server cannot take now never hides how the run ended: the
            # claim names this process, so it lapses on this host once the process ends.
            with contextlib.suppress(SparklioError):
                runs = _team_runs()
                if runs is not None:
                    try:
                        runs.release(run_id)
                    finally:
                        runs.close()
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    folder = runs_dir() / run_id
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RunBusyError(f"recipe run {run_id} is being run by another process now") from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def unfinished_records() -> list[dict[str, Any]]:
    """The records of the runs not done, as stored (parsed JSON), newest first: the member's
    on a team database, else the data folder's. A record that cannot be read is left out."""
    runs = _team_runs()
    if runs is not None:
        try:
            texts = runs.unfinished()
        finally:
            runs.close()
    else:
        folder = runs_dir()
        texts = []
        for path in folder.glob(f"*/{STATE_FILENAME}") if folder.is_dir() else ():
            try:
                texts.append(path.read_text(encoding="utf-8"))
            except OSError:
                continue
    found: list[dict[str, Any]] = []
    for text in texts:
        try:
            raw = json.loads(text)
        except ValueError:
            continue
        if isinstance(raw, dict) and raw.get("status") != "done":
            found.append(raw)
    return sorted(found, key=lambda raw: str(raw.get("updated_utc", "")), reverse=True)


def runs_dir() -> Path:
    return paths.data_dir() / "recipe-runs"


def new_run_id() -> str:
    """12 hex digits; each step's request id starts with it (the ledger's rows of a run share it)."""
    return uuid.uuid4().hex[:12]


def step_request_id(run_id: str) -> str:
    """A fresh request id for one try of one step: the run's id, then 20 random hex digits."""
    return run_id + uuid.uuid4().hex[:20]


@dataclass
class StepState:
    id: str
    task: str
    status: str = "pending"  # pending, running, done, failed, skipped
    request_id: str | None = None  # the latest try's
    request_ids: list[str] = field(default_factory=list)  # every try's, oldest first
    model: str | None = None
    cost_usd: str = "0"  # every try of this step, exact
    output: str = ""
    files: list[str] = field(default_factory=list)
    error: str | None = None
    reason: str | None = None  # why a step was skipped

    @property
    def finished(self) -> bool:
        return self.status in ("done", "skipped")

    def add_cost(self, amount: Decimal) -> None:
        self.cost_usd = format(Decimal(self.cost_usd) + amount, "f")


@dataclass
class RunState:
    run_id: str
    recipe_name: str
    recipe: dict[str, Any]
    inputs: dict[str, str]
    options: dict[str, str | None]
    voice: dict[str, Any] | None
    out_dir: str
    steps: list[StepState]
    status: str = "running"  # running, stopped, done
    created_utc: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    updated_utc: str = ""

    @property
    def folder(self) -> Path:
        return runs_dir() / self.run_id

    @property
    def cost_usd(self) -> Decimal:
        return sum((Decimal(s.cost_usd) for s in self.steps), Decimal(0))

    def save(self) -> None:
        """Write the record atomically: a temporary file, then ``os.replace``; on a team
        database one transaction."""
        self.updated_utc = datetime.now(UTC).isoformat()
        data = json.dumps(asdict(self), indent=2, ensure_ascii=False)
        runs = _team_runs()
        if runs is not None:
            try:
                runs.save(self.run_id, self.status, data, self.updated_utc)
            finally:
                runs.close()
            return
        folder = self.folder
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / STATE_FILENAME
        tmp = folder / f".{STATE_FILENAME}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    @classmethod
    def load(cls, run_id: str) -> RunState:
        if not _RUN_ID_RE.fullmatch(run_id):
            raise UnknownRunError(f"no recipe run '{run_id}' (a run id is 12 hex digits)")
        runs = _team_runs()
        if runs is not None:
            try:
                text = runs.load(run_id)
            finally:
                runs.close()
            if text is None:
                raise UnknownRunError(f"no recipe run '{run_id}' of {runs.member} on the team database")
            return cls._parsed(text, f"recipe run {run_id} on the team database")
        path = runs_dir() / run_id / STATE_FILENAME
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UnknownRunError(f"no recipe run '{run_id}' in {runs_dir()}") from None
        except OSError as exc:
            raise SparklioError(f"{path}: cannot read the run's record: {exc}") from None
        return cls._parsed(text, str(path))

    @classmethod
    def _parsed(cls, text: str, where: str) -> RunState:
        try:
            raw = json.loads(text)
            steps = [StepState(**s) for s in raw.pop("steps")]
            return cls(**raw, steps=steps)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SparklioError(f"{where}: cannot read the run's record: {exc}") from None
