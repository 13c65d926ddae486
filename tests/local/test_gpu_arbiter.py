"""One VRAM budget: Ollama and the Stable Diffusion pipeline make room for each other,
against the loopback Ollama server with simulated GPU figures."""

from __future__ import annotations

import asyncio

import pytest

from sparklio_desktop.core.local.gpu_arbiter import GpuArbiter
from sparklio_desktop.core.local.ollama_admin import OllamaAdmin
from sparklio_desktop.core.local.sd.service import StableDiffusionService
from sparklio_desktop.core.local.vram import GIB
from sparklio_desktop.core.local.vram_scheduler import LoadedModel
from tests.fakes.ollama_server import OllamaServer


@pytest.fixture
def ollama():
    with OllamaServer() as server:
        yield server


class FakePipeline:
    """What the SD engine reports: a resident pipeline of a given size, or nothing."""

    def __init__(self, vram_bytes: int | None) -> None:
        self.vram_bytes = vram_bytes
        self.unloads = 0

    def residency(self) -> LoadedModel | None:
        return None if self.vram_bytes is None else LoadedModel("sd", "sdxl.safetensors", self.vram_bytes)

    def unload(self) -> None:
        self.unloads += 1
        self.vram_bytes = None


def arbiter_for(server: OllamaServer, pipeline: FakePipeline) -> GpuArbiter:
    return GpuArbiter(12 * GIB, lambda: OllamaAdmin(server.base_url), pipeline.residency, pipeline.unload)


def test_idle_ollama_models_make_room_for_the_pipeline(ollama):
    ollama.load("llama3.2", size_vram=9 * GIB)
    pipeline = FakePipeline(None)
    plan = asyncio.run(arbiter_for(ollama, pipeline).before_sd("sdxl.safetensors", 5 * GIB))
    assert [a.name for a in plan.actions] == ["llama3.2:latest"] and plan.fits
    assert "llama3.2:latest" not in ollama.running
    unloads = [r for r in ollama.requests if r.path == "/api/generate" and r.body.get("keep_alive") == 0]
    assert len(unloads) == 1


def test_nothing_is_unloaded_when_both_fit(ollama):
    ollama.load("llama3.2", size_vram=3 * GIB)
    pipeline = FakePipeline(None)
    plan = asyncio.run(arbiter_for(ollama, pipeline).before_sd("sd15.safetensors", 4 * GIB))
    assert plan.actions == () and "llama3.2:latest" in ollama.running


def test_the_idle_pipeline_makes_room_for_an_ollama_model(ollama):
    pipeline = FakePipeline(8 * GIB)
    plan = asyncio.run(arbiter_for(ollama, pipeline).before_ollama("qwen2.5:7b", int(5.5 * GIB)))
    assert [a.kind for a in plan.actions] == ["sd"] and pipeline.unloads == 1


def test_the_service_asks_the_arbiter_before_an_ollama_answer(ollama):
    pipeline = FakePipeline(8 * GIB)
    service = StableDiffusionService(arbiter=arbiter_for(ollama, pipeline))
    try:
        asyncio.run(service.make_room_for_ollama("qwen2.5:7b", 5.5))
    finally:
        service.close()
    assert pipeline.unloads == 1
