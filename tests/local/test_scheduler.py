"""VramScheduler plans on simulated GPUs: what to unload, in which order, and when to stop."""

from __future__ import annotations

import types

from sparklio_desktop.core.local import LoadedModel, LoadRequest, VramScheduler, loaded_from_ollama_ps, plan_unloads
from sparklio_desktop.core.local.vram import GIB

GPU_12 = VramScheduler(12 * GIB, reserve_bytes=GIB // 2)


def names(plan) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.name for a in plan.actions]


def test_nothing_to_unload_when_it_fits() -> None:
    loaded = [LoadedModel("ollama", "llama3.1:8b", 6 * GIB)]
    plan = GPU_12.plan(loaded, LoadRequest("sd", "sd15.safetensors", 4 * GIB))
    assert plan.actions == () and plan.fits and plan.free_after_bytes == int(5.5 * GIB)


def test_idle_ollama_goes_first_oldest_first_and_only_as_many_as_needed() -> None:
    loaded = [
        LoadedModel("ollama", "new", 3 * GIB, last_used=30.0),
        LoadedModel("ollama", "old", 3 * GIB, last_used=10.0),
        LoadedModel("ollama", "middle", 3 * GIB, last_used=20.0),
    ]
    plan = GPU_12.plan(loaded, LoadRequest("sd", "sdxl.safetensors", 6 * GIB))
    assert names(plan) == ["old", "middle"] and plan.fits
    assert all(a.reason == "idle Ollama model" for a in plan.actions)


def test_busy_models_are_never_unloaded() -> None:
    loaded = [LoadedModel("ollama", "answering", 8 * GIB, busy=True), LoadedModel("ollama", "idle", 2 * GIB)]
    plan = GPU_12.plan(loaded, LoadRequest("sd", "sdxl", 7 * GIB))
    assert names(plan) == ["idle"] and not plan.fits
    assert "savers" in plan.note


def test_ollama_request_unloads_idle_ollama_before_the_sd_pipeline() -> None:
    loaded = [LoadedModel("sd", "sdxl", 9 * GIB, last_used=0.0), LoadedModel("ollama", "qwen", 2 * GIB, last_used=5.0)]
    plan = GPU_12.plan(loaded, LoadRequest("ollama", "llama3.1:8b", 3 * GIB))
    assert names(plan) == ["qwen", "sdxl"] and plan.fits
    assert plan.actions[1].kind == "sd" and plan.actions[1].reason == "idle image pipeline"


def test_a_new_sd_checkpoint_replaces_the_loaded_one_first() -> None:
    loaded = [LoadedModel("sd", "sd15", 3 * GIB), LoadedModel("ollama", "qwen", 2 * GIB)]
    plan = GPU_12.plan(loaded, LoadRequest("sd", "sdxl", 10 * GIB))
    assert names(plan) == ["sd15", "qwen"] and plan.actions[0].reason == "replaced by the new checkpoint"


def test_a_generating_sd_pipeline_blocks_a_switch() -> None:
    plan = GPU_12.plan([LoadedModel("sd", "sd15", 3 * GIB, busy=True)], LoadRequest("sd", "sdxl", 4 * GIB))
    assert plan.actions == () and not plan.fits and "generating" in plan.note


def test_already_loaded_needs_nothing() -> None:
    plan = GPU_12.plan([LoadedModel("ollama", "qwen", 2 * GIB)], LoadRequest("ollama", "qwen", 2 * GIB))
    assert plan.actions == () and plan.fits and plan.note == "already loaded"


def test_too_big_for_the_gpu_lists_every_unload_and_says_ollama_will_split() -> None:
    loaded = [LoadedModel("ollama", "a", 2 * GIB), LoadedModel("sd", "sd15", 3 * GIB)]
    plan = plan_unloads(12 * GIB, loaded, LoadRequest("ollama", "llama3.3:70b", 40 * GIB))
    assert names(plan) == ["a", "sd15"] and not plan.fits and "CPU" in plan.note


def test_ties_in_age_unload_the_larger_model_first() -> None:
    loaded = [LoadedModel("ollama", "small", 1 * GIB), LoadedModel("ollama", "large", 5 * GIB)]
    plan = GPU_12.plan(loaded, LoadRequest("sd", "sdxl", 9 * GIB))
    assert names(plan) == ["large"]


def test_from_ollama_ps_reads_dicts_and_client_objects() -> None:
    running = [
        {"model": "qwen2.5:7b", "size": 6 * GIB, "size_vram": 5 * GIB},
        types.SimpleNamespace(model="llama3.1:8b", name="llama3.1:8b", size_vram=4 * GIB),
        {"model": "cpu-only", "size_vram": 0},
    ]
    loaded = loaded_from_ollama_ps(running, busy=["llama3.1:8b"], last_used={"qwen2.5:7b": 3.0})
    assert [(m.name, m.vram_bytes, m.busy, m.last_used) for m in loaded] == [
        ("qwen2.5:7b", 5 * GIB, False, 3.0),
        ("llama3.1:8b", 4 * GIB, True, 0.0),
    ]
