"""Every numeric setting has bounds the code using it can honour, set from the command line
or edited into the file by hand; a bad value in the file never stops the app."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from decimal import Decimal
from typing import Union, get_args, get_origin

import pytest

from sparklio_desktop.core.errors import ConfigError
from sparklio_desktop.core.ledger.money import to_picodollars
from sparklio_desktop.core.settings.config import (
    _LEAF_TYPES,
    MAX_MONTHLY_USD,
    Settings,
    get_setting,
    load_settings_lenient,
    set_setting,
)


def _numeric(annotation) -> bool:
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_numeric(a) for a in get_args(annotation) if a is not type(None))
    return annotation in (int, float, Decimal)


NUMERIC_KEYS = sorted(k for k, t in _LEAF_TYPES.items() if _numeric(t))
HOSTILE_TEXT = ["1e999", "-1e999", "nan", "NaN", "inf", "Infinity", "1e308", "99999999999999999999999", "-1"]
# What a hand-edited file can hold (Python's json reads NaN and Infinity; 1e999 is inf).
HOSTILE_JSON = ["1e999", "-1e999", "NaN", "Infinity", "1e308", "99999999999999999999999", "-1"]


def test_every_numeric_setting_is_covered():
    assert {
        "budget.monthly_usd",
        "budget.alert_threshold",
        "cache.ttl_static_s",
        "cache.ttl_dynamic_s",
        "gpu.vram_gb",
    } <= set(NUMERIC_KEYS)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_set_refuses_absurd_numbers(tmp_path, key, value):
    path = tmp_path / "settings.json"
    with pytest.raises(ConfigError) as raised:
        set_setting(key, value, path)
    assert raised.value.field == key and str(path) in str(raised.value)
    assert not path.exists()  # nothing was written


def test_budget_within_the_ledger(tmp_path):
    path = tmp_path / "settings.json"
    for ok in ("0", "0.000000000001", "12.5", str(MAX_MONTHLY_USD)):
        budget = set_setting("budget.monthly_usd", ok, path).budget.monthly_usd
        to_picodollars(budget)  # the ledger can store and compare it
    with pytest.raises(ConfigError, match="finer than the ledger keeps"):
        set_setting("budget.monthly_usd", "0.0000000000001", path)
    with pytest.raises(ConfigError, match="less than or equal to 1000000"):
        set_setting("budget.monthly_usd", "1000000.000000000001", path)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
@pytest.mark.parametrize("value", HOSTILE_JSON)
def test_hand_edited_file_keeps_the_other_settings(tmp_path, key, value):
    path = tmp_path / "settings.json"
    section, leaf = key.split(".")
    raw = {"budget": {"at_cap": "stop"}, "ui": {"theme": "dark"}}
    body = {**raw, section: {**raw.get(section, {}), leaf: "__VALUE__"}}
    text = json.dumps(body, indent=2).replace('"__VALUE__"', value)
    path.write_text(text)
    settings, error = load_settings_lenient(path)
    assert error is not None and error.field == key and error.path == str(path) and error.line is not None
    assert getattr(getattr(settings, section), leaf) == getattr(getattr(Settings(), section), leaf)  # default
    assert settings.budget.at_cap == "stop" and settings.ui.theme == "dark"  # the rest is kept


def test_a_broken_field_can_be_cleared_while_another_is_broken(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text('{"budget": {"monthly_usd": 1e999}, "gpu": {"vram_gb": NaN}}')
    with pytest.raises(ConfigError) as raised:
        set_setting("budget.monthly_usd", "none", path)
    assert raised.value.field == "gpu.vram_gb"  # what is still wrong
    set_setting("gpu.vram_gb", "none", path)
    assert get_setting("budget.monthly_usd", path=path) == Decimal(50)


def _sparklio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def test_cli_with_a_hand_edited_budget_of_1e999(sparklio_home):
    settings = sparklio_home / "settings.json"
    assert _sparklio("config", "set", "budget.monthly_usd", "1e999").returncode == 1
    settings.write_text('{\n  "budget": {\n    "monthly_usd": 1e999,\n    "at_cap": "stop"\n  }\n}\n')
    spend = _sparklio("spend", "--json")
    assert spend.returncode == 0, spend.stderr
    assert "Traceback" not in spend.stderr
    assert f"sparklio: warning: {settings}:3: budget.monthly_usd:" in spend.stderr
    payload = json.loads(spend.stdout)
    assert payload["budget_usd"] == "50" and payload["at_cap"] == "stop"
    run = _sparklio("run", "--task", "chat", "--prompt", "hi", "--no-explore")
    assert "Traceback" not in run.stderr and "budget.monthly_usd" in run.stderr
