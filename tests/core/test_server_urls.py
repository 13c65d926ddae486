"""The one masked form of a server URL (Redis, PostgreSQL) and the settings' checks built
on it: a password never shows, whatever the URL looks like."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.cache_url import check_cache_url, masked_url
from sparklio_desktop.core.ledger.url_syntax import check_database_url, redacted_url
from sparklio_desktop.core.redact import known_secrets
from sparklio_desktop.core.server_urls import shape_problem


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret-pw@cache.lan:6379/0", "redis://:****@cache.lan:6379/0"),
        ("postgresql+psycopg://ada:s3cret-pw@db.lan:5432/team", "postgresql+psycopg://ada:****@db.lan:5432/team"),
        ("postgresql://ada:s3cret-pw@db.lan:notaport/team", "postgresql://****@db.lan:notaport/team"),
        ("redis://cache.lan:6379/0", "redis://cache.lan:6379/0"),
    ],
)
def test_the_password_is_masked_and_remembered_for_the_log(url: str, shown: str) -> None:
    assert masked_url(url) == shown == redacted_url(url)
    assert "s3cret-pw" not in shown
    if "s3cret-pw" in url and "notaport" not in url:
        assert "s3cret-pw" in known_secrets()


def test_the_settings_refuse_a_password_and_say_where_it_goes() -> None:
    cache = check_cache_url("redis://:s3cret-pw@cache.lan:6379/0", allow_password=False)
    database = check_database_url("postgresql+psycopg://ada:s3cret-pw@db/team", allow_password=False)
    assert cache is not None and "SPARKLIO_CACHE_URL=" in cache and "s3cret-pw" not in cache
    assert database is not None and "SPARKLIO_DATABASE_URL=" in database and "s3cret-pw" not in database
    assert check_cache_url("redis://:s3cret-pw@cache.lan:6379/0") is None  # the environment may hold one


@pytest.mark.parametrize("text", ["", "redis://a b", "redis://host:port/0"])
def test_text_that_is_not_a_url_is_named_without_quoting_it(text: str) -> None:
    parts, problem = shape_problem(text)
    assert parts is None and problem is not None and problem.startswith("not a URL")
    assert check_cache_url(text) == problem and check_database_url(text) == problem
