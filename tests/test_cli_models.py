"""``sparklio models ollama|sd ...`` as scripts use them: subprocesses against the loopback
Ollama server and hand-written safetensors headers."""

from __future__ import annotations

import json
import os
import pty
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ollama_server import DEFAULT_REGISTRY, OllamaServer

PULLED = "llama3.1:8b"


def sparklio(*args: str, host: str | None = None, stdin: str | None = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if host is not None:
        env["OLLAMA_HOST"] = host
    return subprocess.run([sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True,
                          env=env, input=stdin, timeout=120)  # fmt: skip


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer() as fake:
        yield fake  # type: ignore[misc]


def write_checkpoint(path: Path, in_channels: int = 4, context: int = 768) -> Path:
    """An original-layout checkpoint reduced to the tensors the probe reads: the 8-byte
    little-endian header length, the JSON header, then zeroed fp16 data."""
    shapes = {
        "model.diffusion_model.input_blocks.0.0.weight": [320, in_channels, 3, 3],
        "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, context],
        "first_stage_model.decoder.conv_in.weight": [512, 4, 3, 3],
        "cond_stage_model.transformer.text_model.final_layer_norm.weight": [context],
    }
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        size = 2
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


# -- ollama ------------------------------------------------------------------------------
def test_ollama_list_json(server: OllamaServer) -> None:
    result = sparklio("models", "ollama", "list", "--json", host=server.base_url)
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)
    assert [m["name"] for m in models] == ["llama3.2:latest", "llava:latest", "nomic-embed-text:latest"]
    assert models[0]["size_bytes"] == 2_019_393_189 and models[0]["quantization"] == "Q4_K_M"
    assert models[0]["modified_at"].startswith("2025-01-01T00:00:00")
    text = sparklio("models", "ollama", "list", host=server.base_url)
    assert "llava:latest" in text.stdout and "2.0 GB" in text.stdout


def test_ollama_pull_json_reports_the_summed_totals(server: OllamaServer) -> None:
    started = time.monotonic()
    result = sparklio("models", "ollama", "pull", PULLED, "--json", host=server.base_url)
    wall_s = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    final = json.loads(result.stdout)
    total = sum(DEFAULT_REGISTRY[PULLED].layers)
    assert final["status"] == "success" and final["done"] is True and final["layers"] == 5
    assert final["total_bytes"] == final["completed_bytes"] == total
    assert final["fraction"] == 1.0 and 0 < final["elapsed_s"] <= wall_s  # seconds, within the process's life
    assert result.stderr == ""  # no terminal, --json: nothing but the document
    assert PULLED in server.installed  # type: ignore[operator]


def test_ollama_pull_without_a_terminal_prints_one_line_per_phase(server: OllamaServer) -> None:
    server.pull_steps = 20
    result = sparklio("models", "ollama", "pull", PULLED, host=server.base_url)
    assert result.returncode == 0, result.stderr
    phases = result.stderr.splitlines()
    assert phases[0] == f"{PULLED}: pulling manifest" and phases[-1] == f"{PULLED}: success"
    assert len(phases) == 5 and "\r" not in result.stderr  # manifest, download, verify, write, success
    assert result.stdout.startswith(f"pulled {PULLED} (4.9 GB in ")


def test_ctrl_c_cancels_a_pull_cleanly(server: OllamaServer) -> None:
    server.pull_interval_s = 0.02
    server.pull_steps = 2000
    env = dict(os.environ, OLLAMA_HOST=server.base_url)
    proc = subprocess.Popen([sys.executable, "-m", "sparklio_desktop", "models", "ollama", "pull", PULLED, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        # Three rounds of lines over the layers: byte counts are in (the first round has none).
        lines_in = 1 + 3 * len(DEFAULT_REGISTRY[PULLED].layers)
        deadline = time.monotonic() + 30
        while server.pull_lines_sent < lines_in and time.monotonic() < deadline:
            time.sleep(0.01)
        assert server.pull_lines_sent >= lines_in, "the pull never got going"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    report = json.loads(stdout)
    assert report["status"] == "cancelled" and 0 < report["completed_bytes"] < report["total_bytes"]
    assert server.pull_disconnected.wait(2.0)
    assert PULLED not in server.installed  # type: ignore[operator]


def test_ollama_commands_when_ollama_is_down() -> None:
    result = sparklio("models", "ollama", "pull", PULLED, host="http://127.0.0.1:9")
    assert result.returncode == 1
    assert "Ollama is not running at http://127.0.0.1:9: start it with `ollama serve`" in result.stderr
    status = sparklio("models", "ollama", "status", "--json", host="http://127.0.0.1:9")
    assert status.returncode == 1 and json.loads(status.stdout)["reachable"] is False


def test_ollama_rm_needs_confirmation_without_a_terminal(server: OllamaServer) -> None:
    refused = sparklio("models", "ollama", "rm", "llava", host=server.base_url)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert "llava:latest" in server.installed  # type: ignore[operator]
    done = sparklio("models", "ollama", "rm", "llava", "--yes", "--json", host=server.base_url)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"model": "llava", "deleted": True}
    assert "llava:latest" not in server.installed  # type: ignore[operator]
    missing = sparklio("models", "ollama", "rm", "llava", "--yes", host=server.base_url)
    assert missing.returncode == 1 and "'llava' is not installed" in missing.stderr


def test_ollama_rm_asks_on_a_terminal(server: OllamaServer) -> None:
    def answer(reply: bytes) -> subprocess.CompletedProcess[str]:
        master, slave = pty.openpty()  # a terminal on standard input only: the prompt goes to stderr
        try:
            proc = subprocess.Popen([sys.executable, "-m", "sparklio_desktop", "models", "ollama", "rm", "llava"],
                                    stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, OLLAMA_HOST=server.base_url))  # fmt: skip
            os.write(master, reply)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            os.close(slave)
            os.close(master)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    kept = answer(b"n\n")
    assert kept.returncode == 1 and "Delete the Ollama model 'llava'? [y/N]" in kept.stderr
    assert "llava:latest" in server.installed  # type: ignore[operator]
    deleted = answer(b"y\n")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == "deleted llava\n" and "llava:latest" not in server.installed  # type: ignore[operator]


def test_ollama_ps_and_show_json(server: OllamaServer) -> None:
    server.load("llava", size_vram=server.spec("llava").size // 2)
    ps = json.loads(sparklio("models", "ollama", "ps", "--json", host=server.base_url).stdout)
    assert ps[0]["name"] == "llava:latest" and ps[0]["processor"] == "50%/50% CPU/GPU"
    shown = sparklio("models", "ollama", "show", "llama3.2", "--json", "--context", "8192", "--gpu-gb", "12",
                     host=server.base_url)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    details = json.loads(shown.stdout)
    assert details["context_length"] == 131_072 and details["capabilities"] == ["completion", "tools"]
    assert details["architecture"]["block_count"] == 28
    assert details["fit"]["verdict"] == "fits" and details["fit"]["kv_bytes"] == 2 * 28 * 8 * 128 * 8192 * 2


# -- stable diffusion ----------------------------------------------------------------------
def test_sd_probe_json_reads_the_header(tmp_path: Path) -> None:
    path = write_checkpoint(tmp_path / "dreamy-v1.safetensors")
    result = sparklio("models", "sd", "probe", str(path), "--json")
    assert result.returncode == 0, result.stderr
    probed = json.loads(result.stdout)
    assert probed["model_type"] == "sd1" and probed["detected_type"] == "sd1" and probed["precision"] == "fp16"
    assert probed["path"] == str(path) and probed["size_bytes"] == path.stat().st_size
    assert probed["overridden"] is False and probed["est_vram_bytes"] > 0
    inpaint = json.loads(sparklio("models", "sd", "probe", str(write_checkpoint(tmp_path / "fill.safetensors", 9)),
                                  "--json").stdout)  # fmt: skip
    assert inpaint["model_type"] == "inpaint" and inpaint["family"] == "sd1"
    overridden = json.loads(sparklio("models", "sd", "probe", str(path), "--set-type", "sd2", "--json").stdout)
    assert overridden["model_type"] == "sd2" and overridden["detected_type"] == "sd1" and overridden["overridden"]


def test_sd_probe_of_a_broken_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "half.safetensors"
    bad.write_bytes(struct.pack("<Q", 10_000) + b"{}")
    result = sparklio("models", "sd", "probe", str(bad), "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("sparklio: error: half.safetensors:") and "Traceback" not in result.stderr


def test_sd_list_import_and_rm(tmp_path: Path, sparklio_home: Path) -> None:
    assert json.loads(sparklio("models", "sd", "list", "--json").stdout) == []
    source = write_checkpoint(tmp_path / "dreamy-v1.safetensors")
    imported = sparklio("models", "sd", "import", str(source), "--json")
    assert imported.returncode == 0, imported.stderr
    target = sparklio_home / "weights" / "sd" / "dreamy-v1.safetensors"
    assert json.loads(imported.stdout)["path"] == str(target) and target.read_bytes() == source.read_bytes()

    listed = json.loads(sparklio("models", "sd", "list", "--json").stdout)
    assert [(c["name"], c["format"], c["model_type"], c["loadable"]) for c in listed] == [
        ("dreamy-v1", "safetensors", "sd1", True)
    ]
    assert listed[0]["size_bytes"] == source.stat().st_size and listed[0]["probe_error"] is None

    refused = sparklio("models", "sd", "rm", "dreamy-v1")
    assert refused.returncode == 1 and target.exists()
    removed = sparklio("models", "sd", "rm", "dreamy-v1", "--yes", "--json")
    assert removed.returncode == 0, removed.stderr
    assert not target.exists() and source.exists()
    assert json.loads(sparklio("models", "sd", "list", "--json").stdout) == []


def test_sd_import_refuses_pickle_unless_trusted(tmp_path: Path, sparklio_home: Path) -> None:
    pickle_file = tmp_path / "old.ckpt"
    pickle_file.write_bytes(b"\x80\x04K\x01.")
    refused = sparklio("models", "sd", "import", str(pickle_file))
    assert refused.returncode == 1 and "pickle checkpoint" in refused.stderr and "--trust-pickle" in refused.stderr
    assert not (sparklio_home / "weights" / "sd" / "old.ckpt").exists()
    trusted = sparklio("models", "sd", "import", str(pickle_file), "--trust-pickle", "--yes")
    assert trusted.returncode == 0, trusted.stderr
    assert "can run" in trusted.stderr  # the warning was shown
    assert (sparklio_home / "weights" / "sd" / "old.ckpt").exists()
    listed = json.loads(sparklio("models", "sd", "list", "--json").stdout)
    assert [(c["name"], c["pickle"], c["trusted"], c["model_type"]) for c in listed] == [("old", True, True, "unknown")]


def test_a_pulled_model_added_to_the_catalog_becomes_routable(server: OllamaServer) -> None:
    added = sparklio(
        "models", "ollama", "add", "llava:latest", "--quality", "8.5", "--speed", "1,2", "--json", host=server.base_url
    )
    assert added.returncode == 0, added.stderr
    entry = json.loads(added.stdout)
    assert entry["id"] == "ollama/llava:latest" and entry["quality"] == 8.5 and entry["context_tokens"]
    assert entry["updated"] is False and entry["removed"] == []
    route = json.loads(sparklio("route", "--task", "chat", "--json", "--no-explore", host=server.base_url).stdout)
    ours = next(c for c in route["candidates"] if c["id"] == "ollama/llava:latest")
    assert ours["excluded_by"] is None and ours["quality"] == 8.5  # installed on the fake, so eligible
    assert "ollama/llava:latest" in route["chain"]
    bad = sparklio("models", "ollama", "add", "llava:latest", "--quality", "11", host=server.base_url)
    assert bad.returncode == 1 and "between 0 and 10" in bad.stderr


def _llama_entries(server: OllamaServer) -> list[dict]:
    listed = json.loads(sparklio("catalog", "--json", host=server.base_url).stdout)
    return [m for m in listed if m["provider"] == "ollama" and m["api_name"].startswith("llama3.2")]


def test_adding_a_tag_a_shipped_entry_runs_as_updates_that_entry(server: OllamaServer, sparklio_home: Path) -> None:
    """The shipped Llama 3.2 names ``llama3.2:3b``; the installed ``llama3.2:latest`` serves it
    (core.routing.live.resolve_ollama_tag). Adding that tag, spelled either way, updates the shipped
    entry in place (its id, name and other fields kept) instead of adding a second one."""
    added = sparklio("models", "ollama", "add", "llama3.2", "--quality", "8.5", "--json", host=server.base_url)
    assert added.returncode == 0, added.stderr
    entry = json.loads(added.stdout)
    assert (entry["id"], entry["name"], entry["api_name"], entry["quality"], entry["updated"]) == (
        "ollama/llama3.2",
        "Llama 3.2",
        "llama3.2:latest",
        8.5,
        True,
    )
    assert [m["id"] for m in _llama_entries(server)] == ["ollama/llama3.2"]
    again = sparklio("models", "ollama", "add", "llama3.2:latest", "--speed", "1,2", host=server.base_url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("updated ollama/llama3.2 in your catalog (runs as llama3.2:latest)")
    [llama] = _llama_entries(server)
    assert llama["quality"] == 8.5 and llama["speed"]["seconds"] == [1, 2]  # figures not given are kept
    assert llama["notes"].startswith("VRAM: the 3B")  # the shipped entry's other fields stay
    route = json.loads(sparklio("route", "--task", "chat", "--json", "--no-explore", host=server.base_url).stdout)
    assert next(c for c in route["candidates"] if c["id"] == "ollama/llama3.2")["excluded_by"] is None


def test_adding_a_tag_removes_a_duplicate_an_earlier_add_left(server: OllamaServer, sparklio_home: Path) -> None:
    """Before the add updated in place, ``add llama3.2:latest`` wrote ``ollama/llama3.2:latest``
    beside the shipped entry; adding the tag again leaves one entry."""
    from sparklio_desktop.core.policy import user_catalog

    user_catalog.upsert(
        user_catalog.ollama_entry("llama3.2:latest", quality=8, speed=(1, 2), context_tokens=8000, vram_gb=3)
    )
    assert sorted(m["id"] for m in _llama_entries(server)) == ["ollama/llama3.2", "ollama/llama3.2:latest"]
    added = sparklio("models", "ollama", "add", "llama3.2:latest", "--json", host=server.base_url)
    assert added.returncode == 0, added.stderr
    entry = json.loads(added.stdout)
    assert (entry["id"], entry["removed"]) == ("ollama/llama3.2", ["ollama/llama3.2:latest"])
    assert [m["id"] for m in _llama_entries(server)] == ["ollama/llama3.2"]


def test_a_duplicate_the_users_policy_names_is_kept(server: OllamaServer, sparklio_home: Path) -> None:
    from sparklio_desktop.core.policy import user_catalog
    from sparklio_desktop.core.settings.paths import shipped_policy_path

    user_catalog.upsert(
        user_catalog.ollama_entry("llama3.2:latest", quality=8, speed=(1, 2), context_tokens=8000, vram_gb=3)
    )
    policy = shipped_policy_path().read_text(encoding="utf-8")
    named = policy.replace(
        "fallbacks: [family/gpt-mini, family/llama]",
        "fallbacks: [family/gpt-mini, ollama/llama3.2:latest]",
    )
    assert named != policy
    (sparklio_home / "policy.yaml").write_text(named, encoding="utf-8")
    added = sparklio("models", "ollama", "add", "llama3.2:latest", "--json", host=server.base_url)
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["removed"] == []
    check = sparklio("policy", "check")
    assert check.returncode == 0, check.stderr


def test_sd_loras_lists_the_names_run_takes_with_family_and_triggers(sparklio_home: Path) -> None:
    from tests.local.headers import write_safetensors

    folder = sparklio_home / "weights" / "lora"
    folder.mkdir(parents=True)
    write_safetensors(
        folder / "pixel.safetensors",
        {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight": ("F16", (8, 1280))},
        metadata={"modelspec.trigger_phrase": "pixel art"},
    )
    write_safetensors(folder / "vae.safetensors", {"encoder.conv_in.weight": ("F16", (8,))})
    result = sparklio("models", "sd", "loras", "--json")
    assert result.returncode == 0, result.stderr
    found = {row["name"]: row for row in json.loads(result.stdout)}
    assert (found["pixel"]["base"], found["pixel"]["rank"], found["pixel"]["triggers"]) == (
        "sdxl_base",
        8,
        ["pixel art"],
    )
    assert found["pixel"]["usable"] and not found["vae"]["usable"]
    assert "pixel art" in sparklio("models", "sd", "loras").stdout
