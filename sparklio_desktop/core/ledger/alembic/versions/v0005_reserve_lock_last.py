"""The team's budget check holds its lock for the sums and the reservation alone (issue 16).

Until this revision a reservation on a team database was one call of
``ledger_try_reserve``: it took the team's budget lock first, then summed the month, wrote
the reservation, and the same statement then wrote the request's ``in_flight`` attempts,
all before the commit released the lock. Every install queues on that lock, so a burst of
20 requests waited for 20 of those whole statements in turn.

``ledger_reserve`` replaces it. The statement that calls it (core/ledger/reservations.py)
inserts the attempts FIRST, outside the lock, and passes their count to the function
(``(SELECT count(*) FROM started)``: the insert runs before the function's body). The
function then takes the lock, reads the four sums in one query (team and member, spent
and reserved; each statement of a VOLATILE function reads a fresh snapshot, so it sees
every reservation committed before the lock was granted), and either writes the
reservation or refuses by raising SQLSTATE ``SPKB1`` with the four sums as the detail.
The raise undoes the whole statement: a refused request leaves no attempt behind, and a
made one has its reservation and its attempts in one transaction, as before. Only the
sums, one insert and the commit are under the lock.

``ledger_try_reserve`` is kept: an install still running the previous build (opened
before the upgrade) goes on reserving with it until it restarts, under the same lock and
the same sums, so the two kinds of reservation never overshoot together; restarted, the
old build finds a newer schema and says so.

On SQLite this revision does nothing: the file's one ``BEGIN IMMEDIATE`` transaction
already orders reservations.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import importlib

from alembic import op

# Imported by name, as the baseline does: the PostgreSQL schema module is loaded only for a team database.
_SCHEMA = "sparklio_desktop.core.ledger.postgres_schema"

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_RESERVE = """CREATE FUNCTION ledger_reserve(p_request_id TEXT, p_month TEXT, p_amount BIGINT, p_limit BIGINT,
        p_own_limit BIGINT, p_created TEXT, p_owner_pid BIGINT, p_owner_start TEXT, p_member TEXT, p_host TEXT,
        p_started BIGINT)
    RETURNS TABLE (spent NUMERIC, reserved NUMERIC, own_spent NUMERIC, own_reserved NUMERIC, made BIGINT,
        started BIGINT)
    LANGUAGE plpgsql VOLATILE AS $$
    #variable_conflict use_column
    DECLARE
        s NUMERIC; r NUMERIC; os NUMERIC; o NUMERIC; new_id BIGINT;
    BEGIN
        PERFORM pg_advisory_xact_lock({lock});
        SELECT u.s, u.os, b.r, b.o INTO s, os, r, o
        FROM (SELECT coalesce(sum(cost_usd), 0) AS s,
                     coalesce(sum(cost_usd) FILTER (WHERE member = p_member), 0) AS os
              FROM usage_monthly WHERE month = p_month) AS u,
             (SELECT coalesce(sum(amount_usd), 0) AS r,
                     coalesce(sum(amount_usd) FILTER (WHERE member = p_member), 0) AS o
              FROM budget_reservations WHERE month = p_month) AS b;
        IF s + r + p_amount > p_limit OR os + o + p_amount > p_own_limit THEN
            RAISE EXCEPTION USING ERRCODE = '{refused}', MESSAGE = 'the budget refused reservation ' || p_request_id,
                DETAIL = s || ' ' || r || ' ' || os || ' ' || o;
        END IF;
        INSERT INTO budget_reservations (request_id, month, amount_usd, created_utc, owner_pid, owner_start,
            member, host)
        VALUES (p_request_id, p_month, p_amount, p_created, p_owner_pid, p_owner_start, p_member, p_host)
        RETURNING id INTO new_id;
        RETURN QUERY SELECT s, r, os, o, new_id, p_started;
    END $$"""  # no percent sign and no colon: it runs as written on any driver

_ARGUMENTS = "TEXT, TEXT, BIGINT, BIGINT, BIGINT, TEXT, BIGINT, TEXT, TEXT, TEXT"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    schema = importlib.import_module(_SCHEMA)
    bind = op.get_bind()
    bind.exec_driver_sql(_RESERVE.format(lock=schema.BUDGET_LOCK, refused=schema.REFUSED_SQLSTATE))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.get_bind().exec_driver_sql(f"DROP FUNCTION ledger_reserve({_ARGUMENTS}, BIGINT)")
