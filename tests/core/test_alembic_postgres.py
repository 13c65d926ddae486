"""The ledger's Alembic history on PostgreSQL (a team database): an empty database is
brought to the head in one transaction; a current one is not touched (and Alembic is not
loaded); installs starting together upgrade it once (``pg_advisory_xact_lock``); a
database made before Alembic is adopted; a newer one is refused in one line without the
password; the shared settings upsert works. Runs where team storage is merged
(tests/postgres_server.py, core/ledger/postgres_schema.py) and PostgreSQL is installed."""

from __future__ import annotations

import importlib
import threading

import pytest
from sqlalchemy import create_engine

pytest.importorskip("sparklio_desktop.core.ledger.postgres_schema", reason="team storage (H-pg) is not merged yet")
postgres_server_module = pytest.importorskip("tests.postgres_server", reason="tests/postgres_server.py is not merged")
postgres_server = postgres_server_module.postgres_server
pg_database_url = postgres_server_module.pg_database_url

from sparklio_desktop.core.ledger.schema_upgrade import LedgerSchemaError, upgrade_ledger  # noqa: E402
from sparklio_desktop.core.ledger.schema_version import REVISIONS  # noqa: E402
from sparklio_desktop.core.ledger.shared_settings import read_values, write_value  # noqa: E402


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
            return {r[0] for r in rows}
    finally:
        engine.dispose()


def test_an_empty_team_database_reaches_the_head_and_stays_there(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url)
    try:
        assert upgrade_ledger(engine) == list(REVISIONS)
        assert upgrade_ledger(engine) == []
        with engine.begin() as conn:
            write_value(conn, "budget.monthly_usd", "10", "ada")
            write_value(conn, "budget.monthly_usd", "12", "bob")  # the upsert replaces
            assert read_values(conn) == {"budget.monthly_usd": "12"}
            assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == REVISIONS[-1]
    finally:
        engine.dispose()
    assert {"llm_usage", "usage_daily", "usage_monthly", "shared_settings", "alembic_version"} <= _tables(
        pg_database_url
    )


def test_installs_starting_together_upgrade_it_once(pg_database_url: str) -> None:
    results: list[object] = []

    def start() -> None:
        engine = create_engine(pg_database_url)
        try:
            results.append(upgrade_ledger(engine))
        except Exception as exc:  # noqa: BLE001 - recorded, and the assertion below shows it
            results.append(repr(exc))
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(results, key=len) == [[], [], list(REVISIONS)]


def test_a_database_made_before_alembic_is_adopted(pg_database_url: str) -> None:
    postgres_schema = importlib.import_module("sparklio_desktop.core.ledger.postgres_schema")
    engine = create_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            postgres_schema.create_baseline(conn)
        assert upgrade_ledger(engine) == list(REVISIONS)
    finally:
        engine.dispose()


def test_a_newer_team_database_is_refused_in_one_line(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url)
    try:
        upgrade_ledger(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
        with pytest.raises(LedgerSchemaError) as caught:
            upgrade_ledger(engine)
    finally:
        engine.dispose()
    message = str(caught.value)
    assert "newer Sparklio" in message and "0099" in message and "\n" not in message
    password = engine.url.password
    assert password and password not in message


def test_revision_0005_moves_the_budget_check_after_the_attempts_and_back(pg_database_url: str) -> None:
    """A team database at 0004 reserves with ``ledger_try_reserve``; the upgrade adds
    ``ledger_reserve`` (reservations held meanwhile are kept and still counted) and keeps the
    old function for an install still running the previous build: both count each other's
    reservations under the one lock. A downgrade removes the new function."""
    from decimal import Decimal

    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ledger.schema_upgrade import run_alembic_upgrade
    from tests.core.test_ledger import T0

    def functions(conn: object) -> set[str]:
        rows = conn.exec_driver_sql(  # type: ignore[attr-defined]
            "SELECT proname FROM pg_proc WHERE proname IN ('ledger_try_reserve', 'ledger_reserve')"
        )
        return {row[0] for row in rows}

    engine = create_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            assert run_alembic_upgrade(conn, "0004")[-1] == "0004"
            assert functions(conn) == {"ledger_try_reserve"}
            conn.exec_driver_sql(
                "SELECT made FROM ledger_try_reserve('held', '2025-03', 400000000000, 1000000000000, %s, 'now',"
                " 1, 'start', 'ada', 'elsewhere')",
                (2**62,),
            )
        with engine.begin() as conn:
            assert run_alembic_upgrade(conn) == ["0005"]
            assert functions(conn) == {"ledger_try_reserve", "ledger_reserve"}
        with LedgerStore.open(pg_database_url, member="ada") as store:
            refused = store.try_reserve(
                request_id="more", month="2025-03", amount_usd=Decimal("0.7"), limit_usd=Decimal(1), now=T0
            )
            assert (refused.refused_by, refused.reserved_usd) == ("budget", Decimal("0.4"))
            made = store.try_reserve(
                request_id="fits", month="2025-03", amount_usd=Decimal("0.6"), limit_usd=Decimal(1), now=T0
            )
            assert made.reservation_id is not None
        with engine.begin() as conn:  # the previous build, still running: 0.4 + 0.6 held, 0.1 more is over
            old = conn.exec_driver_sql(
                "SELECT reserved, made FROM ledger_try_reserve('late', '2025-03', 100000000000, 1000000000000, %s,"
                " 'now', 1, 'start', 'ada', 'elsewhere')",
                (2**62,),
            ).one()
            assert (old[0], old[1]) == (1_000_000_000_000, None)
        with engine.begin() as conn:
            from alembic.runtime.environment import EnvironmentContext

            from sparklio_desktop.core.ledger.schema_upgrade import script_directory

            config, script = script_directory()

            def downgrade(revision: object, _context: object) -> object:
                return script._downgrade_revs("0004", revision)

            with EnvironmentContext(config, script, fn=downgrade, destination_rev="0004") as environment:
                environment.configure(connection=conn)
                with environment.begin_transaction():
                    environment.run_migrations()
            assert functions(conn) == {"ledger_try_reserve"}
    finally:
        engine.dispose()
