"""Hostile and broken user files through the real entry point: a located error, never a traceback or a hang.

A handful of mutants of the user's ``policy.yaml`` and ``catalog.yaml`` (the fuzz test in
tests/core/test_config_fuzz.py covers many more in-process) run through ``policy check``
and ``route`` in subprocesses with a deadline: ``route`` keeps working on the last good
file, ``policy check`` names the file and line (a refused user catalog fails it too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparklio_desktop.core.settings.paths import shipped_policy_path
from tests.config_fuzz import USER_CATALOG, mutants

LAUGHS = "lol: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"lol{i}: &a{i} [{', '.join(['*a' if i == 1 else f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)
)
POLICY = shipped_policy_path().read_text(encoding="utf-8")

POLICY_MUTANTS = [
    ("recursive alias", (POLICY + "zzz: &r [*r]\n").encode()),
    ("billion laughs", (POLICY + LAUGHS).encode()),
    ("complexity 0", POLICY.replace("  simple: 6.5", "  simple: 0").encode()),
    ("backoff 1e308", POLICY.replace("backoff_s: [1, 2, 4]", "backoff_s: [1.0e+308]").encode()),
    *list(mutants(POLICY, 11, 2)),
]
CATALOG_MUTANTS = [
    ("recursive alias", (USER_CATALOG + "zzz: &r [*r]\n").encode()),
    ("billion laughs", (USER_CATALOG + LAUGHS).encode()),
    ("vram 1e308", USER_CATALOG.replace("vram_gb: 5.5", "vram_gb: 1.0e+308").encode()),
    *list(mutants(USER_CATALOG, 11, 2)),
]


def sparklio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )


def _route_works(user: Path) -> dict:
    result = sparklio("route", "--task", "chat", "--all-available", "--json", "--no-explore")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["chain"]
    return payload


@pytest.mark.parametrize("what, raw", POLICY_MUTANTS, ids=[m[0] for m in POLICY_MUTANTS])
def test_hostile_user_policy(sparklio_home, what, raw):
    user = sparklio_home / "policy.yaml"
    user.write_bytes(raw)
    check = sparklio("policy", "check")
    assert "Traceback" not in check.stderr, check.stderr
    assert check.returncode in (0, 1), check.stderr
    if check.returncode == 1:
        assert check.stderr.startswith(f"{user}:"), check.stderr
    payload = _route_works(user)
    if check.returncode == 1:
        assert payload["policy_error"].startswith(f"{user}:")


@pytest.mark.parametrize("what, raw", CATALOG_MUTANTS, ids=[m[0] for m in CATALOG_MUTANTS])
def test_hostile_user_catalog(sparklio_home, what, raw):
    user = sparklio_home / "catalog.yaml"
    user.write_bytes(raw)
    payload = _route_works(user)
    check = sparklio("policy", "check")
    assert "Traceback" not in check.stderr, check.stderr
    # A catalog the workspace refused fails `policy check` with its located error (the
    # policy alone would check out against the last good catalog); one it took passes.
    if "catalog_error" in payload:
        assert payload["catalog_error"].startswith(f"{user}:")
        assert check.returncode == 1, check.stdout
        assert check.stderr.startswith(payload["catalog_error"]), check.stderr
    else:
        assert check.returncode == 0, check.stderr
