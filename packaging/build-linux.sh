#!/usr/bin/env bash
# Build the Linux bundle: dist/sparklio/ (a self-contained folder; run dist/sparklio/sparklio)
# and dist/sparklio-linux-x86_64.tar.gz, with the desktop entry, icons and AppStream
# metainfo inside (share/) and an install script for them.
#
#   packaging/build-linux.sh            # build venv: build/venv-bundle (made once, reused)
#   PYTHON=python3.12 packaging/build-linux.sh
#
# Why a build venv of its own: the bundle is what the venv holds, and the developer's
# .venv has the `local` extra (torch, diffusers: GBs) and the test tools. This one has
# the wheel's dependencies, PyInstaller, and the checkout installed non-editable (so the
# package carries data/ as the wheel does). Needs the package registry the first time.
# glibc: the bundle runs on distributions with this machine's glibc or newer; build on the
# oldest one you support (packaging/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PYTHON="${PYTHON:-python3}"
VENV="${SPARKLIO_BUNDLE_VENV:-build/venv-bundle}"
ARCH="$(uname -m)"
APP_ID="io.sparklio.Sparklio"  # the AppStream id (metainfo file name)
DESKTOP_ID="sparklio"  # = QGuiApplication.setDesktopFileName in app.py: the desktop entry's name
PYINSTALLER_VERSION="6.22.3"  # the version the bundle was measured with (packaging/README.md)

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# The dependencies (no `local` extra) and PyInstaller; then the checkout itself, rebuilt
# every time so the bundle has the working tree's code and data.
"$VENV/bin/python" -m pip install --quiet "pyinstaller==$PYINSTALLER_VERSION" .
"$VENV/bin/python" -m pip install --quiet --no-deps --force-reinstall .
rm -rf build/lib build/bdist.*  # setuptools' build folder: a stale copy would go into the next wheel
if "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "build-linux.sh: $VENV has torch; the base bundle must not (use a venv without the local extra)" >&2
  exit 1
fi

"$VENV/bin/pyinstaller" --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller packaging/sparklio.spec

BUNDLE="dist/sparklio"
# Debug symbols out (about -6 MB), except from the libraries auditwheel patched (*.libs/):
# stripped, numpy's OpenBLAS no longer loads.
find "$BUNDLE/_internal" -type f -name '*.so*' -not -path '*.libs/*' -exec strip --strip-unneeded {} + 2>/dev/null || true
# The desktop integration, laid out as under /usr/share (install.sh copies it to ~/.local).
SHARE="$BUNDLE/share"
rm -rf "$SHARE"
install -Dm644 packaging/linux/$DESKTOP_ID.desktop "$SHARE/applications/$DESKTOP_ID.desktop"
install -Dm644 packaging/linux/$APP_ID.metainfo.xml "$SHARE/metainfo/$APP_ID.metainfo.xml"
install -Dm644 resources/icons/sparklio.svg "$SHARE/icons/hicolor/scalable/apps/sparklio.svg"
for size in 16 24 32 48 64 128 256 512; do
  install -Dm644 "resources/icons/sparklio-$size.png" "$SHARE/icons/hicolor/${size}x${size}/apps/sparklio.png"
done
install -m755 packaging/linux/install.sh "$BUNDLE/install.sh"

VERSION="$("$BUNDLE/sparklio" --version | awk '{print $2}')"
TARBALL="dist/sparklio-linux-$ARCH.tar.gz"
tar -C dist -czf "$TARBALL" sparklio
echo "version $VERSION"
echo "bundle  $BUNDLE ($(du -sm "$BUNDLE" | cut -f1) MB, $(find "$BUNDLE" -type f | wc -l) files)"
echo "tarball $TARBALL ($(du -m "$TARBALL" | cut -f1) MB)"
