"""The probe: type, precision and size from headers only, for real and crafted files."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import pytest

from sparklio_desktop.core.local import CheckpointStore, CheckpointUnreadable, ModelType, probe
from sparklio_desktop.core.local.sd.header import read_safetensors_header
from tests.local.headers import Spec, write_safetensors
from tests.local.tiny_sd import TinySD

UNET = "model.diffusion_model."


def crafted(context: int, text: Mapping[str, tuple[int, ...]], in_channels: int = 4, dtype: str = "F16") -> Spec:
    """The few tensors the probe looks at, with the shapes of the real family."""
    spec: Spec = {
        UNET + "input_blocks.0.0.weight": (dtype, (320, in_channels, 3, 3)),
        UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": (dtype, (320, context)),
        "first_stage_model.decoder.conv_out.weight": (dtype, (3, 128, 3, 3)),
    }
    spec.update({name: (dtype, shape) for name, shape in text.items()})
    return spec


CLIP_L = {"cond_stage_model.transformer.text_model.embeddings.position_embedding.weight": (77, 768)}
OPENCLIP_H = {"cond_stage_model.model.token_embedding.weight": (49408, 1024)}
XL_BASE_TEXT = {
    "conditioner.embedders.0.transformer.text_model.embeddings.position_embedding.weight": (77, 768),
    "conditioner.embedders.1.model.positional_embedding": (77, 1280),
}
XL_REFINER_TEXT = {"conditioner.embedders.0.model.text_projection": (1280, 1280)}


@pytest.mark.parametrize(
    ("spec", "expected", "family"),
    [
        (crafted(768, CLIP_L), ModelType.SD1, ModelType.SD1),
        (crafted(1024, OPENCLIP_H), ModelType.SD2, ModelType.SD2),
        (crafted(2048, XL_BASE_TEXT), ModelType.SDXL_BASE, ModelType.SDXL_BASE),
        (crafted(1280, XL_REFINER_TEXT), ModelType.SDXL_REFINER, ModelType.SDXL_REFINER),
        (crafted(768, CLIP_L, in_channels=9), ModelType.INPAINT, ModelType.SD1),
        (crafted(2048, XL_BASE_TEXT, in_channels=9), ModelType.INPAINT, ModelType.SDXL_BASE),
    ],
    ids=["sd1", "sd2", "sdxl_base", "sdxl_refiner", "inpaint", "sdxl_inpaint"],
)
def test_crafted_headers_detect_their_family(
    tmp_path: Path, spec: Spec, expected: ModelType, family: ModelType
) -> None:
    result = probe(write_safetensors(tmp_path / "m.safetensors", spec))
    assert (result.model_type, result.family) == (expected, family)
    assert result.precision == "fp16"


def test_tiny_single_file_and_folder_are_sd1_with_the_same_parameters(tiny_sd: TinySD) -> None:
    single = probe(tiny_sd.single_file)
    folder = probe(tiny_sd.diffusers_dir)
    assert single.model_type is ModelType.SD1 and folder.model_type is ModelType.SD1
    assert single.params == folder.params and single.param_count > 0
    assert single.precision == folder.precision == "fp32"
    assert single.size_bytes == tiny_sd.single_file.stat().st_size
    assert single.default_resolution == 512 and single.est_vram_bytes > 0


def test_garbage_data_section_still_probes(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "g.safetensors", crafted(1024, OPENCLIP_H), data="garbage")
    assert probe(path).model_type is ModelType.SD2


def test_probe_reads_only_the_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_safetensors(tmp_path / "s.safetensors", crafted(2048, XL_BASE_TEXT), min_data_bytes=50_000_000)
    header_len = 8 + int.from_bytes(path.read_bytes()[:8], "little")
    read_sizes: list[int] = []
    real_open = Path.open

    def counting_open(self: Path, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        f = real_open(self, *args, **kwargs)  # type: ignore[call-overload]
        real_read = f.read

        def read(n: int = -1) -> bytes:
            data = real_read(n)
            read_sizes.append(len(data))
            return data

        f.read = read  # type: ignore[method-assign]
        return f

    monkeypatch.setattr(Path, "open", counting_open)
    assert probe(path).model_type is ModelType.SDXL_BASE
    assert sum(read_sizes) == header_len


def test_seven_gigabyte_sparse_sdxl_probes_from_its_header(tmp_path: Path) -> None:
    """The speed (target: median <= 50 ms) is measured by benchmarks/bench_sd_probe.py."""
    spec = crafted(2048, XL_BASE_TEXT)
    for i in range(2500):  # an SDXL checkpoint's header has ~2,500 entries
        spec[f"{UNET}output_blocks.{i % 9}.1.transformer_blocks.{i}.ff.net.0.proj.weight"] = ("F16", (10240, 1280))
    path = write_safetensors(tmp_path / "big.safetensors", spec, data="sparse", min_data_bytes=7 * 10**9)
    assert path.stat().st_size > 7 * 10**9
    assert probe(path).model_type is ModelType.SDXL_BASE


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "too short"),
        (b"\xff" * 64, "bad header length"),
        ((20).to_bytes(8, "little") + b"not json at all!!!!!" + b"x" * 10, "not JSON"),
    ],
)
def test_non_safetensors_files_are_reported(tmp_path: Path, content: bytes, why: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointUnreadable, match=why):
        probe(path)


def test_truncated_download_is_reported(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "t.safetensors", crafted(768, CLIP_L))
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size - 100)
    with pytest.raises(CheckpointUnreadable, match="truncated"):
        read_safetensors_header(path)


def test_lora_and_vae_files_are_unknown_with_a_reason(tmp_path: Path) -> None:
    lora = write_safetensors(
        tmp_path / "l.safetensors", {"lora_unet_down_blocks_0.lora_down.weight": ("F16", (4, 320))}
    )
    vae = write_safetensors(tmp_path / "v.safetensors", {"encoder.conv_in.weight": ("F16", (128, 3, 3, 3))})
    assert probe(lora).model_type is ModelType.UNKNOWN and "LoRA" in probe(lora).reasons[0]
    assert "VAE" in probe(vae).reasons[0]


def test_ema_weights_are_not_counted(tmp_path: Path) -> None:
    spec = crafted(768, CLIP_L, dtype="F32")
    spec["model_ema.diffusion_modelinput_blocks00weight"] = ("F32", (320, 4, 3, 3))
    result = probe(write_safetensors(tmp_path / "e.safetensors", spec))
    assert result.has_ema and result.params.unet == 320 * 4 * 9 + 320 * 768
    assert result.precision == "fp32"


def test_type_override_is_stored_and_dropped_when_the_file_changes(tmp_path: Path) -> None:
    path = write_safetensors(tmp_path / "m.safetensors", crafted(768, CLIP_L))
    store = CheckpointStore()
    store.set_type_override(path, ModelType.INPAINT)
    result = probe(path, CheckpointStore())  # a fresh store reads the JSON back
    assert result.model_type is ModelType.INPAINT and result.detected_type is ModelType.SD1 and result.overridden
    os.utime(path, ns=(1, 1))
    assert probe(path, CheckpointStore()).model_type is ModelType.SD1


def test_pickle_files_are_never_opened_by_the_probe(tmp_path: Path) -> None:
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"\x80\x04 this would be a pickle")
    result = probe(path)
    assert result.model_type is ModelType.UNKNOWN and "pickle" in result.reasons[0]


def test_diffusers_folder_prefers_full_precision_then_fp16_variant(tiny_sd: TinySD, tmp_path: Path) -> None:
    from sparklio_desktop.core.local.sd.diffusers_dirs import folder_weights

    folder = tmp_path / "fp16-only"
    shutil.copytree(tiny_sd.diffusers_dir, folder)
    assert folder_weights(folder).variant is None
    for f in folder.rglob("*.safetensors"):
        f.rename(f.with_name(f.name.replace(".safetensors", ".fp16.safetensors")))
    weights = folder_weights(folder)
    assert weights.variant == "fp16" and set(weights.files) == {"unet", "vae", "text_encoder"}
    assert probe(folder).model_type is ModelType.SD1
