"""The ledger on both backends: the SQLite file and a team's PostgreSQL (issue 16).

Every test here runs twice through ``ledger_target`` (tests/postgres_server.py): on a
file, and on a fresh database of a real PostgreSQL on loopback. The same store API must
give the same answers, exact to the picodollar: attempts and decisions, the spend
summary and its per-member sums, the history, the CSV export, speeds, ratings, votes,
the append-only guard, reservations that never overshoot under threads, and reclaiming
what ended processes left.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from sparklio_desktop.core.ledger import LedgerError, LedgerStore
from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.owners import start_token
from sparklio_desktop.core.ledger.postgres_schema import BUDGET_LOCK
from sparklio_desktop.core.ledger.schema import budget_reservations, llm_usage
from sparklio_desktop.core.ratings.votes_store import VoteStore
from tests.core.test_ledger import T0, attempt

MONTH = "2025-03"
REPO = Path(__file__).resolve().parents[2]


def test_the_store_names_what_it_opened(ledger_target: Path | str) -> None:
    with LedgerStore.open(ledger_target) as store:
        assert store.target == ledger_target
        if isinstance(ledger_target, Path):
            assert (store.dialect, store.path) == ("sqlite", ledger_target)
        else:
            assert (store.dialect, store.path) == ("postgresql", None)
        assert store.engine.dialect.name == store.dialect
    with LedgerStore.open(ledger_target) as again:  # a second open finds the schema there
        assert again.month_spend(MONTH) == 0


def test_attempts_decisions_and_spend_agree_on_both_backends(ledger_target: Path | str) -> None:
    members = ["ada", "bob", "Cy Twombly", "dé"]
    expected = dict.fromkeys(members, Decimal(0))
    with LedgerStore.open(ledger_target, member="ada") as store:
        for i in range(24):
            who = members[i % len(members)]
            cost = Decimal("0.000123456789") * (i + 1)
            expected[who] += cost
            when = T0 + timedelta(days=i % 5, seconds=i)
            store.record_attempt(attempt(f"r{i}", ts_utc=when, cost_usd=cost, member=who, latency_s=1.5))
            if i % 7 == 0:  # a fallback on another model
                store.record_attempt(attempt(f"r{i}", 2, ts_utc=when, cost_usd=cost, member=who, model_id="x"))
                expected[who] += cost
            store.record_decision(f"r{i}", prompt=f"prompt {i} 100%_/", task_type="chat", trace={"i": i})
        store.record_decision("r0", prompt="again", task_type="chat", trace={"i": 0}, final_model_id="x")
        with pytest.raises(LedgerError, match="already recorded"):
            store.record_attempt(attempt("r1"))
        summary = store.spend_summary(MONTH)
        assert summary.spent_usd == sum(expected.values())
        assert {name: m.spent_usd for name, m in summary.by_member.items()} == expected
        assert sum(m.attempts for m in summary.by_member.values()) == summary.attempts == 24 + 4
        assert summary.requests == 24
        assert summary.fallback_rate == pytest.approx(4 / 24)
        assert list(summary.by_member) == sorted(expected, key=lambda name: (-expected[name], name))
        assert store.month_spend(MONTH, member="bob") == expected["bob"]
        assert store.spend_summary(MONTH, member="bob").spent_usd == expected["bob"]
        assert store.month_spend(MONTH, user="ada") == summary.spent_usd
        assert sum(usd for _, usd in store.daily_spend(MONTH)) == summary.spent_usd
        decision = store.decision("r0")
        assert decision is not None and decision.final_model_id == "x" and decision.prompt_preview == "again"
        lines = store.history(limit=100)
        assert [line.request_id for line in lines[:2]] == ["r19", "r14"]  # the latest first
        assert {line.member for line in lines} == set(members)
        assert lines[-1].host == this_host()
        assert [line.request_id for line in store.history(search="PROMPT 12 100%_/")] == ["r12"]
        assert len(store.history(search="100%_", limit=100)) == 23  # r0 was recorded again as "again"
        assert store.history(search="100x") == []
        assert {row[0] for row in store.speed_rows()} == {"gpt-4o-mini"}
        store.set_rating("r3", 4)
        assert store.attempts("r3")[0].rating == 4
    # the rollups are exact: a fresh read gives the same totals
    with LedgerStore.open(ledger_target) as store:
        assert store.spend_summary(MONTH) == summary


def test_export_and_the_append_only_guard(ledger_target: Path | str, tmp_path: Path) -> None:
    with LedgerStore.open(ledger_target) as store:
        store.record_attempt(attempt("r1", cost_usd=Decimal("0.000000000001")))
        assert store.export_month_csv(MONTH, tmp_path / "m.csv") == 1
        with (tmp_path / "m.csv").open(encoding="utf-8") as handle:
            (row,) = list(csv.DictReader(handle))
        assert row["cost_usd"] == "0.000000000001" and row["user"] == "ada"
        with pytest.raises(IntegrityError, match="append-only"), store.engine.begin() as conn:
            conn.execute(llm_usage.update().values(cost_usd=Decimal(0)))
        with pytest.raises(IntegrityError, match="never deleted"), store.engine.begin() as conn:
            conn.execute(llm_usage.delete())


def test_an_attempt_started_and_finished_counts_once(ledger_target: Path | str) -> None:
    with LedgerStore.open(ledger_target, member="ada") as store:
        store.start_attempt(attempt("r1", outcome="in_flight", cost_usd=Decimal(0)))
        assert store.month_spend(MONTH) == 0
        store.finish_attempt(attempt("r1", cost_usd=Decimal("0.25")))
        store.finish_attempt(attempt("r1", cost_usd=Decimal("0.50")))  # already finished: left as is
        (row,) = store.attempts("r1")
        assert (row.outcome, row.member, row.host, row.cost_usd) == ("ok", "ada", this_host(), Decimal("0.25"))
        assert store.spend_summary(MONTH).by_member["ada"].attempts == 1
        assert store.month_spend(MONTH) == Decimal("0.25")


def test_twenty_threads_never_overshoot_the_cap(ledger_target: Path | str) -> None:
    """Half the requests start an in-flight attempt with their reservation (on a team
    database it is written before the team's lock is taken, and undone by a refusal)."""
    with LedgerStore.open(ledger_target) as store:
        store.record_attempt(attempt("paid", cost_usd=Decimal("0.90")))
        barrier = threading.Barrier(20)

        def one(i: int) -> bool:
            start = attempt(f"t{i}", outcome="in_flight", cost_usd=Decimal(0), worst_case_usd=Decimal("0.015"))
            barrier.wait()
            outcome = store.try_reserve(
                request_id=f"t{i}", month=MONTH, amount_usd=Decimal("0.015"), limit_usd=Decimal("1.00"), now=T0,
                start=start if i % 2 else None,
            )  # fmt: skip
            return outcome.reservation_id is not None

        with ThreadPoolExecutor(max_workers=20) as pool:
            admitted = [i for i, made in enumerate(pool.map(one, range(20))) if made]
        assert len(admitted) == 6  # 0.09 of the 0.10 left
        spent, reserved = store.budget_snapshot(MONTH)
        assert (spent, reserved) == (Decimal("0.90"), Decimal("0.090"))
        held, started = _held_and_started(store)
        assert held == {f"t{i}" for i in admitted}
        assert started == {f"t{i}" for i in admitted if i % 2}  # a refused request's attempt is not left


def test_member_limits_and_alerts(ledger_target: Path | str) -> None:
    with LedgerStore.open(ledger_target, member="bob") as store:
        store.record_attempt(attempt("paid", cost_usd=Decimal("0.30"), member="bob"))
        refused = store.try_reserve(
            request_id="x",
            month=MONTH,
            amount_usd=Decimal("0.25"),
            limit_usd=Decimal("10"),
            now=T0,
            member_limit_usd=Decimal("0.50"),
        )
        assert (refused.refused_by, refused.member_spent_usd) == ("member", Decimal("0.30"))
        kept = store.try_reserve(
            request_id="y", month=MONTH, amount_usd=Decimal("0.20"), limit_usd=Decimal("10"), now=T0,
            member_limit_usd=Decimal("0.50"),
        )  # fmt: skip
        assert kept.reservation_id is not None
        assert (kept.spent_usd, kept.reserved_usd, kept.member_spent_usd) == (Decimal("0.30"), 0, Decimal("0.30"))
        # What the check saw comes with a refusal too, an attempt or not, and leaves no attempt.
        start = attempt("z", outcome="in_flight", cost_usd=Decimal(0), worst_case_usd=Decimal("0.01"))
        for amount, limit, by in (("0.01", "0.50", "member"), ("9.60", None, "budget")):
            over = store.try_reserve(
                request_id="z", month=MONTH, amount_usd=Decimal(amount), limit_usd=Decimal("10"), now=T0,
                member_limit_usd=Decimal(limit) if limit else None, start=start,
            )  # fmt: skip
            assert (over.reservation_id, over.refused_by) == (None, by)
            assert (over.spent_usd, over.reserved_usd) == (Decimal("0.30"), Decimal("0.20"))
            assert over.member_reserved_usd == (Decimal("0.20") if by == "member" else None)
            assert store.attempts("z") == []
        assert store.member_snapshot(MONTH) == (Decimal("0.30"), Decimal("0.20"))
        store.release_reservation(kept.reservation_id)
        assert store.budget_snapshot(MONTH)[1] == 0
        assert store.record_alert(MONTH, "threshold") is True
        assert store.record_alert(MONTH, "threshold") is False


def _hold(store: LedgerStore, pid: int, start: str | None, host: str | None = None) -> None:
    """A reservation written by another process (or, with ``host``, another machine)."""
    values = {
        "request_id": "other",
        "month": MONTH,
        "amount_usd": Decimal("0.4"),
        "created_utc": T0,
        "owner_pid": pid,
        "owner_start": start,
    }
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            values["host"] = host or this_host()
            conn.exec_driver_sql(
                "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid,"
                " owner_start, host) VALUES (%(request_id)s, %(month)s, %(amount_usd)s, %(created_utc)s,"
                " %(owner_pid)s, %(owner_start)s, %(host)s)",
                {**values, "amount_usd": 400_000_000_000, "created_utc": T0.isoformat()},
            )
        else:
            conn.execute(budget_reservations.insert(), values)


def test_a_dead_owners_reservation_and_attempt_are_reclaimed_on_this_host_only(ledger_target: Path | str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(proc.pid)
    proc.wait(timeout=30)
    with LedgerStore.open(ledger_target) as store:
        _hold(store, proc.pid, token)
        store.start_attempt(
            attempt("gone", outcome="in_flight", cost_usd=Decimal(0), start_cost_usd=Decimal("0.01"),
                    owner_pid=proc.pid, owner_start=token)
        )  # fmt: skip
        if store.dialect == "postgresql":  # the same dead PID on another machine: not ours to judge
            _hold(store, proc.pid, token, host="another-host")
        reclaimed = store.reclaim_orphans()
        assert (reclaimed.attempts, reclaimed.reservations) == (1, 1)
        (row,) = store.attempts("gone")
        assert (row.outcome, row.cost_usd) == ("interrupted", Decimal("0.01"))
        held = Decimal("0.4") if store.dialect == "postgresql" else Decimal(0)
        assert store.budget_snapshot(MONTH) == (Decimal("0.01"), held)
        assert not store.reclaim_orphans()


def test_votes_on_both_backends(ledger_target: Path | str) -> None:
    with LedgerStore.open(ledger_target) as ledger_store:
        ledger_store.record_attempt(attempt("r1", rating=5))
        with VoteStore.open(ledger_store.target) as votes:
            first = votes.record_comparison(
                task_type="chat", prompt="p", models=["a", "b"], order_shown=["b", "a"], blind=True
            )
            second = votes.record_comparison(
                task_type="chat", prompt="q", models=["a", "b"], order_shown=["a", "b"], blind=False
            )
            assert second == first + 1
            votes.record_vote(first, "a", stars={"b": 4})
            with pytest.raises(LedgerError, match="already has a vote"):
                votes.record_vote(first, "b")
            (vote,) = votes.votes("chat")
            assert vote.models == ("b", "a") and vote.kind == "a"
            stored = votes.comparison(first)
            assert stored is not None and stored.blind is True and stored.stars == {"b": 4}
            stars = votes.star_ratings("chat")
            assert sorted((s.model_id, s.stars) for s in stars) == [("b", 4), ("gpt-4o-mini", 5)]


def test_the_postgres_baseline_has_the_files_tables_columns_indexes_and_triggers(
    pg_database_url: str, tmp_path: Path
) -> None:
    with LedgerStore.open(tmp_path / "ledger.sqlite3") as on_file, LedgerStore.open(pg_database_url) as on_server:
        file, server = inspect(on_file.engine), inspect(on_server.engine)
        tables = set(file.get_table_names()) - {"_migrations"}
        # Team mode's own tables, kept apart from the ledger file on SQLite: revision 0003's
        # conversations (conversations.sqlite), 0004's batches and recipe runs (their own files).
        team_only = {"conversations", "turns", "feedback", "batches", "batch_rows", "provider_jobs", "recipe_runs"}
        assert set(server.get_table_names()) - team_only == tables
        for table in tables:
            extra = ["host"] if table == "budget_reservations" else []  # the owner's machine (team mode)
            assert [c["name"] for c in server.get_columns(table)] == [
                c["name"] for c in file.get_columns(table)
            ] + extra
            assert {i["name"] for i in server.get_indexes(table)} == {i["name"] for i in file.get_indexes(table)}
            assert (
                server.get_pk_constraint(table)["constrained_columns"]
                == file.get_pk_constraint(table)["constrained_columns"]
            )
        with on_file.engine.connect() as conn:
            file_triggers = {
                name for (name,) in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            }
        with on_server.engine.connect() as conn:
            server_triggers = {
                name for (name,) in conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
            }
        assert server_triggers == file_triggers


def test_identities_move_past_rows_inserted_with_their_own_ids(pg_database_url: str) -> None:
    from sparklio_desktop.core.ledger.postgres_schema import sync_identities

    with LedgerStore.open(pg_database_url) as store:
        with store.engine.begin() as conn:
            conn.execute(llm_usage.insert(), {**_row("kept"), "id": 41})
            sync_identities(conn)
        assert store.record_attempt(attempt("new")) == 42


def _row(request_id: str) -> dict[str, object]:
    """An attempt row as an import writes it (every NOT NULL column)."""
    record = attempt(request_id)
    values = {name: getattr(record, name) for name in record.field_names()}
    return {**values, "member": "ada", "host": None}


def test_an_orphan_found_between_checks_never_refuses_a_request_that_fits(pg_database_url: str) -> None:
    """On a team database a paid request looks for orphans at most every few seconds; one
    left meanwhile by an ended process is reclaimed before a refusal would stand."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(proc.pid)
    proc.wait(timeout=30)
    with LedgerStore.open(pg_database_url) as store:
        reserve = {"month": MONTH, "limit_usd": Decimal("0.5"), "now": T0}
        first = store.try_reserve(request_id="first", amount_usd=Decimal("0.05"), **reserve)
        assert first.reservation_id is not None
        store.release_reservation(first.reservation_id)
        _hold(store, proc.pid, token)  # 0.4 of the 0.5 held by a process that has ended
        fits = store.try_reserve(request_id="fits", amount_usd=Decimal("0.3"), **reserve)
        assert fits.reservation_id is not None  # the orphan was reclaimed, then the request fit
        assert store.budget_snapshot(MONTH) == (Decimal(0), Decimal("0.3"))
        too_big = store.try_reserve(request_id="too-big", amount_usd=Decimal("0.3"), **reserve)
        assert too_big.reservation_id is None and too_big.reserved_usd == Decimal("0.3")


def _held_and_started(store: LedgerStore) -> tuple[set[str], set[str]]:
    """(request ids holding a reservation, request ids with an in-flight attempt)."""
    with store.engine.connect() as conn:
        held = {row[0] for row in conn.execute(select(budget_reservations.c.request_id))}
        started = {
            row[0] for row in conn.execute(select(llm_usage.c.request_id).where(llm_usage.c.outcome == "in_flight"))
        }
    return held, started


def test_a_reservation_and_its_attempts_are_written_together_or_not_at_all(ledger_target: Path | str) -> None:
    """An attempt refused (already recorded) takes its reservation with it, and the other
    attempts of the same reservation (a provider batch job's many): one transaction."""
    start = {"outcome": "in_flight", "cost_usd": Decimal(0), "worst_case_usd": Decimal("0.2")}
    reserve = {"month": MONTH, "amount_usd": Decimal("0.2"), "limit_usd": Decimal("1.00"), "now": T0}
    with LedgerStore.open(ledger_target, member="ada") as store:
        store.start_attempt(attempt("dup", **start))
        with pytest.raises(LedgerError, match="attempt 1 of request dup is already recorded"):
            store.try_reserve(request_id="dup", start=attempt("dup", **start), **reserve)
        with pytest.raises(LedgerError, match="already recorded"):
            store.try_reserve(
                request_id="job", start=[attempt("b1", **start), attempt("dup", **start), attempt("b2", **start)],
                **reserve,
            )  # fmt: skip
        assert store.budget_snapshot(MONTH) == (Decimal(0), Decimal(0))
        assert _held_and_started(store) == (set(), {"dup"})
        made = store.try_reserve(request_id="job", start=[attempt("b1", **start), attempt("b2", **start)], **reserve)
        assert made.reservation_id is not None
        assert _held_and_started(store) == ({"job"}, {"dup", "b1", "b2"})
        (row,) = store.attempts("b2")
        assert (row.member, row.host, row.worst_case_usd, row.ts_utc) == ("ada", this_host(), Decimal("0.2"), T0)
        refused = store.try_reserve(request_id="big", start=attempt("big", **start), **{**reserve, "amount_usd": 1})
        assert refused.reservation_id is None and store.attempts("big") == []


KILLED = """
import sys
from decimal import Decimal
from sparklio_desktop.core.ledger import LedgerStore
from tests.core.test_ledger import T0, attempt

with LedgerStore.open(sys.argv[1], member="ada") as store:
    print("ready", flush=True)
    sys.stdin.readline()
    start = attempt("killed", outcome="in_flight", cost_usd=Decimal(0), worst_case_usd=Decimal("0.2"))
    store.try_reserve(request_id="killed", month="2025-03", amount_usd=Decimal("0.2"), limit_usd=Decimal(1), now=T0,
                      start=start)
    print("reserved", flush=True)
"""


def test_a_process_killed_while_it_reserves_leaves_both_or_neither(pg_database_url: str) -> None:
    """The reservation and its in-flight attempt are one statement on a team database: a
    process killed while its reservation waits for the team's budget lock (another session
    holds it) leaves no reservation without its attempt, nor an attempt without its money.
    (The server runs what the client had sent when the lock comes free: with the attempt in
    a second statement, never sent, the reservation was left alone.)"""
    import psycopg

    from sparklio_desktop.core.ledger.url_syntax import postgres_url

    LedgerStore.open(pg_database_url).close()  # the schema exists before the lock is taken
    dsn = postgres_url(pg_database_url).replace("postgresql+psycopg://", "postgresql://")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, pg_database_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env=env,
    )  # fmt: skip
    # This database's ledger connections only (other tests may use the same server meanwhile).
    ours = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'sparklio'"
    waiting = f"{ours} AND wait_event_type = 'Lock'"
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        with psycopg.connect(dsn) as blocker:  # the team's budget lock, held: the reservation waits
            blocker.execute("SELECT pg_advisory_xact_lock(%s)", (BUDGET_LOCK,))
            child.stdin.write("\n")
            child.stdin.flush()
            with psycopg.connect(dsn, autocommit=True) as watch:
                deadline = time.monotonic() + 30
                while watch.execute(waiting).fetchone() != (1,):
                    assert time.monotonic() < deadline, "the child never waited on the lock"
                    time.sleep(0.02)
            child.kill()
            child.wait(30)
        # the lock is released: the killed client's statement finishes or is rolled back
        with psycopg.connect(dsn, autocommit=True) as watch:
            deadline = time.monotonic() + 30
            while watch.execute(ours).fetchone() != (0,):
                assert time.monotonic() < deadline
                time.sleep(0.02)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=30)  # closes its pipes
    with psycopg.connect(dsn) as conn:  # read before any store opens (opening reclaims orphans)
        held = {row[0] for row in conn.execute("SELECT request_id FROM budget_reservations")}
        started = {row[0] for row in conn.execute("SELECT request_id FROM llm_usage WHERE outcome = 'in_flight'")}
    assert held == started and held <= {"killed"}


def test_the_attempt_is_written_before_the_reservation_queues_on_the_team_lock(pg_database_url: str) -> None:
    """Revision 0005: while another session holds the team's budget lock, a reservation's
    statement waits with its in-flight attempt already written (its transaction has an id:
    it wrote a row), so the lock is held only for the sums and the reservation; the attempt
    becomes visible only with the reservation, once the lock comes free."""
    import psycopg

    from sparklio_desktop.core.ledger.url_syntax import postgres_url

    dsn = postgres_url(pg_database_url).replace("postgresql+psycopg://", "postgresql://")
    waiting = (
        "SELECT backend_xid IS NOT NULL FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = 'sparklio' AND wait_event_type = 'Lock'"
    )
    with LedgerStore.open(pg_database_url, member="ada") as store:
        start = attempt("queued", outcome="in_flight", cost_usd=Decimal(0), worst_case_usd=Decimal("0.2"))
        # The blocker is closed first (its lock freed) whatever happens, then the pool waits.
        with ThreadPoolExecutor(1) as pool, psycopg.connect(dsn) as blocker:
            blocker.execute("SELECT pg_advisory_xact_lock(%s)", (BUDGET_LOCK,))
            pending = pool.submit(
                store.try_reserve, request_id="queued", month=MONTH, amount_usd=Decimal("0.2"),
                limit_usd=Decimal(1), now=T0, start=start,
            )  # fmt: skip
            with psycopg.connect(dsn, autocommit=True) as watch:
                deadline = time.monotonic() + 30
                while (row := watch.execute(waiting).fetchone()) is None:
                    assert time.monotonic() < deadline, "the reservation never waited on the team's lock"
                    time.sleep(0.02)
                assert row == (True,)  # it had written its attempt when it queued
                assert watch.execute("SELECT count(*) FROM llm_usage").fetchone() == (0,)  # not yet visible
            blocker.rollback()  # the lock comes free
            made = pending.result(timeout=30)
        assert made.reservation_id is not None
        assert _held_and_started(store) == ({"queued"}, {"queued"})
