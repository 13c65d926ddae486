"""Build hook: copy the top-level data folders into the package.

Why: ``models/``, ``policies/`` and ``resources/`` stay at the repository's top level (the
design card; they are what a developer edits), yet an installed wheel must carry them. The
build copies each into ``sparklio_desktop/data/<name>`` of the built package, where
``core/settings/paths.py`` looks when there is no source checkout. Everything else about the
package is in pyproject.toml; MANIFEST.in puts the folders in the sdist, so a wheel built
from the sdist carries them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("models", "policies", "resources")  # read at run time through core/settings/paths.py
PACKAGE = "sparklio_desktop"


class BuildWithData(build_py):
    """build_py, then the shipped folders copied under ``<build>/sparklio_desktop/data/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the top-level folders in place
        target = Path(self.build_lib) / PACKAGE / "data"
        for name in SHIPPED:
            source = HERE / name
            if not source.is_dir():
                raise SystemExit(f"setup.py: {source} is missing; the wheel would start without it")
            shutil.rmtree(target / name, ignore_errors=True)
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


setup(cmdclass={"build_py": BuildWithData})
