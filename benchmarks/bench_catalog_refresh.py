"""Catalog refresh against four loopback providers (OpenAI, Anthropic, Gemini, Ollama fakes).

Target (issue 11): a refresh against four providers <= 2 s on loopback. Each run starts
from an empty user catalog, so it is a first refresh: it lists the four providers at
once, adds the new family members, retires the vanished models (one validated write of
the user catalog) and loads the catalog before and after.

- ``first``: the first refresh in the process (the SDK imports included);
- ``warm``: the median of the later in-process refreshes (what the app's daily refresh costs);
- ``process``: ``sparklio catalog refresh --json`` as a whole process, median of three.

Run: python benchmarks/bench_catalog_refresh.py [rounds]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.environment import provider_variables  # noqa: E402
from tests.fakes.anthropic_server import AnthropicServer  # noqa: E402
from tests.fakes.gemini_server import GeminiServer  # noqa: E402
from tests.fakes.ollama_server import OllamaServer  # noqa: E402
from tests.fakes.openai_server import OpenAIServer  # noqa: E402

TARGET_S = 2.0


def main(rounds: int) -> int:
    for name in provider_variables():  # never a developer's own keys or hosts
        del os.environ[name]
    from sparklio_desktop.core.catalog_refresh import refresh_catalog

    with (
        OpenAIServer() as openai,
        AnthropicServer() as anthropic,
        GeminiServer() as gemini,
        OllamaServer(installed=["llama3.2:latest", "qwen2.5:7b", "qwen2.5:14b", "llava:latest"]) as ollama,
    ):
        openai.models = [*openai.models, "gpt-4.1", "gpt-4.1-mini", "gpt-5", "gpt-5-mini"]
        anthropic.models = ["claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805", "claude-3-opus-latest"]
        os.environ.update(
            OPENAI_API_KEY="sk-bench-0123456789abcdefghij",
            OPENAI_BASE_URL=openai.api_url,
            ANTHROPIC_API_KEY="sk-ant-bench-0123456789abcdef",
            ANTHROPIC_BASE_URL=anthropic.base_url,
            GEMINI_API_KEY="AIzaBench0123456789abcdefghijklmno",
            GOOGLE_GEMINI_BASE_URL=gemini.base_url,
            OLLAMA_HOST=ollama.base_url,
        )
        samples = []
        report = None
        for _ in range(rounds + 1):
            with tempfile.TemporaryDirectory() as home:
                os.environ["SPARKLIO_HOME"] = home
                start = time.perf_counter()
                report = asyncio.run(refresh_catalog())
                samples.append(time.perf_counter() - start)
                assert not report.errors, report.errors
        assert report is not None
        first, warm = samples[0], statistics.median(samples[1:])
        process = []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as home:
                env = dict(os.environ, SPARKLIO_HOME=home)
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "sparklio_desktop", "catalog", "refresh", "--json"],
                    capture_output=True,
                    text=True,
                    env=env,
                    cwd=ROOT,
                    check=False,
                )
                process.append(time.perf_counter() - start)
                assert done.returncode == 0, done.stderr
    print(f"refresh against 4 loopback providers: {len(report.added)} added, {len(report.retired)} retired")
    print(f"  first (SDK imports included): {first:.3f} s")
    print(f"  warm, median of {rounds}:        {warm:.3f} s   (target <= {TARGET_S} s)")
    print(f"  whole process, median of 3:   {statistics.median(process):.3f} s")
    per = ", ".join(f"{r.provider} {r.seconds * 1000:.0f} ms" for r in report.providers)
    print(f"  last run, per provider: {per}")
    return 0 if warm <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 7))
