"""Tell what a checkpoint is from its safetensors header alone, without loading tensors.

A ``.safetensors`` file starts with an 8-byte little-endian length and a JSON header
listing every tensor's name, dtype, shape and byte range. Names and shapes say the
architecture: the UNet's cross-attention context width is 768 (SD 1.x, CLIP-L), 1024
(SD 2.x, OpenCLIP-H), 2048 (SDXL base, CLIP-L + bigG) or 1280 (SDXL refiner, bigG), and
an inpainting UNet takes 9 input channels. Reading only the header keeps probing a 7 GB
checkpoint in milliseconds, and never runs or maps anything from the file.

Diffusers folders are probed from ``model_index.json`` and ``unet/config.json``, and
their component weight headers for precision and parameter counts.
"""

from __future__ import annotations

import json
import math
import re
import stat
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.errors import CheckpointUnreadable
from sparklio_desktop.core.local.sd_store import CheckpointStore
from sparklio_desktop.core.local.sd_types import DEFAULT_RESOLUTION, ComponentParams, ModelType

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors format's own limit
_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "U16": 2, "U32": 4, "U64": 8, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip
_PRECISION = {"F16": "fp16", "F32": "fp32", "BF16": "bf16", "F64": "fp64", "F8_E4M3": "fp8", "F8_E5M2": "fp8"}
_FLOAT_DTYPES = frozenset(_PRECISION)
_CONTEXT_DIMS = {768: ModelType.SD1, 1024: ModelType.SD2, 2048: ModelType.SDXL_BASE, 1280: ModelType.SDXL_REFINER}
UNET_PREFIX = "model.diffusion_model."
PICKLE_SUFFIXES = frozenset({".ckpt", ".bin", ".pt", ".pth"})
_ATTN2_K = re.compile(r"\.attn2\.to_k\.weight$")


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


@dataclass(frozen=True)
class ProbeResult:
    """Everything the UI shows about a checkpoint before the user loads it."""

    path: Path
    model_type: ModelType  # what Sparklio will load it as (the override when set)
    detected_type: ModelType  # what the probe concluded
    family: ModelType  # the base family; differs from model_type only for inpainting
    overridden: bool
    precision: str  # fp16 / fp32 / bf16 / ... (by bytes), or "unknown"
    params: ComponentParams
    size_bytes: int
    default_resolution: int
    est_vram_bytes: int  # fp16 inference at the default resolution, no memory savers
    has_ema: bool = False
    reasons: tuple[str, ...] = field(default=())

    @property
    def param_count(self) -> int:
        return self.params.total


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
        raise CheckpointUnreadable(path, f"malformed safetensors header (key {_quote(dup.key)} appears twice)") from None
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
        raise _Malformed(
            f"file is truncated ({data_size} of {position} data bytes); the download may be incomplete"
        )
    if position < data_size:
        raise _Malformed(
            f"malformed safetensors file ({data_size - position} bytes after the last tensor)"
        )
    return SafetensorsHeader(tensors, metadata, length)


def classify(tensors: Mapping[str, TensorInfo]) -> tuple[ModelType, ModelType, list[str]]:
    """(model type, family, reasons) from original-layout (LDM) tensor names and shapes."""
    reasons: list[str] = []
    unet = [k for k in tensors if k.startswith(UNET_PREFIX)]
    if not unet:
        return ModelType.UNKNOWN, ModelType.UNKNOWN, [_not_a_checkpoint(tensors)]
    conv_in = tensors.get(UNET_PREFIX + "input_blocks.0.0.weight")
    in_channels = conv_in.shape[1] if conv_in and len(conv_in.shape) == 4 else None
    context = next((tensors[k].shape[-1] for k in unet if _ATTN2_K.search(k) and tensors[k].shape), None)

    def has(prefix: str) -> bool:
        return any(k.startswith(prefix) for k in tensors)


    family = _CONTEXT_DIMS.get(context or -1, ModelType.UNKNOWN)
    if family is not ModelType.UNKNOWN:
        reasons.append(f"UNet cross-attention context {context}")
    else:
        if context is not None:
            reasons.append(f"unusual cross-attention context {context}; judged by the text encoder")
        if has("conditioner.embedders.1."):
            family = ModelType.SDXL_BASE
        elif has("conditioner.embedders.0.model."):
            family = ModelType.SDXL_REFINER
        elif has("cond_stage_model.model."):
            family = ModelType.SD2
        elif has("cond_stage_model.transformer."):
            family = ModelType.SD1
        if family is not ModelType.UNKNOWN:
            reasons.append(f"text encoder layout of {family.value}")
    if family is ModelType.UNKNOWN:
        reasons.append("no known UNet context width or text encoder")
        return ModelType.UNKNOWN, family, reasons
    if in_channels == 9:
        reasons.append("UNet takes 9 input channels (inpainting)")
        return ModelType.INPAINT, family, reasons
    if in_channels not in (None, 4):
        reasons.append(f"UNet takes {in_channels} input channels; not a text-to-image model")
        return ModelType.UNKNOWN, family, reasons
    return family, family, reasons


def _not_a_checkpoint(tensors: Mapping[str, TensorInfo]) -> str:
    keys = list(tensors)
    if any("lora_" in k or ".lora_down." in k or ".lora_A." in k for k in keys[:200]):
        return "a LoRA, not a full checkpoint"
    if any(k.startswith(("encoder.conv_in", "decoder.conv_in")) for k in keys):
        return "a VAE only, not a full checkpoint"
    if any(k.startswith(("conv_in.", "down_blocks.")) for k in keys):
        return "a diffusers-layout UNet only, not a full checkpoint"
    return "no Stable Diffusion UNet in this file"


_COMPONENT_OF = {"model": 0, "first_stage_model": 1, "vae": 1, "cond_stage_model": 2, "conditioner": 2}


def component_params(tensors: Mapping[str, TensorInfo]) -> tuple[ComponentParams, bool]:
    """Float parameter counts per component; EMA copies are not counted (not loaded)."""
    counts = [0, 0, 0, 0]  # unet, vae, text, other
    has_ema = False
    component_of = _COMPONENT_OF
    for name, info in tensors.items():
        head = name.partition(".")[0]
        if head == "model_ema":
            has_ema = True
        elif info.dtype in _FLOAT_DTYPES:
            counts[component_of.get(head, 3)] += info.numel
    return ComponentParams(unet=counts[0], vae=counts[1], text_encoders=counts[2]), has_ema


def precision_of(tensor_groups: Sequence[Mapping[str, TensorInfo]]) -> str:
    """The float dtype holding most bytes: what the file stores, not what we run in."""
    by_dtype: dict[str, int] = {}
    for tensors in tensor_groups:
        for name, info in tensors.items():
            if info.dtype in _FLOAT_DTYPES and not name.startswith("model_ema."):
                by_dtype[info.dtype] = by_dtype.get(info.dtype, 0) + info.numel
    if not by_dtype:
        return "unknown"
    return _PRECISION[max(by_dtype, key=lambda d: by_dtype[d] * _DTYPE_BYTES[d])]


def _finish(
    path: Path,
    detected: ModelType,
    family: ModelType,
    params: ComponentParams,
    precision: str,
    size: int,
    has_ema: bool,
    reasons: list[str],
    store: CheckpointStore | None,
) -> ProbeResult:
    override = store.type_override(path) if store is not None else None
    model_type = override or detected
    if override is not None:
        reasons.append(f"type set by the user to {override.value}")
        family = override if override is not ModelType.INPAINT else family
    res = DEFAULT_RESOLUTION[model_type]
    est = vram.estimate_sd_peak_gib(model_type, res, res, vram.Savers(), params=params if params.total else None)
    return ProbeResult(
        path=path,
        model_type=model_type,
        detected_type=detected,
        family=family,
        overridden=override is not None,
        precision=precision,
        params=params,
        size_bytes=size,
        default_resolution=res,
        est_vram_bytes=int(est * vram.GIB),
        has_ema=has_ema,
        reasons=tuple(reasons),
    )


def probe_safetensors(path: Path, store: CheckpointStore | None = None) -> ProbeResult:
    """Probe one single-file checkpoint from its header (≈ms even for 7 GB files)."""
    header = read_safetensors_header(path)
    detected, family, reasons = classify(header.tensors)
    params, has_ema = component_params(header.tensors)
    precision = precision_of([header.tensors])
    size = path.stat().st_size
    return _finish(path, detected, family, params, precision, size, has_ema, reasons, store)


def probe(path: Path, store: CheckpointStore | None = None) -> ProbeResult:
    """Probe a ``.safetensors`` file or a diffusers folder. Pickle files are never opened
    here (unpickling is what runs code): their type is UNKNOWN unless the user sets it."""
    path = Path(path)
    if path.is_dir():
        from sparklio_desktop.core.local.sd_diffusers import probe_diffusers_folder

        result: ProbeResult = probe_diffusers_folder(path, store)  # typed Any there: the modules import each other
        return result
    if path.suffix.lower() in PICKLE_SUFFIXES:
        reasons = ["pickle files are not opened to probe them; set the type by hand"]
        size = path.stat().st_size
        return _finish(
            path, ModelType.UNKNOWN, ModelType.UNKNOWN, ComponentParams(0, 0, 0), "unknown", size, False, reasons, store
        )
    if path.suffix.lower() != ".safetensors":
        raise CheckpointUnreadable(path, "only .safetensors, pickle checkpoints and diffusers folders are known")
    return probe_safetensors(path, store)
