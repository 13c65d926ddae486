"""Hostile and broken safetensors files: the probe refuses each with one clear line, or probes it.

The corpus (``tests.local.headers.hostile_files``) covers the length prefix, the header's
encoding and JSON shape, ``__metadata__``, every field of a tensor entry, the byte ranges
(overlap, gap, past the end, trailing bytes), duplicate keys and deep nesting, plus odd
files that are valid and must keep probing. The fuzz test runs the seeded mutator in a
subprocess with a deadline, so a hang fails it rather than the whole suite.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sparklio_desktop.core.local import CheckpointUnreadable, ProbeResult, probe, read_safetensors_header
from tests.local.headers import hostile_files

CASES = hostile_files()
ROOT = Path(__file__).resolve().parents[2]


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 42
    assert len({case_id for case_id, _, _ in CASES}) == len(CASES)


@pytest.mark.parametrize(("content", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_header_gets_a_clean_error_or_a_valid_result(
    tmp_path: Path, content: bytes, expected: str | None
) -> None:
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(content)
    if expected is None:
        assert isinstance(probe(path), ProbeResult)
        return
    with pytest.raises(CheckpointUnreadable) as caught:
        probe(path)
    message = str(caught.value)
    assert re.search(expected, message), message
    assert message.startswith("hostile.safetensors: ")
    assert all(ch.isprintable() for ch in message), repr(message)  # no newline, no terminal escape
    assert len(message) < 400


VALID = [(case_id, content) for case_id, content, expected in CASES if expected is None]


@pytest.mark.parametrize("content", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_what_the_probe_accepts_the_safetensors_library_loads(tmp_path: Path, content: bytes) -> None:
    """The probe is the gate before loading: it must never vouch for a file the loader refuses."""
    safetensors = pytest.importorskip("safetensors")
    path = tmp_path / "odd.safetensors"
    path.write_bytes(content)
    with safetensors.safe_open(str(path), "np") as f:
        assert set(f.keys()) == set(read_safetensors_header(path).tensors)


def test_seeded_mutations_give_no_traceback_and_no_hang() -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "tests.local.fuzz_headers", "--seed", "20260901", "--cases", "1500"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["cases"] == 1500
    assert report["tracebacks"] == []
    assert report["oracle_mismatches"] == []
    assert report["refused"] > 1000 and report["probed"] > 0  # the mutator reached both sides
