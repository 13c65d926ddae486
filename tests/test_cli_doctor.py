"""Damaged and unwritable data files, as a user meets them through the CLI.

Every damage kind (truncated, garbage pages, garbage header, zero bytes, a folder in
the ledger's place, a file that is not SQLite, a garbage WAL/SHM pair) is run through
``spend``, ``history``, ``show`` and ``run`` in real subprocesses: exit 1 with one line
that names the file and ``sparklio doctor``, never a traceback, and no paid request
when the damage is found on opening. Then ``sparklio doctor`` and ``--repair`` on the
same folders, a damaged cache with and without ``--no-cache``, damaged conversations
files (``sparklio conversations`` says one line; the doctor salvages them or rebuilds
their search index), and a read-only data folder against the loopback OpenAI server.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from tests.core.ledger_damage import DAMAGE_KINDS, damage, leaf_rowids, write_ledger
from tests.core.test_conversations_doctor import CONVERSATIONS, write_conversations
from tests.core.test_conversations_doctor import damage as damage_conversations
from tests.fakes.openai_server import OpenAIServer

KEY = "sk-doctor-openai-0123456789abcdef"
REQUESTS = 400
MODEL = "openai/gpt-3.5-turbo"
# Found when the ledger is opened, so nothing is paid for.
FOUND_ON_OPEN = ("truncated", "garbage_header", "zero_bytes", "directory", "not_sqlite")


def sparklio(
    *args: str, env: dict[str, str] | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **(env or {})),
        timeout=120,
    )


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pristine")
    write_ledger(folder / "ledger.sqlite3", REQUESTS)
    return folder / "ledger.sqlite3"


@pytest.fixture
def openai() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        server.reply_text = "A fresh answer."
        yield server


def run_args(server: OpenAIServer, *extra: str) -> tuple[list[str], dict[str, str]]:
    args = ["run", "--task", "chat", "--prompt", "Hello there", "--no-explore", *extra]
    return args, {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.api_url}


def assert_one_line_error(result: subprocess.CompletedProcess[str], path: Path) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    error = [line for line in lines if line.startswith("sparklio: error:")]
    assert len(error) == 1, result.stderr
    assert str(path) in error[0] and "sparklio doctor" in error[0]


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("command", ["spend", "history", "show", "run"])
def test_a_damaged_ledger_gives_one_line_on_every_command(
    kind: str, command: str, pristine: Path, sparklio_home: Path, openai: OpenAIServer
) -> None:
    ledger = sparklio_home / "ledger.sqlite3"
    shutil.copyfile(pristine, ledger)
    damaged_pages = damage(kind, ledger)
    env: dict[str, str] = {}
    if command == "run":
        args, env = run_args(openai, "--no-cache")
    elif command == "show":
        last = f"r{REQUESTS - 1:05d}"  # its rows sit on the last pages, which garbage_pages hits
        args = ["show", last]
    else:
        args = [command]
    result = sparklio(*args, env=env)
    if kind == "garbage_wal":
        # SQLite checks the WAL header's checksum and ignores a WAL that fails it: the
        # ledger is intact and every command works.
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return
    if kind == "garbage_pages" and command == "spend":
        # spend reads the daily rollup, which the damage did not reach: its total is
        # right, and doctor reports the damage (test_doctor_finds_and_repairs).
        assert result.returncode == 0, result.stderr
        assert "$0.18 of" in result.stdout  # 400 x $0.00045
        assert damaged_pages
        return
    assert_one_line_error(result, ledger)
    if command == "run" and kind in FOUND_ON_OPEN:
        assert openai.requests == []  # found before any paid call


@pytest.mark.parametrize(
    "kind", ["truncated", "garbage_pages", "garbage_header", "zero_bytes", "directory", "not_sqlite"]
)
def test_doctor_finds_and_repairs(kind: str, pristine: Path, sparklio_home: Path) -> None:
    ledger = sparklio_home / "ledger.sqlite3"
    shutil.copyfile(pristine, ledger)
    damage(kind, ledger)
    found = sparklio("doctor")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    problem = [line for line in found.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problem) == 1 and "ledger" in problem[0] and "--repair" in problem[0], found.stdout

    repaired = sparklio("doctor", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["healthy"] is True
    (done,) = report["repairs"]
    aside = Path(done["set_aside_as"])
    assert aside.parent == sparklio_home and aside.name.startswith("ledger.sqlite3.damaged-")
    assert aside.exists()  # set aside, never deleted
    salvaged = {t["table"]: t["salvaged"] for t in done["tables"]}
    with sqlite3.connect(ledger) as new:
        rows = new.execute("SELECT count(*) FROM llm_usage").fetchone()[0]
    assert salvaged["llm_usage"] == rows
    if kind == "garbage_header":
        assert salvaged["llm_usage"] == REQUESTS and salvaged["decisions"] == REQUESTS
    elif kind in ("truncated", "garbage_pages"):
        assert 0 < salvaged["llm_usage"] < REQUESTS
    else:
        assert salvaged["llm_usage"] == 0
    # the repaired ledger works, and its spend is what was salvaged
    spend = json.loads(sparklio("spend", "--json").stdout)
    assert Decimal(spend["spent_usd"]) == Decimal("0.00045") * rows
    assert sparklio("doctor").returncode == 0


def test_doctor_on_a_healthy_folder(pristine: Path, sparklio_home: Path) -> None:
    shutil.copyfile(pristine, sparklio_home / "ledger.sqlite3")
    result = sparklio("doctor", "--json")
    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["healthy"] is True and report["repairs"] == []
    assert [c["name"] for c in report["checks"]] == [
        "folder", "ledger", "cache", "conversations", "settings", "catalog", "policy",
    ]  # fmt: skip
    text = sparklio("doctor")
    assert text.returncode == 0 and text.stdout.splitlines()[-1] == "healthy"
    assert text.stdout.splitlines()[-2] == f"log file: {sparklio_home / 'logs' / 'sparklio.log'}"
    assert report["log_file"] == str(sparklio_home / "logs" / "sparklio.log")
    # --repair on a healthy folder changes nothing
    assert sparklio("doctor", "--repair").returncode == 0
    assert sorted(p.name for p in sparklio_home.iterdir()) == ["ledger.sqlite3"]


def test_doctor_reports_a_broken_settings_file_without_touching_it(sparklio_home: Path) -> None:
    settings = sparklio_home / "settings.json"
    settings.write_text('{"budget": {"monthly_usd": "lots"}}')
    result = sparklio("doctor", "--repair")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = next(line for line in result.stdout.splitlines() if "settings" in line)
    assert line.startswith("PROBLEM") and str(settings) in line
    assert settings.read_text() == '{"budget": {"monthly_usd": "lots"}}'


def write_cache(path: Path, entries: int) -> None:
    from sparklio_desktop.core.cache import CachedResponse, ResponseCache

    with ResponseCache(path) as cache:
        for i in range(entries):
            cache.put(
                f"key-{i}",
                CachedResponse(
                    model_id=MODEL, output="cached " * 200, input_tokens=1, output_tokens=1, cost_usd=Decimal("0.001")
                ),
                ttl_s=3600,
            )


@pytest.mark.parametrize("kind", ["truncated", "garbage_header", "directory", "not_sqlite"])
def test_a_damaged_cache_is_set_aside_and_never_opened_with_no_cache(
    kind: str, sparklio_home: Path, openai: OpenAIServer
) -> None:
    cache = sparklio_home / "cache.sqlite3"
    write_cache(cache, 100)
    damage(kind, cache)
    before = cache.stat().st_mtime_ns, sorted(p.name for p in sparklio_home.iterdir())

    args, env = run_args(openai, "--no-cache")
    no_cache = sparklio(*args, env=env)
    assert no_cache.returncode == 0, no_cache.stderr
    assert no_cache.stdout.strip() == "A fresh answer."
    assert "warning" not in no_cache.stderr
    after = cache.stat().st_mtime_ns, sorted(p.name for p in sparklio_home.iterdir() if p.name != "ledger.sqlite3")
    assert after == before  # --no-cache never opened it

    args, env = run_args(openai)
    with_cache = sparklio(*args, env=env)
    assert with_cache.returncode == 0, with_cache.stderr
    assert with_cache.stdout.strip() == "A fresh answer."
    assert "Traceback" not in with_cache.stderr
    warnings = [line for line in with_cache.stderr.splitlines() if line.startswith("sparklio: warning:")]
    assert len(warnings) == 1 and "set aside as cache.sqlite3.damaged-" in warnings[0], with_cache.stderr
    assert len([p for p in sparklio_home.iterdir() if p.name.startswith("cache.sqlite3.damaged-")]) == 1
    again = sparklio(*args, env=env)
    assert again.returncode == 0 and "(cache);" in again.stderr  # the fresh cache answers
    assert len(openai.requests) == 2  # --no-cache and the first cached run; the third was a hit


def test_doctor_repairs_a_damaged_cache(sparklio_home: Path) -> None:
    cache = sparklio_home / "cache.sqlite3"
    cache.write_text("not a cache\n" * 100)
    found = sparklio("doctor")
    assert found.returncode == 1 and any(line.startswith("PROBLEM  cache") for line in found.stdout.splitlines())
    fixed = sparklio("doctor", "--repair")
    assert fixed.returncode == 0, fixed.stdout
    asides = [p for p in sparklio_home.iterdir() if p.name.startswith("cache.sqlite3.damaged-")]
    assert len(asides) == 1 and asides[0].read_text().startswith("not a cache")
    with sqlite3.connect(cache) as conn:
        assert conn.execute("SELECT count(*) FROM responses").fetchone()[0] == 0


def _without_dac_override() -> tuple[str, ...]:
    """Root ignores file modes; dropping CAP_DAC_OVERRIDE makes it obey them (setpriv,
    util-linux). A non-root user needs nothing."""
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made to bind")
    return (setpriv, "--bounding-set=-dac_override,-dac_read_search")


@pytest.mark.parametrize("with_ledger", [False, True])
def test_a_read_only_data_folder_fails_before_any_paid_call(
    with_ledger: bool, pristine: Path, sparklio_home: Path, openai: OpenAIServer
) -> None:
    prefix = _without_dac_override()
    if with_ledger:
        shutil.copyfile(pristine, sparklio_home / "ledger.sqlite3")
    sparklio_home.chmod(0o555)
    try:
        args, env = run_args(openai, "--no-cache")
        result = sparklio(*args, env=env, prefix=prefix)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        (line,) = [line for line in result.stderr.splitlines() if line.strip()]
        assert line.startswith("sparklio: error:") and "not writable" in line and str(sparklio_home) in line
        assert openai.requests == []
        assert sparklio("spend", prefix=prefix).returncode == 1
    finally:
        sparklio_home.chmod(0o755)
    assert sorted(p.name for p in sparklio_home.iterdir()) == (["ledger.sqlite3"] if with_ledger else [])
    if with_ledger:
        assert leaf_rowids(sparklio_home / "ledger.sqlite3", "llm_usage")  # untouched and readable


def test_the_app_refuses_to_start_on_a_damaged_ledger_with_the_same_line(pristine: Path, sparklio_home: Path) -> None:
    ledger = sparklio_home / "ledger.sqlite3"
    shutil.copyfile(pristine, ledger)
    damage("garbage_header", ledger)
    result = sparklio(env={"SPARKLIO_EXIT_WHEN_READY": "1", "QT_QPA_PLATFORM": "offscreen"})
    assert_one_line_error(result, ledger)
    assert not result.stdout.startswith("ready")


def test_a_ledger_whose_tables_another_program_made(tmp_path: Path) -> None:
    """A SQLite file at the ledger's path with an ``llm_usage`` table of other columns: the
    first migration fails. Every command says so in one line (it used to print SQLAlchemy's
    traceback on each one), the file is left exactly as it was, the doctor reports it
    instead of calling it healthy, and ``--repair`` sets it aside."""
    ledger = tmp_path / "ledger.sqlite3"
    with sqlite3.connect(ledger) as conn:
        conn.execute("CREATE TABLE llm_usage (x INTEGER)")
        conn.execute("INSERT INTO llm_usage VALUES (42)")

    def contents() -> tuple[list[tuple], list[tuple]]:
        # Schema and rows (opening in WAL mode rewrites the header's journal-mode bytes only).
        with sqlite3.connect(ledger) as conn:
            return conn.execute("SELECT * FROM sqlite_master").fetchall(), conn.execute(
                "SELECT * FROM llm_usage"
            ).fetchall()

    before = contents()
    env = {"SPARKLIO_HOME": str(tmp_path)}
    for args in (("spend",), ("history",), ("run", "--task", "chat", "--prompt", "hi")):
        done = sparklio(*args, env=env)
        assert done.returncode == 1, (args, done.stderr)
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert f"the ledger {ledger} is damaged" in done.stderr and "m001_initial failed" in done.stderr
        assert "llm_usage already exists" in done.stderr and "sparklio doctor" in done.stderr
    assert contents() == before  # the failed migration's transaction was rolled back

    check = sparklio("doctor", env=env)
    assert check.returncode == 1 and "PROBLEM  ledger" in check.stdout and "m001_initial failed" in check.stdout
    assert contents() == before
    repaired = sparklio("doctor", "--repair", env=env)
    assert repaired.returncode == 0 and "set aside" in repaired.stdout, repaired.stdout + repaired.stderr
    assert list(tmp_path.glob("ledger.sqlite3.damaged-*"))
    assert sparklio("spend", env=env).returncode == 0


@pytest.mark.parametrize("kind", ["garbage_header", "garbage_pages", "fts_shadow_dropped", "fts_index"])
def test_doctor_finds_and_repairs_damaged_conversations(kind: str, sparklio_home: Path) -> None:
    path = sparklio_home / "conversations.sqlite"
    write_conversations(path)
    if kind == "fts_index":
        with sqlite3.connect(path) as conn:
            conn.execute("DELETE FROM turns_fts_data WHERE id > 10")
    else:
        damage_conversations(kind, path)
    if kind == "garbage_header":  # found on opening: one line that names the repair
        listed = sparklio("conversations", "list")
        assert listed.returncode == 1 and "Traceback" not in listed.stderr
        (line,) = [line for line in listed.stderr.splitlines() if line.strip()]
        assert line.startswith("sparklio: error:") and str(path) in line and "sparklio doctor --repair" in line
    found = sparklio("doctor")
    assert found.returncode == 1 and "Traceback" not in found.stderr
    problem = [line for line in found.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problem) == 1 and "conversations" in problem[0] and "--repair" in problem[0], found.stdout

    repaired = sparklio("doctor", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["healthy"] is True
    (done,) = report["repairs"]
    asides = [p for p in sparklio_home.glob("conversations.sqlite.damaged-*") if not p.name.endswith(("-wal", "-shm"))]
    salvaged = {t["table"]: t["salvaged"] for t in done["tables"]}
    if kind == "fts_index":
        assert done["set_aside_as"] is None and asides == [] and done["tables"] == []
    else:
        assert asides == [Path(done["set_aside_as"])]
    listed = json.loads(sparklio("conversations", "list", "--json", "--limit", "1000").stdout)
    if kind == "garbage_pages":
        assert 0 < salvaged["turns"] < 5 * CONVERSATIONS and len(listed) == CONVERSATIONS
    elif kind != "fts_index":
        assert salvaged == {"conversations": CONVERSATIONS, "turns": 5 * CONVERSATIONS, "feedback": CONVERSATIONS}
    found = json.loads(sparklio("conversations", "search", "quokka", "--json", "--limit", "1000").stdout)
    assert 0 < len(found) <= CONVERSATIONS
    assert sparklio("doctor").returncode == 0
