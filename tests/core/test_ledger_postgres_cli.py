"""``sparklio run``, ``spend``, ``history`` and ``show`` in team mode, as two installs use them.

Two data folders (two installs, two members) point ``$SPARKLIO_DATABASE_URL`` at one
PostgreSQL database and send real requests to a loopback Anthropic-format server: both
see the team's spend, per member, in ``spend --json``; a second install's identical
request is not a cache hit (each install keeps its own SQLite cache unless a Redis is
named), and neither data folder holds a ledger file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
from sparklio_desktop.core.ledger.members import MEMBER_ENV
from tests.fakes.anthropic_server import AnthropicServer
from tests.test_cli_dispatch import KEY, sparklio


@pytest.fixture
def anthropic() -> Iterator[AnthropicServer]:
    with AnthropicServer() as server:
        server.reply_text = "Maple latte season starts today."
        server.usage = (100, 50)
        yield server


def _install(home: Path, member: str, url: str, server: AnthropicServer) -> dict[str, str]:
    return {
        "SPARKLIO_HOME": str(home),
        MEMBER_ENV: member,
        DATABASE_URL_ENV: url,
        "ANTHROPIC_API_KEY": KEY,
        "ANTHROPIC_BASE_URL": server.base_url,
    }


def test_two_installs_run_into_one_team_ledger(
    pg_database_url: str, tmp_path: Path, anthropic: AnthropicServer
) -> None:
    ada = _install(tmp_path / "ada", "ada", pg_database_url, anthropic)
    bob = _install(tmp_path / "bob", "bob", pg_database_url, anthropic)
    for env in (ada, bob):
        done = sparklio(
            "run", "--task", "copywriting_standard", "--prompt", "A caption", "--no-explore", "--json", env_extra=env
        )
        assert done.returncode == 0, done.stderr
        payload = json.loads(done.stdout)
        assert payload["cache_hit"] is False and Decimal(payload["cost_usd"]) > 0
    spend = json.loads(sparklio("spend", "--json", env_extra=ada).stdout)
    assert set(spend["by_member"]) == {"ada", "bob"}
    assert sum(Decimal(m["spent_usd"]) for m in spend["by_member"].values()) == Decimal(spend["spent_usd"]) > 0
    assert spend["member"] == "ada"
    rows = json.loads(sparklio("history", "--json", env_extra=bob).stdout)
    assert sorted(row["member"] for row in rows) == ["ada", "bob"]
    shown = sparklio("show", rows[0]["request_id"], env_extra=ada)
    assert shown.returncode == 0 and "sent by" in shown.stdout
    with LedgerStore.open(pg_database_url) as store:
        assert store.budget_snapshot(spend["month"]) == (Decimal(spend["spent_usd"]), Decimal(0))
    for home in ("ada", "bob"):
        assert not (tmp_path / home / "ledger.sqlite3").exists()


def test_route_plans_on_the_teams_budget_not_the_installs_own(
    pg_database_url: str, tmp_path: Path, anthropic: AnthropicServer
) -> None:
    """The team's cap set on one install (below what the team spent) is the one ``sparklio
    route`` on another install plans with, whatever that install's own settings say."""
    ada = _install(tmp_path / "ada", "ada", pg_database_url, anthropic)
    bob = _install(tmp_path / "bob", "bob", pg_database_url, anthropic)
    done = sparklio("run", "--task", "copywriting_standard", "--prompt", "A caption", "--no-explore", env_extra=ada)
    assert done.returncode == 0, done.stderr
    assert sparklio("config", "set", "budget.monthly_usd", "50", env_extra=bob).returncode == 0  # bob's... the team's
    plan = json.loads(sparklio("route", "--task", "copywriting_standard", "--json", env_extra=bob).stdout)
    assert not [c for c in plan["candidates"] if _capped(c)]
    assert sparklio("config", "set", "budget.monthly_usd", "0.000001", env_extra=ada).returncode == 0
    plan = json.loads(sparklio("route", "--task", "copywriting_standard", "--json", env_extra=bob).stdout)
    capped = [c for c in plan["candidates"] if _capped(c)]
    assert capped and all(not c["local"] for c in capped)
    assert "at the cap the policy says local_only" in {c["exclusion_detail"] for c in capped}


def _capped(candidate: dict) -> bool:
    return "budget_cap" in (candidate["excluded_by"], *candidate["other_rules"])
