"""Render the app icons from ``resources/icons/sparklio.svg``: the PNG sizes, the Windows
``.ico`` and the macOS ``.icns``. Run it after editing the SVG and commit what it writes::

    .venv/bin/python packaging/render_icons.py

Why one script and no icon tools: Qt's own SVG renderer (QtSvg ships in
pyside6-essentials) draws every size the same way on every machine, and both container
formats are simple enough to write here (a directory of PNG images), so neither
ImageMagick nor ``iconutil`` (macOS only) is needed to rebuild them. Windows (Vista on)
reads PNG entries in an ``.ico``; macOS (10.7 on) reads PNG entries in an ``.icns``.

Where they go: the PNGs beside the SVG in ``resources/icons/`` (the wheel and the bundles
carry that folder; the app's window icon is made from it, app.py ``_set_identity``), the
``.ico`` in ``packaging/windows/`` and the ``.icns`` in ``packaging/macos/``: only the
bundlers read those two, so the wheel does not carry them.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SVG = ROOT / "resources" / "icons" / "sparklio.svg"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # resources/icons/sparklio-<size>.png
ICO = ROOT / "packaging" / "windows" / "sparklio.ico"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # 256 is the largest an .ico entry can say
ICNS = ROOT / "packaging" / "macos" / "sparklio.icns"
# The .icns entries that may hold PNG data: type code -> pixel size (the @2x codes hold
# twice the point size).
ICNS_TYPES = (
    (b"icp4", 16),
    (b"icp5", 32),
    (b"ic11", 32),
    (b"icp6", 64),
    (b"ic12", 64),
    (b"ic07", 128),
    (b"ic08", 256),
    (b"ic13", 256),
    (b"ic09", 512),
    (b"ic14", 512),
    (b"ic10", 1024),
)


def png_path(size: int) -> Path:
    return ROOT / "resources" / "icons" / f"sparklio-{size}.png"


def render_png(svg: Path, size: int) -> bytes:
    """The SVG drawn at ``size`` x ``size`` pixels, antialiased, as PNG bytes."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"render_icons: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.convertToFormat(QImage.Format.Format_ARGB32).save(buffer, "PNG")
    return bytes(data.data())


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An .ico holding one PNG entry per size (ICONDIR, then ICONDIRENTRYs, then the data)."""
    sizes = sorted(pngs)
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries, blobs = b"", b""
    for size in sizes:
        blob = pngs[size]
        side = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(blob), offset)
        offset += len(blob)
        blobs += blob
    return header + entries + blobs


def icns_bytes(pngs: dict[int, bytes]) -> bytes:
    """An .icns: the magic and total length, then (type, length, PNG) for each entry."""
    body = b"".join(code + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for code, size in ICNS_TYPES)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (what the tests check the files with)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    needed = sorted({*PNG_SIZES, *ICO_SIZES, *(size for _code, size in ICNS_TYPES)})
    pngs = {size: render_png(SVG, size) for size in needed}
    for size in PNG_SIZES:
        png_path(size).write_bytes(pngs[size])
        print(png_path(size).relative_to(ROOT))
    ICO.parent.mkdir(parents=True, exist_ok=True)
    ICO.write_bytes(ico_bytes({size: pngs[size] for size in ICO_SIZES}))
    print(ICO.relative_to(ROOT))
    ICNS.parent.mkdir(parents=True, exist_ok=True)
    ICNS.write_bytes(icns_bytes(pngs))
    print(ICNS.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
