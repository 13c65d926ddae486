"""SDXL base + refiner on a tiny random-weight pair (CPU): the handoff at 0.8, the shared
modules, the PNG record, and the refusals when the refiner cannot be used."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from sparklio_desktop.core.local import read_png_text
from sparklio_desktop.core.local.png_meta import parse_a1111_parameters
from sparklio_desktop.core.local.sd.pipeline import GenerationRequest, LocalImageEngine
from sparklio_desktop.core.local.sd.service import ImageOptions, StableDiffusionService
from sparklio_desktop.core.providers.errors import InvalidRequestError
from tests.local.tiny_sd import TinySDXL


def test_the_refiner_finishes_the_last_fifth_with_the_base_modules(tiny_sdxl: TinySDXL) -> None:
    engine = LocalImageEngine(device="cpu")
    steps: list[tuple[int, int]] = []
    request = GenerationRequest(prompt="a cat", steps=5, width=64, height=64, seed=1, refiner=tiny_sdxl.refiner)
    (image,) = engine.generate(tiny_sdxl.base, request, progress=lambda s, t, p: steps.append((s, t)))
    assert engine._refiner is not None
    refiner = engine._refiner[1]
    assert refiner.vae is engine._pipe.vae and refiner.text_encoder_2 is engine._pipe.text_encoder_2
    assert steps[:4] == [(1, 4), (2, 4), (3, 4), (4, 4)] and steps[-1] == (5, 5)  # 80 % base, then the refiner
    params = parse_a1111_parameters(read_png_text(image.png)["parameters"])
    assert (params["Refiner"], params["Refiner switch at"], params["Model"]) == (
        "tiny-sdxl-refiner",
        "0.8",
        "tiny-sdxl",
    )
    (plain,) = engine.generate(tiny_sdxl.base, GenerationRequest(prompt="a cat", steps=5, width=64, height=64, seed=1))
    assert plain.png != image.png


def test_the_refiner_is_refused_when_none_is_installed_or_the_base_is_not_sdxl(
    tiny_sdxl: TinySDXL, sparklio_home: Path
) -> None:
    weights = sparklio_home / "weights" / "sd"
    weights.mkdir(parents=True)
    shutil.copytree(tiny_sdxl.base, weights / "tiny-sdxl")
    service = StableDiffusionService()
    options = ImageOptions(steps=1, refiner=True)
    with pytest.raises(InvalidRequestError, match="no SDXL refiner checkpoint is installed"):
        asyncio.run(service.generate("a cat", "64x64", 1, options=options))
    shutil.copytree(tiny_sdxl.refiner, weights / "tiny-sdxl-refiner")
    with pytest.raises(InvalidRequestError, match="is an SDXL refiner, which finishes an image"):
        asyncio.run(service.generate("a cat", "64x64", 1, options=ImageOptions(checkpoint="tiny-sdxl-refiner")))
    assert service._plan(options).refiner == weights / "tiny-sdxl-refiner"
    assert service.engine.loaded is None
    service.close()
