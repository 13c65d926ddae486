"""Nothing heavy on the start-up path: no torch, diffusers, provider SDK, pyqtgraph or
numpy is imported before the window is shown (they load later, in a worker thread or
with the first ratings), and the core is imported before PySide6 (whose import hook
reads the source of every module imported after it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "openai", "anthropic", "google.genai", "ollama", "pyqtgraph", "numpy")

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


CORE_FIRST = """
import asyncio, json, sys
from sparklio_desktop import app as sparklio_app
sparklio_app._import_the_core_before_qt()
before = set(sys.modules)
from PySide6.QtWidgets import QApplication
import qasync
qt = QApplication([])
loop = qasync.QEventLoop(qt)
asyncio.set_event_loop(loop)
ctx = sparklio_app.build_context()
window = sparklio_app.build_window(ctx)
window.show()
qt.processEvents()
late = sorted(name for name in set(sys.modules) - before
              if name.startswith("sparklio_desktop.core") or name.split(".")[0] in ("sqlalchemy", "pydantic", "yaml"))
print(json.dumps(late))
loop.run_until_complete(ctx.aclose())
"""


def test_the_core_is_imported_before_qt(sparklio_home):
    # run_app imports it first; a module that build_context or a view-model opens and
    # the list misses would be read again by PySide6's import hook on the launch path.
    # The ledger exists, as on every launch but the first (which also imports Alembic,
    # once, to create it: core/ledger/schema_upgrade.py).
    from sparklio_desktop.core.ledger import LedgerStore

    LedgerStore.open(sparklio_home / "ledger.sqlite3").close()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SPARKLIO_HOME": str(sparklio_home)}
    done = subprocess.run([sys.executable, "-c", CORE_FIRST], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
