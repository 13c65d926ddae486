"""How to enable local image generation on this machine, in words and commands.

Why here and not in the pages: the base install (cloud providers, Ollama, the window)
needs no torch, and local Stable Diffusion is the ``local`` extra. When its packages are
missing, the Images and Models pages show the same advice, and the advice depends on the
machine, not on Qt: which packages are missing, how Sparklio was installed (a pipx or
``uv tool`` environment, a source checkout, a bundle, a plain environment) and whether an
NVIDIA GPU is there, in which case torch should be the CUDA build (PyPI's torch is
CPU-only on Windows, and may be built for a newer CUDA than the driver supports on Linux).

Cheap and safe to call off the GUI thread: :func:`importlib.util.find_spec` looks for the
packages without importing them; ``nvidia-smi`` runs once, with a short timeout, only to
read the CUDA version its driver supports.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sparklio_desktop.core.settings import paths

# The ``local`` extra of pyproject.toml: (module to look for, distribution to install).
LOCAL_PACKAGES = (
    ("torch", "torch"),
    ("diffusers", "diffusers"),
    ("transformers", "transformers"),
    ("accelerate", "accelerate"),
    ("safetensors", "safetensors"),
    ("PIL", "pillow"),
)
EXTRA = "sparklio-desktop[local]"
DISTRIBUTION = "sparklio-desktop"
TORCH_INDEX = "https://download.pytorch.org/whl/"
# PyTorch's CUDA builds, newest first, with the driver CUDA version (``nvidia-smi`` shows
# it, top right) each runs on: CUDA's minor-version compatibility lets a 12.x build run on
# any 12.x driver, but Blackwell GPUs (RTX 50xx) need cu128 or newer, which 12.8+ drivers have.
CUDA_BUILDS = (("cu130", (13, 0)), ("cu128", (12, 8)), ("cu126", (12, 0)), ("cu118", (11, 0)))
DEFAULT_CUDA_BUILD = "cu126"  # when the driver's CUDA version cannot be read
NVIDIA_PROC = Path("/proc/driver/nvidia")  # Linux: present when the NVIDIA driver is loaded
NVIDIA_SMI_TIMEOUT_S = 5.0

Install = Literal["pipx", "uv", "checkout", "bundle", "pip"]


@dataclass(frozen=True)
class NvidiaDriver:
    """An NVIDIA driver found on this machine; ``cuda`` is the newest CUDA it supports."""

    cuda: tuple[int, int] | None
    gpu: str = ""

    @property
    def build(self) -> str | None:
        """The PyTorch CUDA build to install (``cu128``), or None when the driver is too old for any."""
        if self.cuda is None:
            return DEFAULT_CUDA_BUILD
        return next((tag for tag, needs in CUDA_BUILDS if self.cuda >= needs), None)


@dataclass(frozen=True)
class LocalRuntimeAdvice:
    """What is missing for local generation and the commands that install it here."""

    missing: tuple[str, ...]  # distributions, as pip names them
    install: Install
    nvidia: NvidiaDriver | None
    commands: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.missing

    def text(self) -> str:
        """The advice as the pages show it: what is missing, then the commands, one a line."""
        if self.ready:
            return ""
        lines = [f"Local image generation is not installed here (missing: {', '.join(self.missing)})."]
        if self.install == "bundle":
            lines.append(
                "This bundle ships without it (torch is several GB). To generate images on this machine, "
                "install Sparklio as a Python package with the local extra:"
            )
        else:
            lines.append("To enable it on this machine, run:")
        lines += [f"    {command}" for command in self.commands]
        lines.append(_gpu_line(self.nvidia))
        lines.append("Then restart Sparklio.")
        return "\n".join(lines)


def missing_packages() -> tuple[str, ...]:
    """The ``local`` extra's distributions whose module is not importable (nothing is imported)."""
    return tuple(dist for module, dist in LOCAL_PACKAGES if not _importable(module))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken package, or sys.modules[module] set to None
        return False


def detect_nvidia() -> NvidiaDriver | None:
    """The NVIDIA driver, when ``nvidia-smi`` is on PATH (Linux, Windows) or the Linux
    driver is loaded; None on a machine without one (and on macOS, which has no CUDA)."""
    smi = shutil.which("nvidia-smi")
    if smi is None and not NVIDIA_PROC.is_dir():
        return None
    if smi is None:
        return NvidiaDriver(cuda=None)
    try:
        done = subprocess.run(
            [smi], capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False, errors="replace"
        )
    except (OSError, subprocess.SubprocessError):
        return NvidiaDriver(cuda=None)
    return parse_nvidia_smi(done.stdout)


def parse_nvidia_smi(output: str) -> NvidiaDriver:
    """The CUDA version and first GPU name from ``nvidia-smi``'s table (the header says
    ``CUDA Version: 12.4``; a GPU row reads ``|   0  NVIDIA GeForce RTX 4090  ...``)."""
    found = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", output)
    gpu = re.search(r"^\|\s+\d+\s+(.+?)\s{2,}", output, re.MULTILINE)
    return NvidiaDriver(
        cuda=(int(found.group(1)), int(found.group(2))) if found else None,
        gpu=gpu.group(1).strip() if gpu else "",
    )


def install_kind() -> Install:
    """How this copy of Sparklio was installed, which decides the install commands."""
    if getattr(sys, "frozen", False):
        return "bundle"
    if paths.source_checkout() is not None:
        return "checkout"
    prefix = Path(sys.prefix)
    where = prefix.as_posix().lower() + "/"
    # Each tool leaves its file in the environments it makes, wherever PIPX_HOME or UV_TOOL_DIR put them.
    if (prefix / "pipx_metadata.json").is_file() or "/pipx/venvs/" in where:
        return "pipx"
    if (prefix / "uv-receipt.toml").is_file() or "/uv/tools/" in where or not _importable("pip"):
        return "uv"  # a uv tool, or an environment without pip (uv venv): `uv pip install --python`
    return "pip"


def commands_for(missing: tuple[str, ...], install: Install, nvidia: NvidiaDriver | None) -> tuple[str, ...]:
    """The commands that install ``missing`` for this kind of install: the CUDA build of
    torch first when there is an NVIDIA GPU (installing the rest then keeps that torch)."""
    build = nvidia.build if nvidia is not None else None
    cuda_index = f"{TORCH_INDEX}{build}" if build and "torch" in missing else ""
    rest = " ".join(dist for dist in missing if dist != "torch" or not cuda_index)
    python = f'"{sys.executable}"' if " " in sys.executable else sys.executable
    if install == "pipx":
        first = [f"pipx inject {DISTRIBUTION} torch --index-url {cuda_index}"] if cuda_index else []
        return (*first, *([f"pipx inject {DISTRIBUTION} {rest}"] if rest else []))
    if install == "uv":
        uv_pip = f"uv pip install --python {python}"
        first = [f"{uv_pip} torch --index-url {cuda_index}"] if cuda_index else []
        return (*first, *([f"{uv_pip} {rest}"] if rest else []))
    if install == "bundle":  # the bundle's own Python takes no packages: the pipx install instead
        first = [f"pipx inject {DISTRIBUTION} torch --index-url {cuda_index}"] if cuda_index else []
        return (f'pipx install "{EXTRA}"', *first)
    pip = f"{python} -m pip install"
    first = [f"{pip} torch --index-url {cuda_index}"] if cuda_index else []
    if install == "checkout":
        return (*first, f'{pip} -e "{paths.source_checkout()}[local]"')
    return (*first, f'{pip} "{EXTRA}"')


def _gpu_line(nvidia: NvidiaDriver | None) -> str:
    if nvidia is None:
        if sys.platform == "darwin":
            return "No CUDA on macOS: torch from PyPI runs Stable Diffusion on the Apple GPU (MPS)."
        return "No NVIDIA GPU found (no nvidia-smi): images will be generated on the CPU, minutes each."
    name = f" ({nvidia.gpu})" if nvidia.gpu else ""
    if nvidia.cuda is None:
        return (
            f"NVIDIA GPU found{name}: the commands install torch's {DEFAULT_CUDA_BUILD} build; if your driver "
            "supports a newer CUDA (nvidia-smi shows it, top right), use that build's index instead."
        )
    version = f"{nvidia.cuda[0]}.{nvidia.cuda[1]}"
    if nvidia.build is None:
        oldest = CUDA_BUILDS[-1][1]
        return (
            f"NVIDIA GPU found{name}, but its driver supports CUDA {version} only; torch needs CUDA "
            f"{oldest[0]}.{oldest[1]} or newer: update the NVIDIA driver first."
        )
    return f"NVIDIA GPU found{name}, driver for CUDA {version}: the commands install torch's {nvidia.build} build."


def cuda_torch_hint() -> str:
    """For a torch that sees no CUDA GPU on a machine that has one (the CPU build): how to
    replace it with the CUDA build. Empty when there is no NVIDIA GPU."""
    nvidia = detect_nvidia()
    if nvidia is None or nvidia.build is None:
        return ""
    install = install_kind()
    index = f"{TORCH_INDEX}{nvidia.build}"
    python = f'"{sys.executable}"' if " " in sys.executable else sys.executable
    if install in ("pipx", "bundle"):
        command = f"pipx runpip {DISTRIBUTION} install --force-reinstall torch --index-url {index}"
    elif install == "uv":
        command = f"uv pip install --python {python} --reinstall torch --index-url {index}"
    else:
        command = f"{python} -m pip install --force-reinstall torch --index-url {index}"
    return f"An NVIDIA GPU is installed but torch is the CPU build; for its {nvidia.build} build run:\n    {command}"


def local_runtime_advice() -> LocalRuntimeAdvice:
    """What is missing here and how to install it; looks at the GPU only when something is missing."""
    missing = missing_packages()
    install = install_kind()
    nvidia = detect_nvidia() if missing else None
    return LocalRuntimeAdvice(missing, install, nvidia, commands_for(missing, install, nvidia) if missing else ())
