"""Write safetensors files by hand: exact headers, with zero, garbage or sparse data.

The probe must decide from the header alone, so tests build headers for model types
we have no weights for, and data sections that are garbage or a 7 GB hole.
"""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Literal

Spec = dict[str, tuple[str, tuple[int, ...]]]
_BYTES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "U8": 1}
PADDING_TENSOR = "sparklio_test.padding"


def write_safetensors(
    path: Path,
    tensors: Spec,
    data: Literal["zeros", "garbage", "sparse"] = "zeros",
    metadata: dict[str, str] | None = None,
    min_data_bytes: int = 0,
) -> Path:
    """A valid safetensors layout; ``sparse`` leaves the data section as a hole.

    ``min_data_bytes`` pads the data with a ``U8`` tensor, so the byte ranges still tile
    the data section exactly, as the format requires.
    """
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    tensors = dict(tensors)
    needed = sum(math.prod(shape) * _BYTES[dtype] for dtype, shape in tensors.values())
    if min_data_bytes > needed:
        tensors[PADDING_TENSOR] = ("U8", (min_data_bytes - needed,))
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = math.prod(shape) * _BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
    total = offset
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        if data == "sparse":
            f.truncate(8 + len(raw) + total)
        elif data == "garbage":
            f.write(os.urandom(total))
        else:
            f.write(bytes(total))
    return path


def ldm_header(model_type: str) -> Spec:
    """The full original-layout header of a real SD family (fp16), from the shipped
    configs instantiated on the meta device: every real tensor name and shape."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from sparklio_desktop.core.local.sd.configs import shipped_config_dir
    from tests.local.ldm_export import CLIP_L_PREFIX, clip_to_ldm, open_clip_shapes, unet_to_ldm, vae_to_ldm

    folder = shipped_config_dir(model_type)  # type: ignore[arg-type]
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        clip_l = None
        if (folder / "text_encoder").is_dir() and model_type != "sd2":
            clip_l = CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder"))
    shapes: dict[str, tuple[int, ...]] = {}
    shapes.update(unet_to_ldm({k: tuple(v.shape) for k, v in unet.state_dict().items()}, unet.config))
    shapes.update(
        vae_to_ldm({k: tuple(v.shape) for k, v in vae.state_dict().items()}, vae.config, lambda s: (*s, 1, 1))
    )
    clip_shapes = {k: tuple(v.shape) for k, v in clip_l.state_dict().items()} if clip_l is not None else {}
    if model_type in ("sd1", "inpaint"):
        shapes.update(clip_to_ldm(clip_shapes, CLIP_L_PREFIX))
    elif model_type == "sd2":
        shapes.update(open_clip_shapes("cond_stage_model.model.", 1024, 24, 1024))
    elif model_type == "sdxl_base":
        shapes.update(clip_to_ldm(clip_shapes, "conditioner.embedders.0.transformer.text_model."))
        shapes.update(open_clip_shapes("conditioner.embedders.1.model.", 1280, 32, 1280))
    elif model_type == "sdxl_refiner":
        shapes.update(open_clip_shapes("conditioner.embedders.0.model.", 1280, 32, 1280))
    return {name: ("F16", shape) for name, shape in shapes.items()}


# --------------------------------------------------------------------------- hostile files

SD1_TENSORS: Spec = {
    "model.diffusion_model.input_blocks.0.0.weight": ("F16", (320, 4, 3, 3)),
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": ("F16", (320, 768)),
    "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": ("F16", (77, 768)),
}


def valid_header(tensors: Spec = SD1_TENSORS) -> tuple[dict[str, object], int]:
    """A valid header as a JSON-ready dict, and its data section's size."""
    header: dict[str, object] = {}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        n = math.prod(shape) * _BYTES[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    return header, offset


def raw_file(header: bytes | str | object, data_bytes: int, length: int | None = None) -> bytes:
    """A file from a header given as bytes, text or a JSON value; ``length`` overrides the prefix."""
    if isinstance(header, bytes):
        raw = header
    elif isinstance(header, str):
        raw = header.encode()
    else:
        raw = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + bytes(data_bytes)


def _with(change: dict[str, object], tensor: str | None = None) -> tuple[dict[str, object], int]:
    """The valid SD1 header with ``change`` merged into one tensor's entry (or the top level)."""
    header, size = valid_header()
    if tensor is None:
        header.update(change)
    else:
        entry = dict(header[tensor])  # type: ignore[arg-type]
        for key, value in change.items():
            if value is _DROP:
                entry.pop(key, None)
            else:
                entry[key] = value
        header[tensor] = entry
    return header, size


_DROP = object()
_CONV = "model.diffusion_model.input_blocks.0.0.weight"
_ATTN = "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
_CONV_BYTES = 320 * 4 * 3 * 3 * 2
_ATTN_BYTES = 320 * 768 * 2


def _tensor(change: dict[str, object]) -> bytes:
    header, size = _with(change, _CONV)
    return raw_file(header, size)


def _dup_json(key: str) -> bytes:
    header, size = valid_header()
    text = json.dumps(header, separators=(",", ":"))
    entry = json.dumps(header[key], separators=(",", ":"))
    return raw_file(text[:-1] + f",{json.dumps(key)}:{entry}}}", size)


def hostile_files() -> list[tuple[str, bytes, str | None]]:
    """(id, file bytes, expected): ``expected`` is a regex of the probe's error, or None when
    the file is valid (however odd) and must probe. Built in code, so nothing is checked in."""
    ok, size = valid_header()
    deep = "[" * 100_000 + "]" * 100_000
    many = {f"t{i}": {"dtype": "F16", "shape": [0], "data_offsets": [0, 0]} for i in range(50_000)}
    escape_name = {"\x1b[2J\x1b]0;pwned\x07evil": {"dtype": "F99", "shape": [1], "data_offsets": [0, 1]}}
    cases: list[tuple[str, bytes, str | None]] = [
        # the length prefix and the header's encoding
        ("empty-file", b"", "too short"),
        ("seven-bytes", b"\x01\x02\x03\x04\x05\x06\x07", "too short"),
        ("huge-length-field", raw_file(ok, size, length=2**63), "100 MB limit"),
        ("max-length-field", raw_file(ok, size, length=2**64 - 1), "100 MB limit"),
        ("length-past-eof", raw_file(ok, 0, length=10_000), "larger than the"),
        ("length-zero", raw_file(b"", size), "not JSON"),
        ("header-not-json", raw_file(b"this is not json at all", 0), "not JSON"),
        ("header-not-utf8", raw_file(b'{"\xff\xfe": 1}', 0), "not UTF-8"),
        ("header-bom", raw_file("\ufeff{}".encode(), 0), "not JSON"),
        ("header-cut-short", raw_file(json.dumps(ok).encode()[:-5], size), "not JSON"),
        ("header-a-list", raw_file([], 0), "not a JSON object"),
        ("header-a-string", raw_file('"model"', 0), "not a JSON object"),
        ("header-a-number", raw_file("42", 0), "not a JSON object"),
        ("header-null", raw_file("null", 0), "not a JSON object"),
        ("deep-nesting-top", raw_file(deep, 0), "nested too deeply"),
        ("deep-nesting-in-entry", _tensor({"shape": json.loads("[" * 50 + "]" * 50)}), "shape must be"),
        ("deep-nesting-raw-entry", raw_file('{"a":' + deep + "}", 0), "nested too deeply"),
        ("int-over-digit-limit", raw_file('{"a":{"dtype":"F16","shape":[' + "9" * 5000 + "]}}", 0), "not JSON"),
        ("nan-in-shape", raw_file('{"a":{"dtype":"F16","shape":[NaN],"data_offsets":[0,2]}}', 2), "shape must be"),
        # __metadata__
        ("metadata-list", raw_file(_with({"__metadata__": ["a", "b"]})[0], size), "__metadata__"),
        ("metadata-string", raw_file(_with({"__metadata__": "format=pt"})[0], size), "__metadata__"),
        ("metadata-int-value", raw_file(_with({"__metadata__": {"steps": 20}})[0], size), "__metadata__"),
        ("metadata-nested", raw_file(_with({"__metadata__": {"a": {"b": "c"}}})[0], size), "__metadata__"),
        ("metadata-null", raw_file(_with({"__metadata__": None})[0], size), None),
        (
            "metadata-duplicate",
            raw_file(json.dumps(ok)[:-1] + ',"__metadata__":{},"__metadata__":{}}', size),
            "appears twice",
        ),
        # a tensor's entry
        ("entry-a-list", raw_file(_with({_CONV: [1, 2]})[0], size), "not an object"),
        ("entry-a-string", raw_file(_with({_CONV: "F16"})[0], size), "not an object"),
        ("entry-null", raw_file(_with({_CONV: None})[0], size), "not an object"),
        ("dtype-missing", _tensor({"dtype": _DROP}), "no dtype"),
        ("dtype-a-list", _tensor({"dtype": ["F16"]}), "no dtype"),
        ("dtype-an-int", _tensor({"dtype": 16}), "no dtype"),
        ("dtype-unknown", _tensor({"dtype": "F128"}), "unknown dtype"),
        ("dtype-lowercase", _tensor({"dtype": "f16"}), "unknown dtype"),
        ("shape-missing", _tensor({"shape": _DROP}), "shape must be"),
        ("shape-a-string", _tensor({"shape": "320,4,3,3"}), "shape must be"),
        ("shape-an-object", _tensor({"shape": {"0": 320}}), "shape must be"),
        ("shape-strings", _tensor({"shape": ["320", "4", "3", "3"]}), "shape must be"),
        ("shape-negative", _tensor({"shape": [-320, -4, 3, 3]}), "shape must be"),
        ("shape-floats", _tensor({"shape": [320.0, 4.0, 3.0, 3.0]}), "shape must be"),
        ("shape-bools", _tensor({"shape": [True, True]}), "shape must be"),
        ("shape-rank-9", _tensor({"shape": [1] * 9}), "shape must be"),
        ("shape-huge-dim", _tensor({"shape": [2**64, 1]}), "shape must be"),
        ("shape-huge-product", _tensor({"shape": [10**12, 10**12, 10**12]}), "does not fill"),
        ("shape-too-small", _tensor({"shape": [320, 4, 3]}), "does not fill"),
        ("shape-empty-wrong-size", _tensor({"shape": []}), "does not fill"),
        ("offsets-missing", _tensor({"data_offsets": _DROP}), "data_offsets"),
        ("offsets-a-string", _tensor({"data_offsets": "0-23040"}), "data_offsets"),
        ("offsets-one", _tensor({"data_offsets": [0]}), "data_offsets"),
        ("offsets-three", _tensor({"data_offsets": [0, _CONV_BYTES, 0]}), "data_offsets"),
        ("offsets-floats", _tensor({"data_offsets": [0.0, float(_CONV_BYTES)]}), "data_offsets"),
        ("offsets-negative", _tensor({"data_offsets": [-_CONV_BYTES, 0]}), "data_offsets"),
        ("offsets-reversed", _tensor({"data_offsets": [_CONV_BYTES, 0]}), "data_offsets"),
        (
            "offsets-overlap",
            raw_file(_with({"data_offsets": [_CONV_BYTES - 2, _CONV_BYTES - 2 + _ATTN_BYTES]}, _ATTN)[0], size),
            "overlaps",
        ),
        ("offsets-gap", raw_file(_with({"data_offsets": [size, size + 2], "shape": [1]}, _ATTN)[0], size + 2), "gap"),
        ("offsets-past-eof", raw_file(ok, size - 1000), "truncated"),
        (
            "offsets-far-past-eof",
            raw_file(_with({"data_offsets": [10**15, 10**15 + _ATTN_BYTES]}, _ATTN)[0], size),
            "gap",
        ),
        ("trailing-bytes", raw_file(ok, size + 64), "after the last tensor"),
        ("duplicate-tensor", _dup_json(_CONV), "appears twice"),
        (
            "duplicate-field",
            raw_file('{"a":{"dtype":"F16","dtype":"F32","shape":[1],"data_offsets":[0,2]}}', 2),
            "appears twice",
        ),
        ("escape-codes-in-name", raw_file(escape_name, 1), "unknown dtype"),
        # odd but valid: each must probe
        ("valid", raw_file(ok, size), None),
        ("valid-padded-header", raw_file(json.dumps(ok) + " " * 7, size), None),
        ("valid-no-tensors", raw_file({}, 0), None),
        ("valid-metadata-only", raw_file({"__metadata__": {"format": "pt"}}, 0), None),
        ("valid-scalar-tensor", raw_file({"s": {"dtype": "F32", "shape": [], "data_offsets": [0, 4]}}, 4), None),
        (
            "valid-zero-size-tensor",
            raw_file({"z": {"dtype": "F16", "shape": [0, 768], "data_offsets": [0, 0]}}, 0),
            None,
        ),
        ("valid-empty-attn-shape", raw_file({_ATTN: {"dtype": "F16", "shape": [], "data_offsets": [0, 2]}}, 2), None),
        ("valid-50k-tensors", raw_file(many, 0), None),
    ]
    return cases
