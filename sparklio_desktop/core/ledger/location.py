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

from sparklio_desktop.core.ledger.url_syntax import (
    DATABASE_URL_ENV,
    MASK,
    SCHEMES,
    check_database_url,
    database_place,
    is_database_url,
    postgres_url,
    redacted_url,
    url_password,
)
from sparklio_desktop.core.redact import remember_secret

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings

__all__ = [
    "DATABASE_URL_ENV", "MASK", "SCHEMES", "check_database_url", "database_place", "database_url",
    "is_database_url", "postgres_url", "redacted_url", "settings_in_force", "url_password",
]  # fmt: skip


def settings_in_force(settings: Settings | None = None) -> Settings | None:
    """``settings`` when given, else the settings file read leniently (a broken field falls
    back to its default), else None when there is no file: what the stores opened outside
    the window (the CLI) read the team's URL and member from, without loading pydantic for
    a data folder that has no settings."""
    if settings is not None:
        return settings
    from sparklio_desktop.core.settings import paths

    if not paths.settings_path().is_file():
        return None
    from sparklio_desktop.core.settings.config import load_settings_lenient

    return load_settings_lenient()[0]


def database_url(settings: Settings | None = None) -> str | None:
    """The team database in force: ``$SPARKLIO_DATABASE_URL`` when set (not empty), else the
    setting ``storage.database_url`` (of ``settings``, default the settings file); None:
    the SQLite ledger in the data folder."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip() or None
    if url is None:
        settings = settings_in_force(settings)
        if settings is None:
            return None
        url = (settings.storage.database_url or "").strip() or None
    if url is not None:
        password = url_password(url)
        if password:
            remember_secret(password)
    return url
