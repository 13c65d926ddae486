"""The status bar and a team's shared cache in Redis: it says "Redis (shared)" while Redis
answers, and when Redis goes down mid-session a request from the composer is still
answered (paid for, without the cache) and the status bar says the cache is unavailable.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sparklio_desktop.app import build_window
from sparklio_desktop.core.cache_url import CACHE_URL_ENV
from tests.ui.conftest import run, wait_until


@pytest.fixture(autouse=True)
def collect_between_tests() -> Iterator[None]:
    gc.collect()
    yield
    gc.collect()


def test_the_status_bar_follows_the_shared_cache(qtbot, qloop, make_ctx, openai_server, own_redis_server, monkeypatch):
    monkeypatch.setenv(CACHE_URL_ENV, own_redis_server.url)
    ctx = make_ctx()
    assert ctx.cache.backend == "redis"
    window = build_window(ctx)
    qtbot.addWidget(window)
    window.show()
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    wait_until(qloop, lambda: "cache: Redis (shared)" in window.providers_label.text(), timeout=5)

    own_redis_server.stop()
    openai_server.reply_text = "Answered while Redis was down."
    ctx.composer.set_task("brief_questions")
    ctx.composer.explore = False
    ctx.composer.set_prompt("Who is the audience?")
    run(qloop, ctx.composer.send())
    assert ctx.composer.last_output == "Answered while Redis was down."
    (row,) = ctx.ledger.attempts(ctx.composer.last_request_id)
    assert row.outcome == "ok" and row.cost_usd > 0
    wait_until(qloop, lambda: "cache: Redis unavailable" in window.providers_label.text(), timeout=5)
    assert "openai: key" in window.providers_label.text()  # the providers are still shown
    run(qloop, ctx.wait_idle())


def test_the_sqlite_cache_at_work_adds_nothing(qtbot, qloop, make_ctx):
    ctx = make_ctx()
    assert ctx.cache.backend == "sqlite"
    window = build_window(ctx)
    qtbot.addWidget(window)
    ctx.status.refresh()
    run(qloop, ctx.wait_idle())
    wait_until(qloop, lambda: "ollama:" in window.providers_label.text(), timeout=5)
    assert "cache" not in window.providers_label.text()
