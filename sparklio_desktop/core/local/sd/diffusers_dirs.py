"""Diffusers-format model folders: which weight files load, and what model they hold.

A diffusers folder (``model_index.json`` plus one subfolder per component) may hold
full-precision and ``fp16`` variants side by side, sharded files, or only pickled
``.bin`` weights. Loading must pick the same files the probe measured, and must know
when a folder is pickle-only so it is refused like a ``.ckpt``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_desktop.core.local.errors import CheckpointUnreadable
from sparklio_desktop.core.local.sd.families import ComponentParams, ModelType
from sparklio_desktop.core.local.sd.header import precision_of, read_safetensors_header

MODEL_INDEX = "model_index.json"
_MAX_FOLDER_FILES = 10_000  # files counted inside one model folder (a real one has ~20)
_MAX_FOLDER_DEPTH = 6
_WEIGHT_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")


def is_diffusers_folder(path: Path) -> bool:
    return (path / MODEL_INDEX).is_file()


def folder_files(folder: Path) -> list[Path]:
    """The files in a model folder, iteratively and bounded: folder links are not followed,
    nothing deeper than a few levels or past a few thousand files is counted."""
    out: list[Path] = []
    stack = [(folder, 0)]
    while stack and len(out) < _MAX_FOLDER_FILES:
        here, depth = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < _MAX_FOLDER_DEPTH:
                        stack.append((Path(entry.path), depth + 1))
                elif entry.is_file():
                    out.append(Path(entry.path))
            except OSError:
                continue
    return out


def _variant_of(name: str) -> str | None:
    """``diffusion_pytorch_model.fp16-00001-of-00002.safetensors`` → ``fp16``."""
    parts = name.split(".")
    if len(parts) < 3:
        return None
    return parts[-2].split("-")[0]


@dataclass(frozen=True)
class FolderWeights:
    """The weight files ``from_pretrained`` will read, per component."""

    files: dict[str, list[Path]]
    pickle_components: tuple[str, ...]
    variant: str | None

    @property
    def is_pickle(self) -> bool:
        return bool(self.pickle_components)


def read_model_index(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / MODEL_INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointUnreadable(folder, f"unreadable {MODEL_INDEX}: {err}") from err
    if not isinstance(data, dict):
        raise CheckpointUnreadable(folder, f"{MODEL_INDEX} is not an object")
    return data


def _components(index: dict[str, Any]) -> list[str]:
    return [
        name
        for name in _WEIGHT_COMPONENTS
        if isinstance(index.get(name), list) and index[name] and index[name][0] is not None
    ]


def folder_weights(folder: Path) -> FolderWeights:
    """Prefer full-precision safetensors, then the fp16 variant; ``.bin`` only as pickle."""
    index = read_model_index(folder)
    by_component: dict[str, dict[str | None, list[Path]]] = {}
    pickles: list[str] = []
    for comp in _components(index):
        groups: dict[str | None, list[Path]] = {}
        for f in sorted((folder / comp).glob("*.safetensors")):
            groups.setdefault(_variant_of(f.name), []).append(f)
        if not groups:
            if any((folder / comp).glob("*.bin")) or any((folder / comp).glob("*.ckpt")):
                pickles.append(comp)
            continue
        by_component[comp] = groups
    variant: str | None = None
    if by_component and not all(None in g for g in by_component.values()):
        if all("fp16" in g for g in by_component.values()):
            variant = "fp16"
    files = {comp: g.get(variant) or next(iter(g.values())) for comp, g in by_component.items()}
    return FolderWeights(files=files, pickle_components=tuple(pickles), variant=variant)


def _unet_config(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointUnreadable(folder, f"unreadable unet/config.json: {err}") from err
    return data if isinstance(data, dict) else {}


def classify_folder(index: dict[str, Any], unet: dict[str, Any]) -> tuple[ModelType, ModelType, list[str]]:
    """(type, family, reasons) from the pipeline class and the UNet config."""
    cls = str(index.get("_class_name", ""))
    in_ch = unet.get("in_channels", 4)
    cross = unet.get("cross_attention_dim")
    cross = cross[0] if isinstance(cross, list) and cross else cross
    text_time = unet.get("addition_embed_type") == "text_time"
    no_text_encoder_1 = not (isinstance(index.get("text_encoder"), list) and index["text_encoder"][0])
    reasons = [f"pipeline {cls or '?'}, UNet in_channels {in_ch}, cross_attention_dim {cross}"]
    if text_time or "XL" in cls:
        refiner = "Img2Img" in cls or cross == 1280 or no_text_encoder_1
        family = ModelType.SDXL_REFINER if refiner else ModelType.SDXL_BASE
    elif cross == 1024:
        family = ModelType.SD2
    elif cross == 768:
        family = ModelType.SD1
    elif cls.startswith("StableDiffusion"):
        family = ModelType.SD1
        reasons.append("unusual context width; assuming the SD 1.x layout")
    else:
        return ModelType.UNKNOWN, ModelType.UNKNOWN, reasons + ["not a Stable Diffusion pipeline"]
    if in_ch == 9 or "Inpaint" in cls:
        return ModelType.INPAINT, family, reasons
    if in_ch != 4:
        return ModelType.UNKNOWN, family, reasons + [f"{in_ch} input channels; not text-to-image"]
    return family, family, reasons


@dataclass(frozen=True)
class FolderFacts:
    """What a diffusers folder holds; :func:`~.probe.probe` turns it into a ``ProbeResult``."""

    detected: ModelType
    family: ModelType
    params: ComponentParams
    precision: str
    size: int
    reasons: tuple[str, ...]


def read_diffusers_folder(folder: Path) -> FolderFacts:
    """The model type, parameter counts and precision of a diffusers folder, from its configs
    and its weights' headers."""
    index = read_model_index(folder)
    detected, family, reasons = classify_folder(index, _unet_config(folder))
    weights = folder_weights(folder)
    counts = {"unet": 0, "vae": 0, "text": 0}
    groups = []
    for comp, files in weights.files.items():
        for f in files:
            tensors = read_safetensors_header(f).tensors
            groups.append(tensors)
            n = sum(t.numel for t in tensors.values() if t.dtype in ("F16", "F32", "BF16"))
            counts["text" if comp.startswith("text_encoder") else comp] += n
    if weights.is_pickle:
        reasons.append(f"pickle weights in {', '.join(weights.pickle_components)}")
    params = ComponentParams(unet=counts["unet"], vae=counts["vae"], text_encoders=counts["text"])
    size = sum(f.stat().st_size for f in folder_files(folder))
    return FolderFacts(detected, family, params, precision_of(groups), size, tuple(reasons))
