"""The ledger's side of a provider batch job: one hold for many attempts, owned by the job.

A job outlives the process that submitted it (a provider answers within a day), so its
reservation and its ``in_flight`` rows belong to the job (core/ledger/owners.py,
``provider_job_owner``), are never reclaimed when a process ends, and are released by
the job's settlement, by the label the job's reservation was made for.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger.owners import is_gone, provider_job_owner
from sparklio_desktop.core.policy.catalog import load_catalog
from sparklio_desktop.core.pricing import worst_case_cost
from sparklio_desktop.core.settings.paths import shipped_catalog_path

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[LedgerStore]:
    ledger = LedgerStore.open(tmp_path / "ledger.sqlite")
    yield ledger
    ledger.close()


def _start(request_id: str, job: str) -> AttemptRecord:
    owner = provider_job_owner(job)
    return AttemptRecord(
        request_id=request_id, attempt=1, task_type="copywriting", model_id="openai/gpt-4-turbo",
        provider="openai", outcome="in_flight", input_tokens=100, usage_source="estimate",
        start_cost_usd=Decimal("0.0005"), worst_case_usd=Decimal("0.02"), batch=True,
        owner_pid=owner.pid, owner_start=owner.start,
    )  # fmt: skip


def test_a_job_owner_is_never_gone_and_a_dead_process_is() -> None:
    owner = provider_job_owner("abc123")
    assert owner.pid == 0 and owner.start.startswith("provider-job:")
    assert not is_gone(owner.pid, owner.start)
    assert is_gone(0, "some-other-token")  # PID 0 with a process token: no such process


def test_one_hold_writes_every_attempt_and_a_refusal_writes_none(store: LedgerStore) -> None:
    guard = BudgetGuard(store, Decimal("1.00"), "stop", clock=lambda: NOW)
    starts = [_start(f"req{i:02d}", "job1") for i in range(10)]
    guard.reserve("sparklio-job-job1", Decimal("0.20"), start=starts, owner=provider_job_owner("job1"))
    assert all(store.attempts(f"req{i:02d}")[0].outcome == "in_flight" for i in range(10))
    assert store.budget_snapshot("2026-12") == (Decimal(0), Decimal("0.20"))

    too_big = [_start(f"big{i}", "job2") for i in range(3)]
    with pytest.raises(BudgetExceeded):
        guard.reserve("sparklio-job-job2", Decimal("0.90"), start=too_big, owner=provider_job_owner("job2"))
    assert store.attempts("big0") == [] and store.budget_snapshot("2026-12")[1] == Decimal("0.20")


def test_a_jobs_hold_survives_the_process_that_made_it_and_is_released_by_label(
    store: LedgerStore, tmp_path: Path
) -> None:
    """A child process holds a job's money and ends; reclaiming leaves the job's rows alone."""
    code = f"""
import sys
from datetime import UTC, datetime
from decimal import Decimal
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.core.test_provider_job_ledger import _start
from sparklio_desktop.core.budget import BudgetGuard
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.owners import provider_job_owner
ledger = LedgerStore.open({str(store.path)!r})
guard = BudgetGuard(ledger, Decimal("5"), "stop", clock=lambda: datetime(2026, 12, 2, 12, tzinfo=UTC))
guard.reserve("sparklio-job-jobX", Decimal("0.40"), start=[_start("child1", "jobX"), _start("child2", "jobX")],
              owner=provider_job_owner("jobX"))
ledger.close()
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    assert not store.reclaim_orphans()  # the child is gone; the job's rows and money are not its
    assert [a.outcome for a in store.attempts("child1")] == ["in_flight"]
    assert store.budget_snapshot("2026-12")[1] == Decimal("0.40")
    assert store.release_reservations_for("sparklio-job-jobX") == 1
    assert store.budget_snapshot("2026-12")[1] == Decimal(0)
    assert store.release_reservations_for("sparklio-job-jobX") == 0


def test_the_worst_case_at_batch_rates_is_the_batch_price(tmp_path: Path) -> None:
    catalog = load_catalog(shipped_catalog_path(), tmp_path / "none.yaml")
    turbo = catalog["openai/gpt-4-turbo"]
    standard = worst_case_cost(turbo, 1_000, 2_000)
    discounted = worst_case_cost(turbo, 1_000, 2_000, batch=True)
    assert standard == Decimal("0.07") and discounted == Decimal("0.035")
    sonnet = catalog["anthropic/claude-3-5-sonnet"]  # no batch rates: the standard price, never a guess
    assert worst_case_cost(sonnet, 1_000, 2_000, batch=True) == worst_case_cost(sonnet, 1_000, 2_000)
