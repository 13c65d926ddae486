"""The team budget (issue 16): in team mode ``config set budget.*`` on one install writes the
shared database, and every install's budget guard enforces it within seconds; outside team
mode nothing changes. Two installs are two data folders (two ``SPARKLIO_HOME``) and real
``sparklio`` processes; the "team database" is a SQLite ledger here (the same SQL runs on
PostgreSQL: core/ledger/shared_settings.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.budget import BudgetExceeded, BudgetTerms
from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.ledger.shared_settings import SharedSettingsStore
from sparklio_desktop.core.ledger.store import LedgerStore
from sparklio_desktop.core.services import budget_guard
from sparklio_desktop.core.team_budget import SharedBudgetTerms, merged_terms, team_database_url
from sparklio_desktop.core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def team_db(tmp_path: Path) -> Path:
    path = tmp_path / "team" / "ledger.sqlite3"
    path.parent.mkdir()
    LedgerStore.open(path).close()
    return path


def _install(tmp_path: Path, name: str, team: Path | None) -> dict[str, str]:
    """The environment of one install: its own data folder, the team database when given."""
    home = tmp_path / name
    home.mkdir(exist_ok=True)
    env = {**os.environ, "SPARKLIO_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("SPARKLIO_DATABASE_URL", None)
    if team is not None:
        env["SPARKLIO_DATABASE_URL"] = str(team)
    return env


def sparklio(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_config_set_on_one_install_is_what_another_reads(tmp_path: Path, team_db: Path) -> None:
    a, b = _install(tmp_path, "a", team_db), _install(tmp_path, "b", team_db)
    done = sparklio(a, "config", "set", "budget.monthly_usd", "120.50")
    assert done.returncode == 0, done.stderr
    assert "budget.monthly_usd = 120.50" in done.stdout and "set for the whole team" in done.stdout
    assert sparklio(a, "config", "set", "budget.at_cap", "stop").returncode == 0
    assert not (tmp_path / "a" / "settings.json").exists()  # not this install's file: the team's database
    assert sparklio(b, "config", "get", "budget.monthly_usd").stdout.strip() == "120.50"
    assert sparklio(b, "config", "get", "budget.at_cap").stdout.strip() == "stop"
    assert sparklio(b, "config", "get", "budget.alert_threshold").stdout.strip() == "null"  # not set: B's own
    with SharedSettingsStore.open(team_db) as store:
        assert store.values() == {"budget.monthly_usd": "120.50", "budget.at_cap": "stop"}


def test_a_bad_team_value_is_refused_in_one_line_and_none_removes_the_teams(tmp_path: Path, team_db: Path) -> None:
    a = _install(tmp_path, "a", team_db)
    bad = sparklio(a, "config", "set", "budget.alert_threshold", "1.5")
    assert bad.returncode != 0 and "budget.alert_threshold" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert sparklio(a, "config", "set", "budget.monthly_usd", "7").returncode == 0
    removed = sparklio(a, "config", "set", "budget.monthly_usd", "none")
    assert removed.returncode == 0 and "removed" in removed.stdout
    with SharedSettingsStore.open(team_db) as store:
        assert store.values() == {}
    assert sparklio(a, "config", "get", "budget.monthly_usd").stdout.strip() == "50"  # the install's default


def test_outside_team_mode_config_set_writes_the_settings_file_as_before(tmp_path: Path, team_db: Path) -> None:
    solo = _install(tmp_path, "solo", None)
    done = sparklio(solo, "config", "set", "budget.monthly_usd", "9")
    assert done.returncode == 0 and "whole team" not in done.stdout
    assert json.loads((tmp_path / "solo" / "settings.json").read_text())["budget"]["monthly_usd"] in ("9", 9)
    with SharedSettingsStore.open(team_db) as store:
        assert store.values() == {}


def test_every_install_enforces_the_budget_set_on_another(
    tmp_path: Path, team_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Install A's guard (this process) over the team database; install B (another process)
    lowers the team's budget; A refuses what no longer fits once it re-reads the terms."""
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(team_db))
    workspace = Workspace()
    with LedgerStore.open(team_db) as ledger:
        guard = budget_guard(workspace, ledger)
        assert guard.monthly_usd == Decimal("50")  # the team has set nothing: A's own setting
        guard.settle(guard.reserve("r1", Decimal("2")))
        done = sparklio(_install(tmp_path, "b", team_db), "config", "set", "budget.monthly_usd", "1")
        assert done.returncode == 0, done.stderr
        assert sparklio(_install(tmp_path, "b", team_db), "config", "set", "budget.at_cap", "stop").returncode == 0
        shared = guard._shared_terms
        assert isinstance(shared, SharedBudgetTerms)
        shared._read_at = None  # as if REFRESH_S had passed
        assert (guard.monthly_usd, guard.at_cap) == (Decimal("1"), "stop")
        with pytest.raises(BudgetExceeded) as caught:
            guard.reserve("r2", Decimal("2"))
        assert caught.value.at_cap == "stop" and "$1" in str(caught.value)
        guard.settle(guard.reserve("r3", Decimal("0.5")))


def test_outside_team_mode_the_guard_keeps_its_own_terms(team_db: Path) -> None:
    assert team_database_url() is None
    with LedgerStore.open(team_db) as ledger:
        with SharedSettingsStore.open(team_db) as store:
            store.set("budget.monthly_usd", "1", "ada")  # in the file, but this install is not in team mode
        guard = budget_guard(Workspace(), ledger)
        assert guard._shared_terms is None and guard.monthly_usd == Decimal("50")


def test_the_shared_terms_are_read_at_most_every_refresh_interval() -> None:
    reads: list[float] = []
    now = [100.0]
    values = {"budget.monthly_usd": "10"}

    def read() -> dict[str, str]:
        reads.append(now[0])
        return dict(values)

    own = BudgetTerms(Decimal("50"), "local_only", Decimal("0.8"))
    terms = SharedBudgetTerms(read, refresh_s=5.0, monotonic=lambda: now[0])
    assert terms(own).monthly_usd == Decimal("10")
    values["budget.monthly_usd"] = "20"
    now[0] += 4.9
    assert terms(own).monthly_usd == Decimal("10") and len(reads) == 1  # within the interval: no query
    now[0] += 0.1
    assert terms(own).monthly_usd == Decimal("20") and len(reads) == 2
    # The install's own terms still count for what the team has not set.
    assert terms(BudgetTerms(Decimal("50"), "stop", Decimal("0.5"))) == BudgetTerms(
        Decimal("20"), "stop", Decimal("0.5")
    )


def test_a_shared_value_no_setting_allows_names_the_team_database() -> None:
    own = BudgetTerms(Decimal("50"), "local_only", Decimal("0.8"))
    with pytest.raises(ConfigError) as caught:
        merged_terms(own, {"budget.at_cap": "sometimes"})
    assert "team database" in str(caught.value) and "budget.at_cap" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert merged_terms(own, {"budget.alert_threshold": "0.9"}).alert_threshold == Decimal("0.9")


def test_spend_reports_the_teams_budget(tmp_path: Path, team_db: Path) -> None:
    a, b = _install(tmp_path, "a", team_db), _install(tmp_path, "b", team_db)
    assert sparklio(a, "config", "set", "budget.monthly_usd", "321").returncode == 0
    assert sparklio(a, "config", "set", "budget.at_cap", "stop").returncode == 0
    done = sparklio(b, "spend", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert Decimal(str(payload["budget_usd"])) == Decimal("321") and payload["at_cap"] == "stop"


def test_the_dispatchers_route_planner_routes_on_the_teams_budget(
    team_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE
    from sparklio_desktop.core.services import open_services

    with SharedSettingsStore.open(team_db) as store:
        store.set("budget.monthly_usd", "0", "ada")
        store.set("budget.at_cap", "stop", "ada")
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(team_db))
    services = open_services(ledger_path=team_db, probe=lambda: EVERYTHING_AVAILABLE)
    try:
        live = services.planner.live_state()
        assert (live.budget_usd, live.at_cap, live.capped) == (Decimal(0), "stop", True)
    finally:
        services.close()
    monkeypatch.delenv("SPARKLIO_DATABASE_URL")  # not in team mode: this install's own budget
    services = open_services(ledger_path=team_db, probe=lambda: EVERYTHING_AVAILABLE)
    try:
        live = services.planner.live_state()
        assert (live.budget_usd, live.at_cap) == (Decimal(50), "local_only")
    finally:
        services.close()


def test_the_members_limits_are_the_teams_and_an_install_cannot_raise_its_own(
    tmp_path: Path, team_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``config set team.member_limits`` on install A writes the team database; install B
    (this process, member ada) enforces it, whatever B's own settings.json says, and within
    the refresh interval of a change; ``none`` hands the limits back to each install."""
    from sparklio_desktop.core.budget import MemberLimitExceeded

    a = _install(tmp_path, "a", team_db)
    done = sparklio(a, "config", "set", "team.member_limits", "ada=1.5, bob=20")
    assert done.returncode == 0, done.stderr
    assert "set for the whole team" in done.stdout
    assert not (tmp_path / "a" / "settings.json").exists()
    with SharedSettingsStore.open(team_db) as store:
        assert json.loads(store.values()["team.member_limits"]) == {"ada": "1.5", "bob": "20"}
    # B's own file would give ada 100: the team's limit wins.
    (tmp_path / "sparklio-home" / "settings.json").write_text(json.dumps({"team": {"member_limits": {"ada": "100"}}}))
    monkeypatch.setenv("SPARKLIO_DATABASE_URL", str(team_db))
    workspace = Workspace()
    assert workspace.settings.team.member_limits == {"ada": Decimal("100")}
    with LedgerStore.open(team_db, member="ada") as ledger:
        guard = budget_guard(workspace, ledger)
        assert guard.member_limit_usd == Decimal("1.5")
        held = guard.reserve("r1", Decimal("1"))
        with pytest.raises(MemberLimitExceeded) as caught:
            guard.reserve("r2", Decimal("1"))  # $1 held + $1 > ada's $1.5
        assert caught.value.limit_usd == Decimal("1.5") and "ada" in str(caught.value)
        # A member the team does not list has no limit of their own, even one B's file gives.
        assert sparklio(a, "config", "set", "team.member_limits", "bob=20").returncode == 0
        shared = guard._shared_terms
        assert isinstance(shared, SharedBudgetTerms)
        shared._read_at = None  # as if REFRESH_S had passed
        assert guard.member_limit_usd is None
        guard.settle(guard.reserve("r3", Decimal("1")))  # now fits: ada has no limit of her own
        guard.settle(held)
        removed = sparklio(a, "config", "set", "team.member_limits", "none")
        assert removed.returncode == 0 and "removed" in removed.stdout
        shared._read_at = None
        assert guard.member_limit_usd == Decimal("100")  # back to this install's own


def test_a_bad_team_member_limit_is_one_line_and_nothing_is_stored(tmp_path: Path, team_db: Path) -> None:
    a = _install(tmp_path, "a", team_db)
    for bad, says in (("ada=-1", "team.member_limits"), ("ada", "NAME=VALUE"), ("{not json", "JSON")):
        done = sparklio(a, "config", "set", "team.member_limits", bad)
        assert done.returncode != 0 and says in done.stderr, (bad, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sparklio(a, "config", "get", "team.member_limits").stdout.strip() == "{}"
    with SharedSettingsStore.open(team_db) as store:
        assert store.values() == {}
