"""``sparklio spend``, ``history`` and ``show`` on a team's ledger: per-member spend adds up to
the total, the member is ``$SPARKLIO_MEMBER`` over ``team.member``, and every row says who and where."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore, utcnow
from sparklio_desktop.core.ledger.members import MEMBER_ENV, this_host
from tests.test_cli_dispatch import sparklio

COSTS = {"ada": ["0.10", "0.000000000001"], "bob": ["1.25"], "Cy T": ["0.02", "0.03", "0.04"]}


def _team_ledger(home: Path) -> Decimal:
    total = Decimal(0)
    with LedgerStore.open(home / "ledger.sqlite3") as store:
        for member, costs in COSTS.items():
            for i, cost in enumerate(costs):
                store.record_attempt(
                    AttemptRecord(
                        request_id=f"{member}-{i}",
                        attempt=1,
                        ts_utc=utcnow(),
                        task_type="chat",
                        model_id="openai/gpt-4o-mini",
                        provider="openai",
                        outcome="ok",
                        cost_usd=Decimal(cost),
                        member=member,
                    )
                )
                total += Decimal(cost)
    return total


def test_spend_json_adds_by_member_summing_to_the_total(sparklio_home: Path) -> None:
    total = _team_ledger(sparklio_home)
    assert sparklio("config", "set", "team.member", "ada").returncode == 0
    assert sparklio("config", "set", "team.member_limits", "ada=5,bob=1.5").returncode == 0
    done = sparklio("spend", "--json", env_extra={MEMBER_ENV: "bob"})
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    by_member = payload["by_member"]
    assert list(by_member) == ["bob", "ada", "Cy T"]  # biggest spender first
    assert sum(Decimal(m["spent_usd"]) for m in by_member.values()) == Decimal(payload["spent_usd"]) == total
    assert by_member["Cy T"] == {"spent_usd": "0.09", "requests": 3, "attempts": 3, "limit_usd": None}
    assert by_member["ada"]["spent_usd"] == "0.100000000001" and by_member["ada"]["limit_usd"] == "5"
    # $SPARKLIO_MEMBER wins over team.member: "me" is bob.
    assert (payload["member"], payload["member_spent_usd"], payload["member_limit_usd"]) == ("bob", "1.25", "1.5")

    text = sparklio("spend").stdout
    assert "you (ada): $0.10 of your $5.00 monthly limit" in text
    assert "member" in text and "Cy T" in text and "$1.50" in text


def test_history_and_show_say_who_sent_a_request_and_from_where(sparklio_home: Path) -> None:
    _team_ledger(sparklio_home)
    rows = json.loads(sparklio("history", "--json").stdout)
    assert {row["member"] for row in rows} == set(COSTS)
    assert {row["host"] for row in rows} == {this_host()}
    assert "member" in sparklio("history").stdout.splitlines()[0]
    shown = sparklio("show", "bob-0")
    assert f"sent by bob on {this_host()}" in shown.stdout
    (attempt,) = json.loads(sparklio("show", "bob-0", "--json").stdout)["attempts"]
    assert (attempt["member"], attempt["host"]) == ("bob", this_host())


def test_a_malformed_member_variable_is_one_line(sparklio_home: Path) -> None:
    done = sparklio("spend", env_extra={MEMBER_ENV: "two\nlines"})
    assert done.returncode != 0
    assert f"{MEMBER_ENV}=" in done.stderr and "Traceback" not in done.stderr
