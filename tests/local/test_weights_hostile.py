"""Hostile weights folders and files: discovery never hangs or crashes, bad files are listed as
unusable with the reason, import refuses them, and generation moves on to the next model.

CLI tests run ``sparklio models sd ...`` in subprocesses; the dispatch test runs
``sparklio run`` with a broken checkpoint and the loopback OpenAI server for DALL-E.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.local import CheckpointUnreadable, default_weights_dir, import_checkpoint, probe
from sparklio_desktop.core.local.errors import LocalEngineUnavailable
from sparklio_desktop.core.local.sd.service import StableDiffusionService
from sparklio_desktop.core.local.sd.weights import probe_checkpoints, scan_weights
from sparklio_desktop.core.providers.errors import ProviderError
from tests.fakes.openai_server import TINY_PNG, OpenAIServer
from tests.local.headers import SD1_TENSORS, hostile_files, write_safetensors
from tests.local.tiny_sd import TinySD

ROOT = Path(__file__).resolve().parents[2]
BAD = {case_id: content for case_id, content, expected in hostile_files() if expected is not None}


def sparklio(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, SPARKLIO_HOME=str(home), HF_HUB_OFFLINE="1", **env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True,
                          env=full, timeout=300, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture
def make_deep() -> Iterator[Callable[..., None]]:
    """Makes deep trees and removes them after the test: ``shutil.rmtree`` recurses and
    cannot delete a 3,000-level tree, so one left in a temporary folder makes pytest's
    later clean-up of old temporary folders fail the whole session (RecursionError)."""
    made: list[Path] = []

    def make(base: Path, depth: int, name: str = "d") -> None:
        made.append(base)
        _make_deep(base, depth, name)

    yield make
    for base in made:
        subprocess.run(["rm", "-rf", "--", str(base)], check=True)  # GNU rm walks without recursion


def _make_deep(base: Path, depth: int, name: str = "d") -> None:
    """``depth`` nested folders under ``base``, made relative to open folders: the full path
    outgrows PATH_MAX, as a hostile tree's may."""
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
    finally:
        os.close(fd)


def assert_clean(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr[-3000:]


@pytest.fixture
def weights(sparklio_home: Path) -> Path:
    folder = default_weights_dir()
    write_safetensors(folder / "good.safetensors", SD1_TENSORS)
    (folder / "metadata-list.safetensors").write_bytes(BAD["metadata-list"])
    (folder / "shape-strings.safetensors").write_bytes(BAD["shape-strings"])
    (folder / "empty.safetensors").write_bytes(b"")
    return folder


# ---------------------------------------------------------------------- discovery


def test_bad_files_are_listed_unusable_with_the_reason(weights: Path) -> None:
    rows = {r.checkpoint.name: r for r in probe_checkpoints()}
    assert rows["good"].usable and rows["good"].probe is not None
    assert not rows["metadata-list"].usable and "__metadata__" in (rows["metadata-list"].problem or "")
    assert "shape must be" in (rows["shape-strings"].problem or "")
    assert "too short" in (rows["empty"].problem or "")


def test_link_loops_broken_links_and_links_outside(weights: Path, tmp_path: Path) -> None:
    (weights / "self.safetensors").symlink_to(weights / "self.safetensors")
    (weights / "a.safetensors").symlink_to(weights / "b.safetensors")
    (weights / "b.safetensors").symlink_to(weights / "a.safetensors")
    (weights / "gone.safetensors").symlink_to(tmp_path / "missing.safetensors")
    (tmp_path / "elsewhere").mkdir()
    outside = write_safetensors(tmp_path / "elsewhere" / "outside.safetensors", SD1_TENSORS)
    (weights / "linked.safetensors").symlink_to(outside)
    sub = weights / "nested" / "deeper"
    sub.mkdir(parents=True)
    (sub / "up").symlink_to(weights, target_is_directory=True)  # a folder loop
    (sub / "sideways").symlink_to(weights / "nested", target_is_directory=True)
    scan = scan_weights()
    by_name = {c.name: c for c in scan.checkpoints}
    assert by_name["self"].problem == "symbolic link loop"
    assert by_name["a"].problem == by_name["b"].problem == "symbolic link loop"
    assert "target is missing" in (by_name["gone"].problem or "")
    assert by_name["linked"].loadable and by_name["linked"].is_link
    assert [c.name for c in scan.checkpoints].count("good") == 1  # not found again through the loop
    looped = {s.path.name: s.why for s in scan.skipped}
    assert "searched already" in looped["up"] and "searched already" in looped["sideways"]


def test_a_very_deep_tree_is_walked_without_recursion(weights: Path, make_deep) -> None:
    deep = weights / "tree"
    make_deep(deep, 3000)  # past Python's recursion limit and PATH_MAX
    write_safetensors(deep / "d" / "shallow.safetensors", SD1_TENSORS)
    buried = deep / "d" / "d" / "d" / "d" / "d"
    write_safetensors(buried / "buried.safetensors", SD1_TENSORS)
    names = {c.name for c in scan_weights().checkpoints}
    assert "shallow" in names and "buried" not in names  # deeper than users sort checkpoints


def test_deep_tree_inside_a_diffusers_folder(weights: Path, tiny_sd: TinySD, make_deep) -> None:
    folder = weights / "tiny"
    shutil.copytree(tiny_sd.diffusers_dir, folder)
    make_deep(folder / "junk", 3000, "j")
    rows = {r.checkpoint.name: r for r in probe_checkpoints()}
    assert rows["tiny"].usable and rows["tiny"].checkpoint.size_bytes > 0


def test_a_weights_path_that_is_a_file_or_missing_is_reported(weights: Path, tmp_path: Path) -> None:
    a_file = tmp_path / "weights.txt"
    a_file.write_text("not a folder")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    scan = scan_weights([a_file, tmp_path / "nope", loop])
    why = {s.path.name: s.why for s in scan.skipped}
    assert why == {"weights.txt": "is a file, not a folder", "nope": "no such folder",
                   "loop": "a link whose target is missing (or a link loop)"}  # fmt: skip
    assert "good" in {c.name for c in scan.checkpoints}


def test_a_fifo_is_never_opened(weights: Path) -> None:
    fifo = weights / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointUnreadable, match="regular file"):
        probe(fifo)  # opening a FIFO for reading would block until a writer came
    rows = {r.checkpoint.name: r for r in probe_checkpoints()}
    assert not rows["pipe"].usable


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_and_folder(weights: Path) -> None:
    locked = write_safetensors(weights / "locked.safetensors", SD1_TENSORS)
    locked.chmod(0)
    closed = weights / "closed"
    closed.mkdir()
    closed.chmod(0)
    try:
        scan = scan_weights()
        rows = {r.checkpoint.name: r for r in probe_checkpoints()}
        assert "cannot read" in (rows["locked"].problem or "")
        assert any(s.path == closed and "cannot read" in s.why for s in scan.skipped)
    finally:
        closed.chmod(0o755)


def test_import_refuses_what_does_not_probe(sparklio_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "hostile.safetensors"
    source.write_bytes(BAD["dtype-a-list"])
    with pytest.raises(CheckpointUnreadable, match="no dtype"):
        import_checkpoint(source)
    assert not any(default_weights_dir().glob("hostile*"))


# ---------------------------------------------------------------------- the CLI


def test_cli_probe_each_hostile_file_is_one_line(sparklio_home: Path, tmp_path: Path) -> None:
    for case_id in ("metadata-list", "shape-strings", "dtype-a-list", "deep-nesting-top", "huge-length-field"):
        path = tmp_path / f"{case_id}.safetensors"
        path.write_bytes(BAD[case_id])
        result = sparklio("models", "sd", "probe", str(path), home=sparklio_home)
        assert_clean(result)
        assert result.returncode == 1, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and case_id in result.stderr


def test_cli_import_refuses_and_list_shows_unusable(weights: Path, sparklio_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "nan.safetensors"
    source.write_bytes(BAD["nan-in-shape"])
    imported = sparklio("models", "sd", "import", str(source), home=sparklio_home)
    assert_clean(imported)
    assert imported.returncode == 1 and "shape must be" in imported.stderr
    (weights / "loop.safetensors").symlink_to(weights / "loop.safetensors")
    listed = sparklio("models", "sd", "list", "--json", home=sparklio_home)
    assert_clean(listed)
    assert listed.returncode == 0, listed.stderr
    docs = {d["name"]: d for d in json.loads(listed.stdout)}
    assert docs["good"]["usable"] and docs["good"]["model_type"] == "sd1"
    assert not docs["metadata-list"]["usable"] and "__metadata__" in docs["metadata-list"]["problem"]
    assert docs["loop"]["problem"] == "symbolic link loop" and not docs["loop"]["loadable"]
    assert "nan" not in docs
    text = sparklio("models", "sd", "list", home=sparklio_home)
    assert_clean(text)
    assert "unusable: symbolic link loop" in text.stdout and "unusable: malformed" in text.stdout


# ---------------------------------------------------------------------- generation


def test_service_skips_bad_checkpoints_then_raises_a_next_model_error(weights: Path) -> None:
    (weights / "good.safetensors").unlink()  # only broken files are left
    service = StableDiffusionService()
    try:
        assert service.candidates() == []
        with pytest.raises(LocalEngineUnavailable) as caught:
            asyncio.run(service.generate("a cat", "64x64", 1, 2))
    finally:
        service.close()
    assert isinstance(caught.value, ProviderError) and "models sd list" in str(caught.value)


def test_a_bad_checkpoint_leads_to_the_next_image_model(weights: Path, sparklio_home: Path, tmp_path: Path) -> None:
    (weights / "good.safetensors").unlink()
    (weights / "aaa-first.safetensors").write_bytes(BAD["shape-huge-product"])
    out = tmp_path / "out"
    with OpenAIServer() as server:
        result = sparklio(
            "run", "--task", "image_generation_bulk", "--prompt", "a cat", "--size", "1024x1024", "--images", "1",
            "--out", str(out), "--json", "--no-explore", home=sparklio_home,
            OPENAI_API_KEY="sk-test-0123456789abcdef", OPENAI_BASE_URL=server.api_url,
        )  # fmt: skip
    assert_clean(result)
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["model"] == "openai/dall-e-3"
    assert Path(payload["files"][0]).read_bytes() == TINY_PNG
    with LedgerStore.open(sparklio_home / "ledger.sqlite3") as ledger:
        attempts = ledger.attempts(payload["request_id"])
    assert [(a.provider, a.outcome) for a in attempts] == [("diffusers", "error"), ("openai", "ok")]
    assert attempts[0].error_class == "LocalEngineUnavailable"
