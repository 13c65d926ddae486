"""Generation settings stored inside the PNG, readable by Sparklio and by other tools.

Each setting gets its own ``tEXt`` chunk (Pillow writes ``iTXt`` when the text is not
Latin-1), and a ``parameters`` chunk repeats them in AUTOMATIC1111's format, which
ComfyUI, InvokeAI, Civitai and image viewers already parse:

    a cat in a hat
    Negative prompt: blurry
    Steps: 25, Sampler: Euler, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 879db523c3, Model: dreamshaper_8

``Model hash`` is the checkpoint's AutoV2 hash (core/local/model_hash.py) and ``Lora
hashes`` (``"name: hash, name: hash"``) names the LoRAs used, as A1111 writes them, so
Civitai and other tools recognise the models.

Pillow is imported inside the functions: it arrives with the ``local`` extra.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

SOFTWARE = "Sparklio Desktop"


@dataclass(frozen=True)
class ImageMeta:
    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    model: str
    sampler: str = "Euler"
    model_type: str = ""
    model_hash: str = ""  # AutoV2 (10 hex digits); "" when unknown (a diffusers folder)
    lora_hashes: tuple[tuple[str, str], ...] = ()  # (LoRA name, AutoV2 hash)
    denoising_strength: float | None = None  # image-to-image, inpainting, or the hires pass
    hires_upscale: float | None = None  # the hires fix: generated, upscaled by this, refined
    hires_upscaler: str = ""
    refiner: str = ""  # SDXL: the refiner that finished the image, and where it took over
    refiner_switch: float | None = None


def _fmt_number(value: float) -> str:
    return f"{value:g}"


def _quote(value: str) -> str:
    """A1111 quotes a value that would break its ``key: value, ...`` line."""
    return json.dumps(value, ensure_ascii=False) if re.search(r'[,:"\n]', value) else value


def a1111_parameters(meta: ImageMeta) -> str:
    """The ``parameters`` text exactly as AUTOMATIC1111 writes it."""
    lines = [meta.prompt]
    if meta.negative_prompt:
        lines.append(f"Negative prompt: {meta.negative_prompt}")
    fields = [
        ("Steps", str(meta.steps)),
        ("Sampler", meta.sampler),
        ("CFG scale", _fmt_number(meta.guidance)),
        ("Seed", str(meta.seed)),
        ("Size", f"{meta.width}x{meta.height}"),
    ]
    if meta.model_hash:
        fields.append(("Model hash", meta.model_hash))
    fields.append(("Model", meta.model))
    if meta.denoising_strength is not None:
        fields.append(("Denoising strength", _fmt_number(meta.denoising_strength)))
    if meta.hires_upscale is not None:
        fields.append(("Hires upscale", _fmt_number(meta.hires_upscale)))
        fields.append(("Hires upscaler", meta.hires_upscaler or "Lanczos"))
    if meta.refiner:
        fields.append(("Refiner", meta.refiner))
        if meta.refiner_switch is not None:
            fields.append(("Refiner switch at", _fmt_number(meta.refiner_switch)))
    if meta.lora_hashes:
        fields.append(("Lora hashes", ", ".join(f"{name}: {digest}" for name, digest in meta.lora_hashes)))
    fields.append(("Version", SOFTWARE))
    lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in fields))
    return "\n".join(lines)


def text_chunks(meta: ImageMeta) -> dict[str, str]:
    """The individual chunks, in the order they are written."""
    chunks = {
        "prompt": meta.prompt,
        "negative_prompt": meta.negative_prompt,
        "seed": str(meta.seed),
        "steps": str(meta.steps),
        "guidance": _fmt_number(meta.guidance),
        "size": f"{meta.width}x{meta.height}",
        "model": meta.model,
        "sampler": meta.sampler,
    }
    if meta.model_type:
        chunks["model_type"] = meta.model_type
    if meta.model_hash:
        chunks["model_hash"] = meta.model_hash
    chunks["parameters"] = a1111_parameters(meta)
    chunks["Software"] = SOFTWARE
    return chunks


def encode_png(image: Image, meta: ImageMeta) -> bytes:
    """PNG bytes with the settings embedded; the caller decides where they are saved."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, value in text_chunks(meta).items():
        info.add_text(key, value)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def read_png_text(source: bytes | Path) -> dict[str, str]:
    """Every text chunk of a PNG (ours or another tool's)."""
    from PIL import Image as PILImage

    stream = io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")
    with stream, PILImage.open(stream) as img:
        img.load()
        return {str(k): str(v) for k, v in getattr(img, "text", {}).items()}


_FIELD = re.compile(r'\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')


def parse_a1111_parameters(text: str) -> dict[str, str]:
    """Prompt, negative prompt and the ``key: value`` fields of a ``parameters`` chunk."""
    lines = text.strip().split("\n")
    fields_line = lines[-1] if len(lines) > 1 and _FIELD.match(lines[-1]) and "Steps:" in lines[-1] else ""
    body = lines[:-1] if fields_line else lines
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in body:
        if line.startswith("Negative prompt:"):
            target = negative_lines
            line = line[len("Negative prompt:") :].strip()
        target.append(line)
    out = {"prompt": "\n".join(prompt_lines), "negative_prompt": "\n".join(negative_lines)}
    for key, value in _FIELD.findall(fields_line):
        value = value.strip()
        out[key.strip()] = json.loads(value) if value.startswith('"') else value
    return out
