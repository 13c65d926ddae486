"""The VRAM plan shown before an image job: the verdict follows the engine's own savers."""

from __future__ import annotations

import pytest

from sparklio_desktop.core.local import vram
from sparklio_desktop.core.local.sd.families import TYPICAL_PARAMS, ModelType
from sparklio_desktop.core.local.sd.vram_plan import Fit, plan_image_job


def gpu(total: float, free: float | None = None, source: str = "nvml") -> vram.GpuMemory:
    return vram.GpuMemory(total_gb=total, free_gb=free, source=source, name="test card")


def test_sd15_at_512_fits_a_12gb_card_with_no_saver() -> None:
    plan = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0, 11.5))
    assert plan.fit is Fit.FITS
    assert plan.savers == ()
    assert plan.peak_gb == pytest.approx(plan.peak_without_savers_gb, abs=1e-3)
    assert plan.summary().startswith("Fits: ~")
    assert plan.budget_gb == 11.5  # free memory, not the card's size, is the budget


def test_sdxl_at_1024_on_12gb_needs_savers_and_stays_under_11gb() -> None:
    plan = plan_image_job(ModelType.SDXL_BASE, 1024, 1024, gpu=gpu(12.0, 11.6))
    assert plan.fit is Fit.SAVERS
    assert "vae_tiling" in plan.savers
    assert plan.peak_without_savers_gb > 11.6 > plan.peak_gb
    assert plan.peak_gb < 11.0  # the bound for SDXL on a 12 GB budget
    # The plan is the engine's own choice of savers, not a second model of memory.
    engine = vram.choose_savers(ModelType.SDXL_BASE, 1024, 1024, 11.6)
    assert plan.savers == tuple(engine.names)
    assert plan.peak_gb == pytest.approx(engine.estimated_peak_gb)


def test_a_job_that_cannot_fit_offers_the_cloud_model() -> None:
    plan = plan_image_job(ModelType.SDXL_BASE, 1024, 1024, gpu=gpu(4.0, 2.0), cloud_alternative="gpt-image-1")
    assert plan.fit is Fit.WONT_FIT
    assert plan.cloud_alternative == "gpt-image-1"
    assert "use gpt-image-1 in the cloud instead" in plan.summary()
    assert plan.to_dict()["fit"] == "will not fit"


def test_the_cloud_model_is_offered_only_when_local_cannot_run() -> None:
    plan = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0), cloud_alternative="gpt-image-1")
    assert plan.fit is Fit.FITS
    assert plan.cloud_alternative is None


def test_the_hires_pass_sets_the_peak_at_the_upscaled_size() -> None:
    base = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0))
    hires = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0), hires=2.0)
    assert (hires.width, hires.height) == (1024, 1024)
    assert hires.peak_without_savers_gb > base.peak_without_savers_gb
    assert any("hires pass at 1024×1024" in note for note in hires.notes)
    odd = plan_image_job(ModelType.SD1, 520, 512, gpu=gpu(12.0), hires=1.5)
    assert odd.width % 8 == 0 and odd.height % 8 == 0


def test_the_refiner_and_loras_count_against_the_budget() -> None:
    alone = plan_image_job(ModelType.SDXL_BASE, 1024, 1024, gpu=gpu(12.0, 12.0))
    refined = plan_image_job(
        ModelType.SDXL_BASE, 1024, 1024, gpu=gpu(12.0, 12.0), refiner=TYPICAL_PARAMS[ModelType.SDXL_REFINER]
    )
    assert refined.extras_gb > 4.0  # the refiner's UNet in fp16
    assert "model_cpu_offload" in refined.savers and "model_cpu_offload" not in alone.savers
    with_loras = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0), lora_bytes=2 * 144 * 2**20)
    assert with_loras.extras_gb == pytest.approx(0.28125)
    assert with_loras.peak_gb > plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(12.0)).peak_gb


def test_a_configured_card_size_is_said_to_be_a_guess() -> None:
    plan = plan_image_job(ModelType.SD1, 512, 512, gpu=gpu(8.0, None, "configured"))
    assert plan.budget_gb == 8.0
    assert any("gpu.vram_gb" in line for line in plan.lines())


def test_a_bad_size_is_refused() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        plan_image_job(ModelType.SD1, 0, 512, gpu=gpu(12.0))
