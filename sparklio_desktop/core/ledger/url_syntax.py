"""A team database's URL as text: its syntax, its check, its redacted form (no settings, no
SQLAlchemy, no driver).

Apart from :mod:`sparklio_desktop.core.ledger.location` (which reads the URL in force from
the environment and the settings) so that the settings can check a URL when they load
without importing what reads them: core/settings/config.py imports this module only.
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from sparklio_desktop.core.redact import remember_secret

__all__ = [
    "DATABASE_URL_ENV", "MASK", "SCHEMES", "check_database_url", "database_place", "is_database_url",
    "postgres_url", "redacted_url", "url_password",
]  # fmt: skip

DATABASE_URL_ENV = "SPARKLIO_DATABASE_URL"
# SQLAlchemy's names for PostgreSQL through psycopg 3; a bare postgresql:// means the same here.
SCHEMES = ("postgresql+psycopg", "postgresql")
MASK = "****"


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def is_database_url(target: object) -> bool:
    """Whether ``target`` (a path, a string, None) names a PostgreSQL database rather than a file."""
    return isinstance(target, str) and target.split("://", 1)[0] in SCHEMES and "://" in target


def check_database_url(url: str, *, allow_password: bool = True) -> str | None:
    """What is wrong with ``url`` as the ledger's database URL (one line, never quoting the
    URL, which may hold a password), or None when it is fine."""
    if not url or any(ch.isspace() for ch in url):
        return "not a URL (empty, or spaces inside)"
    parts = _split(url)
    if parts is None:
        return "not a URL (its port is not a number)"
    if parts.scheme not in SCHEMES:
        return "must start with postgresql+psycopg:// (PostgreSQL through psycopg)"
    if not parts.path.strip("/"):
        return "names no database (postgresql+psycopg://user@host:5432/DBNAME)"
    if not allow_password and parts.password:
        return (
            "holds a password, and settings.json never holds secrets; set the URL in the "
            f"environment instead ({DATABASE_URL_ENV}=postgresql+psycopg://user:PASSWORD@host:5432/db)"
        )
    return None


def url_password(url: str) -> str | None:
    parts = _split(url)
    return parts.password if parts is not None else None


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``****`` (the user name is kept): the only
    form of a database URL that is ever shown or logged."""
    parts = _split(url)
    if parts is None or not parts.password:
        if parts is None and "@" in url:  # unparsable: show nothing that may be a secret
            return url.split("://", 1)[0] + "://" + MASK + "@" + url.rsplit("@", 1)[-1]
        return url
    remember_secret(parts.password)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()


def database_place(url: str) -> str:
    """Where the team database is, in a few words for the status bar: ``host/dbname`` (no
    user, no password, no options)."""
    parts = _split(url)
    if parts is None:
        return "a PostgreSQL database"
    host = parts.hostname or "localhost"
    return f"{host}/{parts.path.strip('/')}" if parts.path.strip("/") else host


def postgres_url(url: str) -> str:
    """``url`` with SQLAlchemy's psycopg 3 driver named (``postgresql://`` would mean psycopg2)."""
    scheme, rest = url.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme == "postgresql" else url
