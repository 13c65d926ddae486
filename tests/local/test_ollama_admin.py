"""OllamaAdmin against the loopback Ollama server: the real ollama SDK on the real NDJSON API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import pytest

from sparklio_desktop.core.local import ollama_admin
from sparklio_desktop.core.local.ollama_admin import (
    Architecture,
    OllamaAdmin,
    OllamaError,
    OllamaModelNotFound,
    OllamaUnreachable,
    PullProgress,
    PullTracker,
    fit_check,
    resolve_host,
)
from sparklio_desktop.core.local.vram import GIB, Fit
from sparklio_desktop.core.local.vram_scheduler import loaded_from_ollama_ps
from tests.fakes.loopback import Fault
from tests.fakes.ollama_server import DEFAULT_REGISTRY, OllamaServer, StreamErrorFault

T = TypeVar("T")
PULLED = "llama3.1:8b"
PULLED_LAYERS = DEFAULT_REGISTRY[PULLED].layers


@pytest.fixture
def server() -> Iterator[OllamaServer]:
    with OllamaServer() as fake:
        yield fake  # type: ignore[misc]


def drive(host: str, body: Callable[[OllamaAdmin], Awaitable[T]]) -> T:
    """Run ``body`` with a fresh admin on a fresh loop, always closing it."""

    async def main() -> T:
        async with OllamaAdmin(host) as admin:
            return await body(admin)

    return asyncio.run(main())


def open_connections(admin: OllamaAdmin) -> int:
    """Connections in the SDK's httpx pool (httpcore's), read without yielding to the loop:
    a stream closed by our ``finally`` is gone at once, one left to the garbage
    collector's async-generator hook only on a later loop turn."""
    return len(admin._sdk._client._transport._pool.connections)  # type: ignore[attr-defined]


async def pull_all(admin: OllamaAdmin, name: str) -> list[PullProgress]:
    return [snapshot async for snapshot in admin.pull(name)]


# -- status and reading ---------------------------------------------------------------
def test_status_reports_the_version(server: OllamaServer) -> None:
    status = drive(server.base_url, lambda a: a.status())
    assert status.reachable and status.version == "0.12.6"
    assert status.host == server.base_url and "0.12.6" in status.message


def test_status_when_down_says_how_to_start_ollama() -> None:
    status = drive("http://127.0.0.1:9", lambda a: a.status())
    assert not status.reachable and status.version is None
    assert "not running" in status.message and "`ollama serve`" in status.message


def test_status_of_a_stuck_server_does_not_hang(server: OllamaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ollama_admin, "STATUS_TIMEOUT_S", 0.2)
    server.script(Fault(delay_s=1.0, path_contains="/api/version"))
    status = drive(server.base_url, lambda a: a.status())
    # The server answers after 1 s: "no answer" means the 0.2 s limit cut the wait short.
    assert not status.reachable and "no answer" in status.message


def test_unreachable_host_raises_with_the_start_hint() -> None:
    async def body(admin: OllamaAdmin) -> None:
        for call in (admin.list, admin.ps, lambda: admin.show("llama3.2"), lambda: pull_all(admin, "x")):
            with pytest.raises(OllamaUnreachable) as info:
                await call()
            assert str(info.value) == (
                "Ollama is not running at http://127.0.0.1:9: start it with `ollama serve` (or the Ollama app)"
            )

    drive("127.0.0.1:9", body)


def test_host_comes_from_the_argument_then_settings_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparklio_desktop.core.settings.config import set_setting

    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:7000")
    assert resolve_host() == "http://10.0.0.5:7000"
    set_setting("providers.ollama.host", "http://gpu-box:11434")
    assert resolve_host() == "http://gpu-box:11434"
    assert resolve_host("localhost") == "http://localhost:11434"
    monkeypatch.delenv("OLLAMA_HOST")
    set_setting("providers.ollama.host", None)
    assert resolve_host() == "http://127.0.0.1:11434"  # the SDK's default, and Ollama's listen address


def test_list_gives_name_family_size_quantisation_and_date(server: OllamaServer) -> None:
    models = drive(server.base_url, lambda a: a.list())
    assert [m.name for m in models] == ["llama3.2:latest", "llava:latest", "nomic-embed-text:latest"]
    llama = models[0]
    assert (llama.family, llama.parameter_size, llama.quantization, llama.format) == ("llama", "3.2B", "Q4_K_M", "gguf")
    assert llama.size_bytes == 2_019_393_189
    assert llama.modified_at is not None and llama.modified_at.year == 2025
    assert models[2].family == "nomic-bert" and models[2].quantization == "F16"


def test_show_gives_context_capabilities_template_and_architecture(server: OllamaServer) -> None:
    details = drive(server.base_url, lambda a: a.show("llama3.2"))
    assert details.context_length == 131_072
    assert details.capabilities == ("completion", "tools")
    assert details.template == "{{ .System }}{{ .Prompt }}"
    assert details.parameters == {"stop": ["<|eot_id|>"], "num_ctx": ["8192"]}
    assert details.size_bytes == 2_019_393_189  # from /api/tags: /api/show has no size
    assert details.architecture == Architecture(
        block_count=28, head_count_kv=8, head_dim=128, name="llama", embedding_length=3072, head_count=24,
        parameter_count=3_212_749_888,
    )  # fmt: skip
    show_request = next(r for r in server.requests if r.path == "/api/show")
    assert show_request.method == "POST" and show_request.body == {"model": "llama3.2"}


def test_show_derives_head_dim_when_key_length_is_absent(server: OllamaServer) -> None:
    details = drive(server.base_url, lambda a: a.show("nomic-embed-text"))
    arch = details.architecture
    assert arch is not None and arch.name == "nomic-bert"
    assert (arch.block_count, arch.head_count_kv, arch.head_dim) == (12, 12, 768 // 12)
    assert details.capabilities == ("embedding",) and details.context_length == 2048


def test_show_of_a_missing_model_is_model_not_found(server: OllamaServer) -> None:
    with pytest.raises(OllamaModelNotFound) as info:
        drive(server.base_url, lambda a: a.show("mistral:7b"))
    assert info.value.name == "mistral:7b"
    assert "not installed" in str(info.value) and "pull it first" in str(info.value)


def test_ps_gives_vram_use_and_the_cpu_gpu_split(server: OllamaServer) -> None:
    server.load("llama3.2")  # all of it on the GPU
    server.load("llava", size_vram=server.spec("llava").size * 3 // 4)
    running = {m.name: m for m in drive(server.base_url, lambda a: a.ps())}
    assert set(running) == {"llama3.2:latest", "llava:latest"}
    llama, llava = running["llama3.2:latest"], running["llava:latest"]
    assert llama.size_bytes == llama.size_vram_bytes == 2_019_393_189 and llama.processor == "100% GPU"
    assert llava.size_vram_bytes == 4_733_363_377 * 3 // 4
    assert llava.processor == "25%/75% CPU/GPU" and llava.gpu_percent == pytest.approx(75, abs=0.01)
    assert llava.expires_at is not None and llava.context_length == 4096
    # The scheduler reads the same objects: only the VRAM part counts.
    loaded = {m.name: m.vram_bytes for m in loaded_from_ollama_ps(running.values())}
    assert loaded == {"llama3.2:latest": 2_019_393_189, "llava:latest": 4_733_363_377 * 3 // 4}


def test_unload_sends_keep_alive_zero_and_the_model_leaves_ps(server: OllamaServer) -> None:
    server.load("llama3.2")

    async def body(admin: OllamaAdmin) -> tuple[int, int]:
        before = len(await admin.ps())
        await admin.unload("llama3.2")
        return before, len(await admin.ps())

    assert drive(server.base_url, body) == (1, 0)
    generate = next(r for r in server.requests if r.path == "/api/generate")
    assert generate.body["keep_alive"] == 0 and generate.body["model"] == "llama3.2"
    with pytest.raises(OllamaModelNotFound):
        drive(server.base_url, lambda a: a.unload("mistral:7b"))


# -- pull ------------------------------------------------------------------------------
def test_pull_sums_progress_over_layers_until_complete(server: OllamaServer) -> None:
    snapshots = drive(server.base_url, lambda a: pull_all(a, PULLED))
    total = sum(PULLED_LAYERS)
    assert snapshots[0].status == "pulling manifest" and snapshots[0].total_bytes == 0
    # Ollama announces every layer (no "completed" yet) before progress comes in.
    announced = snapshots[len(PULLED_LAYERS)]
    assert (announced.layers, announced.total_bytes, announced.completed_bytes) == (5, total, 0)
    # After one round of quarter-steps, each layer is a quarter done: the sum is too.
    quarter = snapshots[2 * len(PULLED_LAYERS)]
    assert quarter.completed_bytes == sum(size // 4 for size in PULLED_LAYERS)
    completed = [s.completed_bytes for s in snapshots]
    assert completed == sorted(completed)
    last = snapshots[-1]
    assert snapshots[-4].status.startswith("pulling ")
    assert [s.status for s in snapshots[-3:]] == ["verifying sha256 digest", "writing manifest", "success"]
    assert last.done and last.total_bytes == last.completed_bytes == total == 4_920_749_328
    assert last.fraction == 1.0 and last.eta_s == 0.0 and last.layers == 5
    assert not any(s.done for s in snapshots[:-1])
    assert PULLED in server.installed  # type: ignore[operator]


def test_pull_then_list_and_fit_the_new_model(server: OllamaServer) -> None:
    async def body(admin: OllamaAdmin) -> tuple[list[str], object]:
        await pull_all(admin, PULLED)
        return [m.name for m in await admin.list()], await admin.fit(PULLED, 8192, 12)

    names, check = drive(server.base_url, body)
    assert PULLED in names
    assert check.verdict is Fit.FITS and check.kv_bytes == GIB and check.weights_bytes == 4_920_753_328


def test_closing_the_pull_stream_cancels_it_and_the_server_sees_the_disconnect(server: OllamaServer) -> None:
    server.pull_interval_s = 0.02
    server.pull_steps = 500  # 2,500 lines at 20 ms: a minute, unless the client lets go

    async def body(admin: OllamaAdmin) -> tuple[PullProgress, int, int, bool]:
        stream = admin.pull(PULLED)
        async for snapshot in stream:
            if snapshot.completed_bytes > 0:
                break
        before = open_connections(admin)
        await stream.aclose()  # type: ignore[attr-defined]
        after = open_connections(admin)
        return snapshot, before, after, await asyncio.to_thread(server.pull_disconnected.wait, 2.0)

    snapshot, before, after, disconnected = drive(server.base_url, body)
    assert 0 < snapshot.completed_bytes < snapshot.total_bytes and not snapshot.done
    assert (before, after) == (1, 0)  # closed when aclose returns, not when the minute-long pull ends
    assert disconnected
    assert PULLED not in server.installed  # type: ignore[operator]


def test_cancelling_the_task_that_pulls_closes_the_stream(server: OllamaServer) -> None:
    server.pull_interval_s = 0.02
    server.pull_steps = 500

    async def body(admin: OllamaAdmin) -> bool:
        started = asyncio.Event()

        async def consume() -> None:
            async for snapshot in admin.pull(PULLED):
                if snapshot.completed_bytes:
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 5.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return await asyncio.to_thread(server.pull_disconnected.wait, 2.0)

    assert drive(server.base_url, body)


def test_pulling_an_unknown_model_says_it_is_not_in_the_library(server: OllamaServer) -> None:
    with pytest.raises(OllamaModelNotFound) as info:
        drive(server.base_url, lambda a: pull_all(a, "no-such-model:1b"))
    assert "cannot find 'no-such-model:1b' to pull" in str(info.value)
    assert "file does not exist" in str(info.value)


def test_an_error_line_mid_pull_is_an_ollama_error(server: OllamaServer) -> None:
    server.script(StreamErrorFault(message="max retries exceeded: connection reset by peer", after=8))
    with pytest.raises(OllamaError) as info:
        drive(server.base_url, lambda a: pull_all(a, PULLED))
    assert not isinstance(info.value, OllamaModelNotFound)
    assert "max retries exceeded" in str(info.value)
    assert info.value.__context__ is None  # the SDK exception does not ride along


def test_a_pull_cut_short_without_success_fails(server: OllamaServer) -> None:
    server.script(Fault(drop_after=7, path_contains="/api/pull"))
    with pytest.raises(OllamaError, match="broke|ended before"):
        drive(server.base_url, lambda a: pull_all(a, PULLED))


def test_tracker_speed_and_eta_follow_a_window() -> None:
    tracker = PullTracker("m", window_s=2.0)
    tracker.update("pulling manifest", None, None, None, now=0.0)
    first = tracker.update("pulling a", "sha256:a", 1000, 0, now=0.0)
    assert first.speed_bps is None and first.eta_s is None and first.fraction == 0
    tracker.update("pulling b", "sha256:b", 1000, 0, now=0.5)
    step = tracker.update("pulling a", "sha256:a", 1000, 200, now=1.0)
    assert step.total_bytes == 2000 and step.speed_bps == pytest.approx(200.0) and step.eta_s == pytest.approx(9.0)
    # Bandwidth rises: after the window, the old slow samples no longer count.
    tracker.update("pulling b", "sha256:b", 1000, 600, now=3.0)
    late = tracker.update("pulling b", "sha256:b", 1000, 1000, now=3.5)
    assert late.speed_bps == pytest.approx((1200 - 200) / 2.5)
    assert late.status == "pulling b" and not late.done


# -- delete ----------------------------------------------------------------------------
def test_delete_removes_the_model_and_a_missing_one_is_404(server: OllamaServer) -> None:
    drive(server.base_url, lambda a: a.delete("llava", confirm=True))
    assert server.installed == ["llama3.2:latest", "nomic-embed-text:latest"]
    delete = next(r for r in server.requests if r.method == "DELETE")
    assert delete.path == "/api/delete" and delete.body == {"model": "llava"}
    with pytest.raises(OllamaModelNotFound) as info:
        drive(server.base_url, lambda a: a.delete("llava", confirm=True))
    assert "'llava' is not installed" in str(info.value)


def test_delete_needs_an_explicit_confirmation(server: OllamaServer) -> None:
    with pytest.raises(ValueError, match="confirm=True"):
        drive(server.base_url, lambda a: a.delete("llava", confirm=False))
    assert not any(r.method == "DELETE" for r in server.requests)


# -- fit check ---------------------------------------------------------------------------
LLAMA_8B = Architecture(block_count=32, head_count_kv=8, head_dim=128, name="llama")


def test_fit_check_for_a_llama_8b_at_8k_context_on_12_gb() -> None:
    check = fit_check(LLAMA_8B, weights_bytes=4_920_753_328, context_tokens=8192, gpu_total_gb=12)
    assert check.kv_bytes == 2 * 32 * 8 * 128 * 8192 * 2 == GIB
    assert check.required_bytes == 4_920_753_328 + GIB
    assert check.verdict is Fit.FITS and check.gpu_layers == 32


def test_fit_check_partial_and_wont_fit() -> None:
    f16 = fit_check(LLAMA_8B, weights_bytes=16_068_890_000, context_tokens=8192, gpu_total_gb=12)
    assert f16.verdict is Fit.PARTIAL and 0 < f16.gpu_layers < 32
    llama_70b = Architecture(block_count=80, head_count_kv=8, head_dim=128)
    huge = fit_check(llama_70b, weights_bytes=141_000_000_000, context_tokens=8192, gpu_total_gb=12)
    assert huge.verdict is Fit.WONT_FIT
    # A long context alone can push a model out: 128k tokens of f16 KV cache is 16 GiB.
    long = fit_check(LLAMA_8B, weights_bytes=4_920_753_328, context_tokens=131_072, gpu_total_gb=12)
    assert long.kv_bytes == 16 * GIB and long.verdict is not Fit.FITS


def test_fit_check_with_a_quantised_kv_cache_and_a_bad_type() -> None:
    q8 = fit_check(LLAMA_8B, weights_bytes=4_920_753_328, context_tokens=8192, gpu_total_gb=12, kv_cache_type="q8_0")
    assert q8.kv_bytes == GIB * 34 // 64
    with pytest.raises(OllamaError, match="unknown KV cache type"):
        fit_check(LLAMA_8B, 1, 8192, 12, kv_cache_type="fp8")


def test_module_import_does_not_import_the_sdk() -> None:
    code = (
        "import sys, sparklio_desktop.core.local.ollama_admin\n"
        "assert 'ollama' not in sys.modules, 'ollama imported eagerly'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
