"""What the URLs of a team's servers (Redis for the cache, PostgreSQL for the ledger) share:
parsing that never raises, the password read out, and the one masked form that may be shown.

A URL may carry a password. It is never shown: :func:`masked_url` is the only form that
reaches a message, a log line, ``doctor`` or the status bar, and the password is remembered
with :func:`~sparklio_desktop.core.redact.remember_secret` so the log removes it from any
line. ``settings.json`` never holds secrets, so the settings refuse a URL with a password
(:func:`shape_problem` and :func:`password_problem`, used by core/cache_url.py and
core/ledger/url_syntax.py with their own schemes and examples).
"""

from __future__ import annotations

from urllib.parse import SplitResult, urlsplit

from sparklio_desktop.core.redact import remember_secret

__all__ = ["MASK", "masked_url", "password_problem", "shape_problem", "split_url", "url_password"]

MASK = "****"


def split_url(url: str) -> SplitResult | None:
    """``url``'s parts, or None when it cannot be parsed (a port that is not a number)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def shape_problem(url: str) -> tuple[SplitResult | None, str | None]:
    """(the parts, None), or (None, what is wrong) for text that is not a URL at all; the
    problem never quotes the URL."""
    if not url or any(ch.isspace() for ch in url):
        return None, "not a URL (empty, or spaces inside)"
    parts = split_url(url)
    if parts is None:
        return None, "not a URL (its port is not a number)"
    return parts, None


def password_problem(parts: SplitResult, env_var: str, example: str) -> str | None:
    """Why a URL with a password cannot be a setting (``settings.json`` never holds
    secrets), saying where it goes instead; None without a password."""
    if not parts.password:
        return None
    return (
        "holds a password, and settings.json never holds secrets; set the URL in the "
        f"environment instead ({env_var}={example})"
    )


def url_password(url: str) -> str | None:
    parts = split_url(url)
    return parts.password if parts is not None else None


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``****`` (the user name is kept)."""
    parts = split_url(url)
    if parts is None or not parts.password:
        if parts is None and "@" in url:  # unparsable: show nothing that may be a secret
            return url.split("://", 1)[0] + "://" + MASK + "@" + url.rsplit("@", 1)[-1]
        return url
    remember_secret(parts.password)
    user = parts.username or ""
    host = parts.netloc.rsplit("@", 1)[-1]
    return parts._replace(netloc=f"{user}:{MASK}@{host}").geturl()
