"""What the Images form offers beyond a prompt: checkpoints, samplers, LoRAs, an init image,
and the settings read back from a PNG, as plain values the view can show.

Why here and not in the view: views never read the core (import-linter), and each list
is read from disk (checkpoint headers, LoRA headers, PNG chunks, model hashes), which the
view-model does off the loop with these functions, then emits the values they return.
Each piece of the core is asked in one place: :func:`list_checkpoints` for the checkpoints,
:func:`list_loras` for the LoRAs, :func:`read_png_settings` for a dropped PNG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.gallery.parameters import read_png_parameters
from sparklio_desktop.core.local.model_hash import autov2_hash
from sparklio_desktop.core.local.sd.families import TYPE_DEFAULTS, ModelType, is_sdxl
from sparklio_desktop.core.local.sd.loras import LoraFile, find_loras, lora_folders, why_incompatible
from sparklio_desktop.core.local.sd.schedulers import sampler_name
from sparklio_desktop.core.local.sd.weights import probe_checkpoints

if TYPE_CHECKING:
    from PySide6.QtGui import QImage

    from sparklio_desktop.ui.viewmodels.images import ImageSettings

__all__ = [
    "HIRES_CHOICES",
    "IMAGE_SUFFIXES",
    "SCHEDULERS",
    "CheckpointChoice",
    "InitImage",
    "LoraChoice",
    "PngSettings",
    "default_checkpoint",
    "list_checkpoints",
    "list_loras",
    "lora_problem",
    "match_checkpoint",
    "png_bytes",
    "read_init_image",
    "read_png_settings",
    "scheduler_choice",
    "settings_from_parameters",
]

# The samplers the form lists, by the names AUTOMATIC1111 users know; the core knows more
# (schedulers.py), which the form adds when a PNG or gallery row names one. None: the
# checkpoint's own.
SCHEDULERS = ("Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "UniPC", "LMS", "PLMS")
HIRES_CHOICES: tuple[tuple[str, float | None], ...] = (("Off", None), ("1.5×", 1.5), ("2×", 2.0))
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

_TYPE_LABELS = {
    ModelType.SD1: "SD 1.x",
    ModelType.SD2: "SD 2.x",
    ModelType.SDXL_BASE: "SDXL",
    ModelType.SDXL_REFINER: "SDXL refiner",
    ModelType.INPAINT: "inpainting",
    ModelType.UNKNOWN: "unknown",
}
_LISTED = frozenset({ModelType.SD1, ModelType.SD2, ModelType.SDXL_BASE, ModelType.SDXL_REFINER, ModelType.INPAINT})


@dataclass(frozen=True)
class CheckpointChoice:
    """One installed checkpoint the form can pick, with the defaults of its type."""

    name: str
    path: str
    model_type: str  # a ModelType value ("sd1", "sdxl_base", …)
    family: str  # the base family (an inpainting checkpoint's SD 1.x/2.x/SDXL)
    size: int  # the resolution it was trained at
    steps: int
    guidance: float

    @property
    def label(self) -> str:
        kind = _TYPE_LABELS.get(ModelType(self.model_type), self.model_type)
        if self.model_type == ModelType.INPAINT and self.family != ModelType.SD1:
            kind = f"{_TYPE_LABELS.get(ModelType(self.family), self.family)} inpainting"
        return f"{self.name} · {kind}"

    @property
    def inpainting(self) -> bool:
        return self.model_type == ModelType.INPAINT

    @property
    def refiner(self) -> bool:
        return self.model_type == ModelType.SDXL_REFINER

    @property
    def sdxl(self) -> bool:
        return is_sdxl(ModelType(self.family))


@dataclass(frozen=True)
class LoraChoice:
    """One LoRA file as the form lists it."""

    name: str
    base: str  # a ModelType value of the family it was trained on ("" when unknown)
    triggers: tuple[str, ...] = ()
    path: str = ""
    problem: str = ""  # why it can never be used (an unreadable header, …); "" when fine

    @property
    def base_label(self) -> str:
        return _TYPE_LABELS.get(ModelType(self.base), self.base) if self.base else "unknown base"


@dataclass(frozen=True)
class InitImage:
    """An init image read from a file: the bytes as they are and the size they decode to."""

    data: bytes
    path: str | None
    width: int
    height: int
    image: QImage | None = field(default=None, compare=False, repr=False)  # decoded off the loop


def scheduler_choice(text: str | None) -> str | None:
    """The sampler another tool's name means ("euler_a", "dpmpp_2m karras", "DDIM"), by the
    core's names (core/local/sd/schedulers.py), or None (the checkpoint's own) when unknown."""
    if not text:
        return None
    for attempt in (text, text.replace("_", " "), "_".join(text.split())):
        try:
            return sampler_name(attempt)
        except SparklioError:
            continue
    return None


def list_checkpoints(folders: Iterable[Path]) -> list[CheckpointChoice]:
    """The usable checkpoints (blocking: headers are read); an SDXL refiner among them only
    finishes an SDXL image (``CheckpointChoice.refiner``), the form does not offer it alone."""
    out: list[CheckpointChoice] = []
    for row in probe_checkpoints(tuple(folders)):
        if not row.usable or row.probe is None or not row.checkpoint.loadable:
            continue
        if row.probe.model_type not in _LISTED:
            continue
        defaults = TYPE_DEFAULTS.get(row.probe.family, TYPE_DEFAULTS[ModelType.UNKNOWN])
        out.append(
            CheckpointChoice(
                name=row.checkpoint.name,
                path=str(row.checkpoint.path),
                model_type=row.probe.model_type.value,
                family=row.probe.family.value,
                size=defaults.size,
                steps=defaults.steps,
                guidance=defaults.guidance,
            )
        )
    return out


def default_checkpoint(choices: Sequence[CheckpointChoice], setting: str | None) -> CheckpointChoice | None:
    """The setting's checkpoint (by name or path) when it is installed, else the first."""
    if setting:
        found = match_checkpoint(choices, setting)
        if found is not None:
            return found
    return choices[0] if choices else None


def match_checkpoint(
    choices: Sequence[CheckpointChoice], name: str | None, model_hash: str | None = None
) -> CheckpointChoice | None:
    """The installed checkpoint another tool named (its path, file name or stem, any case),
    else the one whose AutoV2 hash is ``model_hash`` (blocking: hashes are read or computed)."""
    if name:
        wanted = name.replace("\\", "/").strip().lower()
        stem = Path(wanted).stem if Path(wanted).suffix in (".safetensors", ".ckpt", ".pt") else Path(wanted).name
        for choice in choices:
            keys = {
                choice.path.lower(),
                choice.name.lower(),
                Path(choice.path).name.lower(),
                Path(choice.path).stem.lower(),
            }
            if wanted in keys or stem in keys:
                return choice
    if model_hash:
        for choice in choices:
            if (autov2_hash(Path(choice.path)) or "").lower() == model_hash.strip().lower()[:10]:
                return choice
    return None


def _lora_file(lora: LoraChoice) -> LoraFile:
    base = ModelType(lora.base) if lora.base else None
    return LoraFile(lora.name, Path(lora.path), base, None, lora.triggers, problem=lora.problem or None)


def lora_problem(lora: LoraChoice, checkpoint: CheckpointChoice | None) -> str:
    """Why ``lora`` cannot go with ``checkpoint`` ("" when it can): the core's rule."""
    if checkpoint is None:
        return f"LoRA {lora.name}: {lora.problem}" if lora.problem else ""
    return why_incompatible(_lora_file(lora), ModelType(checkpoint.family)) or ""


def _lora_choice(found: LoraFile) -> LoraChoice:
    return LoraChoice(
        name=found.name,
        base=found.base.value if found.base is not None else "",
        triggers=tuple(found.triggers),
        path=str(found.path),
        problem=found.problem or "",
    )


def list_loras(sd_weight_dirs: Iterable[Path]) -> list[LoraChoice]:
    """The LoRA files in Sparklio's folder and the user's A1111/ComfyUI ones (blocking:
    headers are read)."""
    return [_lora_choice(found) for found in find_loras(lora_folders(tuple(sd_weight_dirs)))]


def read_init_image(path: str) -> InitImage:
    """The file at ``path`` as an init image (blocking: read and decoded). ValueError when
    it is not a PNG, JPEG or WebP image; OSError when it cannot be read."""
    from PySide6.QtGui import QImage

    if Path(path).suffix.lower() not in IMAGE_SUFFIXES:
        raise ValueError(f"{Path(path).name}: an init image must be a PNG, JPEG or WebP file")
    data = Path(path).read_bytes()
    image = QImage()
    if not image.loadFromData(data):
        raise ValueError(f"{Path(path).name}: not an image Sparklio can read")
    return InitImage(data, path, image.width(), image.height(), image)


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as a PNG (slow for a large one: call it off the loop)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")  # type: ignore[call-overload]  # the stubs say bytes; PySide6 takes str
    return bytes(data.data())


@dataclass(frozen=True)
class PngSettings:
    """What a PNG's settings give the form, and what could not be matched."""

    settings: ImageSettings
    found: str  # "a1111", "comfyui", "sparklio" or "none"
    missing_checkpoint: str | None = None  # named by the image, not installed here
    loras: tuple[tuple[str, float], ...] = field(default=())


def settings_from_parameters(
    params: Mapping[str, Any], choices: Sequence[CheckpointChoice], base: ImageSettings
) -> PngSettings:
    """``base`` with what ``params`` (core/gallery/parameters.py's fields) give (blocking
    when a checkpoint is matched by hash)."""
    values: dict[str, Any] = {}
    for key in ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height"):
        if params.get(key) is not None:
            values[key] = params[key]
    scheduler = params.get("scheduler")
    if isinstance(scheduler, str):
        values["scheduler"] = scheduler_choice(scheduler)
    missing = None
    if params.get("checkpoint") or params.get("checkpoint_hash"):
        found = match_checkpoint(choices, params.get("checkpoint"), params.get("checkpoint_hash"))
        values["checkpoint"] = found.path if found is not None else base.checkpoint
        missing = None if found is not None else str(params.get("checkpoint") or params.get("checkpoint_hash"))
    loras = tuple((str(lora["name"]), float(lora.get("weight") or 1.0)) for lora in params.get("loras") or ())
    values["loras"] = loras
    return PngSettings(replace(base, **values), str(params.get("format", "none")), missing, loras)


def read_png_settings(path: str, choices: Sequence[CheckpointChoice], base: ImageSettings) -> PngSettings:
    """The settings in the PNG at ``path`` over ``base`` (blocking: the file is read)."""
    return settings_from_parameters(read_png_parameters(Path(path)), choices, base)
