"""The bundle's entry script: what the ``sparklio`` command runs (packaging/sparklio.spec).

Why a file of its own: PyInstaller starts from a script, not from a console-script entry
point; this one calls the same ``sparklio_desktop.cli:entry`` as the wheel's ``sparklio``,
so the bundle, ``pipx install`` and a checkout run one code path (no subcommand opens the
window).

A windowed executable (``Sparklio.exe`` on Windows, the macOS app) starts with no standard
streams: ``sys.stdout`` is None, and the CLI's ``sys.stdout.flush()`` would raise. They
point at the null device there; the console executable (``sparklio`` on Linux,
``sparklio-cli.exe`` on Windows) keeps the terminal's.
"""

import os
import sys

if sys.stdout is None:
    sys.stdout = open(os.devnull, "w")  # lives as long as the process
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w")

from sparklio_desktop.cli import entry  # after the streams exist

if __name__ == "__main__":
    entry()
