#!/usr/bin/env bash
# Put this Sparklio bundle in the desktop's menu for the current user: the `sparklio`
# command in ~/.local/bin, the desktop entry, icons and AppStream metainfo under
# ~/.local/share. The bundle stays where it was unpacked; run this again after moving it.
#   ./install.sh              # install for this user
#   ./install.sh --uninstall  # remove what it installed (your data folder is left alone)
# PREFIX=/usr/local sudo ./install.sh installs for every user instead.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${PREFIX:-$HOME/.local}"
SHARE="$PREFIX/share"
BIN="$PREFIX/bin"
DESKTOP="$SHARE/applications/sparklio.desktop"
METAINFO="$SHARE/metainfo/io.sparklio.Sparklio.metainfo.xml"

refresh() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$SHARE/applications" || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" || true
}

if [ "${1:-}" = "--uninstall" ]; then
  rm -f "$BIN/sparklio" "$DESKTOP" "$METAINFO" "$SHARE/icons/hicolor/scalable/apps/sparklio.svg"
  for icon in "$SHARE"/icons/hicolor/*/apps/sparklio.png; do rm -f "$icon"; done
  refresh
  echo "Sparklio removed from the menu; the bundle in $HERE and your data are untouched."
  exit 0
fi

mkdir -p "$BIN" "$SHARE"
ln -sfn "$HERE/sparklio" "$BIN/sparklio"
cp -r "$HERE/share/." "$SHARE/"
# The entry runs this bundle by its full path: ~/.local/bin is not on every desktop's PATH.
sed -i "s|^Exec=sparklio|Exec=\"$HERE/sparklio\"|; s|^TryExec=sparklio|TryExec=$HERE/sparklio|" "$DESKTOP"
refresh
echo "Sparklio installed: the app menu has it, and \`sparklio\` runs it from a terminal ($BIN)."
