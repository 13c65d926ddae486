"""The billing parts reach the ledger row, and older ledgers gain their columns.

A call's cache reads and writes, reasoning tokens, image quality, batch flag and the
rates actually applied are stored on its attempt row (m005_billing_parts); a ledger
written before that migration opens, keeps its rows (read as zero parts) and its
rollup, and takes the new rows.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core import ledger
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.records import AttemptRecord
from tests.core.test_dispatch import SONNET, fast_policy, harness, servers  # noqa: F401 - fixtures


def test_m005_upgrades_an_m004_file_keeping_its_rows(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    path = tmp_path / "ledger.sqlite3"
    old = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names[: LEDGER_MIGRATIONS.names.index("m005_billing_parts")]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO llm_usage (request_id, attempt, ts_utc, user, task_type, model_id, provider, outcome,"
            " input_tokens, output_tokens, usage_source, cost_usd) VALUES ('r0', 1, '2026-01-02T00:00:00.000000Z',"
            " 'ada', 'chat', 'm', 'p', 'ok', 10, 20, 'provider', 7)"
        )
    engine.dispose()
    with LedgerStore.open(path) as store:  # runs m005
        (before,) = store.attempts("r0")
        assert (before.input_tokens, before.cache_read_tokens, before.reasoning_tokens, before.batch) == (
            10,
            0,
            0,
            False,
        )
        assert before.price_tier_above_tokens is None and before.cost_usd == Decimal("0.000000000007")
        store.record_attempt(
            AttemptRecord(
                request_id="r1",
                attempt=1,
                task_type="chat",
                model_id="m",
                provider="p",
                outcome="ok",
                input_tokens=300_000,
                output_tokens=900,
                cache_read_tokens=250_000,
                reasoning_tokens=700,
                batch=True,
                image_quality="hd",
                price_cache_read_per_mtok=Decimal("0.625"),
                price_reasoning_per_mtok=Decimal("15"),
                price_tier_above_tokens=200_000,
                cost_usd=Decimal("0.5"),
            )
        )
        (after,) = store.attempts("r1")
        assert (after.cache_read_tokens, after.reasoning_tokens, after.batch, after.image_quality) == (
            250_000,
            700,
            True,
            "hd",
        )
        assert after.price_cache_read_per_mtok == Decimal("0.625") and after.price_tier_above_tokens == 200_000
    db = sqlite3.connect(path)
    try:
        names = [row[0] for row in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
        assert db.execute("SELECT SUM(attempts) FROM usage_daily").fetchone()[0] == 2
    finally:
        db.close()
    assert names == LEDGER_MIGRATIONS.names


def test_a_call_stores_its_cache_parts_and_the_rates_applied(harness, servers) -> None:  # noqa: F811
    """Anthropic reports 20 uncached + 70 read + 30 written input tokens: 120 in all. The
    shipped Sonnet entry gives no cache rates, so they are billed at its input rate (as
    genai-prices bills a model without them), and the row says so."""
    anthropic, _ = servers
    anthropic.usage = (20, 80)
    anthropic.cache_read_tokens, anthropic.cache_write_tokens = 70, 30
    result = harness.run()
    assert result.ok and result.model == SONNET
    assert result.cost_usd == Decimal("0.00156")  # 120 x $3/1M + 80 x $15/1M
    (row,) = harness.ledger.attempts(result.request_id)
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens, row.output_tokens) == (120, 70, 30, 80)
    assert row.price_cache_read_per_mtok == Decimal("3") == row.price_cache_write_per_mtok
    assert row.price_reasoning_per_mtok is None and row.price_tier_above_tokens is None and row.batch is False
