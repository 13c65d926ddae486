"""A team database's URL as text: its syntax, its check, its redacted form (no settings, no
SQLAlchemy, no driver).

Apart from :mod:`sparklio_desktop.core.ledger.location` (which reads the URL in force from
the environment and the settings) so that the settings can check a URL when they load
without importing what reads them: core/settings/config.py imports this module only.
"""

from __future__ import annotations

from sparklio_desktop.core.server_urls import MASK, masked_url, password_problem, shape_problem, split_url, url_password

__all__ = [
    "DATABASE_URL_ENV", "MASK", "SCHEMES", "check_database_url", "database_place", "is_database_url",
    "postgres_url", "redacted_url", "url_password",
]  # fmt: skip

DATABASE_URL_ENV = "SPARKLIO_DATABASE_URL"
# SQLAlchemy's names for PostgreSQL through psycopg 3; a bare postgresql:// means the same here.
SCHEMES = ("postgresql+psycopg", "postgresql")


def is_database_url(target: object) -> bool:
    """Whether ``target`` (a path, a string, None) names a PostgreSQL database rather than a file."""
    return isinstance(target, str) and target.split("://", 1)[0] in SCHEMES and "://" in target


def check_database_url(url: str, *, allow_password: bool = True) -> str | None:
    """What is wrong with ``url`` as the ledger's database URL (one line, never quoting the
    URL, which may hold a password), or None when it is fine."""
    parts, problem = shape_problem(url)
    if parts is None:
        return problem
    if parts.scheme not in SCHEMES:
        return "must start with postgresql+psycopg:// (PostgreSQL through psycopg)"
    if not parts.path.strip("/"):
        return "names no database (postgresql+psycopg://user@host:5432/DBNAME)"
    if allow_password:
        return None
    return password_problem(parts, DATABASE_URL_ENV, "postgresql+psycopg://user:PASSWORD@host:5432/db")


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``****`` (the user name is kept): the only
    form of a database URL that is ever shown or logged."""
    return masked_url(url)


def database_place(url: str) -> str:
    """Where the team database is, in a few words for the status bar: ``host/dbname`` (no
    user, no password, no options)."""
    parts = split_url(url)
    if parts is None:
        return "a PostgreSQL database"
    host = parts.hostname or "localhost"
    return f"{host}/{parts.path.strip('/')}" if parts.path.strip("/") else host


def postgres_url(url: str) -> str:
    """``url`` with SQLAlchemy's psycopg 3 driver named (``postgresql://`` would mean psycopg2)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme == "postgresql" else url
