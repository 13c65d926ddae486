"""The first thing a person types: ``--help`` and bare commands, over the whole command tree.

The commands are discovered from the argparse tree that ``sparklio`` builds, so a command
added later is covered without touching this file. Every one must print its help, and
run with no arguments must end (under a deadline) with exit 0, 1 or 2 and a clear
message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from sparklio_desktop.cli import build_parser, main

TIMEOUT_S = 60


def _command_paths() -> list[tuple[str, ...]]:
    """Every command path in the parser tree: (), ("run",), ("models", "ollama", "list"), ..."""
    found: list[tuple[str, ...]] = []

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        found.append(path)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, (*path, name))

    walk(build_parser(), ())
    return found


PATHS = _command_paths()


def _id(path: tuple[str, ...]) -> str:
    return " ".join(path) or "sparklio"


def sparklio(*args: str, cwd: str | os.PathLike[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        timeout=TIMEOUT_S,
        cwd=cwd,
    )


def test_the_tree_is_discovered():
    # A guard on the walker itself: nested groups are reached, not only the first level.
    assert ("leaderboard",) in PATHS and ("models", "ollama", "list") in PATHS and ("config", "set") in PATHS
    assert len(PATHS) > 30


def test_top_level_help_in_a_real_process():
    result = sparklio("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: sparklio") and "leaderboard" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_help_of_every_command(path, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*path, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: sparklio" + "".join(f" {p}" for p in path))


@pytest.mark.parametrize("path", PATHS, ids=_id)
def test_every_command_without_arguments(path, tmp_path):
    if path == ():
        pytest.skip("bare `sparklio` opens the desktop window; its start-up has its own tests in tests/ui")
    # In a folder of its own: a command whose default output is "a file in this folder"
    # (`ledger export`) must not write into the checkout.
    result = sparklio(*path, cwd=tmp_path)
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode in (0, 1, 2), result.stderr
    if result.returncode == 2:
        # Missing arguments: one line that names the command and what is required.
        line = result.stderr.strip()
        assert "\n" not in line and line.startswith(f"sparklio {' '.join(path)}: error: "), line
    elif result.returncode == 1:
        # A command that ran and failed (e.g. `models ollama status` with Ollama down)
        # says why in one line; a status report may print it on standard output.
        line = result.stderr.strip() or result.stdout.strip()
        assert line and "\n" not in line, line


@pytest.mark.parametrize(
    "args",
    [("--help",), ("catalog",), ("catalog", "--json"), ("route", "--task", "chat", "--prompt", "hi"), ("history",)],
)
def test_a_reader_that_closes_the_pipe_early_ends_the_command_quietly(args):
    """``sparklio catalog | head -1``: the reader goes away before the output is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    proc.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    try:
        _, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        proc.kill()
    # 128 + SIGPIPE, as `head` users expect; argparse itself ignores a closed pipe for --help.
    assert proc.returncode == (0 if args == ("--help",) else 141), err
    assert err == b"", err
