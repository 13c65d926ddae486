"""The budget guard: reservations never let concurrent requests overshoot the cap."""

from __future__ import annotations

import asyncio
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard, Reservation
from sparklio_desktop.core.errors import BudgetError, UnknownNameError
from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore
from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.owners import start_token, this_process

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(ledger_target: Path | str) -> Iterator[LedgerStore]:
    """The ledger on each backend: the SQLite file, then a team's PostgreSQL (tests/postgres_server.py)."""
    with LedgerStore.open(ledger_target) as opened:
        yield opened


def spend(store: LedgerStore, usd: str, request_id: str = "paid", when: datetime = NOW) -> None:
    store.record_attempt(
        AttemptRecord(
            request_id=request_id,
            attempt=1,
            ts_utc=when,
            task_type="chat",
            model_id="gpt",
            provider="openai",
            outcome="ok",
            cost_usd=Decimal(usd),
        )
    )


def guard(
    store: LedgerStore, budget: str = "1.00", at_cap: str = "local_only", clock: Clock | None = None
) -> BudgetGuard:
    return BudgetGuard(store, Decimal(budget), at_cap, clock=clock or Clock())  # type: ignore[arg-type]


def test_status_reports_spend_reservations_and_flags(store: LedgerStore) -> None:
    spend(store, "0.79")
    g = guard(store)
    s = g.status()
    assert (s.month, s.budget_usd, s.spent_usd, s.reserved_usd) == (
        "2025-03",
        Decimal("1.00"),
        Decimal("0.79"),
        Decimal(0),
    )
    assert (s.percent, s.alert, s.capped) == (Decimal("79.0"), False, False)
    g.reserve("r", Decimal("0.21"))
    s = g.status()
    assert (s.reserved_usd, s.alert, s.capped, s.left_usd) == (Decimal("0.21"), False, True, Decimal(0))
    spend(store, "0.01", "more")
    assert g.status().alert is True
    assert g.status("2025-02").spent_usd == Decimal(0)


def test_reserve_refuses_what_would_overshoot_with_a_clear_message(store: LedgerStore) -> None:
    spend(store, "0.95")
    g = guard(store)
    g.reserve("r1", Decimal("0.03"))
    with pytest.raises(BudgetExceeded) as caught:
        g.reserve("r2", Decimal("0.03"))
    err = caught.value
    assert isinstance(err, BudgetError)
    assert (err.requested_usd, err.left_usd, err.month, err.at_cap) == (
        Decimal("0.03"),
        Decimal("0.02"),
        "2025-03",
        "local_only",
    )
    message = str(err)
    assert "\n" not in message
    for part in ("$0.03", "only $0.02", "$1.00", "2025-03", "$0.95 spent", "cheaper or local model", "2025-04-01"):
        assert part in message
    assert "Monthly budget reached" not in message  # near the cap, not at it
    stop = guard(store, at_cap="stop")
    with pytest.raises(BudgetExceeded, match="raise the budget"):
        stop.reserve("r3", Decimal("0.03"))
    g.reserve("exact", Decimal("0.02"))  # exactly up to the cap is allowed
    with pytest.raises(BudgetExceeded) as capped:
        g.reserve("r4", Decimal("0.01"))
    message = str(capped.value)
    assert message.startswith("Monthly budget reached: the $1.00 budget for 2025-03 is used up")
    assert "local models only until 2025-04-01" in message
    with pytest.raises(BudgetExceeded, match="Monthly budget reached.*paid requests stop"):
        stop.reserve("r5", Decimal("0.01"))


def _near_cap_figures(message: str) -> tuple[str, str, str]:
    match = re.search(r"may cost up to (\$[\d,.]+) but only (\$[\d,.]+) of the (\$[\d,.]+) budget", message)
    assert match, message
    return match.group(1), match.group(2), match.group(3)


@pytest.mark.parametrize("at_cap", ["local_only", "stop"])
def test_near_cap_wording_never_shows_two_equal_figures(store: LedgerStore, at_cap: str) -> None:
    """Property-style over many amounts: what the request may cost, what is left and the
    budget always read differently ("$0.02 of $0.02" was the bug); each figure rounds to
    the amount it stands for."""
    rng = random.Random(12)
    checked = 0
    for i in range(300):
        budget = Decimal(rng.choice(["0.02", "0.05", "1", "50", "0.000003", "12.5"]))
        spent = (budget * Decimal(rng.uniform(0.5, 0.999999))).quantize(Decimal("0.000000000001"))
        left = budget - spent
        wanted = left + Decimal(rng.choice([1, 7, 10**3, 10**6, 10**8])) / Decimal(10**12)
        when = datetime(2000 + i // 12, i % 12 + 1, 10, 12, tzinfo=UTC)  # a month of its own
        g = BudgetGuard(store, budget, at_cap, clock=Clock(when))  # type: ignore[arg-type]
        spend(store, str(spent), request_id=f"s{i}", when=when)
        with pytest.raises(BudgetExceeded) as caught:
            g.reserve(f"r{i}", wanted)
        message = str(caught.value)
        assert "Monthly budget reached" not in message
        wanted_t, left_t, budget_t = _near_cap_figures(message)
        assert len({wanted_t, left_t, budget_t}) == 3, message
        for text, amount in ((wanted_t, wanted), (left_t, left), (budget_t, budget)):
            decimals = len(text.partition(".")[2])
            assert abs(Decimal(text[1:].replace(",", "")) - amount) <= Decimal(1).scaleb(-decimals) / 2
        checked += 1
    assert checked == 300


def test_free_requests_are_never_blocked(store: LedgerStore) -> None:
    spend(store, "5")
    g = guard(store)
    held = g.reserve("local", Decimal(0))
    assert held == Reservation(None, "local", "2025-03", Decimal(0))
    g.settle(held)
    with pytest.raises(ValueError):
        g.reserve("x", Decimal("-1"))


def test_settle_releases_and_is_idempotent(store: LedgerStore) -> None:
    g = guard(store)
    held = g.reserve("r", Decimal("0.6"))
    with pytest.raises(BudgetExceeded):
        g.reserve("r2", Decimal("0.6"))
    g.settle(held)
    g.settle(held)
    g.reserve("r2", Decimal("0.6"))


SLEEPER = "import sys; sys.stdin.read()"  # lives until its standard input closes


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", SLEEPER], stdin=subprocess.PIPE)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)
    assert proc.stdin is not None
    proc.stdin.close()


def hold(
    store: LedgerStore,
    amount: str,
    pid: int | None,
    start: str | None,
    created: str = "2000-01-01T00:00:00.000000+00:00",
) -> None:
    """A reservation written by another process (real SQL into the ledger), made long ago;
    on a team database, by a process of this host."""
    if store.path is None:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid,"
                " owner_start, host) VALUES ('other', '2025-03', %s, %s, %s, %s, %s)",
                (int(Decimal(amount) * 10**12), created, pid, start, this_host()),
            )
        return
    db = sqlite3.connect(store.path)
    try:
        with db:
            db.execute(
                "INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid,"
                " owner_start) VALUES ('other', '2025-03', ?, ?, ?, ?)",
                (int(Decimal(amount) * 10**12), created, pid, start),
            )
    finally:
        db.close()


def test_a_live_owners_reservation_is_never_reclaimed_however_old(
    store: LedgerStore, live_process: subprocess.Popen
) -> None:
    clock = Clock()
    g = guard(store, at_cap="stop", clock=clock)
    hold(store, "0.9", live_process.pid, start_token(live_process.pid))
    for later in (timedelta(0), timedelta(seconds=601), timedelta(days=20)):  # same month
        clock.now = NOW + later
        with pytest.raises(BudgetExceeded):
            g.reserve("r", Decimal("0.5"))
        assert not store.reclaim_orphans()
        with LedgerStore.open(store.target) as reopened:
            assert reopened.budget_snapshot("2025-03")[1] == Decimal("0.9")
    assert live_process.stdin is not None
    live_process.stdin.close()  # the owner ends: now, and only now, its money comes back
    live_process.wait(timeout=30)
    g.reserve("r", Decimal("0.5"))
    assert g.status().reserved_usd == Decimal("0.5")


def test_a_dead_owners_reservation_is_reclaimed(store: LedgerStore) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(proc.pid)
    proc.wait(timeout=30)
    hold(store, "0.9", proc.pid, token, created=NOW.isoformat())
    g = guard(store, at_cap="stop")
    g.reserve("r", Decimal("0.5"))  # the dead owner's 0.9 was reclaimed on the way
    assert g.status().reserved_usd == Decimal("0.5")


def test_a_reused_pid_does_not_keep_a_reservation_alive(store: LedgerStore, live_process: subprocess.Popen) -> None:
    # The same PID, alive, but started at another moment: another process has the PID now.
    hold(store, "0.4", live_process.pid, "0:1")
    hold(store, "0.4", os.getpid(), this_process().start + "0")
    assert store.reclaim_orphans().reservations == 2
    assert guard(store).status().reserved_usd == Decimal(0)


def test_a_zombie_or_ownerless_reservation_is_reclaimed(store: LedgerStore) -> None:
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    token = start_token(zombie.pid)
    deadline = time.monotonic() + 30
    while start_token(zombie.pid) == token and time.monotonic() < deadline:  # exited, not yet reaped
        time.sleep(0.01)
    hold(store, "0.3", zombie.pid, token)
    hold(store, "0.3", None, None)  # written before owners were recorded
    assert store.reclaim_orphans().reservations == 2
    zombie.wait(timeout=30)


def test_a_request_longer_than_ten_minutes_is_not_admitted_twice(store: LedgerStore) -> None:
    clock = Clock()
    g = guard(store, budget="1.00", at_cap="stop", clock=clock)
    long_one = g.reserve("long", Decimal("0.60"))
    clock.now = NOW + timedelta(minutes=11)  # past the old 600 s expiry, still running
    with pytest.raises(BudgetExceeded):
        g.reserve("second", Decimal("0.60"))
    g.settle(long_one)
    g.reserve("second", Decimal("0.60"))


def test_the_threshold_alert_fires_once_a_month(store: LedgerStore) -> None:
    clock = Clock()
    g = guard(store, clock=clock)
    spend(store, "0.5")
    assert g.alert_due() is False
    spend(store, "0.3", "r2")
    assert [g.alert_due(), g.alert_due()] == [True, False]
    clock.now = datetime(2025, 4, 2, tzinfo=UTC)
    spend(store, "0.9", "april", when=clock.now)
    assert [g.alert_due(), g.alert_due()] == [True, False]
    assert guard(store, budget="0").alert_due() is False


def test_configuration_is_validated(store: LedgerStore) -> None:
    with pytest.raises(UnknownNameError, match="at-cap policy 'pause'"):
        guard(store, at_cap="pause")
    with pytest.raises(ValueError):
        BudgetGuard(store, Decimal("-1"), "stop")
    with pytest.raises(TypeError):
        BudgetGuard(store, 10.0, "stop")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        BudgetGuard(store, Decimal(1), "stop", alert_threshold=Decimal("1.5"))
    zero = guard(store, budget="0")
    assert zero.status().capped is True
    with pytest.raises(BudgetExceeded):
        zero.reserve("r", Decimal("0.000001"))


def _admitted(g: BudgetGuard, request_id: str, amount: Decimal) -> Decimal:
    try:
        g.reserve(request_id, amount)
    except BudgetExceeded:
        return Decimal(0)
    return amount


def test_twenty_threads_near_the_cap_never_overshoot(store: LedgerStore) -> None:
    spend(store, "0.90")
    g = guard(store)
    start = threading.Barrier(20)

    def one(i: int) -> Decimal:
        start.wait()
        return _admitted(g, f"t{i}", Decimal("0.015"))

    with ThreadPoolExecutor(max_workers=20) as pool:
        admitted = list(pool.map(one, range(20)))
    assert sum(admitted) + Decimal("0.90") <= Decimal("1.00")
    assert admitted.count(Decimal("0.015")) == 6  # 0.09 of the 0.10 left


def test_twenty_asyncio_tasks_through_an_executor_never_overshoot(store: LedgerStore) -> None:
    spend(store, "0.97")
    g = guard(store)

    async def main() -> list[Decimal]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=20) as pool:
            tasks = [loop.run_in_executor(pool, _admitted, g, f"a{i}", Decimal("0.004")) for i in range(20)]
            return list(await asyncio.gather(*tasks))

    admitted = asyncio.run(main())
    assert sum(admitted) + Decimal("0.97") <= Decimal("1.00")
    assert admitted.count(Decimal("0.004")) == 7


CHILD = """
import sys
from datetime import UTC, datetime
from decimal import Decimal
from sparklio_desktop.core.budget import BudgetExceeded, BudgetGuard
from sparklio_desktop.core.ledger import LedgerStore
with LedgerStore.open(sys.argv[1]) as store:
    guard = BudgetGuard(store, Decimal("1.00"), "stop", clock=lambda: datetime(2025, 3, 10, 12, tzinfo=UTC))
    for i in range(10):
        try:
            guard.reserve(f"{sys.argv[2]}-{i}", Decimal("0.01"))
            print("ok", flush=True)
        except BudgetExceeded:
            print("refused", flush=True)
    sys.stdin.read()  # stay alive (holding the reservations) until the parent has counted
"""


def test_processes_sharing_the_file_never_overshoot(store: LedgerStore, tmp_path: Path) -> None:
    """Reservations belong to their process: each child stays alive (holding what it
    reserved) until all have tried, as requests in flight do; once they are gone, what
    they held is reclaimed."""
    spend(store, "0.95")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(store.target), f"p{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for n in range(4)
    ]
    try:
        outputs = [[proc.stdout.readline().strip() for _ in range(10)] for proc in procs]
        assert sum(out.count("ok") for out in outputs) == 5, outputs
        assert guard(store).status().reserved_usd == Decimal("0.05")
    finally:
        for proc in procs:
            proc.communicate(input="", timeout=120)
    assert all(proc.returncode == 0 for proc in procs)
    store.reclaim_orphans()
    assert guard(store).status().reserved_usd == Decimal(0)


def test_gauge_level_is_amber_at_the_threshold_and_when_the_projection_passes_the_budget() -> None:
    from sparklio_desktop.core.budget import gauge_level

    d = Decimal
    assert gauge_level(d("10"), d("50"), d("0.8"), d("20")) == "ok"
    assert gauge_level(d("39.99"), d("50"), d("0.8"), d("50")) == "ok"  # projection at, not over, the budget
    assert gauge_level(d("40"), d("50"), d("0.8"), d("41")) == "amber"  # at the alert threshold
    assert gauge_level(d("10"), d("50"), d("0.8"), d("50.01")) == "amber"  # the pace overshoots
    assert gauge_level(d("50"), d("50"), d("0.8"), d("50")) == "red"
    assert gauge_level(d("0"), d("0"), d("0.8"), d("0")) == "red"  # a zero budget: nothing paid may run
