"""Nothing heavy on the start-up path: no torch, diffusers, provider SDK or pyqtgraph
is imported before the window is shown (they load later, in a worker thread)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "openai", "anthropic", "google.genai", "ollama", "pyqtgraph")

PROBE = f"""
import asyncio, json, sys
from PySide6.QtWidgets import QApplication
import qasync
app = QApplication([])
loop = qasync.QEventLoop(app)
asyncio.set_event_loop(loop)
from sparklio_desktop.app import build_context, build_window
ctx = build_context()
window = build_window(ctx)
window.show()
app.processEvents()
print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))
loop.run_until_complete(ctx.aclose())
"""


def test_window_shows_without_heavy_imports(sparklio_home):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SPARKLIO_HOME": str(sparklio_home)}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
