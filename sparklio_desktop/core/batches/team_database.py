"""Batches and recipe runs on a team's PostgreSQL: the connection, the member, and who may claim.

In team mode (``core.ledger.location.database_url()`` is set) the batch store
(core/batches/store.py) and the recipe runs' records (core/recipes/run_state.py) keep their
tables in the team database beside the ledger, created by the ledger's own Alembic history
(revision ``0004``, core/ledger/alembic/versions/v0004_batches_recipe_runs.py) when a store
first opens it. Their statements are the SQLite ones, run on the ledger's driver-level
psycopg connection (core/ledger/pg_direct.py translates the placeholders), so one body of
SQL serves both backends; an unreachable server or a refused login is the ledger's one-line
``DatabaseServerError`` (core/ledger/server_errors.py).

Privacy: a batch or a run belongs to the member who made it (``$SPARKLIO_MEMBER``,
``team.member``, the OS user: core/ledger/members.py). Every read filters by it, so another
member's batch id is "not found", as their conversations are (docs/team.md).

Claims across machines: a batch being run (and a recipe run being sent) names the process
that runs it: PID, start token and host. A process ID means something only on its own
machine (core/ledger/owners.py), so :func:`claim_refusal` lets a claim lapse only when it
was made on this host by a process that is gone; a claim made on another host is refused,
naming that host and the member, until that host releases it (or runs it again there,
where its dead process's claim lapses as on one machine). A host gone for good is released
by a person, never on a guess: ``sparklio ledger release-host HOST --yes`` (docs/team.md).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV, check_database_url, settings_in_force
from sparklio_desktop.core.ledger.owners import ProcessOwner, is_gone

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection

__all__ = ["LABEL", "TeamDatabaseUrlError", "claim_refusal", "open_team_database", "team_member"]

LABEL = "database"  # "the team database postgresql://…: cannot reach the server (…)"
_upgraded: set[str] = set()  # URLs whose schema this process has brought to the head
_upgrade_lock = threading.Lock()


class TeamDatabaseUrlError(SparklioError):
    """The team database's URL cannot be used as written (no port number, no database)."""


def open_team_database(url: str) -> PgDirectConnection:
    """A driver-level connection to the team database at ``url``, its schema first brought to
    this build's head by the ledger's Alembic upgrade (once per process and URL; the upgrade
    itself takes the team's advisory lock, so installs starting together upgrade it once)."""
    from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection

    problem = check_database_url(url)
    if problem is not None:  # said in one line here, not as a traceback from the URL parser
        raise TeamDatabaseUrlError(f"the team database URL ({DATABASE_URL_ENV} or storage.database_url): {problem}")
    with _upgrade_lock:
        if url not in _upgraded:
            from sparklio_desktop.core.ledger.engine import create_postgres_engine
            from sparklio_desktop.core.ledger.schema_upgrade import upgrade_ledger

            engine = create_postgres_engine(url, LABEL)
            try:
                upgrade_ledger(engine, label=LABEL)
            finally:
                engine.dispose()
            _upgraded.add(url)
    return PgDirectConnection(url, LABEL)


def team_member(member: str | None = None) -> str:
    """The member whose batches and runs this install sees: ``member`` when given, else
    ``$SPARKLIO_MEMBER``, the setting ``team.member``, the OS user (a malformed variable is
    refused in one line, core/ledger/members.py)."""
    from sparklio_desktop.core.ledger.members import resolve_member

    if member is not None:
        return resolve_member(member)
    settings = settings_in_force()
    return resolve_member(settings.team.member if settings is not None else None)


def claim_refusal(
    owner: tuple[int | None, str | None, str | None], me: ProcessOwner, here: str, *, what: str, member: str
) -> str | None:
    """Why this process (``me`` on host ``here``) may not take ``what`` from its current
    ``owner`` (PID, start token, host), in one line; None when it may.

    No owner, this very process, or a process of this host that is gone: it may. A live
    process of this host, or any process of another host (whose liveness cannot be seen
    from here): refused. A claim that names no host was made before hosts were recorded,
    on a file of this machine: judged as this host's."""
    pid, start, host = owner
    if pid is None:
        return None
    if host is None or host == here:
        if pid == me.pid or is_gone(pid, start):
            return None
        return f"{what} is being run by process {pid}; stop that one or wait for it"
    return (
        f"{what} is being run by process {pid} on {host} (member {member}); "
        f"stop it there or wait for it (a claim made on another machine lapses only there)"
    )
