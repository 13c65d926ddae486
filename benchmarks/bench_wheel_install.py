"""The wheel as a user gets it: build, install into a fresh environment, first ``sparklio route``.

Why: the package's promise (issue 14) is that ``pip install`` / ``pipx install`` of the
wheel gives a ``sparklio`` that works from any folder, without torch. This measures what
that costs a user: building the wheel from this checkout, creating a fresh virtual
environment, installing the wheel with its dependencies (from the package index or pip's
cache, whatever pip would use here), and the first ``sparklio route`` run from another
folder with a fresh data folder (``SPARKLIO_HOME``), then a second one. It also checks
that no torch came with the base install. A plain script:

    python benchmarks/bench_wheel_install.py [--keep DIR] [--python PYTHON]

The numbers depend on the network and on pip's cache: say which when reporting them
(a second run of the script installs from the cache).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUTE = ["route", "--task", "copywriting_standard", "--prompt", "hello"]


def timed(command: list[str], **kwargs: object) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - start, done


def checked(label: str, command: list[str], **kwargs: object) -> float:
    seconds, done = timed(command, **kwargs)
    if done.returncode != 0:
        raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return seconds


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it (default: a temporary folder, removed)")
    parser.add_argument("--python", default=sys.executable, help="the Python that builds and creates the venv")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sparklio-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, args.python)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, python: str) -> None:
    wheels, venv, elsewhere, home = work / "wheel", work / "venv", work / "elsewhere", work / "home"
    elsewhere.mkdir(exist_ok=True)
    shutil.rmtree(venv, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    # Build in a copy, so the checkout gets no build/ or egg-info from this.
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    tree.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy2(ROOT / name, tree / name)
    for name in ("sparklio_desktop", "models", "policies", "resources"):
        shutil.copytree(ROOT / name, tree / name, ignore=ignore)
    shutil.rmtree(tree / "sparklio_desktop" / "data", ignore_errors=True)
    shutil.rmtree(wheels, ignore_errors=True)
    build_s = checked(
        "pip wheel",
        [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(tree)],
    )
    (wheel,) = wheels.glob("*.whl")
    venv_s = checked("venv", [python, "-m", "venv", str(venv)])
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    install_s = checked("pip install", [str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)])
    site = next((venv / "lib").glob("python*/site-packages")) if os.name != "nt" else venv / "Lib" / "site-packages"
    torch_present = (site / "torch").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SPARKLIO_HOME"] = str(home)
    sparklio = str(bin_dir / "sparklio")
    version_s, version = timed([sparklio, "--version"], cwd=elsewhere, env=env)
    first_s, first = timed([sparklio, *ROUTE], cwd=elsewhere, env=env)
    second_s, second = timed([sparklio, *ROUTE], cwd=elsewhere, env=env)
    # route exits 3 when no model can run (a fresh home has no API key); it still routed.
    for label, done in (("route (first)", first), ("route (second)", second)):
        if done.returncode not in (0, 3) or "copywriting_standard" not in done.stdout + done.stderr:
            raise SystemExit(f"{label} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    print(f"python                     {sys.version.split()[0]} ({python})")
    print(f"wheel                      {wheel.name}, {wheel.stat().st_size / 1e6:.2f} MB")
    print(f"build the wheel            {build_s:6.2f} s")
    print(f"create the venv            {venv_s:6.2f} s")
    print(f"pip install the wheel      {install_s:6.2f} s  (dependencies from the index or pip's cache)")
    torch_text = "yes" if torch_present else "no"
    print(f"installed venv size        {folder_mb(venv):6.0f} MB  (torch installed: {torch_text})")
    print(f"sparklio --version         {version_s:6.2f} s  -> {version.stdout.strip()}")
    print(f"first sparklio route       {first_s:6.2f} s  (exit {first.returncode}; from another folder, fresh home)")
    print(f"second sparklio route      {second_s:6.2f} s  (exit {second.returncode})")
    print(f"install + first route      {install_s + first_s:6.2f} s")


if __name__ == "__main__":
    main()
