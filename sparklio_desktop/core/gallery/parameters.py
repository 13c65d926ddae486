"""The generation settings another tool (or Sparklio) left in a PNG, as one dict.

Two formats cover nearly every image people share:

* AUTOMATIC1111 (and Forge, Fooocus' A1111 mode, InvokeAI's export, Sparklio): a
  ``parameters`` text chunk, the prompt, ``Negative prompt: ...``, then a
  ``key: value, ...`` line (core/local/png_meta.py parses it);
* ComfyUI: a ``prompt`` chunk holding the executed graph as JSON (``{node id: {class_type,
  inputs}}``) and a ``workflow`` chunk holding the editor's graph. The settings come from
  the ``KSampler`` (or ``KSamplerAdvanced``) node: seed, steps, cfg, sampler, and its
  ``positive``/``negative`` inputs lead to ``CLIPTextEncode`` nodes' text, its ``model``
  input back to the ``CheckpointLoaderSimple`` node's ``ckpt_name``, its ``latent_image``
  to the ``EmptyLatentImage`` node's size. LoRA loaders met on the way are listed.

The fields are those of a gallery row: ``prompt``, ``negative_prompt``, ``seed``,
``steps``, ``guidance``, ``scheduler``, ``width``, ``height``, ``checkpoint``,
``checkpoint_hash``, ``loras`` ([{name, weight, hash}]), plus ``format`` (``a1111``,
``comfyui``, ``sparklio`` for a cloud image Sparklio saved, or ``none``). A field the
image does not give is absent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sparklio_desktop.core.gallery.png_chunks import png_size, read_text_chunks
from sparklio_desktop.core.local.png_meta import SOFTWARE, parse_a1111_parameters

__all__ = ["parameters_from_chunks", "read_png_parameters"]

_LORA_TAG = re.compile(r"<lora:([^:>]+)(?::([-\d.]+))?[^>]*>")
# A1111 fields a gallery row keeps in ``extra`` (the hires pass, the refiner, denoising).
_A1111_EXTRA = {
    "Denoising strength": "denoising_strength",
    "Hires upscale": "hires_upscale",
    "Hires upscaler": "hires_upscaler",
    "Refiner": "refiner",
    "Refiner switch at": "refiner_switch",
}
_SAMPLERS = ("KSampler", "KSamplerAdvanced")
_CHECKPOINT_LOADERS = ("CheckpointLoaderSimple", "CheckpointLoader", "CheckpointLoader|pysssss")
_LORA_LOADERS = ("LoraLoader", "LoraLoaderModelOnly")


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _size(text: str) -> tuple[int, int] | None:
    match = re.fullmatch(r"\s*(\d+)\s*x\s*(\d+)\s*", text)
    return (int(match[1]), int(match[2])) if match else None


def _a1111(text: str) -> dict[str, Any]:
    fields = parse_a1111_parameters(text)
    out: dict[str, Any] = {"format": "a1111", "prompt": fields["prompt"], "negative_prompt": fields["negative_prompt"]}
    for key, name, convert in (("Seed", "seed", _int), ("Steps", "steps", _int), ("CFG scale", "guidance", _float)):
        if key in fields and convert(fields[key]) is not None:
            out[name] = convert(fields[key])
    sampler = fields.get("Sampler")
    if sampler:
        schedule = fields.get("Schedule type")
        out["scheduler"] = f"{sampler} {schedule}" if schedule and schedule != "Automatic" else sampler
    size = _size(fields.get("Size", ""))
    if size is not None:
        out["width"], out["height"] = size
    if fields.get("Model"):
        out["checkpoint"] = fields["Model"]
    if fields.get("Model hash"):
        out["checkpoint_hash"] = fields["Model hash"]
    hashes: dict[str, str] = {}
    for part in (fields.get("Lora hashes") or "").split(","):
        name, _, digest = part.partition(":")
        if name.strip() and digest.strip():
            hashes[name.strip()] = digest.strip()
    weights = {m[1]: float(m[2]) if m[2] else 1.0 for m in _LORA_TAG.finditer(fields["prompt"])}
    extra = {name: fields[key] for key, name in _A1111_EXTRA.items() if fields.get(key)}
    if extra:
        out["extra"] = extra
        if "hires_upscale" not in extra and _float(extra.get("denoising_strength")) is not None:
            out["strength"] = _float(extra["denoising_strength"])  # image-to-image or inpainting
    names = list(dict.fromkeys([*weights, *hashes]))
    if names:
        out["loras"] = [{"name": n, "weight": weights.get(n, 1.0), "hash": hashes.get(n)} for n in names]
    return out


def _node(graph: Mapping[str, Any], link: Any) -> Mapping[str, Any] | None:
    """The node an input links to (``[node id, output index]``), or None."""
    if isinstance(link, list) and link and str(link[0]) in graph:
        node = graph[str(link[0])]
        return node if isinstance(node, Mapping) else None
    return None


def _text_of(graph: Mapping[str, Any], link: Any, depth: int = 0) -> str | None:
    """The prompt text behind a conditioning input: the CLIPTextEncode's ``text`` (followed
    through nodes that pass conditioning on, and text given by another node)."""
    node = _node(graph, link)
    if node is None or depth > 16:
        return None
    inputs = node.get("inputs") or {}
    for key in ("text", "text_g", "positive", "conditioning", "conditioning_1", "string", "value"):
        value = inputs.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            found = _text_of(graph, value, depth + 1)
            if found is not None:
                return found
    return None


def _comfyui(prompt_json: str) -> dict[str, Any] | None:
    try:
        graph = json.loads(prompt_json)
    except ValueError:
        return None
    if not isinstance(graph, dict):
        return None
    sampler = next(
        (n for n in graph.values() if isinstance(n, dict) and n.get("class_type") in _SAMPLERS),
        None,
    )
    if sampler is None:
        return None
    inputs = sampler.get("inputs") or {}
    out: dict[str, Any] = {"format": "comfyui"}
    positive = _text_of(graph, inputs.get("positive"))
    negative = _text_of(graph, inputs.get("negative"))
    out["prompt"] = positive or ""
    out["negative_prompt"] = negative or ""
    seed = _int(inputs.get("seed", inputs.get("noise_seed")))
    if seed is not None:
        out["seed"] = seed
    for key, name, convert in (("steps", "steps", _int), ("cfg", "guidance", _float)):
        value = convert(inputs.get(key)) if not isinstance(inputs.get(key), list) else None
        if value is not None:
            out[name] = value
    if isinstance(inputs.get("sampler_name"), str):
        scheduler = inputs.get("scheduler")
        name = inputs["sampler_name"]
        out["scheduler"] = f"{name} {scheduler}" if isinstance(scheduler, str) and scheduler != "normal" else name
    latent = _node(graph, inputs.get("latent_image"))
    if latent is not None:
        w, h = (latent.get("inputs") or {}).get("width"), (latent.get("inputs") or {}).get("height")
        if _int(w) is not None and _int(h) is not None:
            out["width"], out["height"] = _int(w), _int(h)
    loras: list[dict[str, Any]] = []
    node = _node(graph, inputs.get("model"))
    for _ in range(64):  # follow the model input back to the checkpoint loader
        if node is None:
            break
        node_inputs = node.get("inputs") or {}
        if node.get("class_type") in _CHECKPOINT_LOADERS or "ckpt_name" in node_inputs:
            name = str(node_inputs.get("ckpt_name", ""))
            if name:
                out["checkpoint"] = Path(name.replace("\\", "/")).stem
            break
        if node.get("class_type") in _LORA_LOADERS or "lora_name" in node_inputs:
            lora = Path(str(node_inputs.get("lora_name", "")).replace("\\", "/")).stem
            weight = _float(node_inputs.get("strength_model"))
            if lora:
                loras.insert(0, {"name": lora, "weight": 1.0 if weight is None else weight, "hash": None})
        node = _node(graph, node_inputs.get("model"))
    if loras:
        out["loras"] = loras
    return out


def parameters_from_chunks(chunks: Mapping[str, str]) -> dict[str, Any]:
    """The settings in a PNG's text chunks (A1111 first, then ComfyUI); ``{"format": "none"}``
    when neither is there."""
    if chunks.get("parameters", "").strip():
        return _a1111(chunks["parameters"])
    if chunks.get("prompt", "").lstrip().startswith("{"):
        found = _comfyui(chunks["prompt"])
        if found is not None:
            return found
    if chunks.get("Software") == SOFTWARE and "prompt" in chunks:
        return _sparklio(chunks)
    return {"format": "none"}


def _sparklio(chunks: Mapping[str, str]) -> dict[str, Any]:
    """Sparklio's own chunks on a cloud image (no ``parameters``: no seed or steps to give)."""
    out: dict[str, Any] = {"format": "sparklio", "prompt": chunks["prompt"]}
    out["negative_prompt"] = chunks.get("negative_prompt", "")
    size = _size(chunks.get("size", ""))
    if size is not None:
        out["width"], out["height"] = size
    if chunks.get("model_id"):
        out["model_id"] = chunks["model_id"]
    return out


def read_png_parameters(source: bytes | Path) -> dict[str, Any]:
    """The generation settings of the PNG at ``source`` (a path or its bytes), with its
    size from the header when the settings do not give it. Reads no pixels; needs no Pillow."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    out = parameters_from_chunks(read_text_chunks(data))
    size = png_size(data)
    if size is not None and "width" not in out:
        out["width"], out["height"] = size
    return out
