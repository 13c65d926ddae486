"""The shared response cache in a real Redis (tests/redis_server.py starts one on loopback).

What a team counts on: an answer paid for on one install is a $0 hit on another (two
data folders in one process, and two ``sparklio run`` processes); each entry expires
after its task's TTL (24 h static, 1 h dynamic); a Redis that goes down costs a request
nothing but the cache, says so once and is skipped for a while; the URL's password is
never printed, logged or shown by ``doctor``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal

import pytest

from sparklio_desktop.core.cache import CachedResponse, cache_key
from sparklio_desktop.core.cache_backend import open_response_cache
from sparklio_desktop.core.cache_url import CACHE_URL_ENV, check_cache_url, configured_cache_url, masked_url
from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.redis_cache import NAMESPACE, RedisResponseCache, decode_entry, encode_entry
from sparklio_desktop.core.settings.config import load_settings, set_setting
from tests.core.test_dispatch import Harness, fast_policy, servers  # noqa: F401 - fixtures
from tests.core.test_dispatch import test_cache_hit_is_free_and_says_what_it_saved as hit_rules
from tests.core.test_dispatch import test_errors_and_partials_are_never_cached as partial_rules
from tests.fakes.openai_server import OpenAIServer
from tests.redis_server import RedisServer, free_port

PASSWORD = "s3cret-redis-pass-0123456789"
ANSWER = CachedResponse(model_id="openai/gpt-4", output="A whole answer.", input_tokens=12, output_tokens=5,
                        cost_usd=Decimal("0.000123456789"))  # fmt: skip


def keys_in(server: RedisServer) -> list[str]:
    reply = server.command("KEYS", NAMESPACE + "*").decode()
    return sorted(line for line in reply.split("\r\n") if line.startswith(NAMESPACE))


def pttl(server: RedisServer, key: str) -> int:
    return int(server.command("PTTL", key).decode().strip().lstrip(":"))


def redis_install(tmp_path, name, policy, url, warnings=None, **kw):
    """One install: its own data folder and ledger, the shared cache at ``url``."""
    folder = tmp_path / name
    folder.mkdir()
    cache = RedisResponseCache(url, warn=(warnings if warnings is not None else []).append, **kw)
    return Harness(folder, policy, cache=cache)


def test_a_hit_crosses_installs_at_no_cost(tmp_path, fast_policy, servers, redis_server):  # noqa: F811
    anthropic, _ = servers
    anthropic.usage = (120, 80)
    warnings: list[str] = []
    first_install = redis_install(tmp_path, "a", fast_policy, redis_server.url, warnings)
    second_install = redis_install(tmp_path, "b", fast_policy, redis_server.url, warnings)
    try:
        paid = first_install.run()
        assert paid.ok and not paid.cache_hit and paid.cost_usd == Decimal("0.00156")
        assert warnings == [] and len(keys_in(redis_server)) == 1
        hit = second_install.run()
        assert hit.cache_hit and hit.output == paid.output and hit.cost_usd == 0
        assert hit.saved_usd == Decimal("0.00156")
        (row,) = second_install.ledger.attempts(hit.request_id)
        assert (row.outcome, row.cost_usd, row.saved_usd) == ("cache_hit", 0, Decimal("0.00156"))
        assert first_install.ledger.attempts(hit.request_id) == []  # recorded by the install that asked
        assert len([r for r in anthropic.requests if r.path.endswith("/messages")]) == 1
        assert second_install.cache.hits == 1 and first_install.cache.misses == 1
    finally:
        first_install.close()
        second_install.close()
    # The same key as the SQLite cache's, under the namespace prefix.
    sqlite_install = Harness(tmp_path, fast_policy)
    try:
        assert sqlite_install.run().ok
    finally:
        sqlite_install.close()
    with sqlite3.connect(tmp_path / "cache.sqlite3") as conn:
        (sqlite_key,) = [row[0] for row in conn.execute("SELECT key FROM responses")]
    assert keys_in(redis_server) == [NAMESPACE + sqlite_key]


def test_each_entry_expires_after_its_task_ttl(tmp_path, fast_policy, servers, redis_server):  # noqa: F811
    install = redis_install(tmp_path, "a", fast_policy, redis_server.url)
    policy = install.workspace.policy
    assert (policy.cache_ttl_s("copywriting_standard"), policy.cache_ttl_s("chat")) == (86400, 3600)
    try:
        assert install.run(task="copywriting_standard", prompt="a lasting answer").ok
        (static,) = keys_in(redis_server)
        assert install.run(task="chat", prompt="what is new today?").ok
        (dynamic,) = set(keys_in(redis_server)) - {static}
    finally:
        install.close()
    assert 86_390_000 < pttl(redis_server, static) <= 86_400_000
    assert 3_590_000 < pttl(redis_server, dynamic) <= 3_600_000


def test_redis_down_the_request_goes_on_without_the_cache(tmp_path, fast_policy, servers, own_redis_server):  # noqa: F811
    anthropic, _ = servers
    now = [1000.0]
    warnings: list[str] = []
    install = redis_install(tmp_path, "a", fast_policy, own_redis_server.url, warnings, clock=lambda: now[0])
    cache = install.cache
    try:
        assert install.run().ok and cache.health().available
        own_redis_server.stop()
        down = install.run()  # the hit it would have been is paid for again, and answered
        assert down.ok and not down.cache_hit and down.cost_usd > 0
        health = cache.health()
        assert health.backend == "redis" and not health.available and "does not answer" in health.problem
        assert len(warnings) == 1 and "answering without the cache" in warnings[0]
        skipped = cache.skipped
        assert install.run().ok  # in the back-off: Redis is not even asked
        assert cache.skipped == skipped + 2 and len(warnings) == 1  # the lookup and the store
        own_redis_server.start()  # back, on the same port, empty
        now[0] += 31
        again = install.run()
        assert again.ok and not again.cache_hit and cache.health().available
        assert "answers again" in warnings[-1]
        assert install.run().cache_hit
    finally:
        install.close()
    assert len([r for r in anthropic.requests if r.path.endswith("/messages")]) == 4


def test_nothing_listening_costs_one_short_timeout(tmp_path):
    url = f"redis://127.0.0.1:{free_port()}/0"
    warnings: list[str] = []
    cache = RedisResponseCache(url, warn=warnings.append)

    async def go() -> tuple[CachedResponse | None, bool]:
        try:
            await cache.aput("k", ANSWER, 60)
            return await cache.aget("k"), cache.health().available
        finally:
            await cache.aclose()

    assert asyncio.run(go()) == (None, False)
    assert cache.skipped == 1 and len(warnings) == 1


def test_entries_round_trip_exactly(redis_server):
    cache = open_response_cache(redis_server.url)
    assert isinstance(cache, RedisResponseCache)

    async def go() -> tuple[CachedResponse | None, CachedResponse | None, CachedResponse | None]:
        try:
            before = await cache.aget("k1")
            await cache.aput("k1", ANSWER, 60)
            redis_server.command("SET", NAMESPACE + "k2", "not an entry")
            return before, await cache.aget("k1"), await cache.aget("k2")
        finally:
            await cache.aclose()

    before, found, garbage = asyncio.run(go())
    assert before is None and found == ANSWER and garbage is None  # a foreign value is a miss
    assert decode_entry(encode_entry(ANSWER)) == ANSWER
    with pytest.raises(ValueError):
        asyncio.run(cache.aput("k", ANSWER, 0))


def test_the_password_is_never_shown(tmp_path, capsys):
    server = RedisServer(password=PASSWORD).start()
    try:
        right, wrong = server.url, server.url.replace(PASSWORD, "wrong-" + PASSWORD[::-1])
        warnings: list[str] = []
        good = RedisResponseCache(right, warn=warnings.append)
        bad = RedisResponseCache(wrong, warn=warnings.append)

        async def go() -> CachedResponse | None:
            try:
                await good.aput("k", ANSWER, 60)
                await bad.aget("k")
                return await good.aget("k")
            finally:
                await good.aclose()
                await bad.aclose()

        assert asyncio.run(go()) == ANSWER
        assert not bad.health().available and good.health().available
        shown = [*warnings, repr(good), repr(bad), good.where, bad.where, str(bad.health())]
        assert len(warnings) == 1 and "****" in good.where
        for text in shown:
            assert PASSWORD not in text and PASSWORD[::-1] not in text, text
        # The CLI: doctor with the right and the wrong password, and a run with the wrong one.
        for url, healthy in ((right, True), (wrong, False)):
            result = sparklio("doctor", "--json", env={CACHE_URL_ENV: url})
            (check,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == "cache"]
            assert check["ok"] is healthy and check["path"] == masked_url(url), check
            assert PASSWORD not in result.stdout + result.stderr and PASSWORD[::-1] not in result.stdout
        with OpenAIServer() as openai:
            openai.reply_text = "Answered without the cache."
            result = sparklio(*run_args(openai), env={CACHE_URL_ENV: wrong, **run_env(openai)})
        assert result.returncode == 0 and result.stdout.strip() == "Answered without the cache.", result.stderr
        assert "answering without the cache" in result.stderr and "****" in result.stderr
        logs = "".join(p.read_text() for p in (tmp_path / "sparklio-home").rglob("*.log"))
        for text in (result.stdout, result.stderr, logs, capsys.readouterr().out):
            assert PASSWORD not in text and PASSWORD[::-1] not in text
    finally:
        server.close()


def sparklio(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **env),
        timeout=120,
    )


def run_args(_server: OpenAIServer) -> list[str]:
    return ["run", "--task", "chat", "--prompt", "Hello there", "--no-explore"]


def run_env(server: OpenAIServer) -> dict[str, str]:
    return {"OPENAI_API_KEY": "sk-redis-openai-0123456789abcdef", "OPENAI_BASE_URL": server.api_url}


def test_two_processes_two_data_folders_one_redis(tmp_path, redis_server):
    homes = [tmp_path / "studio-a", tmp_path / "studio-b"]
    with OpenAIServer() as openai:
        openai.reply_text = "Paid for once."
        results = []
        for home in homes:
            home.mkdir()
            env = {"SPARKLIO_HOME": str(home), CACHE_URL_ENV: redis_server.url, **run_env(openai)}
            results.append(sparklio(*run_args(openai), env=env))
            assert results[-1].returncode == 0, results[-1].stderr
        assert [r.stdout.strip() for r in results] == ["Paid for once.", "Paid for once."]
        assert len([r for r in openai.requests if r.path.endswith("/chat/completions")]) == 1
    assert "(cache)" not in results[0].stderr and "(cache)" in results[1].stderr
    spends = [json.loads(sparklio("spend", "--json", env={"SPARKLIO_HOME": str(home)}).stdout) for home in homes]
    assert Decimal(spends[0]["spent_usd"]) > 0 and spends[0]["cache_hits"] == 0
    assert Decimal(spends[1]["spent_usd"]) == 0 and spends[1]["cache_hits"] == 1
    assert Decimal(spends[1]["saved_usd"]) == Decimal(spends[0]["spent_usd"])
    assert not (homes[1] / "cache.sqlite3").exists()  # the shared cache only


def test_cache_urls_are_checked_and_masked(tmp_path, monkeypatch):
    assert check_cache_url("redis://127.0.0.1:6379/0") is None
    assert check_cache_url("rediss://cache.studio.lan:6380/2") is None
    assert check_cache_url("unix:///run/redis/redis.sock") is None
    assert "redis://" in check_cache_url("http://127.0.0.1:6379")
    assert "port" in check_cache_url("redis://host:port/0")
    assert "password" in check_cache_url(f"redis://:{PASSWORD}@host/0", allow_password=False)
    assert masked_url(f"redis://team:{PASSWORD}@host:6379/0") == "redis://team:****@host:6379/0"
    assert masked_url("redis://host:6379/0") == "redis://host:6379/0"
    # the setting: validated, and never a password in settings.json
    path = tmp_path / "settings.json"
    assert set_setting("cache.url", "redis://cache.studio.lan:6379/0", path).cache.url.startswith("redis://")
    with pytest.raises(ConfigError) as bad:
        set_setting("cache.url", "http://cache.studio.lan", path)
    assert "redis://" in str(bad.value)
    with pytest.raises(ConfigError) as secret:
        set_setting("cache.url", f"redis://:{PASSWORD}@cache.studio.lan:6379/0", path)
    assert "environment" in str(secret.value) and PASSWORD not in str(secret.value)
    assert PASSWORD not in path.read_text()
    # the environment wins over the setting; unset, the SQLite cache
    setting = load_settings(path).cache.url
    assert configured_cache_url(setting) == "redis://cache.studio.lan:6379/0"
    monkeypatch.setenv(CACHE_URL_ENV, "redis://other:6379/1")
    assert configured_cache_url(setting) == "redis://other:6379/1"
    monkeypatch.delenv(CACHE_URL_ENV)
    assert open_response_cache(None).backend == "sqlite"
    assert cache_key("m", [{"role": "user", "content": "x"}])  # the one key function both use


def test_doctor_names_the_backend_and_whether_redis_answers(tmp_path, monkeypatch, own_redis_server):
    from sparklio_desktop.core.doctor import check_cache

    settings = tmp_path / "settings.json"
    local = check_cache(settings)
    assert local.ok and local.name == "cache" and local.detail.startswith("SQLite: ")
    monkeypatch.setenv(CACHE_URL_ENV, own_redis_server.url)
    shared = check_cache(settings)
    assert shared.ok and shared.detail.startswith("Redis (shared): answers (PING ")
    assert shared.path == own_redis_server.url and not (tmp_path / "cache.sqlite3").exists()
    own_redis_server.stop()
    down = check_cache(settings)
    assert not down.ok and "does not answer" in down.detail and CACHE_URL_ENV in down.action
    assert down.line().startswith("PROBLEM  cache")


def test_a_silent_redis_never_holds_the_loop():
    """A Redis that accepts the connection and never answers: the lookup is a miss after the
    cache's own timeout, and the loop kept running meanwhile (other requests, the window)."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the handshake; nobody ever reads or writes
        cache = RedisResponseCache(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", warn=lambda _line: None)

        async def go() -> tuple[CachedResponse | None, int]:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            try:
                return await cache.aget("k"), ticks
            finally:
                task.cancel()
                await cache.aclose()

        found, ticks = asyncio.run(go())
    assert found is None and not cache.health().available and "does not answer" in cache.health().problem
    assert ticks >= 5  # the loop turned while Redis was waited for


def test_a_url_that_is_not_redis_turns_the_cache_off_with_one_line(monkeypatch):
    monkeypatch.setenv(CACHE_URL_ENV, f"http://team:{PASSWORD}@cache.studio.lan/")
    warnings: list[str] = []
    cache = open_response_cache("redis://ignored:6379/0", warn=warnings.append)  # the environment wins
    assert isinstance(cache, RedisResponseCache)
    assert asyncio.run(cache.aget("k")) is None and cache.skipped == 1
    health = cache.health()
    assert not health.available and "redis://" in health.problem and "****" in health.where
    assert len(warnings) == 1 and "answering without the cache" in warnings[0] and PASSWORD not in warnings[0]


@pytest.mark.parametrize("rules", [hit_rules, partial_rules], ids=["hit_is_free", "errors_and_partials_never_cached"])
def test_the_dispatchers_cache_rules_hold_on_redis(rules, tmp_path, fast_policy, servers, redis_server):  # noqa: F811
    """test_dispatch.py's cache tests, run on the Redis backend as they run on SQLite."""
    install = Harness(tmp_path, fast_policy, cache=RedisResponseCache(redis_server.url))
    try:
        rules(install, servers)
    finally:
        install.close()
    assert install.cache.health().available and not (tmp_path / "cache.sqlite3").exists()
