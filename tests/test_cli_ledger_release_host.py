"""``sparklio ledger release-host`` on a real PostgreSQL team database, through the real CLI.

A workstation that never comes back ("gone-laptop") left an in-flight attempt, a budget
reservation, a claimed batch and a claimed recipe run; this machine holds a live
reservation of its own. The dry run shows them and writes nothing; ``--yes`` closes the
attempt as interrupted (billed its input estimate), deletes exactly that host's
reservation, and clears its claims: the freed budget admits a request refused before,
and the batch and the run can be claimed (resumed) here. A SQLite ledger and this
machine's own name are refused in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.batches.records import BatchBusy
from sparklio_desktop.core.batches.store import BatchStore
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
from sparklio_desktop.core.ledger.members import MEMBER_ENV, this_host
from sparklio_desktop.core.ledger.owners import this_process
from sparklio_desktop.core.recipes.team_runs import TeamRuns

REPO = Path(__file__).resolve().parents[1]
GONE = "gone-laptop"
MONTH = "2026-12"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LIMIT = Decimal("1")
# gone-laptop's owner has this very process's PID and start token: alive if judged on this
# machine, so only the person's word (the command) may release what it holds.
ME = this_process()


def sparklio(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    child = dict(os.environ, PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True, env=child, timeout=120
    )


def _team_env(home: Path, url: str) -> dict[str, str]:
    return {"SPARKLIO_HOME": str(home), DATABASE_URL_ENV: url, MEMBER_ENV: "ada"}


def _sql(store: LedgerStore, sql: str, params: dict | None = None) -> list[tuple]:
    with store.engine.begin() as conn:
        result = conn.exec_driver_sql(sql, params or {})
        return [tuple(row) for row in result] if result.returns_rows else []


def _snapshot(store: LedgerStore) -> dict[str, list[tuple]]:
    return {
        "llm_usage": _sql(store, "SELECT request_id, outcome, cost_usd, host, error_message FROM llm_usage"),
        "budget_reservations": _sql(store, "SELECT request_id, amount_usd, host FROM budget_reservations ORDER BY id"),
        "batches": _sql(store, "SELECT id, status, owner_pid, owner_start, owner_host FROM batches ORDER BY id"),
        "recipe_runs": _sql(store, "SELECT run_id, owner_pid, owner_start, owner_host FROM recipe_runs"),
    }


def _leave_a_dead_host(store: LedgerStore, url: str) -> tuple[str, str]:
    """What gone-laptop left: an in-flight attempt (input estimate 0.01, worst case 0.8),
    its 0.8 reservation, a provider job's reservation of that host (never released here),
    a claimed batch and a claimed recipe run; returns (batch id, run id)."""
    store.start_attempt(
        AttemptRecord(
            request_id="laptop-req", attempt=1, ts_utc=NOW, task_type="chat", model_id="openai/gpt-4o-mini",
            provider="openai", outcome="in_flight", cost_usd=Decimal(0), start_cost_usd=Decimal("0.01"),
            worst_case_usd=Decimal("0.8"), owner_pid=ME.pid, owner_start=ME.start, host=GONE,
        )
    )  # fmt: skip
    hold = (
        "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid, owner_start, host,"
        " member) VALUES (%(r)s, %(m)s, %(a)s, %(t)s, %(p)s, %(s)s, %(h)s, 'ada')"
    )
    _sql(store, hold, {"r": "laptop-req", "m": MONTH, "a": 800_000_000_000, "t": NOW.isoformat(),
                       "p": ME.pid, "s": ME.start, "h": GONE})  # fmt: skip
    _sql(store, hold, {"r": "job-1", "m": MONTH, "a": 50_000_000_000, "t": NOW.isoformat(),
                       "p": 0, "s": "provider-job:job-1", "h": GONE})  # fmt: skip
    with BatchStore.open(url, member="ada") as batches:
        batch_id = batches.create(
            task="chat", template="{x}", options={}, source_path="in.csv", out_path=None, concurrency=1, prompts=["a"]
        )
    owner = {"h": GONE, "p": ME.pid, "s": ME.start, "t": NOW.isoformat()}
    _sql(store, "UPDATE batches SET owner_pid = %(p)s, owner_start = %(s)s, owner_host = %(h)s", owner)
    _sql(
        store,
        "INSERT INTO recipe_runs (run_id, member, host, state_json, status, updated_utc, owner_pid, owner_start,"
        " owner_host) VALUES ('run-1', 'ada', %(h)s, '{}', 'running', %(t)s, %(p)s, %(s)s, %(h)s)",
        owner,
    )
    return batch_id, "run-1"


def _reserve(store: LedgerStore, request_id: str, amount: str) -> int | None:
    return store.try_reserve(
        request_id=request_id, month=MONTH, amount_usd=Decimal(amount), limit_usd=LIMIT, now=NOW
    ).reservation_id


def test_release_host_dry_run_then_yes_frees_exactly_that_hosts_holds(pg_database_url: str, tmp_path: Path) -> None:
    env = _team_env(tmp_path / "home", pg_database_url)
    with LedgerStore.open(pg_database_url, member="ada") as store:
        batch_id, run_id = _leave_a_dead_host(store, pg_database_url)
        mine = _reserve(store, "my-live-req", "0.1")  # this process, this host: alive
        assert mine is not None
        assert _reserve(store, "wants-half", "0.5") is None  # 0.8 + 0.05 + 0.1 + 0.5 > 1
        with BatchStore.open(pg_database_url, member="ada") as batches, pytest.raises(BatchBusy, match=GONE):
            batches.claim(batch_id)
        with TeamRuns(pg_database_url, member="ada") as runs:
            refusal = runs.claim(run_id)
            assert refusal is not None and GONE in refusal
        before = _snapshot(store)

        dry = sparklio("ledger", "release-host", GONE, env=env)
        assert dry.returncode == 0, dry.stderr
        assert "1 attempt(s) in flight, 1 reservation(s) holding $0.80" in dry.stdout
        assert "1 batch(es) and 1 recipe run(s) claimed" in dry.stdout and "--yes" in dry.stdout
        dry_json = json.loads(sparklio("ledger", "release-host", GONE, "--json", env=env).stdout)
        assert dry_json == {
            "host": GONE, "attempts_closed": 1, "reservations_released": 1, "released_usd": "0.8",
            "batches_released": 1, "recipe_runs_released": 1, "dry_run": True,
        }  # fmt: skip
        assert _snapshot(store) == before  # the dry runs wrote nothing

        done = sparklio("ledger", "release-host", GONE, "--yes", "--json", env=env)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {**dry_json, "dry_run": False}
        after = _snapshot(store)
        assert [(r, h) for r, _a, h in after["budget_reservations"]] == [("job-1", GONE), ("my-live-req", this_host())]
        ((request_id, outcome, cost, host, message),) = after["llm_usage"]
        assert (request_id, outcome, host) == ("laptop-req", "interrupted", GONE)
        assert Decimal(cost) / 10**12 == Decimal("0.01")  # billed its input estimate
        assert message.startswith(f"process {ME.pid} on {GONE} ended before this attempt finished; billed")
        assert [row[2:] for row in after["batches"]] == [(None, None, None)]
        assert after["recipe_runs"] == [("run-1", None, None, None)]

        # The freed budget admits what was refused: 0.01 spent + 0.05 + 0.1 + 0.5 <= 1.
        assert _reserve(store, "wants-half", "0.5") is not None
        with BatchStore.open(pg_database_url, member="ada") as batches:
            batches.claim(batch_id)  # another install of the member may resume it now
        with TeamRuns(pg_database_url, member="ada") as runs:
            assert runs.claim(run_id) is None

        again = sparklio("ledger", "release-host", GONE, "--yes", env=env)
        assert again.returncode == 0 and again.stdout.startswith(f"nothing was held by {GONE}")


def test_release_host_unknown_host_is_not_an_error(pg_database_url: str, tmp_path: Path) -> None:
    done = sparklio("ledger", "release-host", "never-seen", "--yes", env=_team_env(tmp_path, pg_database_url))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "nothing was held by never-seen: no attempt in flight, no reservation, no claimed batch or recipe run"
    )


def test_release_host_refuses_a_sqlite_ledger_and_this_machine(pg_database_url: str, tmp_path: Path) -> None:
    on_file = sparklio("ledger", "release-host", GONE, "--yes", env={"SPARKLIO_HOME": str(tmp_path / "solo")})
    assert on_file.returncode == 2 and on_file.stdout == ""
    assert on_file.stderr.count("\n") == 1
    assert on_file.stderr.startswith("sparklio ledger release-host: error: this install's ledger is a file")
    here = sparklio("ledger", "release-host", this_host(), "--yes", env=_team_env(tmp_path / "team", pg_database_url))
    assert here.returncode == 2 and here.stdout == ""
    assert here.stderr.count("\n") == 1
    assert here.stderr.startswith(f"sparklio ledger release-host: error: {this_host()} is this machine")


def test_release_host_matches_the_name_whatever_its_case_and_names_the_other_holders(
    pg_database_url: str, tmp_path: Path
) -> None:
    """A host name's case means nothing: ``GONE-LAPTOP`` releases what ``gone-laptop``
    holds, reported under the name the database records. A name that holds nothing is
    answered with the machines that do hold something (this one left out)."""
    env = _team_env(tmp_path / "home", pg_database_url)
    with LedgerStore.open(pg_database_url, member="ada") as store:
        _leave_a_dead_host(store, pg_database_url)
        assert _reserve(store, "my-live-req", "0.1") is not None  # this machine holds one too
        typo = sparklio("ledger", "release-host", "gone-laptp", "--yes", env=env)
        assert typo.returncode == 0, typo.stderr
        assert typo.stdout.splitlines() == [
            "nothing was held by gone-laptp: no attempt in flight, no reservation, no claimed batch or recipe run",
            f"other machines holding something: {GONE}",
        ]
        shouted = json.loads(sparklio("ledger", "release-host", GONE.upper(), "--yes", "--json", env=env).stdout)
        assert shouted == {
            "host": GONE, "attempts_closed": 1, "reservations_released": 1, "released_usd": "0.8",
            "batches_released": 1, "recipe_runs_released": 1, "dry_run": False,
        }  # fmt: skip
    if this_host() != this_host().swapcase():
        here = sparklio("ledger", "release-host", this_host().swapcase(), env=env)
        assert here.returncode == 2 and "is this machine" in here.stderr
