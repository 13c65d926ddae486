"""Recipe runs' records on a team's PostgreSQL: the ``recipe_runs`` table (issue 16, team mode).

In team mode a run's record, the same JSON its ``state.json`` holds on a file
(core/recipes/run_state.py), is one row: run id, member, the host that last wrote it, its
status, when, and the claim of the process sending its steps. Each write is one statement
in one transaction, so a kill leaves the last complete record, never half of one (what
``os.replace`` gives the file). Any install of the same member loads and resumes it; another
member's run id is "not found" (core/batches/team_database.py says why).

The claim replaces the file's ``flock``: an OS lock lives on one machine, so the run's row
names the process (PID, start token, host) and a second ``resume`` is refused while it
holds the run, by the rule batches follow (``claim_refusal``): a process of this host that
is gone lapses, one of another host is refused naming that host.

Files a run wrote (each step's ``.md``/``.png``/``.json``) stay on the machine that made
them; the record keeps their paths.
"""

from __future__ import annotations

import atexit
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sparklio_desktop.core.batches.team_database import claim_refusal, open_team_database, team_member
from sparklio_desktop.core.ledger.members import this_host
from sparklio_desktop.core.ledger.owners import this_process

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection, PgDirectSession

__all__ = ["TeamRuns"]

_SAVE = (
    "INSERT INTO recipe_runs (run_id, member, host, state_json, status, updated_utc) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (run_id) DO UPDATE SET host = excluded.host, state_json = excluded.state_json,"
    " status = excluded.status, updated_utc = excluded.updated_utc WHERE recipe_runs.member = excluded.member"
)


_shared: dict[str, PgDirectConnection] = {}  # url -> this process's connection for runs
_shared_lock = threading.Lock()


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        connections = list(_shared.values())
        _shared.clear()
    for connection in connections:
        connection.close()


class TeamRuns:
    """The member's recipe runs on the team database at ``url``.

    :meth:`shared` keeps one connection per database for the process: a run saves after
    every step, from the event loop, and a new login each time cost ~30 ms (measured on
    loopback under load) against ~3 ms for the write itself. A store made directly owns
    its connection and closes it."""

    def __init__(self, url: str, *, member: str | None = None, _db: PgDirectConnection | None = None) -> None:
        self.member = team_member(member)
        self.host = this_host()
        self._owned = _db is None
        self._db: PgDirectConnection = _db if _db is not None else open_team_database(url)

    @classmethod
    def shared(cls, url: str) -> TeamRuns:
        """The runs of this install's member over the process's connection to ``url``
        (closing it does nothing; it is closed when the process exits)."""
        with _shared_lock:
            db = _shared.get(url)
            if db is None:
                db = _shared[url] = open_team_database(url)
        return cls(url, _db=db)

    def close(self) -> None:
        if self._owned:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def save(self, run_id: str, status: str, state_json: str, updated_utc: str) -> None:
        """Write the run's whole record, in one transaction."""
        with self._db.transaction("WRITE") as session:
            session.execute(_SAVE, (run_id, self.member, self.host, state_json, status, updated_utc))

    def load(self, run_id: str) -> str | None:
        """The run's record (JSON text), or None when the member has no run by that id."""
        with self._db.transaction("AUTOCOMMIT") as session:
            row = session.execute(
                "SELECT state_json FROM recipe_runs WHERE run_id = ? AND member = ?", (run_id, self.member)
            ).fetchone()
        return None if row is None else str(row[0])

    def unfinished(self) -> list[str]:
        """The member's runs not done, newest first (their records, JSON text)."""
        with self._db.transaction("AUTOCOMMIT") as session:
            found = session.execute(
                "SELECT state_json FROM recipe_runs WHERE member = ? AND status != 'done' ORDER BY updated_utc DESC",
                (self.member,),
            ).fetchall()
        return [str(row[0]) for row in found]

    def claim(self, run_id: str) -> str | None:
        """Claim the run for this process; why not in one line (another live process of this
        host, or any of another host, holds it), or None when claimed. An unknown run is
        claimed by nobody (None): loading it says it is not there."""
        me = this_process()
        with self._db.transaction("IMMEDIATE") as session:
            row = session.execute(
                "SELECT owner_pid, owner_start, owner_host FROM recipe_runs WHERE run_id = ? AND member = ? FOR UPDATE",
                (run_id, self.member),
            ).fetchone()
            if row is None:
                return None
            refusal = claim_refusal(
                (row[0], row[1], row[2]), me, self.host, what=f"recipe run {run_id}", member=self.member
            )
            if refusal is None:
                session.execute(
                    "UPDATE recipe_runs SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE run_id = ?",
                    (me.pid, me.start, self.host, run_id),
                )
        return refusal

    def release(self, run_id: str) -> None:
        """This process no longer sends the run's steps (a claim of another is left alone)."""
        me = this_process()
        with self._db.transaction("WRITE") as session:
            session.execute(
                "UPDATE recipe_runs SET owner_pid = NULL, owner_start = NULL, owner_host = NULL"
                " WHERE run_id = ? AND owner_pid = ? AND owner_host = ?",
                (run_id, me.pid, self.host),
            )

    @staticmethod
    def hosts_claiming(session: PgDirectSession) -> set[str]:
        """The machines whose processes hold a claim on a recipe run (for ``release-host``)."""
        rows = session.execute("SELECT DISTINCT owner_host FROM recipe_runs WHERE owner_host IS NOT NULL").fetchall()
        return {str(row[0]) for row in rows}

    @staticmethod
    def release_host(session: PgDirectSession, host: str, *, dry_run: bool = False) -> int:
        """Clear the claims processes of ``host`` hold on recipe runs, every member's; how
        many there were (with ``dry_run``, only counted). For ``sparklio ledger
        release-host`` (a person said that machine is gone for good), in the caller's
        transaction: another install of the member can then resume the run."""
        if dry_run:
            row = session.execute("SELECT count(*) FROM recipe_runs WHERE owner_host = ?", (host,)).fetchone()
            return int(row[0]) if row is not None else 0
        return session.execute(
            "UPDATE recipe_runs SET owner_pid = NULL, owner_start = NULL, owner_host = NULL WHERE owner_host = ?",
            (host,),
        ).rowcount
