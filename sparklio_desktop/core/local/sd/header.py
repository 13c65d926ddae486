"""Read a safetensors header: the tensors' names, dtypes and shapes, validated, without the data.

A ``.safetensors`` file starts with an 8-byte little-endian length and a JSON header listing
every tensor's name, dtype, shape and byte range. Reading only the header keeps probing a 7 GB
checkpoint in milliseconds and never runs or maps anything from the file. Both the single-file
probe (:mod:`.probe`) and the diffusers-folder reader (:mod:`.diffusers_dirs`) stand on this.
"""

from __future__ import annotations

import json
import math
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sparklio_desktop.core.local.errors import CheckpointUnreadable

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit
_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip
_PRECISION = {"F16": "fp16", "F32": "fp32", "BF16": "bf16", "F64": "fp64", "F8_E4M3": "fp8", "F8_E5M2": "fp8"}
FLOAT_DTYPES = frozenset(_PRECISION)


class TensorInfo(NamedTuple):
    """One header entry. A NamedTuple: an SDXL header has 2,500 of them to build fast."""

    dtype: str
    shape: tuple[int, ...]
    numel: int


@dataclass(frozen=True)
class SafetensorsHeader:
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    header_bytes: int


def read_safetensors_header(path: Path) -> SafetensorsHeader:
    """The header only, with plain file I/O, validated in full before anything uses it.

    The checks are those the safetensors library makes when it loads the file (so a file
    that probes also loads), plus a few of our own: a known dtype for every tensor, a
    shape of at most :data:`MAX_RANK` non-negative integers whose size matches the
    tensor's byte range, byte ranges that tile the data section exactly (no gap, no
    overlap, nothing past the end: a truncated download is reported here), ``__metadata__``
    a string-to-string object, and no duplicate key anywhere. Anything else raises
    :class:`CheckpointUnreadable` with the reason; nothing else escapes.
    """
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block the read, or never end
            raise CheckpointUnreadable(path, "not a regular file")
        size = st.st_size
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise CheckpointUnreadable(path, "too short to be a safetensors file")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise CheckpointUnreadable(
                    path, f"not a safetensors file (bad header length {length}, over the format's 100 MB limit)"
                )
            if length + 8 > size:
                raise CheckpointUnreadable(
                    path, f"not a safetensors file (bad header length {length}, larger than the {size}-byte file)"
                )
            raw = f.read(length)
    except OSError as err:
        raise CheckpointUnreadable(path, f"cannot read: {err.strerror or err}") from err
    if len(raw) < length:
        raise CheckpointUnreadable(path, "file shrank while it was read")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CheckpointUnreadable(path, "not a safetensors file (header is not UTF-8 text)") from err
    try:
        header = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as dup:
        raise CheckpointUnreadable(
            path, f"malformed safetensors header (key {_quote(dup.key)} appears twice)"
        ) from None
    except RecursionError:
        raise CheckpointUnreadable(path, "malformed safetensors header (nested too deeply)") from None
    except ValueError as err:  # JSONDecodeError, and integers over Python's digit limit
        raise CheckpointUnreadable(path, "not a safetensors file (header is not JSON)") from err
    if not isinstance(header, dict):
        raise CheckpointUnreadable(path, "not a safetensors file (header is not a JSON object)")
    try:
        return _validated(header, size - 8 - length, length)
    except _Malformed as bad:
        raise CheckpointUnreadable(path, str(bad)) from None


MAX_RANK = 8  # real checkpoints use at most 5 dimensions
_MAX_DIM = 2**63 - 1  # the loader's usize


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        self.key = key


class _Malformed(Exception):
    """One line saying what is wrong with a parsed header."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _quote(name: str, limit: int = 60) -> str:
    """A tensor name for an error line: printable, and short."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in name[:limit])
    return repr(shown + ("…" if len(name) > limit else ""))


def _bad_shape(name: str) -> str:
    return (
        f"malformed safetensors header (tensor {_quote(name)}: shape must be a list of at most {MAX_RANK} "
        "non-negative integers)"
    )


def _validated(header: dict[str, object], data_size: int, length: int) -> SafetensorsHeader:
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(type(v) is str for v in metadata.values()):
        raise _Malformed("malformed safetensors header (__metadata__ must map names to strings)")
    tensors: dict[str, TensorInfo] = {}
    ranges: list[tuple[int, int, str]] = []
    sizes = _DTYPE_BYTES
    prod = math.prod
    for name, spec in header.items():
        if type(spec) is not dict:
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)} is not an object)")
        dtype = spec.get("dtype")
        shape = spec.get("shape")
        offsets = spec.get("data_offsets")
        if type(dtype) is not str or dtype not in sizes:
            what = f"unknown dtype {_quote(dtype)}" if type(dtype) is str else "no dtype name"
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)}: {what})")
        if type(shape) is not list or len(shape) > MAX_RANK:
            raise _Malformed(_bad_shape(name))
        for d in shape:
            if type(d) is not int or d < 0 or d > _MAX_DIM:
                raise _Malformed(_bad_shape(name))
        if type(offsets) is not list or len(offsets) != 2:
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)}: data_offsets must be two integers)")
        begin, end = offsets
        if type(begin) is not int or type(end) is not int:
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)}: data_offsets must be two integers)")
        if not 0 <= begin <= end:
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)}: bad data_offsets [{begin}, {end}])")
        numel = prod(shape)
        if numel * sizes[dtype] != end - begin:
            raise _Malformed(
                f"malformed safetensors header (tensor {_quote(name)}: shape {shape} of {dtype} does not fill "
                f"its {end - begin} bytes)"
            )
        tensors[name] = TensorInfo(dtype, tuple(shape), numel)
        ranges.append((begin, end, name))
    ranges.sort()
    position = 0
    for begin, end, name in ranges:
        if begin != position:
            what = "overlaps the tensor before it" if begin < position else f"leaves a gap at byte {position}"
            raise _Malformed(f"malformed safetensors header (tensor {_quote(name)} {what})")
        position = end
    if position > data_size:
        raise _Malformed(f"file is truncated ({data_size} of {position} data bytes); the download may be incomplete")
    if position < data_size:
        raise _Malformed(f"malformed safetensors file ({data_size - position} bytes after the last tensor)")
    return SafetensorsHeader(tensors, metadata, length)


def precision_of(tensor_groups: Sequence[Mapping[str, TensorInfo]]) -> str:
    """The float dtype holding most bytes: what the file stores, not what we run in."""
    by_dtype: dict[str, int] = {}
    for tensors in tensor_groups:
        for name, info in tensors.items():
            if info.dtype in FLOAT_DTYPES and not name.startswith("model_ema."):
                by_dtype[info.dtype] = by_dtype.get(info.dtype, 0) + info.numel
    if not by_dtype:
        return "unknown"
    return _PRECISION[max(by_dtype, key=lambda d: by_dtype[d] * _DTYPE_BYTES[d])]
