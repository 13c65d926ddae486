"""Where the ledger lives: a team's PostgreSQL (a URL), or the SQLite file in the data folder.

Team mode (issue 16) points every install of a studio at one database:
``$SPARKLIO_DATABASE_URL`` (which wins, so a studio can set it for all its machines and
keep the password out of files) or the setting ``storage.database_url``, a SQLAlchemy
URL ``postgresql+psycopg://user:password@host:5432/dbname``. Unset, the ledger is the
SQLite file of the data folder, as it always was.

A URL may carry a password. It is never shown: :func:`redacted_url` is the only form that
reaches a message, a log line or ``doctor``, and the password is remembered with
:func:`~sparklio_desktop.core.redact.remember_secret` so the log removes it from any
line. ``settings.json`` never holds secrets, so a URL with a password is refused there
(:func:`check_database_url` with ``allow_password=False``). No SQLAlchemy and no driver
here: the settings check the URL when they load, and the quick commands ask where the
ledger is before deciding what to import.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from sparklio_desktop.core.redact import remember_secret

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings

__all__ = [
    "DATABASE_URL_ENV", "SCHEMES", "check_database_url", "database_url", "is_database_url", "redacted_url",
    "url_password",
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


def database_url(settings: Settings | None = None) -> str | None:
    """The team database in force: ``$SPARKLIO_DATABASE_URL`` when set (not empty), else the
    setting ``storage.database_url`` (of ``settings``, default the settings file); None:
    the SQLite ledger in the data folder."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip() or None
    if url is None:
        if settings is None:
            from sparklio_desktop.core.settings import paths

            if not paths.settings_path().is_file():
                return None
            from sparklio_desktop.core.settings.config import load_settings_lenient

            settings, _problem = load_settings_lenient()
        url = (settings.storage.database_url or "").strip() or None
    if url is not None:
        password = url_password(url)
        if password:
            remember_secret(password)
    return url
