"""How to enable local image generation: the advice the Images and Models pages show.

The inputs are the machine's, set up for real: a package made unimportable through
``sys.modules``, an ``nvidia-smi`` on PATH that prints the driver's real table (or none),
the Linux driver's /proc folder, the interpreter's prefix and a frozen flag. What is
checked is the text and the commands a creator would copy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparklio_desktop.core.local import enable
from sparklio_desktop.core.settings import paths

CUDA_INDEX = "https://download.pytorch.org/whl/"
NVIDIA_SMI_TABLE = """\
Wed Dec  2 18:00:00 2026
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 550.54.14              Driver Version: 550.54.14      CUDA Version: {cuda}     |
|-----------------------------------------+------------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |
|=========================================+========================+======================|
|   0  NVIDIA GeForce RTX 4090        Off |   00000000:01:00.0  On |                  Off |
+-----------------------------------------+------------------------+----------------------+
"""


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A PATH of one folder (no nvidia-smi yet) and no NVIDIA /proc folder."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(enable, "NVIDIA_PROC", tmp_path / "proc-driver-nvidia")
    monkeypatch.setattr(sys, "platform", "linux")

    class Machine:
        ran = tmp_path / "nvidia-smi-ran"

        @staticmethod
        def nvidia_smi(cuda: str | None = "12.4", status: int = 0) -> None:
            table = NVIDIA_SMI_TABLE.format(cuda=cuda) if cuda else ""
            script = bin_dir / "nvidia-smi"
            script.write_text(
                f"#!{sys.executable}\nimport pathlib, sys\npathlib.Path({str(Machine.ran)!r}).touch()\n"
                f"print({table!r}, end='')\nsys.exit({status})\n"
            )
            script.chmod(0o755)

        @staticmethod
        def without(*modules: str) -> None:
            for module in modules:
                monkeypatch.setitem(sys.modules, module, None)

        @staticmethod
        def installed_as(prefix: Path) -> None:
            """Sparklio installed (not a checkout) in the environment at ``prefix``."""
            monkeypatch.setattr(paths, "_REPO_ROOT", tmp_path / "site-packages")
            monkeypatch.setattr(sys, "prefix", str(prefix))

    return Machine


def test_missing_torch_on_an_nvidia_machine_installs_the_cuda_build_first(machine) -> None:
    machine.without("torch", "diffusers")
    machine.nvidia_smi("12.4")
    advice = enable.local_runtime_advice()
    assert not advice.ready and advice.missing == ("torch", "diffusers")
    assert advice.install == "checkout"
    python = sys.executable
    assert advice.commands == (
        f"{python} -m pip install torch --index-url {CUDA_INDEX}cu126",
        f'{python} -m pip install -e "{paths.source_checkout()}[local]"',
    )
    text = advice.text()
    assert text.startswith("Local image generation is not installed here (missing: torch, diffusers).")
    assert "NVIDIA GPU found (NVIDIA GeForce RTX 4090), driver for CUDA 12.4: " in text
    assert "torch's cu126 build" in text and text.endswith("Then restart Sparklio.")


@pytest.mark.parametrize(
    ("cuda", "build"), [("13.0", "cu130"), ("12.9", "cu128"), ("12.8", "cu128"), ("12.2", "cu126"), ("11.8", "cu118")]
)
def test_the_cuda_build_is_the_newest_the_driver_runs(machine, cuda: str, build: str) -> None:
    machine.without("torch")
    machine.nvidia_smi(cuda)
    machine.installed_as(Path("/opt/venvs/creator"))
    advice = enable.local_runtime_advice()
    assert advice.install == "pip"
    assert advice.commands[0] == f"{sys.executable} -m pip install torch --index-url {CUDA_INDEX}{build}"
    assert advice.commands[1] == f'{sys.executable} -m pip install "sparklio-desktop[local]"'


def test_a_driver_too_old_for_any_build_says_to_update_it(machine) -> None:
    machine.without("torch")
    machine.nvidia_smi("10.2")
    advice = enable.local_runtime_advice()
    assert "--index-url" not in " ".join(advice.commands)
    assert "supports CUDA 10.2 only" in advice.text() and "update the NVIDIA driver" in advice.text()


def test_an_unreadable_nvidia_smi_or_only_the_proc_folder_gets_the_default_build(machine, tmp_path: Path) -> None:
    machine.without("torch")
    machine.nvidia_smi(None, status=9)  # prints nothing, fails
    advice = enable.local_runtime_advice()
    assert advice.commands[0].endswith(f"--index-url {CUDA_INDEX}{enable.DEFAULT_CUDA_BUILD}")
    assert "nvidia-smi shows it" in advice.text()
    (tmp_path / "bin" / "nvidia-smi").unlink()
    (tmp_path / "proc-driver-nvidia").mkdir()
    assert enable.local_runtime_advice().commands[0].endswith(enable.DEFAULT_CUDA_BUILD)


def test_without_a_gpu_there_is_no_cuda_index_and_the_cpu_is_named(machine) -> None:
    machine.without("diffusers", "PIL")
    advice = enable.local_runtime_advice()
    assert advice.missing == ("diffusers", "pillow")
    assert "--index-url" not in " ".join(advice.commands)
    assert "No NVIDIA GPU found (no nvidia-smi): images will be generated on the CPU" in advice.text()
    machine_mac = pytest.MonkeyPatch()
    machine_mac.setattr(sys, "platform", "darwin")
    try:
        assert "Apple GPU (MPS)" in enable.local_runtime_advice().text()
    finally:
        machine_mac.undo()


def test_pipx_and_uv_tool_installs_get_their_own_commands(machine, tmp_path: Path) -> None:
    machine.without("torch", "diffusers")
    machine.nvidia_smi("12.8")
    machine.installed_as(tmp_path / "home" / ".local" / "share" / "pipx" / "venvs" / "sparklio-desktop")
    advice = enable.local_runtime_advice()
    assert advice.install == "pipx"
    assert advice.commands == (
        f"pipx inject sparklio-desktop torch --index-url {CUDA_INDEX}cu128",
        "pipx inject sparklio-desktop diffusers",
    )
    machine.installed_as(tmp_path / "home" / ".local" / "share" / "uv" / "tools" / "sparklio-desktop")
    advice = enable.local_runtime_advice()
    assert advice.install == "uv"
    assert advice.commands == (
        f"uv pip install --python {sys.executable} torch --index-url {CUDA_INDEX}cu128",
        f"uv pip install --python {sys.executable} diffusers",
    )


def test_tool_environments_are_recognised_by_their_files_wherever_they_are(machine, tmp_path: Path) -> None:
    machine.without("diffusers")
    pipx_env, uv_env = tmp_path / "px" / "sparklio", tmp_path / "tools" / "sparklio"
    for env, marker in ((pipx_env, "pipx_metadata.json"), (uv_env, "uv-receipt.toml")):
        env.mkdir(parents=True)
        (env / marker).write_text("{}")
    machine.installed_as(pipx_env)
    assert enable.local_runtime_advice().commands == ("pipx inject sparklio-desktop diffusers",)
    machine.installed_as(uv_env)
    assert enable.local_runtime_advice().commands == (f"uv pip install --python {sys.executable} diffusers",)


def test_an_environment_without_pip_gets_uv_pip(machine) -> None:
    machine.without("diffusers", "pip")
    machine.installed_as(Path("/opt/venvs/made-by-uv"))
    assert enable.local_runtime_advice().commands == (f"uv pip install --python {sys.executable} diffusers",)


def test_a_bundle_points_to_the_pipx_install(machine, monkeypatch: pytest.MonkeyPatch) -> None:
    machine.without("torch")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    advice = enable.local_runtime_advice()
    assert advice.install == "bundle"
    assert advice.commands == ('pipx install "sparklio-desktop[local]"',)
    assert "This bundle ships without it" in advice.text()


def test_with_everything_installed_there_is_no_advice_and_nvidia_smi_is_not_run(machine) -> None:
    machine.nvidia_smi("12.4")
    advice = enable.local_runtime_advice()
    assert advice.ready and advice.text() == "" and advice.commands == ()
    assert not machine.ran.exists()


def test_a_cpu_torch_on_an_nvidia_machine_is_told_to_reinstall_the_cuda_build(machine) -> None:
    assert enable.cuda_torch_hint() == ""  # no GPU: nothing to say
    machine.nvidia_smi("12.6")
    hint = enable.cuda_torch_hint()
    assert hint.startswith("An NVIDIA GPU is installed but torch is the CPU build; for its cu126 build run:")
    assert f"{sys.executable} -m pip install --force-reinstall torch --index-url {CUDA_INDEX}cu126" in hint


def test_a_cpu_torch_in_a_pipx_environment_is_reinstalled_through_pipx_runpip(machine) -> None:
    machine.nvidia_smi("13.1")
    machine.installed_as(Path("/home/creator/.local/share/pipx/venvs/sparklio-desktop"))
    hint = enable.cuda_torch_hint()
    assert hint.endswith(f"pipx runpip sparklio-desktop install --force-reinstall torch --index-url {CUDA_INDEX}cu130")
