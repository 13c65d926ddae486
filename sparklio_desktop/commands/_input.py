"""Reading what the user hands a command (a prompt file, standard input, an image), bounded.

``--prompt-file /dev/zero`` used to read 3.8 GB before anything complained, and
standard input was read to its end whatever its size. Every input is now read with a
ceiling: at most ``limit + 1`` bytes are ever read, so a file one byte over the limit
is refused without reading the rest of it.

Limits (documented in the README's CLI table):

- a prompt, from ``--prompt-file`` or standard input: 4 MiB of UTF-8 text
  (:data:`MAX_PROMPT_BYTES`). The largest context window in the catalog is 1M tokens,
  about 4 MB of English; a longer prompt fits no model.
- an attached image (``--image``): 20 MiB (:data:`MAX_IMAGE_BYTES`), the largest any
  provider in the catalog accepts.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from sparklio_desktop.core.errors import SparklioError

__all__ = ["MAX_IMAGE_BYTES", "MAX_PROMPT_BYTES", "read_bounded", "read_prompt_file", "read_prompt_stream"]

MAX_PROMPT_BYTES = 4 * 2**20
MAX_IMAGE_BYTES = 20 * 2**20


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def _read_at_most(stream: BinaryIO, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes: one more than allowed tells "too large" from "exactly full"."""
    chunks, left = [], limit + 1
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_bounded(path: str, option: str, limit: int) -> bytes:
    """The bytes of the file ``path`` given as ``option``; a one-line error if it cannot be used."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            raise SparklioError(f"{option} {path}: is a folder, not a file")
        with open(path, "rb") as handle:
            data = _read_at_most(handle, limit)
    except SparklioError:
        raise
    except OSError as exc:
        raise SparklioError(f"{option} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise SparklioError(f"{option} {path}: larger than the {_mib(limit)} limit")
    return data


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SparklioError(f"{where}: not UTF-8 text (byte {exc.start})") from None


def read_prompt_file(path: str, option: str = "--prompt-file") -> str:
    return _decode(read_bounded(path, option, MAX_PROMPT_BYTES), f"{option} {path}")


def read_prompt_stream(stream: BinaryIO) -> str:
    """The prompt from standard input (its byte stream), within :data:`MAX_PROMPT_BYTES`."""
    data = _read_at_most(stream, MAX_PROMPT_BYTES)
    if len(data) > MAX_PROMPT_BYTES:
        raise SparklioError(f"standard input: the prompt is larger than the {_mib(MAX_PROMPT_BYTES)} limit")
    return _decode(data, "standard input")
