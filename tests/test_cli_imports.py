"""A command line loads only the command it names.

Why: a ``sparklio`` command is a whole process, and a quick one (``route``, ``spend``,
``history``) is mostly start-up. The parser lists every command with the help in
``cli.COMMANDS`` and gives arguments only to the one named, so neither listing the
commands nor running one imports the other commands' modules (benchmarks/
bench_processes.py measures the time this saves).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sparklio_desktop.cli import COMMANDS

PROBE = """
import contextlib, io, json, sys
from sparklio_desktop.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exited:
        code = exited.code
loaded = sorted(name.rsplit(".", 1)[1] for name in sys.modules if name.startswith("sparklio_desktop.commands."))
print(json.dumps({"code": code, "commands": [name for name in loaded if not name.startswith("_")],
                  "out": out.getvalue()}))
"""


def loaded_by(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_top_level_help_lists_every_command_and_imports_none() -> None:
    result = loaded_by("--help")
    assert result["code"] == 0 and result["commands"] == []
    assert all(f"    {name} " in result["out"] for name in COMMANDS), result["out"]


@pytest.mark.parametrize(
    "args",
    [
        ["history"],
        ["history", "--json"],
        ["route", "--help"],
        ["spend", "--month", "x"],
        ["config", "get", "budget.monthly_usd"],
    ],
)
def test_a_command_imports_its_own_module_only(args: list[str]) -> None:
    # compare and run share helpers with route (and compare with run): those three may
    # load each other; every other command loads itself alone.
    assert loaded_by(*args)["commands"] == [args[0]]


def test_a_mistyped_command_lists_every_command() -> None:
    result = loaded_by("histroy")
    assert result["code"] == 2 and result["commands"] == []
