"""Write packaging/startup_modules.txt: the Python modules a launch has imported when its window is ready.

Why: the bundle keeps its Python modules zlib-compressed in one archive (PyInstaller's
PYZ), and every import inflates its module first; for the ~530 modules that the window
needs before it shows (13 MB of bytecode), that was 40-70 ms of the launch on this
machine. ``sparklio.spec`` takes the modules named in the list out of the archive and
ships them as plain ``.pyc`` files beside it (+8 MB on disk; the tarball is compressed
anyway), which Python reads as a checkout reads its ``__pycache__``. Everything else stays
compressed: the SDKs, the rest of SQLAlchemy, pygments' lexers.

Run it from the checkout after start-up's imports change (packaging/README.md, "Start-up"):

    python packaging/list_startup_modules.py

A stale list breaks nothing: a module it names that the bundle lacks is skipped, and a module
it misses is read from the archive as before (only slower to import).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "packaging" / "startup_modules.txt"

# Runs the app as `python -m sparklio_desktop` does, and writes the names of the modules
# loaded from Python files when the app reports its window ready (SPARKLIO_EXIT_WHEN_READY).
PROBE = """
import runpy, sys

class _Tap:
    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if text.startswith("ready "):
            names = sorted(
                name for name, module in list(sys.modules.items())
                if str(getattr(module, "__file__", None) or "").endswith(".py")
            )
            with open(OUT_PATH, "w", encoding="utf-8") as out:
                out.write("\\n".join(names) + "\\n")
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)

OUT_PATH = sys.argv[1]
sys.stdout = _Tap(sys.stdout)
sys.argv = ["sparklio"]
runpy.run_module("sparklio_desktop", run_name="__main__", alter_sys=True)
"""

HEADER = """\
# Modules a launch has imported when its window is ready: sparklio.spec ships them as plain
# .pyc files, out of the compressed archive (packaging/README.md, "Start-up").
# Written by packaging/list_startup_modules.py; run it again when start-up's imports change.
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as scratch:
        names_file = Path(scratch) / "modules.txt"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(
            SPARKLIO_HOME=home,
            SPARKLIO_EXIT_WHEN_READY="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
        if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
            env.setdefault("QT_QPA_PLATFORM", "offscreen")
        for _ in range(2):  # the first launch makes the data folder; the second is a usual one
            done = subprocess.run(
                [sys.executable, "-c", PROBE, str(names_file)],
                env=env,
                cwd=home,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0 or not names_file.is_file():
                print(f"the launch failed ({done.returncode}): {done.stderr}", file=sys.stderr)
                return 1
        names = [n for n in names_file.read_text(encoding="utf-8").split() if n != "__main__"]
    OUT.write_text(HEADER + "\n".join(names) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(names)} modules")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
