"""PNG text chunks read and written by hand, without Pillow.

Why by hand: Pillow arrives only with the ``local`` extra, but cloud images must get the
same settings chunk when they are saved, and an imported PNG's parameters must be read on
any install. A PNG is an 8-byte signature and a list of chunks (length, type, data, CRC);
text lives in ``tEXt`` (Latin-1), ``zTXt`` (Latin-1, deflated) and ``iTXt`` (UTF-8,
optionally deflated). Adding text means inserting chunks after ``IHDR``; nothing else in
the file changes, so the pixels are byte for byte the provider's.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["PNG_SIGNATURE", "is_png", "png_size", "read_text_chunks", "with_text_chunks"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_TYPES = (b"tEXt", b"zTXt", b"iTXt")
_MAX_TEXT = 16 << 20  # a text chunk larger than this is not settings: skipped


def is_png(data: bytes) -> bool:
    return data[:8] == PNG_SIGNATURE


def _chunks(data: bytes) -> Iterator[tuple[bytes, bytes, int, int]]:
    """(type, data, start, end) of each chunk; stops at the first malformed one."""
    pos = 8
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            return
        yield kind, data[pos + 8 : pos + 8 + length], pos, end
        if kind == b"IEND":
            return
        pos = end


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the ``IHDR`` chunk, or None when ``data`` is not a PNG."""
    if not is_png(data) or len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _decode(kind: bytes, body: bytes) -> tuple[str, str] | None:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep or not keyword:
        return None
    key = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return key, rest.decode("latin-1")
        if kind == b"zTXt":
            return key, zlib.decompress(rest[1:], bufsize=1 << 16).decode("latin-1")
        compressed, _method = rest[0], rest[1]
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        raw = zlib.decompress(text) if compressed else text
        return key, raw.decode("utf-8")
    except (zlib.error, IndexError, UnicodeDecodeError):
        return None


def read_text_chunks(source: bytes | Path) -> dict[str, str]:
    """Every readable text chunk of a PNG (the first of a repeated keyword wins); ``{}``
    when it is not a PNG."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if not is_png(data):
        return {}
    found: dict[str, str] = {}
    for kind, body, _start, _end in _chunks(data):
        if kind in _TEXT_TYPES and len(body) <= _MAX_TEXT:
            decoded = _decode(kind, body)
            if decoded is not None:
                found.setdefault(*decoded)
    return found


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _text_chunk(key: str, value: str) -> bytes:
    keyword = key.encode("latin-1")[:79]
    try:
        return _chunk(b"tEXt", keyword + b"\x00" + value.encode("latin-1"))
    except UnicodeEncodeError:  # iTXt, uncompressed, no language: what Pillow writes
        return _chunk(b"iTXt", keyword + b"\x00\x00\x00\x00\x00" + value.encode("utf-8"))


def with_text_chunks(data: bytes, chunks: Mapping[str, str]) -> bytes:
    """``data`` (a PNG) with ``chunks`` added after ``IHDR``; text chunks of the same
    keywords already there are dropped. Not a PNG: returned unchanged."""
    if not is_png(data) or png_size(data) is None:
        return data
    parts = [PNG_SIGNATURE]
    for kind, body, start, end in _chunks(data):
        if kind in _TEXT_TYPES:
            decoded = _decode(kind, body)
            if decoded is not None and decoded[0] in chunks:
                continue
        parts.append(data[start:end])
        if kind == b"IHDR":
            parts.extend(_text_chunk(key, value) for key, value in chunks.items())
    return b"".join(parts)
