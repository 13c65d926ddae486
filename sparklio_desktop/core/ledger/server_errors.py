"""What can be wrong with a team's PostgreSQL, said in one line; no SQLAlchemy, no driver.

A team's ledger lives on a server (core/ledger/location.py). When the server cannot be
reached, refuses the login or has no such database, every command and panel gets the
same one-line :class:`DatabaseServerError` naming the database by its redacted URL and
saying what to check, never a driver traceback and never the password. The engine
(``engine.py``, in its ``handle_error`` hook) and the driver-level connection
(``pg_direct.py``) translate with :func:`server_error`; errors about a statement
(constraints, programming errors) are left to the stores, as on SQLite.
"""

from __future__ import annotations

import re
from typing import Literal

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV, redacted_url
from sparklio_desktop.core.redact import redact

__all__ = ["DatabaseDriverError", "DatabaseServerError", "ServerProblem", "require_driver", "server_error"]

ServerProblem = Literal["unreachable", "login", "missing", "unavailable"]
_CHECK = f"check {DATABASE_URL_ENV} (or storage.database_url) and the server; `sparklio doctor` shows it"


class DatabaseServerError(SparklioError):
    """The team's database cannot be used right now; ``problem`` says why."""

    def __init__(self, url: str, label: str, problem: ServerProblem, detail: str) -> None:
        self.url = redacted_url(url)
        self.label = label
        self.problem = problem
        self.detail = detail
        super().__init__(f"the team {label} {self.url}: {self.reason}; {_CHECK}")

    @property
    def reason(self) -> str:
        """What is wrong, without the URL or the advice (``doctor`` shows the URL beside it)."""
        what = {
            "login": "the server refused the login",
            "missing": "no such database on the server",
            "unreachable": "cannot reach the server",
            "unavailable": "the server is unavailable",
        }[self.problem]
        return f"{what} ({self.detail})"


def _first_line(exc: BaseException, url: str) -> str:
    text = str(exc).strip().splitlines()
    line = text[-1] if text and text[-1].startswith(("FATAL", "ERROR")) else (text[0] if text else type(exc).__name__)
    for prefix in ("FATAL:  ", "ERROR:  ", "connection failed: "):
        line = line.replace(prefix, "")
    line = re.sub(r'^connection to server at "[^"]*", port \d+ failed: ', "", line)
    from sparklio_desktop.core.ledger.location import url_password

    return redact(line, [url_password(url)])[:300]


class DatabaseDriverError(SparklioError):
    """This install cannot load psycopg, the PostgreSQL driver a team database needs."""

    def __init__(self, url: str, label: str, detail: str) -> None:
        self.url = redacted_url(url)
        self.label = label
        self.problem = "driver"
        self.reason = f"this install cannot load the PostgreSQL driver psycopg ({detail})"
        super().__init__(
            f'the team {label} {self.url}: {self.reason}; install it with `pip install "psycopg[binary]"` '
            "(a bundle: install the system's libpq, e.g. `apt install libpq5`), or unset "
            f"{DATABASE_URL_ENV} to use the ledger file"
        )


def require_driver(url: str, label: str) -> None:
    """Load psycopg now, or raise :class:`DatabaseDriverError` (one line, not a traceback
    from deep in SQLAlchemy's dialect loading)."""
    try:
        import psycopg  # noqa: F401 - only a team database needs it
    except ImportError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DatabaseDriverError(url, label, redact(detail)) from None


def server_error(url: str, label: str, exc: BaseException) -> DatabaseServerError | None:
    """``exc`` (a psycopg error) as a :class:`DatabaseServerError`, or None when it is about
    the statement rather than the server, the login or the database."""
    if type(exc).__module__.split(".")[0] != "psycopg":
        return None
    state = getattr(exc, "sqlstate", None) or ""
    name = type(exc).__name__
    detail = _first_line(exc, url)
    lowered = detail.lower()
    if state.startswith("28") or "password authentication failed" in lowered or "no password supplied" in lowered:
        return DatabaseServerError(url, label, "login", detail)
    if state == "3D000" or ("database" in lowered and "does not exist" in lowered):
        return DatabaseServerError(url, label, "missing", detail)
    if state.startswith(("08", "57P")) or (not state and name in ("OperationalError", "InterfaceError")):
        return DatabaseServerError(url, label, "unreachable", detail)
    return None
