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
