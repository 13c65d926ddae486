"""The log file (core/logs.py): where it is, what level, rotation, and that no key reaches it.

Real files in the test's data folder, real logging handlers; the command line is run as a
real process where the test is about what a user sees."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparklio_desktop.core import logs
from sparklio_desktop.core.redact import remember_secret
from tests.core.test_dispatch import fast_policy, servers  # noqa: F401 - fixtures

OPENAI_SHAPED = "sk-proj-" + "A1b2C3d4E5f6G7h8J9k0"
ANTHROPIC_SHAPED = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5"
GOOGLE_SHAPED = "AIza" + "SyA1234567890abcdefghijkLMNOP"
ODD_KEYRING_KEY = "custom-endpoint-secret-42"  # no known shape: only remembering it redacts it
ENV_KEY = "plain-env-value-77"


@pytest.fixture(autouse=True)
def closed_logging() -> Iterator[None]:
    yield
    logs.shutdown_logging()


def _text(path: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return path.read_text(encoding="utf-8")


def test_the_log_lives_in_the_data_folder_and_keeps_warnings_by_default(sparklio_home: Path) -> None:
    path = logs.setup_logging()
    assert path == sparklio_home / "logs" / "sparklio.log" == logs.log_path() == logs.active_log_file()
    assert not path.exists()  # nothing logged yet: nothing written
    logging.getLogger("sparklio_desktop.test").info("an info line")
    logging.getLogger("sparklio_desktop.test").warning("a warning line")
    text = _text(path)
    assert "a warning line" in text and "WARNING sparklio_desktop.test" in text
    assert "an info line" not in text


def test_sparklio_log_level_changes_the_level(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARKLIO_LOG_LEVEL", "info")
    root_level = logging.getLogger().level
    try:
        path = logs.setup_logging()
        assert path is not None
        logging.getLogger("sparklio_desktop.test").info("an info line")
        assert "an info line" in _text(path)
    finally:
        logging.getLogger().setLevel(root_level)


def test_a_level_that_is_not_one_says_so_and_keeps_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SPARKLIO_LOG_LEVEL", "loud")
    path = logs.setup_logging()
    assert path is not None
    assert "SPARKLIO_LOG_LEVEL='loud' is not a level" in _text(path)
    assert "is not a level" in capsys.readouterr().err


def test_keys_never_reach_the_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SPARKLIO_KEY_MY_PROXY", ENV_KEY)
    remember_secret(ODD_KEYRING_KEY)
    path = logs.setup_logging()
    assert path is not None
    log = logging.getLogger("sparklio_desktop.test")
    log.warning("provider said: invalid key %s", OPENAI_SHAPED)
    log.warning("headers: Authorization: Bearer abcdefgh12345678 x-api-key: %s", ANTHROPIC_SHAPED)
    log.warning("GET https://generativelanguage.googleapis.com/v1?key=%s", GOOGLE_SHAPED)
    log.warning("endpoint refused %s and %s", ODD_KEYRING_KEY, ENV_KEY)
    try:
        raise RuntimeError(f"failed with {OPENAI_SHAPED}")
    except RuntimeError:
        log.exception("a traceback that quotes the key")
    text = _text(path)
    terminal = capsys.readouterr().err
    for secret in (OPENAI_SHAPED, ANTHROPIC_SHAPED, GOOGLE_SHAPED, ODD_KEYRING_KEY, ENV_KEY, "abcdefgh12345678"):
        assert secret not in text, secret
        assert secret not in terminal, secret
    assert text.count("[REDACTED]") >= 7
    assert "Traceback" in text and "RuntimeError: failed with [REDACTED]" in text


def test_the_file_turns_over_and_keeps_five_old_ones(sparklio_home: Path) -> None:
    path = logs.setup_logging()
    assert path is not None
    line = "x" * 1000
    log = logging.getLogger("sparklio_desktop.test")
    for _ in range(7 * logs.MAX_BYTES // 1000):
        log.warning(line)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["sparklio.log", *(f"sparklio.log.{n}" for n in range(1, logs.BACKUPS + 1))]
    assert all(p.stat().st_size <= logs.MAX_BYTES + 2000 for p in path.parent.iterdir())


def test_a_log_folder_that_cannot_be_made_leaves_standard_error_only(
    sparklio_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sparklio_home / "logs").write_text("a file where the folder should be")
    assert logs.setup_logging() is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot write the log file" in err and "standard error only" in err
    logging.getLogger("sparklio_desktop.test").warning("still shown")
    assert capsys.readouterr().err == "still shown\n"
    assert logs.active_log_file() is None


def test_a_file_that_fails_at_the_first_write_says_so_once(
    sparklio_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = sparklio_home / "logs"
    folder.mkdir()
    (folder / "sparklio.log").symlink_to(sparklio_home / "missing" / "deeper" / "sparklio.log")
    assert logs.setup_logging() is not None
    log = logging.getLogger("sparklio_desktop.test")
    log.warning("first")
    log.warning("second")
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Logging error" not in err
    assert err.count("cannot write the log file") == 1
    assert "first\n" in err and "second\n" in err
    assert logs.active_log_file() is None


def _sparklio(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SPARKLIO_HOME": str(home), **env},
    )


def test_a_quiet_command_writes_no_log_and_a_failed_one_is_logged(sparklio_home: Path) -> None:
    done = _sparklio(sparklio_home, "catalog")
    assert done.returncode == 0, done.stderr
    assert not (sparklio_home / "logs").exists()
    done = _sparklio(sparklio_home, "show", "no-such-request")
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr  # the terminal's line is not repeated
    text = (sparklio_home / "logs" / "sparklio.log").read_text(encoding="utf-8")
    assert "sparklio show:" in text and "no-such-request" in text


def test_a_failed_attempt_is_logged_with_its_context_and_never_the_prompt_or_key(
    tmp_path: Path,
    fast_policy,  # noqa: F811
    servers,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tests.core.test_dispatch import ANTHROPIC_KEY, SONNET, Harness
    from tests.fakes.loopback import Fault

    anthropic, _ = servers
    anthropic.script(Fault(status=401, message=f"invalid x-api-key {ANTHROPIC_KEY}", error_type="authentication_error"))
    path = logs.setup_logging()
    assert path is not None
    harness = Harness(tmp_path, fast_policy)
    prompt = "A secret product launch nobody may read about in a log file"
    try:
        result = harness.run(prompt=prompt)
    finally:
        harness.close()
    text = _text(path)
    line = next(line for line in text.splitlines() if f"request {result.request_id} attempt 1" in line)
    assert f"on anthropic/{SONNET}" in line and "copywriting_standard" in line and "ended error" in line
    assert "invalid x-api-key" in line
    assert ANTHROPIC_KEY not in text and prompt not in text and "secret product launch" not in text
    assert result.request_id not in capsys.readouterr().err  # the file's, not the terminal's


def test_short_values_of_key_like_variables_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATURE_KEY", "true")
    path = logs.setup_logging()
    assert path is not None
    logging.getLogger("sparklio_desktop.test").warning("the answer was true")
    assert "the answer was true" in _text(path)
