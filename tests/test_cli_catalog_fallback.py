"""A broken user ``catalog.yaml`` through the real entry point: every command that reads
the catalog keeps working on the last good one and says why on standard error; ``policy
check`` (which the user catalog's header names as its validator) fails with the error.

Before the workspace's catalog was used here, ``catalog`` and ``estimate`` stopped on the
broken file and ``policy check`` called the setup "valid".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.config_fuzz import USER_CATALOG
from tests.test_cli_hostile_config import LAUGHS

BROKEN = [
    ("recursive alias", USER_CATALOG + "zzz: &r [*r]\n"),
    ("billion laughs", USER_CATALOG + LAUGHS),
    ("quality out of bounds", USER_CATALOG.replace("quality: 7.5", "quality: 99")),
    ("missing field", USER_CATALOG.replace("    api_name: qwen2.5-coder:7b\n", "")),
    ("not a mapping", "- just\n- a list\n"),
]
CUSTOM = "ollama/qwen2.5-coder:7b"  # an entry only the user catalog has


def sparklio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )


def _located_warning(result: subprocess.CompletedProcess, user, fallback: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"sparklio: warning: {user}:"), result.stderr
    assert f"sparklio: warning: {fallback} until that file is fixed\n" in result.stderr
    assert all(line.startswith("sparklio: warning: ") for line in result.stderr.splitlines())


@pytest.fixture
def broken_after_good(sparklio_home, request):
    """The user catalog validated once (kept as last good), then broken."""
    user = sparklio_home / "catalog.yaml"
    user.write_text(USER_CATALOG, encoding="utf-8")
    good = sparklio("catalog", "--json")
    assert good.returncode == 0 and good.stderr == "", good.stderr
    user.write_text(request.param, encoding="utf-8")
    return user


@pytest.mark.parametrize("broken_after_good", [b[1] for b in BROKEN], ids=[b[0] for b in BROKEN], indirect=True)
def test_catalog_and_estimate_keep_the_last_good_catalog(broken_after_good):
    user = broken_after_good
    listed = sparklio("catalog", "--json")
    assert listed.returncode == 0, listed.stderr
    _located_warning(listed, user, "using the last good catalog")
    assert CUSTOM in {m["id"] for m in json.loads(listed.stdout)}
    text = sparklio("catalog")
    assert text.returncode == 0 and CUSTOM in text.stdout, text.stderr
    _located_warning(text, user, "using the last good catalog")

    estimate = sparklio("estimate", "--model", CUSTOM, "--output-tokens", "500", "--json")
    assert estimate.returncode == 0, estimate.stderr
    _located_warning(estimate, user, "using the last good catalog")
    assert json.loads(estimate.stdout)["model"] == CUSTOM


@pytest.mark.parametrize("broken_after_good", [b[1] for b in BROKEN], ids=[b[0] for b in BROKEN], indirect=True)
def test_route_reports_the_catalog_error(broken_after_good):
    user = broken_after_good
    as_json = sparklio("route", "--task", "chat", "--all-available", "--no-explore", "--json")
    assert as_json.returncode == 0, as_json.stderr
    _located_warning(as_json, user, "using the last good catalog")
    payload = json.loads(as_json.stdout)
    assert payload["catalog_error"].startswith(f"{user}:") and "policy_error" not in payload
    text = sparklio("route", "--task", "chat", "--all-available", "--no-explore")
    assert text.returncode == 0, text.stderr
    _located_warning(text, user, "using the last good catalog")
    assert text.stdout.startswith("task chat")  # standard output carries the decision only


@pytest.mark.parametrize("broken_after_good", [b[1] for b in BROKEN], ids=[b[0] for b in BROKEN], indirect=True)
def test_policy_check_fails_on_a_broken_user_catalog(broken_after_good):
    user = broken_after_good
    for args in (("policy", "check"), ("policy", "check", str(user.parent / "nonexistent.yaml"))):
        check = sparklio(*args)
        assert "Traceback" not in check.stderr, check.stderr
        assert check.returncode == 1, check.stdout
        assert check.stderr.startswith(f"{user}:"), check.stderr
    check = sparklio("policy", "check")
    assert "valid with the last good catalog" in check.stdout


def test_a_good_user_catalog_checks_out_without_warnings(sparklio_home):
    (sparklio_home / "catalog.yaml").write_text(USER_CATALOG, encoding="utf-8")
    check = sparklio("policy", "check")
    assert check.returncode == 0 and check.stderr == "", check.stderr
    assert ": valid (" in check.stdout
    route = sparklio("route", "--task", "chat", "--all-available", "--no-explore", "--json")
    assert route.returncode == 0 and route.stderr == "", route.stderr
    assert "catalog_error" not in json.loads(route.stdout)


@pytest.mark.parametrize("broken_after_good", [BROKEN[2][1]], ids=[BROKEN[2][0]], indirect=True)
def test_run_says_which_catalog_is_in_force(broken_after_good, monkeypatch):
    """``run`` reads the catalog too: the warning comes before whatever the run does."""
    result = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "run", "--task", "chat", "--prompt", "hi", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OLLAMA_HOST": "http://127.0.0.1:9"},
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"sparklio: warning: {broken_after_good}:"), result.stderr
    assert "using the last good catalog until that file is fixed" in result.stderr


def test_the_window_names_every_file_that_is_not_in_force(sparklio_home):
    """The window's start-up notice: located errors sit deep in Settings otherwise."""
    from sparklio_desktop.app import file_problems
    from sparklio_desktop.core.workspace import Workspace

    assert file_problems(Workspace()) is None
    (sparklio_home / "catalog.yaml").write_text(BROKEN[2][1], encoding="utf-8")
    (sparklio_home / "settings.json").write_text('{"budget": {"monthly_usd": -5}}', encoding="utf-8")
    workspace = Workspace()
    workspace.settings  # noqa: B018 - reading the settings records their problem
    notice = file_problems(workspace)
    assert notice is not None
    assert f"Problem in your catalog ({sparklio_home / 'catalog.yaml'}:" in notice
    assert "Problem in your settings (" in notice and notice.endswith("Details and fixes: Settings.")
