"""VRAM arithmetic: GPU size sources, SD memory savers, the Ollama fit check."""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any

import pytest

from sparklio_desktop.core.local import Fit, ModelType, Savers, choose_savers, estimate_sd_peak_gib, gpu_memory, vram
from sparklio_desktop.core.local.vram import GIB, kv_cache_bytes, ollama_fit

# ------------------------------------------------------------------ choose_savers


def test_sd15_at_512_needs_nothing_on_a_12_gb_card() -> None:
    s = choose_savers(ModelType.SD1, 512, 512, 12.0)
    assert s.names == [] and s.fits
    assert 2.5 < s.estimated_peak_gb < 4.5


def test_sdxl_at_1024_on_12_gb_tiles_the_vae_and_stays_under_11() -> None:
    assert estimate_sd_peak_gib(ModelType.SDXL_BASE, 1024, 1024, Savers()) > 12.0
    s = choose_savers(ModelType.SDXL_BASE, 1024, 1024, 12.0)
    assert s.names == ["vae_tiling"] and s.fits and s.estimated_peak_gb < 11.0


@pytest.mark.parametrize(
    ("model_type", "size", "free_gb", "expected"),
    [
        # Offloaded, the UNet stage is the peak: tiling the VAE would not lower it, so it is left off.
        (ModelType.SDXL_BASE, 1024, 8.0, ["model_cpu_offload"]),
        (ModelType.SDXL_BASE, 1024, 7.2, ["model_cpu_offload", "attention_slicing"]),
        (ModelType.SD1, 512, 3.0, ["model_cpu_offload"]),  # tiling does nothing at 512
        (ModelType.SD1, 1536, 8.0, ["vae_tiling"]),
        (ModelType.SD2, 768, 24.0, []),
    ],
)
def test_savers_by_budget(model_type: ModelType, size: int, free_gb: float, expected: list[str]) -> None:
    s = choose_savers(model_type, size, size, free_gb)
    assert s.names == expected and s.fits


def test_when_nothing_fits_the_smallest_estimate_is_chosen_and_fits_is_false() -> None:
    s = choose_savers(ModelType.SDXL_BASE, 1024, 1024, 2.0)
    everything = Savers(vae_tiling=True, model_cpu_offload=True, attention_slicing=True)
    assert not s.fits and "model_cpu_offload" in s.names and "attention_slicing" in s.names
    assert s.estimated_peak_gb == pytest.approx(
        estimate_sd_peak_gib(ModelType.SDXL_BASE, 1024, 1024, everything), abs=1e-3
    )


@pytest.mark.parametrize("model_type", [ModelType.SD1, ModelType.SDXL_BASE, ModelType.SDXL_REFINER])
def test_more_memory_never_adds_savers(model_type: ModelType) -> None:
    counts = [len(choose_savers(model_type, 1024, 1024, gb / 2).names) for gb in range(2, 60)]
    assert counts == sorted(counts, reverse=True)


# ------------------------------------------------------------------- GPU memory


def test_configured_size_without_nvml_or_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "pynvml" else real(n, *a))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    mem = gpu_memory(configured_total_gb=8.0)
    assert (mem.total_gb, mem.free_gb, mem.source) == (8.0, None, "configured")
    assert gpu_memory().total_gb == vram.DEFAULT_GPU_GB


def test_nvml_figures_when_available(monkeypatch: pytest.MonkeyPatch) -> None:
    info = types.SimpleNamespace(total=24 * GIB, free=20 * GIB)
    fake: Any = types.ModuleType("pynvml")
    fake.nvmlInit = lambda: None
    fake.nvmlShutdown = lambda: None
    fake.nvmlDeviceGetHandleByIndex = lambda i: ("gpu", i)
    fake.nvmlDeviceGetMemoryInfo = lambda h: info
    fake.nvmlDeviceGetName = lambda h: b"NVIDIA GeForce RTX 4090"
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "pynvml" else real(n, *a))
    mem = gpu_memory()
    assert (mem.total_gb, mem.free_gb, mem.source, mem.name) == (24.0, 20.0, "nvml", "NVIDIA GeForce RTX 4090")


def test_torch_figures_only_when_torch_is_already_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "pynvml" else real(n, *a))
    cuda = types.SimpleNamespace(
        is_available=lambda: True, mem_get_info=lambda i: (6 * GIB, 16 * GIB), get_device_name=lambda i: "T4"
    )
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    mem = gpu_memory()
    assert (mem.total_gb, mem.free_gb, mem.source) == (16.0, 6.0, "torch")


# ---------------------------------------------------------------------- Ollama


def test_kv_cache_of_llama3_8b_at_8k_is_one_gib() -> None:
    assert kv_cache_bytes(layers=32, kv_heads=8, head_dim=128, context=8192) == GIB


def test_fits_with_room() -> None:
    check = ollama_fit(int(4.9 * GIB), 32, 8, 128, 8192, 12 * GIB)
    assert check.verdict is Fit.FITS and check.gpu_layers == 32 and check.required_bytes == int(4.9 * GIB) + GIB


def test_long_context_pushes_into_partial_offload() -> None:
    check = ollama_fit(int(4.9 * GIB), 32, 8, 128, 65536, 12 * GIB)  # KV cache alone: 8 GiB
    assert check.verdict is Fit.PARTIAL
    assert 0.25 * 32 <= check.gpu_layers < 32


def test_less_than_a_quarter_of_layers_is_wont_fit() -> None:
    check = ollama_fit(48 * GIB, 80, 8, 128, 8192, 12 * GIB)  # a 70B model on a 12 GB card
    assert check.verdict is Fit.WONT_FIT and check.gpu_layers < 20
    exactly_a_quarter = ollama_fit(40 * GIB, 80, 8, 128, 8192, 12 * GIB)
    assert exactly_a_quarter.gpu_layers == 20 and exactly_a_quarter.verdict is Fit.PARTIAL
    assert str(check.verdict) == "won't fit"


def test_partial_needs_the_rest_to_fit_in_ram() -> None:
    args = (int(9 * GIB), 40, 8, 128, 8192, 8 * GIB)
    assert ollama_fit(*args).verdict is Fit.PARTIAL
    assert ollama_fit(*args, ram_free_bytes=1 * GIB).verdict is Fit.WONT_FIT


def test_quantised_kv_cache_shrinks_the_need() -> None:
    f16 = ollama_fit(8 * GIB, 32, 8, 128, 32768, 12 * GIB)  # KV cache 4 GiB in f16, ~2.1 GiB in q8_0
    q8 = ollama_fit(8 * GIB, 32, 8, 128, 32768, 12 * GIB, bytes_per_value=vram.KV_BYTES_PER_VALUE["q8_0"])
    assert f16.verdict is Fit.PARTIAL and q8.verdict is Fit.FITS
