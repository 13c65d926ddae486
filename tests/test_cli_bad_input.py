"""Bad arguments, hostile files and hostile names on the command line: each gives one clear
line and exit 1 or 2, never a traceback, and nothing Sparklio prints can drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparklio_desktop.commands._input import MAX_PROMPT_BYTES
from sparklio_desktop.commands._output import dumps, safe_text
from tests.fakes.ollama_server import OllamaServer

ESC = "\x1b[2J\x1b]0;pwned\x07"  # clear the screen, retitle the window
HOSTILE = f"evil{ESC}\u202ename\x9b31m"  # plus a right-to-left override and an 8-bit CSI


def sparklio(*args: str, env_extra: dict | None = None, stdin: bytes | None = b"") -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    done = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, env=env, input=stdin, timeout=60
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    )


def one_line_error(result: subprocess.CompletedProcess, code: int | tuple[int, ...]) -> str:
    codes = code if isinstance(code, tuple) else (code,)
    assert result.returncode in codes, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line and "\n" not in line, result.stderr
    return line


def no_terminal_controls(text: str) -> None:
    controls = [
        c
        for c in text
        if (ord(c) < 0x20 and c not in "\n\t")
        or 0x7F <= ord(c) <= 0x9F
        or c in "\u202e\u2066\u2067\u2068\u2069\u202a\u202b\u202c\u202d"
    ]
    assert not controls, f"raw control characters printed: {controls!r}"


# -- numbers and months --------------------------------------------------------------
@pytest.mark.parametrize("value", ["999999999999999999999", "0", "-3", "1e3", "ten"])
def test_history_limit_out_of_range(value):
    line = one_line_error(sparklio("history", f"--limit={value}"), 2)
    assert "--limit" in line and value in line


def test_history_limit_in_range_still_works():
    assert sparklio("history", "--limit", "100000").returncode == 0


OUT_OF_RANGE = "is out of range: expected 2000-01 to 9998-12"
NOT_A_MONTH = "is not a month: expected YYYY-MM"


@pytest.mark.parametrize(
    ("value", "why"),
    [("9999-12", OUT_OF_RANGE), ("1999-12", OUT_OF_RANGE)]
    + [(value, NOT_A_MONTH) for value in ("2026-13", "2026-00", "abc", "2026-1", "02026-01", "")],
)
def test_spend_month_out_of_range_or_malformed(value, why):
    line = one_line_error(sparklio("spend", f"--month={value}"), 2)
    assert "--month" in line and why in line


def test_spend_month_at_both_ends_works():
    for month in ("2000-01", "9998-12"):
        result = sparklio("spend", "--month", month, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["month"] == month


@pytest.mark.parametrize(
    "args",
    [
        ("route", "--task", "chat", "--seed", "-1"),
        ("route", "--task", "chat", "--input-tokens", "10" * 20),
        ("estimate", "--model", "openai/gpt-4", "--output-tokens", "-5"),
        ("leaderboard", "--half-life-days", "nan"),
        ("leaderboard", "--half-life-days", "inf"),
        ("compare", "--task", "chat", "--top", "9"),
        ("models", "ollama", "show", "x", "--gpu-gb", "1e999"),
        ("models", "ollama", "show", "x", "--context", "0"),
    ],
)
def test_numeric_options_are_bounded(args):
    one_line_error(sparklio(*args), 2)


# -- prompt files and standard input -------------------------------------------------
def test_prompt_file_dev_zero_is_refused_without_reading_it_all():
    line = one_line_error(sparklio("run", "--task", "chat", "--prompt-file", "/dev/zero"), 1)
    assert line == "sparklio: error: --prompt-file /dev/zero: larger than the 4 MiB limit"


@pytest.mark.parametrize("command", ["run", "route", "compare"])
def test_prompt_file_problems(tmp_path, command):
    extra = ("--top", "2") if command == "compare" else ()
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (MAX_PROMPT_BYTES + 1))
    exact = tmp_path / "exact.txt"
    exact.write_bytes(b"a" * MAX_PROMPT_BYTES)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"ok \xff\xfe")
    cases = {
        big: "larger than the 4 MiB limit",
        binary: "not UTF-8 text (byte 3)",
        tmp_path: "is a folder, not a file",
        tmp_path / "missing.txt": "No such file or directory",
    }
    for path, message in cases.items():
        line = one_line_error(sparklio(command, "--task", "chat", *extra, "--prompt-file", str(path)), 1)
        assert line == f"sparklio: error: --prompt-file {path}: {message}"
    if command == "route":  # exactly at the limit is accepted
        assert (
            sparklio("route", "--task", "chat", "--all-available", "--prompt-file", str(exact), "--json").returncode
            == 0
        )


def test_prompt_on_standard_input_is_bounded():
    line = one_line_error(sparklio("run", "--task", "chat", stdin=b"a" * (MAX_PROMPT_BYTES + 1)), 1)
    assert line == "sparklio: error: standard input: the prompt is larger than the 4 MiB limit"
    line = one_line_error(sparklio("run", "--task", "chat", stdin=b"\xff"), 1)
    assert "standard input: not UTF-8 text" in line


def test_attached_image_is_bounded(tmp_path):
    zero = tmp_path / "zero.png"
    zero.symlink_to("/dev/zero")
    line = one_line_error(sparklio("run", "--task", "image_analysis", "--prompt", "x", "--image", str(zero)), 1)
    assert line == f"sparklio: error: --image {zero}: larger than the 20 MiB limit"


# -- the data folder -----------------------------------------------------------------
def test_data_folder_that_is_a_file(tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    for args in (("spend",), ("history",), ("run", "--task", "chat", "--prompt", "x")):
        line = one_line_error(sparklio(*args, env_extra={"SPARKLIO_HOME": str(home)}), 1)
        assert line.startswith(f"sparklio: error: the data folder {home} (SPARKLIO_HOME) is a file")


def test_data_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    home = blocker / "sub"
    line = one_line_error(sparklio("history", env_extra={"SPARKLIO_HOME": str(home)}), 1)
    assert line == f"sparklio: error: cannot create the data folder {home} (SPARKLIO_HOME): Not a directory"


# -- names with terminal escapes -----------------------------------------------------
def test_safe_text_and_json_escapes():
    assert safe_text("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert safe_text("x\u202ey\x9bz\n") == "x\\u202ey\\x9bz\\x0a"
    assert safe_text("line 1\n\tline 2\r", keep_newlines=True) == "line 1\n\tline 2\\x0d"
    text = dumps({"name": HOSTILE})
    no_terminal_controls(text)
    assert json.loads(text) == {"name": HOSTILE}  # the JSON value is exact


def _hostile_catalog(home: Path) -> None:
    (home / "catalog.yaml").write_text(
        json.dumps(
            {
                "version": 1,
                "models": [
                    {
                        "id": "ollama/evil",
                        "name": HOSTILE,
                        "provider": "ollama",
                        "api_name": "evil:latest",
                        "capabilities": ["text"],
                        "local": True,
                        "vram_gb": 1,
                        "price": {"input_per_mtok": "0", "output_per_mtok": "0", "as_of": "2026-01-01", "source": ESC},
                        "speed": {"seconds": [1, 2], "per": "output_500"},
                        "context_tokens": 8000,
                        "quality": 7,
                    }
                ],
            }
        ),
        encoding="utf-8",
    )


def test_catalog_names_are_escaped_in_text_and_exact_in_json(sparklio_home):
    _hostile_catalog(sparklio_home)
    text = sparklio("catalog")
    assert text.returncode == 0, text.stderr
    no_terminal_controls(text.stdout + text.stderr)
    assert "evil\\x1b[2J" in text.stdout
    data = sparklio("catalog", "--json")
    no_terminal_controls(data.stdout)
    entry = next(m for m in json.loads(data.stdout) if m["id"] == "ollama/evil")
    assert entry["name"] == HOSTILE
    estimate = sparklio("estimate", "--model", "ollama/evil", "--output-tokens", "10")
    assert estimate.returncode == 0, estimate.stderr
    no_terminal_controls(estimate.stdout + estimate.stderr)


def test_unknown_names_typed_on_the_command_line_are_escaped():
    result = sparklio("estimate", "--model", HOSTILE)
    line = one_line_error(result, 1)
    no_terminal_controls(line)
    result = sparklio("config", "get", HOSTILE)
    no_terminal_controls(one_line_error(result, 1))
    for command in ("run", "route"):  # task names come from the policy, so the policy refuses this one
        result = sparklio(command, "--task", HOSTILE, "--prompt", "hi")
        assert "unknown task" in one_line_error(result, 1)
        no_terminal_controls(result.stderr)


@pytest.mark.parametrize(
    "args",
    [
        ("history", HOSTILE),
        ("history", "--limit", HOSTILE),
        ("spend", "--month", HOSTILE),
        ("route", "--task", "chat", "--size", HOSTILE),
    ],
)
def test_usage_errors_escape_what_was_typed(args):
    no_terminal_controls(one_line_error(sparklio(*args), 2))


def test_ollama_model_names_are_escaped():
    with OllamaServer(installed=[f"{HOSTILE}:latest", "llama3.2:latest"]) as server:
        env = {"OLLAMA_HOST": server.base_url}
        text = sparklio("models", "ollama", "list", env_extra=env)
        assert text.returncode == 0, text.stderr
        no_terminal_controls(text.stdout + text.stderr)
        assert "evil\\x1b[2J" in text.stdout
        data = sparklio("models", "ollama", "list", "--json", env_extra=env)
        assert f"{HOSTILE}:latest" in [m["name"] for m in json.loads(data.stdout)]
        no_terminal_controls(data.stdout)


def test_checkpoint_file_names_are_escaped(tmp_path):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / f"{ESC}.safetensors").write_bytes(b"\x00" * 16)
    assert sparklio("config", "set", "local.sd_weight_dirs", str(folder)).returncode == 0
    listed = sparklio("models", "sd", "list")
    assert "Traceback" not in listed.stderr
    no_terminal_controls(listed.stdout + listed.stderr)
    assert "\\x1b[2J" in listed.stdout
