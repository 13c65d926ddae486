"""The shipped config folders describe the real models, and become loadable offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparklio_desktop.core.local import ModelConfigMissing, ModelType, prepare_config_dir, probe, shipped_config_dir
from sparklio_desktop.core.local.sd.configs import USER_VOCAB_DIRNAME, missing_vocab
from sparklio_desktop.core.local.sd.families import LOADABLE_TYPES, TYPICAL_PARAMS
from sparklio_desktop.core.local.sd.pipeline import PIPELINE_CLASSES
from sparklio_desktop.core.local.sd.store import default_weights_dir
from sparklio_desktop.core.settings import paths
from tests.local.headers import ldm_header, write_safetensors
from tests.local.tiny_sd import TinySD, _write_tokenizer_files


def _count(module: object) -> int:
    return sum(p.numel() for p in module.parameters())  # type: ignore[attr-defined]


@pytest.mark.parametrize("model_type", LOADABLE_TYPES, ids=str)
def test_shipped_config_instantiates_to_the_real_parameter_counts(model_type: ModelType) -> None:
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = shipped_config_dir(model_type)
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == PIPELINE_CLASSES[model_type]
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet"))
        vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"))
        text = 0
        for sub, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)):
            if (folder / sub).is_dir():
                text += _count(cls(CLIPTextConfig.from_pretrained(folder / sub)))
    assert (_count(unet), _count(vae), text) == (
        TYPICAL_PARAMS[model_type].unet,
        TYPICAL_PARAMS[model_type].vae,
        TYPICAL_PARAMS[model_type].text_encoders,
    )


@pytest.mark.parametrize("model_type", LOADABLE_TYPES, ids=str)
def test_a_full_real_layout_header_probes_as_its_type(tmp_path: Path, model_type: ModelType) -> None:
    path = write_safetensors(tmp_path / "real.safetensors", ldm_header(model_type), data="sparse")
    result = probe(path)
    assert result.model_type is model_type and result.precision == "fp16"
    assert result.params.unet == TYPICAL_PARAMS[model_type].unet


def test_shipped_folders_are_small() -> None:
    root = paths.resources_dir() / "sd_configs"
    total = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    assert total < 64 * 1024


def test_without_a_vocabulary_anywhere_the_error_says_where_to_put_it(offline: None) -> None:
    assert missing_vocab(shipped_config_dir(ModelType.SDXL_BASE)) == ["tokenizer", "tokenizer_2"]
    with pytest.raises(ModelConfigMissing, match=USER_VOCAB_DIRNAME):
        prepare_config_dir(ModelType.SD1)


@pytest.mark.parametrize("model_type", [ModelType.SD1, ModelType.SD2, ModelType.SDXL_BASE, ModelType.SDXL_REFINER])
def test_a_user_vocabulary_completes_the_config_and_tokenizers_load(offline: None, model_type: ModelType) -> None:
    from transformers import CLIPTokenizer

    _write_tokenizer_files(default_weights_dir() / USER_VOCAB_DIRNAME)
    folder = prepare_config_dir(model_type)
    assert folder.parent == default_weights_dir() / ".configs" and missing_vocab(folder) == []
    for sub in ("tokenizer", "tokenizer_2"):
        if (folder / sub).is_dir():
            tok = CLIPTokenizer.from_pretrained(folder / sub, local_files_only=True)
            ids = tok("a cat", padding="max_length", max_length=77).input_ids
            assert len(ids) == 77 and tok.model_max_length == 77
    assert prepare_config_dir(model_type) == folder  # already complete: reused


def test_a_diffusers_folder_saved_by_transformers_5_lends_its_tokenizer(offline: None, tiny_sd: TinySD) -> None:
    folder = prepare_config_dir(ModelType.SD1, search_folders=[tiny_sd.diffusers_dir])
    assert (folder / "tokenizer" / "tokenizer.json").is_file()
