"""``sparklio run --task image_generation_bulk`` on a local Stable Diffusion checkpoint."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from sparklio_desktop.core.ledger import LedgerStore


@pytest.mark.timeout(360)  # a torch process that generates: its own deadline below is 300 s
def test_bulk_images_run_locally_with_metadata_and_a_free_ledger_row(tiny_sd, sparklio_home, tmp_path):
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sd.diffusers_dir, weights / "tiny-sd")
    out = tmp_path / "out"
    env = dict(os.environ, HF_HUB_OFFLINE="1", SPARKLIO_HOME=str(sparklio_home))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sparklio_desktop",
            "run",
            "--task",
            "image_generation_bulk",
            "--prompt",
            "a cat",
            "--size",
            "64x64",
            "--images",
            "2",
            "--steps",
            "2",
            "--out",
            str(out),
            "--json",
            "--no-explore",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)
    assert payload["model"] == "local/stable-diffusion" and payload["cost_usd"] == "0"
    assert len(payload["files"]) == 2
    image = Image.open(payload["files"][0])
    assert image.size == (64, 64)
    assert image.text["prompt"] == "a cat"  # our own chunk, and AUTOMATIC1111's, which starts with the prompt
    assert image.text["parameters"].splitlines()[0] == "a cat"
    image.close()
    with LedgerStore.open(sparklio_home / "ledger.sqlite3") as ledger:
        row = ledger.attempts(payload["request_id"])[0]
    assert row.outcome == "ok" and row.cost_usd == 0 and row.images == 2 and row.gpu_seconds > 0
    assert row.provider == "diffusers"
