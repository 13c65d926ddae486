"""Team members on the ledger (migration m008_member_host, issue 16's team budget).

Every attempt row names its member and host; a ledger written before m008 upgrades with
no row lost, its rows belonging to the OS user who wrote them (their ``user``) with no
host; spend per member adds up to the team's total, through the store and the
plain-sqlite3 reader alike; the member is ``$SPARKLIO_MEMBER``, else ``team.member``,
else the OS user.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core import ledger
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.members import (
    MEMBER_ENV,
    MemberNameError,
    current_user,
    member_name_problem,
    resolve_member,
    this_host,
)
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.reader import LedgerReader
from tests.core.test_ledger import T0, attempt

MONTH = "2025-03"


def _rollups_agree(db: sqlite3.Connection) -> None:
    """usage_monthly is usage_daily summed by month and member, and both are llm_usage's
    finished rows summed: the same numbers, exactly."""
    sums = "sum(attempts), sum(requests), sum(fallbacks), sum(cost_usd), sum(saved_usd)"
    keys = "member, model_id, provider, task_type, outcome"
    monthly = db.execute(f"SELECT month, {keys}, {sums} FROM usage_monthly GROUP BY 1, 2, 3, 4, 5, 6").fetchall()
    daily = db.execute(
        f"SELECT substr(day, 1, 7), {keys}, {sums} FROM usage_daily GROUP BY 1, 2, 3, 4, 5, 6"
    ).fetchall()
    assert monthly == daily and monthly
    raw = db.execute(
        "SELECT substr(ts_utc, 1, 7), sum(cost_usd), count(*) FROM llm_usage WHERE outcome <> 'in_flight' GROUP BY 1"
    ).fetchall()
    rolled = db.execute("SELECT month, sum(cost_usd), sum(attempts) FROM usage_monthly GROUP BY 1").fetchall()
    assert rolled == raw


def _ledger_at_m006(path: Path, rows: int) -> None:
    """A ledger at the version before m008 with ``rows`` finished attempts by two users,
    one in-flight attempt and one reservation."""
    from sqlalchemy import create_engine

    old = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names[: LEDGER_MIGRATIONS.names.index("m008_member_host")]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        for i in range(rows):
            user = "ada" if i % 3 else "bob"
            conn.exec_driver_sql(
                "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
                " input_tokens, output_tokens, usage_source, cost_usd) VALUES"
                f" ('r{i}', 1, '2025-03-0{1 + i % 9}T00:00:00.000000Z', '{user}', 'chat', 'm', 'p', 'ok',"
                f" 10, 20, 'provider', {1000 + i})"
            )
        conn.exec_driver_sql(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
            " input_tokens, output_tokens, usage_source, cost_usd, owner_pid, owner_start) VALUES"
            " ('open', 1, '2025-03-02T00:00:00.000000Z', 'ada', 'chat', 'm', 'p', 'in_flight',"
            " 10, 0, 'estimate', 0, 1, 'gone')"
        )
    engine.dispose()


def test_an_m006_ledger_upgrades_with_no_row_lost_and_old_rows_belong_to_their_user(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    _ledger_at_m006(path, 30)
    db = sqlite3.connect(path)
    before_rows = db.execute("SELECT count(*), sum(cost_usd) FROM llm_usage").fetchone()
    before_rollup = db.execute("SELECT user, sum(attempts), sum(cost_usd) FROM usage_daily GROUP BY user").fetchall()
    db.close()

    with LedgerStore.open(path, member="cy") as store:  # runs m008
        old = store.attempts("r1")[0]
        assert (old.member, old.host) == ("ada", None)
        assert store.attempts("r0")[0].member == "bob"
        store.record_attempt(attempt("new", ts_utc=T0, cost_usd=Decimal("0.5")))
        (new,) = store.attempts("new")
        assert (new.member, new.host) == ("cy", this_host())
        summary = store.spend_summary(MONTH)

    db = sqlite3.connect(path)
    try:
        after_rows = db.execute("SELECT count(*), sum(cost_usd) FROM llm_usage WHERE request_id <> 'new'").fetchone()
        assert after_rows == before_rows
        assert db.execute("SELECT count(*) FROM llm_usage WHERE member IS NULL").fetchone()[0] == 0
        rollup = db.execute(
            "SELECT user, sum(attempts), sum(cost_usd) FROM usage_daily WHERE member = user GROUP BY user"
        ).fetchall()
        # The in-flight attempt's owner is gone: it was closed (interrupted, billed its $0
        # estimate) on open and joined the rollup as one more of ada's attempts.
        reclaimed = [(user, attempts + (user == "ada"), cost) for user, attempts, cost in before_rollup]
        assert rollup == reclaimed
        _rollups_agree(db)
        # The rebuilt guard keeps member and host append-only.
        for column in ("member", "host"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(f"UPDATE llm_usage SET {column} = 'x' WHERE request_id = 'new'")
    finally:
        db.close()
    assert set(summary.by_member) == {"ada", "bob", "cy"}
    assert sum(m.spent_usd for m in summary.by_member.values()) == summary.spent_usd
    assert sum(m.requests for m in summary.by_member.values()) == summary.requests


def test_an_attempt_is_finished_with_the_member_and_host_it_started_with(tmp_path: Path) -> None:
    with LedgerStore.open(tmp_path / "ledger.sqlite3", member="ada") as store:
        store.start_attempt(attempt("r1", outcome="in_flight", cost_usd=Decimal(0)))
        store.member = "someone-else"  # finishing never rewrites who started it
        store.finish_attempt(attempt("r1"))
        (row,) = store.attempts("r1")
        assert (row.outcome, row.member, row.host) == ("ok", "ada", this_host())
        assert store.spend_summary(MONTH).by_member["ada"].attempts == 1


def test_spend_per_member_adds_up_to_the_team_total_in_the_store_and_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite3"
    members = ["ada", "bob", "Cy Twombly", "dé"]
    expected: dict[str, Decimal] = dict.fromkeys(members, Decimal(0))
    with LedgerStore.open(path) as store:
        for i in range(40):
            who = members[i % len(members)]
            cost = Decimal("0.000123456789") * (i + 1)
            expected[who] += cost
            when = T0 + timedelta(days=i % 5)
            store.record_attempt(attempt(f"r{i}", ts_utc=when, cost_usd=cost, member=who))
            if i % 7 == 0:  # a fallback attempt on another model
                store.record_attempt(attempt(f"r{i}", 2, ts_utc=when, cost_usd=cost, member=who, model_id="x"))
                expected[who] += cost
        from_store = store.spend_summary(MONTH)
        mine = store.spend_summary(MONTH, member="bob")
        assert store.month_spend(MONTH, member="bob") == expected["bob"]
        assert {line.member for line in store.history(limit=100)} == set(members)
        assert {line.member for line in store.history(member="dé")} == {"dé"}
        store.start_attempt(attempt("open", outcome="in_flight", cost_usd=Decimal(0), member="ada"))
        store.finish_attempt(attempt("open", cost_usd=Decimal("0.25"), member="ada"))
        expected["ada"] += Decimal("0.25")
        from_store = store.spend_summary(MONTH)
        mine = store.spend_summary(MONTH, member="bob")
    db = sqlite3.connect(path)
    try:
        _rollups_agree(db)
    finally:
        db.close()
    reader = LedgerReader.open(path)
    assert reader is not None
    with reader:
        from_reader = reader.spend_summary(MONTH, local_providers=())
        assert reader.history(limit=1)[0].host == this_host()
    assert from_store == from_reader
    assert {name: m.spent_usd for name, m in from_store.by_member.items()} == expected
    assert sum(m.spent_usd for m in from_store.by_member.values()) == from_store.spent_usd
    assert sum(m.attempts for m in from_store.by_member.values()) == from_store.attempts
    assert list(from_store.by_member) == sorted(expected, key=lambda name: -expected[name])
    assert mine.spent_usd == expected["bob"] and list(mine.by_member) == ["bob"]


def test_the_member_is_the_variable_then_the_setting_then_the_os_user() -> None:
    assert resolve_member("from-setting", {MEMBER_ENV: "from-env"}) == "from-env"
    assert resolve_member("from-setting", {}) == "from-setting"
    assert resolve_member("from-setting", {MEMBER_ENV: ""}) == "from-setting"  # set but empty: unset
    assert resolve_member(None, {}) == current_user()
    with pytest.raises(MemberNameError, match=f"{MEMBER_ENV}=.*not a member name"):
        resolve_member(None, {MEMBER_ENV: "tab\there"})


def test_the_store_writes_as_the_variables_member(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MEMBER_ENV, "env-member")
    with LedgerStore.open(tmp_path / "a.sqlite3", member="setting-member") as store:
        assert store.member == "env-member"
    monkeypatch.setenv(MEMBER_ENV, "x" * 65)
    with pytest.raises(MemberNameError):
        LedgerStore.open(tmp_path / "b.sqlite3")
    assert not (tmp_path / "b.sqlite3").exists()  # refused before anything was created


@pytest.mark.parametrize(
    ("name", "ok"),
    [("ada", True), ("Ada Lovelace", True), ("dé-1", True), ("", False), (" ada", False), ("a\nb", False)],
)
def test_member_names_are_short_printable_text(name: str, ok: bool) -> None:
    assert (member_name_problem(name) is None) is ok
    if not ok:
        with pytest.raises(ValueError, match="member"):
            attempt("r", member=name)
