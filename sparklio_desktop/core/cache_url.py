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
from urllib.parse import SplitResult, urlsplit

from sparklio_desktop.core.redact import remember_secret

__all__ = ["CACHE_URL_ENV", "SCHEMES", "check_cache_url", "configured_cache_url", "masked_url", "url_password"]

CACHE_URL_ENV = "SPARKLIO_CACHE_URL"
SCHEMES = ("redis", "rediss", "unix")
MASK = "****"


def _split(url: str) -> SplitResult | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def check_cache_url(url: str, *, allow_password: bool = True) -> str | None:
    """What is wrong with ``url`` as a cache URL (one line, never quoting the URL, which
    may hold a password), or None when it is fine."""
    if not url or any(ch.isspace() for ch in url):
        return "not a URL (empty, or spaces inside)"
    parts = _split(url)
    if parts is None:
        return "not a URL (its port is not a number)"
    if parts.scheme not in SCHEMES:
        return "must start with redis://, rediss:// (TLS) or unix:// (a socket path)"
    if parts.scheme == "unix" and not parts.path:
        return "a unix:// URL needs the socket's path (unix:///run/redis.sock)"
    if parts.scheme != "unix" and not parts.hostname:
        return "names no host (redis://host:6379/0)"
    if not allow_password and parts.password:
        return (
            "holds a password, and settings.json never holds secrets; set the URL in the "
            f"environment instead ({CACHE_URL_ENV}=redis://:PASSWORD@host:6379/0)"
        )
    return None


def url_password(url: str) -> str | None:
    parts = _split(url)
    return parts.password if parts is not None else None


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``****`` (the user name is kept): the only
    form of a cache URL that is ever shown or logged."""
    parts = _split(url)
    if parts is None or not parts.password:
        if parts is None and "@" in url:  # unparsable: show nothing that may be a secret
            return url.split("://", 1)[0] + "://" + MASK + "@" + url.rsplit("@", 1)[-1]
        return url
    remember_secret(parts.password)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()


def configured_cache_url(setting: str | None) -> str | None:
    """The cache URL in force: ``$SPARKLIO_CACHE_URL`` when set (not empty), else the
    setting ``cache.url``; None: the SQLite cache in the data folder."""
    url = os.environ.get(CACHE_URL_ENV, "").strip() or (setting or "").strip() or None
    if url is not None:
        password = url_password(url)
        if password:
            remember_secret(password)
    return url
