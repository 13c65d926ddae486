"""Where the response cache lives: a ``redis://`` URL, or nothing (the SQLite file).

Why a module of its own, with no Redis import: the settings check ``cache.url`` when
they load, ``doctor`` and the status bar show it, and none of them should pay for the
Redis client. A team points every install at one Redis with ``SPARKLIO_CACHE_URL``
(which wins, so a studio can set it for all its machines) or the setting ``cache.url``.

A URL may carry a password (``redis://:pw@host:6379/0``). It is never shown:
:func:`masked_url` is the only form that reaches a screen, a log or ``doctor``, and the
password is remembered with :func:`~sparklio_desktop.core.redact.remember_secret` so
the log removes it from any line. ``settings.json`` never holds secrets, so a URL with
a password is refused there (:func:`check_cache_url` with ``allow_password=False``):
it belongs in the environment.
"""

from __future__ import annotations

import os

from sparklio_desktop.core.redact import remember_secret
from sparklio_desktop.core.server_urls import masked_url, password_problem, shape_problem, url_password

__all__ = ["CACHE_URL_ENV", "SCHEMES", "check_cache_url", "configured_cache_url", "masked_url", "url_password"]

CACHE_URL_ENV = "SPARKLIO_CACHE_URL"
SCHEMES = ("redis", "rediss", "unix")


def check_cache_url(url: str, *, allow_password: bool = True) -> str | None:
    """What is wrong with ``url`` as a cache URL (one line, never quoting the URL, which
    may hold a password), or None when it is fine."""
    parts, problem = shape_problem(url)
    if parts is None:
        return problem
    if parts.scheme not in SCHEMES:
        return "must start with redis://, rediss:// (TLS) or unix:// (a socket path)"
    if parts.scheme == "unix" and not parts.path:
        return "a unix:// URL needs the socket's path (unix:///run/redis.sock)"
    if parts.scheme != "unix" and not parts.hostname:
        return "names no host (redis://host:6379/0)"
    return None if allow_password else password_problem(parts, CACHE_URL_ENV, "redis://:PASSWORD@host:6379/0")


def configured_cache_url(setting: str | None) -> str | None:
    """The cache URL in force: ``$SPARKLIO_CACHE_URL`` when set (not empty), else the
    setting ``cache.url``; None: the SQLite cache in the data folder."""
    url = os.environ.get(CACHE_URL_ENV, "").strip() or (setting or "").strip() or None
    if url is not None:
        password = url_password(url)
        if password:
            remember_secret(password)
    return url
