"""Local Stable Diffusion: find, probe, import and run checkpoints; share the GPU.

Importing this package is cheap and never imports torch, diffusers or Pillow: they load
inside :class:`LocalImageEngine` methods (and the PNG helpers) when first needed, so the
app starts fast and runs without the ``local`` extra installed.

    list_checkpoints(folders) → probe(path) → LocalImageEngine().generate(path, request)

Memory planning (``choose_savers``, ``ollama_fit``, ``VramScheduler``) is pure arithmetic.
"""

from __future__ import annotations

from sparklio_desktop.core.local.errors import (
    CheckpointUnreadable,
    GenerationCancelled,
    LocalModelError,
    LocalRuntimeMissing,
    ModelConfigMissing,
    PickleRefused,
)
from sparklio_desktop.core.local.png_meta import (
    ImageMeta,
    a1111_parameters,
    encode_png,
    parse_a1111_parameters,
    read_png_text,
)
from sparklio_desktop.core.local.sd.configs import find_clip_vocab, prepare_config_dir, shipped_config_dir
from sparklio_desktop.core.local.sd.families import DEFAULT_RESOLUTION, ComponentParams, ModelType
from sparklio_desktop.core.local.sd.header import read_safetensors_header
from sparklio_desktop.core.local.sd.pipeline import (
    GeneratedImage,
    GenerationRequest,
    LoadedInfo,
    LocalImageEngine,
    ProgressCallback,
)
from sparklio_desktop.core.local.sd.probe import ProbeResult, probe
from sparklio_desktop.core.local.sd.store import PICKLE_WARNING, CheckpointStore, default_weights_dir
from sparklio_desktop.core.local.sd.weights import (
    Checkpoint,
    delete_checkpoint,
    import_checkpoint,
    list_checkpoints,
    weights_folders,
)
from sparklio_desktop.core.local.vram import (
    Fit,
    FitCheck,
    GpuMemory,
    Savers,
    choose_savers,
    estimate_sd_peak_gib,
    gpu_memory,
    kv_cache_bytes,
    ollama_fit,
)
from sparklio_desktop.core.local.vram_scheduler import (
    LoadedModel,
    LoadRequest,
    UnloadAction,
    VramPlan,
    VramScheduler,
    loaded_from_ollama_ps,
    plan_unloads,
)

__all__ = [
    "Checkpoint",
    "CheckpointStore",
    "CheckpointUnreadable",
    "ComponentParams",
    "DEFAULT_RESOLUTION",
    "Fit",
    "FitCheck",
    "GeneratedImage",
    "GenerationCancelled",
    "GenerationRequest",
    "GpuMemory",
    "ImageMeta",
    "LoadRequest",
    "LoadedInfo",
    "LoadedModel",
    "LocalImageEngine",
    "LocalModelError",
    "LocalRuntimeMissing",
    "ModelConfigMissing",
    "ModelType",
    "PICKLE_WARNING",
    "PickleRefused",
    "ProbeResult",
    "ProgressCallback",
    "Savers",
    "UnloadAction",
    "VramPlan",
    "VramScheduler",
    "a1111_parameters",
    "choose_savers",
    "default_weights_dir",
    "delete_checkpoint",
    "encode_png",
    "estimate_sd_peak_gib",
    "find_clip_vocab",
    "gpu_memory",
    "import_checkpoint",
    "kv_cache_bytes",
    "list_checkpoints",
    "loaded_from_ollama_ps",
    "ollama_fit",
    "parse_a1111_parameters",
    "plan_unloads",
    "prepare_config_dir",
    "probe",
    "read_png_text",
    "read_safetensors_header",
    "shipped_config_dir",
    "weights_folders",
]
