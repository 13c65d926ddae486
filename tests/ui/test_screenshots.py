"""``sparklio --screenshot DIR`` renders the workspace (the Chat page on a conversation) and each
view to PNG files and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys

from PySide6.QtGui import QImage


def test_screenshot_writes_four_pngs(tmp_path, sparklio_home):
    out = tmp_path / "shots"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SPARKLIO_HOME": str(sparklio_home)}
    done = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "--screenshot", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for name in (
        "workspace",
        "composer",
        "inspector",
        "spend",
        "settings",
        "images",
        "compare",
        "leaderboard",
        "recipes",
        "models",
        "catalog",
        "onboarding",
        "batches",
    ):
        path = out / f"{name}.png"
        assert path.stat().st_size > 1000
        image = QImage(str(path))
        # The composer alone is compact (the prompt and one row): the rest are whole pages.
        assert not image.isNull() and image.width() > 300 and image.height() > (150 if name == "composer" else 300)
    # Picturing the first-run guide is not the creator finishing or skipping it.
    settings = sparklio_home / "settings.json"
    assert not settings.exists() or '"onboarding_done": true' not in settings.read_text()
