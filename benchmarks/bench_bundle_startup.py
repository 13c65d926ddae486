"""Launch to a usable window: the source checkout and the built bundle side by side, in one run.

A plain script: build the bundle first (``packaging/build-linux.sh``), then
``python benchmarks/bench_bundle_startup.py [--runs 7] [--bundle dist/sparklio]``.

Each launch is a fresh process with ``SPARKLIO_EXIT_WHEN_READY=1`` (app.py): the app shows
its window, waits until the event loop has gone idle once, prints ``ready <seconds>`` and
exits; the clock starts here, just before the process is spawned, so interpreter start-up
(the bootloader's unpacking of nothing, for a onedir bundle) and every import count. The
checkout runs as ``python -m sparklio_desktop`` with this checkout first on the path; the
bundle runs its own ``sparklio``. Launches alternate between the two, round after round,
so a machine that drifts slows them alike. Each has a home of its own, made by a first,
unmeasured launch (the OS file cache is then warm, as for a second launch by a user).

Beside each window's wall time, the CPU its main thread had used by ``ready`` (Linux,
from ``/proc``): on a busy machine wall times swing with the other jobs, CPU much less.
Also measured the same way: ``sparklio route --json`` (the CLI path, no Qt), and the
bundle's size (the folder, and the tarball beside it). Targets (issue 14): the bundle's
window median <= 1.5 s; the folder < 250 MB. With no display, Qt's offscreen platform.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_WINDOW_S = 1.5
TARGET_SIZE_MB = 250
ROUTE = ["route", "--task", "copywriting_standard", "--prompt", "write a caption", "--json"]


def _env(home: Path, source: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")}
    env["SPARKLIO_HOME"] = str(home)
    if source:
        env["PYTHONPATH"] = str(ROOT)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


def main_thread_cpu(pid: int) -> float:
    """CPU seconds the process's main thread has used so far (Linux; NaN elsewhere). Read
    when ``ready`` arrives: it varies far less than wall time with the machine's load."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return float("nan")


def launch_window(command: list[str], home: Path, source: bool) -> tuple[float, float]:
    """Seconds from spawn to the app's ``ready`` line (a shown, idle window), and the main
    thread's CPU seconds by then."""
    env = _env(home, source)
    env["SPARKLIO_EXIT_WHEN_READY"] = "1"
    start = time.time()
    env["SPARKLIO_LAUNCH_T0"] = repr(start)
    proc = subprocess.Popen(command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready "):
            seconds = time.time() - start
            cpu = main_thread_cpu(proc.pid)
            break
    else:
        raise RuntimeError(f"{command[0]} exited without reporting ready: {proc.stderr.read() if proc.stderr else ''}")
    proc.communicate(timeout=60)
    return seconds, cpu


def launch_route(command: list[str], home: Path, source: bool) -> float:
    """Seconds for a whole ``sparklio route --json`` (exit 3 without keys: nothing can run)."""
    start = time.time()
    done = subprocess.run(
        [*command, *ROUTE], env=_env(home, source), cwd=home, capture_output=True, text=True, timeout=60
    )
    seconds = time.time() - start
    if done.returncode not in (0, 3) or not done.stdout.lstrip().startswith("{"):
        raise RuntimeError(f"route failed ({done.returncode}): {done.stderr}")
    return seconds


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--bundle", type=Path, default=ROOT / "dist" / "sparklio", help="the built bundle folder")
    args = parser.parse_args()
    args.bundle = args.bundle.resolve()  # launches run from a scratch home, not from here
    executable = args.bundle / ("sparklio-cli.exe" if sys.platform == "win32" else "sparklio")
    if not executable.is_file():
        print(f"no bundle at {args.bundle}: run packaging/build-linux.sh first", file=sys.stderr)
        return 2
    targets = {
        "source checkout": ([sys.executable, "-m", "sparklio_desktop"], True),
        "bundle": ([str(executable)], False),
    }
    window: dict[str, list[float]] = {name: [] for name in targets}
    cpu: dict[str, list[float]] = {name: [] for name in targets}
    route: dict[str, list[float]] = {name: [] for name in targets}
    with tempfile.TemporaryDirectory() as tmp:
        homes = {name: Path(tmp) / name.replace(" ", "-") for name in targets}
        for name, (command, source) in targets.items():
            homes[name].mkdir()
            launch_window(command, homes[name], source)  # makes the home; warms the file cache
            launch_route(command, homes[name], source)
        for _ in range(args.runs):
            for name in random.sample(list(targets), len(targets)):
                command, source = targets[name]
                seconds, used = launch_window(command, homes[name], source)
                window[name].append(seconds)
                cpu[name].append(used)
                route[name].append(launch_route(command, homes[name], source))
    header = f"{'window median':>14} {'min':>7} {'max':>7}   {'main-thread CPU':>15}   {'route --json median':>20}"
    print(f"{'':<16} {header}")
    for name in targets:
        w, r = window[name], route[name]
        spread = f"{min(w):>7.3f} {max(w):>7.3f}"
        used = f"{statistics.median(cpu[name]):>13.3f} s"
        print(f"{name:<16} {statistics.median(w):>12.3f} s {spread}   {used}   {statistics.median(r):>18.3f} s")
    bundle_window = statistics.median(window["bundle"])
    ratio = bundle_window / statistics.median(window["source checkout"])
    print(f"bundle / source (window): {ratio:.2f}   target: bundle <= {TARGET_WINDOW_S} s   runs: {args.runs}")
    size = folder_mb(args.bundle)
    files = sum(1 for p in args.bundle.rglob("*") if p.is_file())
    tarballs = sorted(args.bundle.parent.glob("sparklio-*.tar.gz"))
    tar_text = ", ".join(f"{t.name} {t.stat().st_size / 1e6:.1f} MB" for t in tarballs) or "no tarball"
    print(f"bundle size: folder {size:.1f} MB in {files} files (target < {TARGET_SIZE_MB} MB); {tar_text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
