"""LoRA files: where they are, what they were trained for, and whether a checkpoint takes them.

Sparklio's own folder is ``<data dir>/weights/lora``. Users who added their AUTOMATIC1111
``models/Stable-diffusion`` or ComfyUI ``models/checkpoints`` folder (``local.sd_weight_dirs``)
keep their LoRAs beside it, in ``models/Lora`` or ``models/loras``: those folders are
searched in place with the same bounded walk as checkpoints (core/local/sd/weights.py).

Everything here reads the safetensors header only (no torch, milliseconds per file):

* the base family: SDXL LoRAs train the second text encoder (``lora_te2_…`` /
  ``text_encoder_2.…`` keys) and their cross-attention keys take 2048 values (SD 1.x:
  768, SD 2.x: 1024); the trainer's ``ss_base_model_version`` or ``modelspec.architecture``
  metadata decides when the tensors do not;
* the rank: the first dimension of the ``lora_down``/``lora_A`` matrices;
* trigger words: ``modelspec.trigger_phrase``, else the most frequent training tags of
  kohya's ``ss_tag_frequency``.

A LoRA made for another family is refused before anything loads (:func:`why_incompatible`);
one whose family cannot be told is tried, and a load failure is then one line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sparklio_desktop.core.local.errors import LocalModelError
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.local.sd.header import TensorInfo, read_safetensors_header
from sparklio_desktop.core.settings import paths

__all__ = ["LoraChoice", "LoraFile", "find_loras", "lora_folders", "probe_lora", "why_incompatible"]

_MAX_TRIGGERS = 5
_CONTEXT = {768: ModelType.SD1, 1024: ModelType.SD2, 2048: ModelType.SDXL_BASE}
_ATTN2_K = re.compile(r"attn2[._]to_k[._].*(lora_down|lora_A)\.weight$")
_DOWN = re.compile(r"(lora_down|lora_A)\.weight$")
_USER_SUBFOLDERS = ("Lora", "loras", "LoRA", "lora")  # A1111, ComfyUI, and how users spell them


@dataclass(frozen=True)
class LoraFile:
    """One LoRA on disk, probed from its header; ``problem`` says why it cannot be used."""

    name: str  # the file name without .safetensors: what --lora and the view use
    path: Path
    base: ModelType | None  # SD1, SD2 or SDXL_BASE; None when the file does not say
    rank: int | None
    triggers: tuple[str, ...] = ()
    size_bytes: int = 0
    problem: str | None = None
    reasons: tuple[str, ...] = field(default=(), compare=False)

    @property
    def usable(self) -> bool:
        return self.problem is None


@dataclass(frozen=True)
class LoraChoice:
    """A LoRA a job applies: the file and its weight (its AutoV2 hash for the PNG)."""

    name: str
    path: Path
    weight: float = 1.0
    hash: str = ""


def default_lora_dir(create: bool = False) -> Path:
    folder = paths.data_dir(create=create) / "weights" / "lora"
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def lora_folders(sd_weight_dirs: Iterable[Path] = ()) -> list[Path]:
    """Sparklio's LoRA folder, then ``Lora``/``loras`` beside (or inside) each checkpoint
    folder the user added: A1111's ``models/Stable-diffusion`` → ``models/Lora``."""
    out: list[Path] = [default_lora_dir()]
    for folder in sd_weight_dirs:
        folder = Path(folder).expanduser()
        for base in (folder.parent, folder):
            for sub in _USER_SUBFOLDERS:
                candidate = base / sub
                try:
                    if candidate.is_dir() and all(candidate.resolve() != f.resolve() for f in out):
                        out.append(candidate)
                except OSError:
                    continue
    return out


def find_loras(folders: Iterable[Path]) -> list[LoraFile]:
    """Every ``.safetensors`` LoRA under ``folders``, probed, sorted by name; never raises
    for what is on disk (a file that is not a LoRA is listed with its ``problem``)."""
    from sparklio_desktop.core.local.sd.weights import scan_files

    found: dict[Path, LoraFile] = {}
    for folder in folders:
        for path in scan_files(Path(folder)):
            if path.suffix.lower() != ".safetensors":
                continue
            try:
                key = path.resolve()
            except (OSError, RuntimeError):
                continue
            if key not in found:
                found[key] = probe_lora(path)
    return sorted(found.values(), key=lambda f: (f.name.lower(), str(f.path)))


def probe_lora(path: Path) -> LoraFile:
    """What the header of ``path`` says about it as a LoRA."""
    path = Path(path)
    name = path.name.removesuffix(path.suffix)
    try:
        header = read_safetensors_header(path)
        size = path.stat().st_size
    except (LocalModelError, OSError) as err:
        return LoraFile(name, path, None, None, problem=str(getattr(err, "why", err)))
    tensors, meta = header.tensors, header.metadata
    downs = [info for key, info in tensors.items() if _DOWN.search(key) and info.shape]
    if not downs:
        why = "a full checkpoint, not a LoRA" if any(k.startswith("model.diffusion_model.") for k in tensors) else (
            "not a LoRA (no lora_down/lora_A weights)")  # fmt: skip
        return LoraFile(name, path, None, None, size_bytes=size, problem=why)
    ranks = Counter(info.shape[0] for info in downs)
    rank = ranks.most_common(1)[0][0]
    base, reasons = _base(tensors, meta)
    return LoraFile(name, path, base, rank, _triggers(meta), size, None, tuple(reasons))


def _base(tensors: Mapping[str, TensorInfo], meta: Mapping[str, str]) -> tuple[ModelType | None, list[str]]:
    if any(k.startswith(("lora_te2_", "text_encoder_2.", "te2.")) for k in tensors):
        return ModelType.SDXL_BASE, ["trains a second text encoder (SDXL)"]
    for key, info in tensors.items():
        if _ATTN2_K.search(key) and len(info.shape) == 2 and info.shape[1] in _CONTEXT:
            return _CONTEXT[info.shape[1]], [f"cross-attention takes {info.shape[1]} values"]
    version = (meta.get("ss_base_model_version") or meta.get("modelspec.architecture") or "").lower()
    if "xl" in version:
        return ModelType.SDXL_BASE, [f"trained on {version}"]
    if re.search(r"(sd_?v?2|v2-|2\.[01])", version):
        return ModelType.SD2, [f"trained on {version}"]
    if re.search(r"(sd_?v?1|v1-|1\.5)", version):
        return ModelType.SD1, [f"trained on {version}"]
    return None, ["the file does not say which model family it was trained for"]


def _triggers(meta: Mapping[str, str]) -> tuple[str, ...]:
    phrase = meta.get("modelspec.trigger_phrase", "").strip()
    if phrase:
        return tuple(p.strip() for p in phrase.split(",") if p.strip())[:_MAX_TRIGGERS]
    try:
        frequency = json.loads(meta.get("ss_tag_frequency", "") or "{}")
    except ValueError:
        return ()
    counts: Counter[str] = Counter()
    if isinstance(frequency, dict):
        for tags in frequency.values():
            if isinstance(tags, dict):
                for tag, count in tags.items():
                    if isinstance(count, int | float):
                        counts[str(tag).strip()] += int(count)
    return tuple(tag for tag, _ in counts.most_common(_MAX_TRIGGERS) if tag)


_FAMILY_NAMES = {ModelType.SD1: "SD 1.x", ModelType.SD2: "SD 2.x", ModelType.SDXL_BASE: "SDXL"}


def why_incompatible(lora: LoraFile, family: ModelType) -> str | None:
    """Why ``lora`` cannot go on a checkpoint of ``family`` (None: it can, or may)."""
    if lora.problem is not None:
        return f"LoRA {lora.name}: {lora.problem}"
    if lora.base is None:
        return None
    family = ModelType.SDXL_BASE if family is ModelType.SDXL_REFINER else family
    if lora.base is not family:
        made, used = _FAMILY_NAMES.get(lora.base, lora.base.value), _FAMILY_NAMES.get(family, family.value)
        return f"LoRA {lora.name} is for {made} checkpoints; this one is {used}"
    return None
