"""A team member's own monthly limit inside the team budget (``team.member_limits``).

The limit is checked by the budget's own reservation, in the same transaction: the
refusal names the limit, other members are not held back by it, and concurrent requests
(threads, and processes writing as different members) never take a member past it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard, MemberLimitExceeded
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger.members import MEMBER_ENV
from sparklio_desktop.core.services import budget_guard, team_member
from sparklio_desktop.core.settings.config import set_setting
from sparklio_desktop.core.workspace import Workspace
from tests.core.test_budget import NOW, Clock

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(ledger_target: Path | str) -> Iterator[LedgerStore]:
    """The ledger on each backend: the SQLite file, then a team's PostgreSQL (tests/postgres_server.py)."""
    with LedgerStore.open(ledger_target, member="ada") as opened:
        yield opened


def spend(store: LedgerStore, usd: str, request_id: str, member: str) -> None:
    store.record_attempt(
        AttemptRecord(
            request_id=request_id,
            attempt=1,
            ts_utc=NOW,
            task_type="chat",
            model_id="gpt",
            provider="openai",
            outcome="ok",
            cost_usd=Decimal(usd),
            member=member,
        )
    )


def guard(store: LedgerStore, limit: str | None, budget: str = "50", at_cap: str = "stop") -> BudgetGuard:
    return BudgetGuard(
        store,
        Decimal(budget),
        at_cap,  # type: ignore[arg-type]
        clock=Clock(),
        member_limit_usd=None if limit is None else Decimal(limit),
    )


def test_a_request_past_the_members_limit_is_refused_naming_the_limit(store: LedgerStore) -> None:
    spend(store, "0.95", "old", "ada")
    spend(store, "20", "bobs", "bob")  # another member's spend is not ada's
    g = guard(store, "1.00")
    held = g.reserve("fits", Decimal("0.03"))
    with pytest.raises(MemberLimitExceeded) as refused:
        g.reserve("too-much", Decimal("0.03"))
    error = refused.value
    assert isinstance(error, BudgetExceeded)  # the dispatcher's at-cap handling applies
    assert (error.member, error.limit_usd, error.left_usd) == ("ada", Decimal("1.00"), Decimal("0.02"))
    assert "ada's $1.00 monthly limit for 2025-03" in str(error) and "team.member_limits" in str(error)
    assert "$0.03 held by requests in progress" in str(error)
    g.settle(held)
    spend(store, "0.05", "more", "ada")
    with pytest.raises(MemberLimitExceeded, match="Member limit reached: ada's \\$1.00 monthly limit"):
        g.reserve("none-left", Decimal("0.01"))
    status = g.member_status()
    assert (status.member, status.spent_usd, status.reserved_usd, status.left_usd) == (
        "ada",
        Decimal("1.00"),
        Decimal(0),
        Decimal(0),
    )
    # Without a limit of her own, only the team budget applies.
    assert guard(store, None).reserve("unlimited", Decimal("5")).id is not None


def test_the_team_budget_still_refuses_first(store: LedgerStore) -> None:
    spend(store, "0.99", "team", "bob")
    with pytest.raises(BudgetExceeded) as refused:
        guard(store, "10", budget="1.00").reserve("r", Decimal("0.02"))
    assert not isinstance(refused.value, MemberLimitExceeded)


def test_twenty_threads_never_take_a_member_past_their_limit(store: LedgerStore) -> None:
    spend(store, "0.90", "old", "ada")
    g = guard(store, "1.00")
    start = threading.Barrier(20)

    def one(i: int) -> Decimal:
        start.wait()
        try:
            g.reserve(f"t{i}", Decimal("0.015"))
        except MemberLimitExceeded:
            return Decimal(0)
        return Decimal("0.015")

    with ThreadPoolExecutor(max_workers=20) as pool:
        admitted = list(pool.map(one, range(20)))
    assert admitted.count(Decimal("0.015")) == 6  # 0.09 of the 0.10 left
    assert g.member_status().reserved_usd + Decimal("0.90") <= Decimal("1.00")


CHILD = """
import sys
from datetime import UTC, datetime
from decimal import Decimal
from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard
from sparklio_desktop.core.ledger import LedgerStore
limit = None if sys.argv[3] == "-" else Decimal(sys.argv[3])
with LedgerStore.open(sys.argv[1]) as store:  # writes as $SPARKLIO_MEMBER
    guard = BudgetGuard(store, Decimal("50"), "stop", clock=lambda: datetime(2025, 3, 10, 12, tzinfo=UTC),
                        member_limit_usd=limit)
    for i in range(10):
        try:
            guard.reserve(f"{sys.argv[2]}-{i}", Decimal("0.01"))
            print("ok", flush=True)
        except BudgetExceeded:
            print("refused", flush=True)
    sys.stdin.read()  # hold the reservations until the parent has counted
"""


def test_processes_of_two_members_never_overshoot_a_members_limit(store: LedgerStore) -> None:
    """Two processes write as ada (limit $0.05 in all), two as bob (no limit); all four at once."""
    runs = [("ada", "0.05"), ("ada", "0.05"), ("bob", "-"), ("bob", "-")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store.target), f"p{n}", limit],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO), MEMBER_ENV: member},
        )
        for n, (member, limit) in enumerate(runs)
    ]
    try:
        outputs = [[proc.stdout.readline().strip() for _ in range(10)] for proc in procs]  # type: ignore[union-attr]
        assert sum(out.count("ok") for out in outputs[:2]) == 5, outputs
        assert sum(out.count("ok") for out in outputs[2:]) == 20, outputs
        assert store.member_snapshot("2025-03", "ada") == (Decimal(0), Decimal("0.05"))
        assert store.member_snapshot("2025-03", "bob") == (Decimal(0), Decimal("0.20"))
    finally:
        for proc in procs:
            proc.communicate(input="", timeout=120)
    assert all(proc.returncode == 0 for proc in procs)


def test_the_services_take_the_member_and_their_limit_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_setting("team.member", "Ada L")
    set_setting("team.member_limits", "Ada L=12.5, bob=1")
    workspace = Workspace()
    assert team_member(workspace) == "Ada L"
    with LedgerStore.open(tmp_path / "l.sqlite3", member=team_member(workspace)) as store:
        assert budget_guard(workspace, store).member_limit_usd == Decimal("12.5")
    monkeypatch.setenv(MEMBER_ENV, "bob")  # the variable wins over the setting
    assert team_member(Workspace()) == "bob"
    with LedgerStore.open(tmp_path / "l.sqlite3", member=team_member(Workspace())) as store:
        assert budget_guard(Workspace(), store).member_limit_usd == Decimal("1")
    monkeypatch.setenv(MEMBER_ENV, "cy")
    with LedgerStore.open(tmp_path / "l.sqlite3", member=team_member(Workspace())) as store:
        assert budget_guard(Workspace(), store).member_limit_usd is None  # not listed: no limit of their own


def test_team_settings_refuse_bad_names_and_amounts(tmp_path: Path) -> None:
    from sparklio_desktop.core.errors import ConfigError

    path = tmp_path / "settings.json"
    for key, value, why in [
        ("team.member", "x" * 65, "at most 64"),
        ("team.member_limits", "ada=-1", "greater than or equal to 0"),
        ("team.member_limits", "ada=1e999", "less than or equal to 1000000"),
        ("team.member_limits", "ada=0.0000000000001", "finer than the ledger keeps"),
        ("team.member_limits", '{"a\\tb": 1}', "printable"),
        ("team.member_limits", "ada", "NAME=VALUE"),
    ]:
        with pytest.raises(ConfigError, match=why):
            set_setting(key, value, path)
    assert not path.exists()  # nothing was written
    assert set_setting("team.member_limits", '{"ada": "2.50"}', path).team.member_limits == {"ada": Decimal("2.50")}
