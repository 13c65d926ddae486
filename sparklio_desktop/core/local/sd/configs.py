"""Config folders that let ``from_single_file`` work offline.

A single-file checkpoint carries weights only. diffusers needs the pipeline's configs
(model_index.json, each component's config, scheduler and tokenizer files) and would
fetch them from the Hugging Face hub; Sparklio never does. The shipped folders under
``resources/sd_configs/<type>/`` hold the real SD 1.5, SD 2.1 (768, v-prediction),
SDXL base/refiner 1.0 and SD 1.5 inpainting configs, except the CLIP BPE vocabulary
(``vocab.json`` 1.6 MB + ``merges.txt`` 0.5 MB), which is too big to ship in tens of KB.

Every SD family's tokenizers (CLIP ViT-L, OpenCLIP ViT-H and bigG) share that one
vocabulary (as the BPE pair, or as one ``tokenizer.json``, the only file transformers 5
saves), so it is looked for once, locally, in this order:

1. ``<weights dir>/clip_tokenizer/`` (where the user can drop the two files),
2. the ``tokenizer/`` folder of any diffusers model the user already has,
3. the Hugging Face cache (``openai/clip-vit-large-patch14``, any SD repo),

and copied beside the shipped configs into ``<weights dir>/.configs/<type>/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from sparklio_desktop.core.local.errors import ModelConfigMissing
from sparklio_desktop.core.local.sd.families import ModelType
from sparklio_desktop.core.local.sd.store import default_weights_dir
from sparklio_desktop.core.settings import paths

VOCAB_FILES = ("vocab.json", "merges.txt")
FAST_FILE = "tokenizer.json"
TOKENIZER_SUBFOLDERS = ("tokenizer", "tokenizer_2")
USER_VOCAB_DIRNAME = "clip_tokenizer"
_HF_REPOS = (
    "models--openai--clip-vit-large-patch14",
    "models--stable-diffusion-v1-5--stable-diffusion-v1-5",
    "models--runwayml--stable-diffusion-v1-5",
    "models--stabilityai--stable-diffusion-2-1",
    "models--stabilityai--stable-diffusion-xl-base-1.0",
)


def shipped_config_dir(model_type: ModelType) -> Path:
    folder = paths.resources_dir() / "sd_configs" / ModelType(model_type).value
    if not (folder / "model_index.json").is_file():
        raise ModelConfigMissing(f"no shipped config for model type '{model_type}'")
    return folder


def missing_vocab(config_dir: Path) -> list[str]:
    """Tokenizer subfolders of ``config_dir`` that cannot build a tokenizer yet."""
    missing = []
    for sub in TOKENIZER_SUBFOLDERS:
        folder = config_dir / sub
        if not folder.is_dir():
            continue
        if not _has_vocab(folder):
            missing.append(sub)
    return missing


def _has_vocab(folder: Path) -> bool:
    """The BPE pair, or a ``tokenizer.json`` (transformers 5 saves only that one)."""
    return all((folder / f).is_file() for f in VOCAB_FILES) or (folder / FAST_FILE).is_file()


def _vocab_files(folder: Path) -> list[Path]:
    pair = [folder / f for f in VOCAB_FILES]
    return pair if all(p.is_file() for p in pair) else [folder / FAST_FILE]


def _hf_cache_dirs() -> list[Path]:
    hub = os.environ.get("HF_HUB_CACHE")
    if hub:
        return [Path(hub)]
    home = os.environ.get("HF_HOME")
    base = Path(home) if home else Path.home() / ".cache" / "huggingface"
    return [base / "hub"]


def find_clip_vocab(search_folders: Iterable[Path] = ()) -> Path | None:
    """A local folder holding the CLIP vocabulary (``vocab.json`` + ``merges.txt``, or a
    ``tokenizer.json``), or None."""
    user = default_weights_dir(create=False) / USER_VOCAB_DIRNAME
    if _has_vocab(user):
        return user
    for folder in search_folders:
        for sub in TOKENIZER_SUBFOLDERS:
            if _has_vocab(folder / sub):
                return folder / sub
    for cache in _hf_cache_dirs():
        for repo in _HF_REPOS:
            for snap in sorted((cache / repo / "snapshots").glob("*")):
                for sub in ("", *TOKENIZER_SUBFOLDERS):
                    if _has_vocab(snap / sub):
                        return snap / sub
    return None


def prepare_config_dir(
    model_type: ModelType, *, vocab_dir: Path | None = None, search_folders: Iterable[Path] = ()
) -> Path:
    """A complete config folder for ``model_type``: the shipped one when it is already
    complete, else a copy with the CLIP vocabulary added."""
    shipped = shipped_config_dir(model_type)
    if not missing_vocab(shipped):
        return shipped
    source = vocab_dir if vocab_dir is not None else find_clip_vocab(search_folders)
    if source is None or not _has_vocab(source):
        where = default_weights_dir(create=False) / USER_VOCAB_DIRNAME
        raise ModelConfigMissing(
            "loading a single-file checkpoint needs the CLIP tokenizer vocabulary "
            f"(vocab.json and merges.txt, or tokenizer.json); put them in {where}, or add any diffusers-format "
            "Stable Diffusion folder, which contains them"
        )
    target = default_weights_dir() / ".configs" / ModelType(model_type).value
    shutil.copytree(shipped, target, dirs_exist_ok=True)
    for sub in missing_vocab(target):
        for file in _vocab_files(source):
            shutil.copy2(file, target / sub / file.name)
    return target
