"""Team mode on an install that cannot load psycopg (a bundle without the system's libpq, a
venv without the driver): every command says so in one line, with the URL's password
masked, and ``doctor`` reports it as the ledger's problem instead of stopping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

URL = "postgresql+psycopg://ada:pw-secret-123@127.0.0.1:9/ledger"
WITHOUT_DRIVER = (
    "import sys; sys.modules['psycopg'] = None; sys.argv = ['sparklio', *sys.argv[1:]]; "
    "from sparklio_desktop.cli import entry; entry()"
)


def _sparklio(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"SPARKLIO_HOME": str(home), "SPARKLIO_DATABASE_URL": URL, "PATH": "/usr/bin:/bin"}
    root = str(Path(__file__).resolve().parent.parent)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_DRIVER, *args],
        env={**env, "PYTHONPATH": root},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_command_says_the_driver_is_missing_in_one_line(tmp_path: Path) -> None:
    done = _sparklio(tmp_path, "spend")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "cannot load the PostgreSQL driver psycopg" in line and "apt install libpq5" in line
    assert "ada:****@127.0.0.1:9/ledger" in line and "pw-secret-123" not in done.stderr + done.stdout


def test_doctor_reports_it_as_the_ledgers_problem(tmp_path: Path) -> None:
    done = _sparklio(tmp_path, "doctor")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (ledger,) = [line for line in done.stdout.splitlines() if " ledger " in line]
    assert ledger.startswith("PROBLEM") and "cannot load the PostgreSQL driver psycopg" in ledger
    assert "pw-secret-123" not in done.stdout + done.stderr
