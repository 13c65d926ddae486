"""``sparklio run``'s output contract and its checks before paying, against the loopback fakes.

Standard output carries the final answer exactly once, also after a stream broke and
another model answered; the broken partial and the fallback are told on standard error.
Arguments are checked before any paid call (the fake records every request), and images
that were paid for are always written somewhere, with their paths printed.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.commands.run import save_images
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.fakes.openai_server import TINY_PNG, OpenAIServer

CLAUDE_TEXT = " ".join(f"w{i}" for i in range(20))
GPT_TEXT = " ".join(f"g{i}" for i in range(20))
TEXT_ARGS = ("run", "--task", "copywriting_standard", "--prompt", "A caption", "--no-explore", "--no-cache")


def sparklio(*args: str, env_extra: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **env_extra),
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


@pytest.fixture
def fakes():
    with AnthropicServer() as claude, OpenAIServer() as gpt:
        claude.reply_text, gpt.reply_text = CLAUDE_TEXT, GPT_TEXT
        env = {
            "ANTHROPIC_API_KEY": "sk-ant-test-0123456789",
            "ANTHROPIC_BASE_URL": claude.base_url,
            "OPENAI_API_KEY": "sk-test-0123456789abcdef",
            "OPENAI_BASE_URL": gpt.api_url,
        }
        yield claude, gpt, env


def test_piped_output_after_a_broken_stream_is_the_final_answer_once(fakes):
    claude, gpt, env = fakes
    # 3 opening events, w0 w1 w2, then the connection drops; the next model answers.
    claude.script(Fault(drop_after=6))
    result = sparklio(*TEXT_ARGS, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GPT_TEXT + "\n"  # not "w0 w1 w2 g0 g1 ... g19"
    assert "partial answer from Claude 3.5 Sonnet discarded (9 characters): w0 w1 w2" in result.stderr
    assert "[GPT-4;" in result.stderr


def test_piped_output_after_a_fallback_without_partial_text(fakes):
    claude, gpt, env = fakes
    # A 401 makes every Anthropic model unavailable: the next model in the chain answers.
    claude.script(Fault(status=401, message="invalid x-api-key", error_type="authentication_error"))
    result = sparklio(*TEXT_ARGS, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == GPT_TEXT + "\n" and "[GPT-4;" in result.stderr
    # The story on stderr names the models; the ids are for --json, which keeps them.
    assert "[Claude 3.5 Sonnet: AuthError: invalid x-api-key; next model]" in result.stderr
    assert "anthropic/" not in result.stderr and "openai/" not in result.stderr
    claude.script(Fault(status=401, message="invalid x-api-key", error_type="authentication_error"))
    payload = json.loads(sparklio(*TEXT_ARGS, "--json", env_extra=env).stdout)
    assert payload["model"] == "openai/gpt-4"


def test_piped_output_without_faults_is_the_answer(fakes):
    claude, gpt, env = fakes
    result = sparklio(*TEXT_ARGS, env_extra=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == CLAUDE_TEXT + "\n" and "discarded" not in result.stderr


def test_a_failed_run_prints_no_partial_answer_on_stdout(fakes):
    claude, gpt, env = fakes
    claude.script(Fault(drop_after=6))
    gpt.script(Fault(status=400, message="Request blocked by content policy.", error_type="content_policy_violation"))
    result = sparklio(*TEXT_ARGS, env_extra=env)
    assert result.returncode == 1
    assert result.stdout == "" and "w0 w1 w2" in result.stderr


def _run_on_a_terminal(args: tuple[str, ...], env_extra: dict) -> tuple[int, str, str]:
    """Run with standard output on a pseudo-terminal (standard error piped); collect both."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *args],
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, **env_extra),
    )
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        elif proc.poll() is not None:
            break
    os.close(master)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=60), out.decode().replace("\r\n", "\n"), stderr


def test_terminal_streams_and_marks_the_discarded_partial(fakes):
    claude, gpt, env = fakes
    claude.script(Fault(drop_after=6))
    code, out, err = _run_on_a_terminal(TEXT_ARGS, env)
    assert code == 0, err
    # Streamed live: the broken prefix is on the screen, then the answer, whole, after it.
    assert out == "w0 w1 w2 \n" + GPT_TEXT + "\n"
    assert "characters above from Claude 3.5 Sonnet are discarded" in err


def test_stream_flag_streams_to_a_pipe(fakes):
    claude, gpt, env = fakes
    claude.script(Fault(drop_after=6))
    result = sparklio(*TEXT_ARGS, "--stream", env_extra=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "w0 w1 w2 \n" + GPT_TEXT + "\n"
    assert "characters above from Claude 3.5 Sonnet are discarded" in result.stderr


# -- images: checked before paying, always written -------------------------------------
@pytest.fixture
def dalle():
    with OpenAIServer() as server:
        yield server, {"OPENAI_API_KEY": "sk-test-0123456789abcdef", "OPENAI_BASE_URL": server.api_url}


IMAGE_ARGS = ("run", "--task", "image_generation_quality", "--prompt", "a fox", "--no-explore", "--no-cache")


def _image_calls(server: OpenAIServer) -> int:
    return sum(1 for r in server.requests if "/images/" in r.path)


@pytest.mark.parametrize(
    "bad",
    [
        ("--images", "0"),
        ("--images", "-1"),
        ("--images", "11"),
        ("--size", "1024"),
        ("--size", "10x10"),
        ("--size", "1023x1024"),
        ("--steps", "0"),
        ("--guidance", "nan"),
        ("--image-seed", "-1"),
        ("--max-output-tokens", "0"),
    ],
)
def test_bad_image_arguments_cost_nothing(dalle, bad):
    server, env = dalle
    result = sparklio(*IMAGE_ARGS, *bad, env_extra=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("sparklio run: error: argument " + bad[0]) and "Traceback" not in result.stderr
    assert _image_calls(server) == 0


def test_out_naming_a_file_fails_before_paying(dalle, tmp_path):
    server, env = dalle
    existing = tmp_path / "taken.png"
    existing.write_bytes(b"keep me")
    result = sparklio(*IMAGE_ARGS, "--images", "3", "--out", str(existing), env_extra=env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"sparklio: error: --out {existing}: is a file, not a folder"
    assert _image_calls(server) == 0 and existing.read_bytes() == b"keep me"
    under_a_file = existing / "sub"
    result = sparklio(*IMAGE_ARGS, "--out", str(under_a_file), env_extra=env)
    assert result.returncode == 1 and "cannot write there" in result.stderr
    assert _image_calls(server) == 0


def test_paid_images_are_written_and_listed(dalle, tmp_path):
    server, env = dalle
    out = tmp_path / "new" / "folder"
    result = sparklio(*IMAGE_ARGS, "--images", "3", "--out", str(out), env_extra=env)
    assert result.returncode == 0, result.stderr
    assert _image_calls(server) == 3
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 3 and all(p.parent == out and p.read_bytes() == TINY_PNG for p in paths)
    payload = json.loads(sparklio(*IMAGE_ARGS, "--json", "--out", str(out), env_extra=env).stdout)
    assert len(payload["files"]) == 1 and Path(payload["files"][0]).read_bytes() == TINY_PNG


def test_the_stored_decision_is_priced_for_the_images_generated(dalle, tmp_path):
    """``--images 4`` used to charge $0.16 but store a decision estimated for one image at
    $0.04: the run took the route request apart. One request value now carries the count
    and size to the router, so ``sparklio show`` states what was charged."""
    server, env = dalle
    payload = json.loads(
        sparklio(
            *IMAGE_ARGS, "--images", "4", "--size", "1024x1024", "--json", "--out", str(tmp_path), env_extra=env
        ).stdout
    )
    assert _image_calls(server) == 4 and payload["model"] == "openai/dall-e-3"
    shown = json.loads(sparklio("show", payload["request_id"], "--json", env_extra=env).stdout)
    estimate = shown["decision"]["estimate"]
    charged = sum(Decimal(a["cost_usd"]) for a in shown["attempts"])
    assert estimate["images"] == 4
    assert Decimal(estimate["cost_usd"]) == Decimal("0.16") == charged == Decimal(payload["cost_usd"])


def test_images_fall_back_to_the_data_folder(sparklio_home, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    written, problem = save_images((TINY_PNG, TINY_PNG), blocker / "out", "req123")
    assert problem is not None and str(blocker / "out") in problem
    assert [Path(p).parent for p in written] == [sparklio_home / "images"] * 2
    assert all(Path(p).read_bytes() == TINY_PNG for p in written)
    # A name already taken is never overwritten: that set goes to the next folder.
    again, problem = save_images((TINY_PNG,), sparklio_home / "images", "req123")
    assert problem is not None and Path(again[0]).parent != sparklio_home / "images"
