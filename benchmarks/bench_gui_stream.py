"""Longest event-loop stall while an answer streams at 200 tokens/s into the composer.

A plain script: ``python benchmarks/bench_gui_stream.py``. The loopback OpenAI server
(tests/fakes) streams one word per chunk every 5 ms; the real window's thread renders
it as Markdown. A QTimer heartbeat every 5 ms records how late each tick arrives: the
worst lateness is the longest time the window could not react. Target: <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_MS = 50.0
HEARTBEAT_MS = 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home_dir = tempfile.TemporaryDirectory(prefix="sparklio-bench-")  # removed when the run ends
    home = home_dir.name
    os.environ.update(SPARKLIO_HOME=home, OLLAMA_HOST="http://127.0.0.1:9", OPENAI_API_KEY="sk-bench-0123456789abcdef")

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from sparklio_desktop.app import build_context, build_window, start_loads
    from tests.fakes.openai_server import OpenAIServer

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with OpenAIServer() as server:
        os.environ["OPENAI_BASE_URL"] = server.api_url
        # Markdown-ish words so the renderer has work to do.
        server.reply_text = " ".join(
            ("**bold**" if i % 17 == 0 else f"word{i}") + ("\n\n" if i % 60 == 59 else "") for i in range(args.tokens)
        )
        server.chunk_interval_s = 1.0 / args.rate
        ctx = build_context()
        window = build_window(ctx)
        window.show()
        warming = start_loads(ctx)  # as run_app does once the window is shown
        composer = ctx.composer
        composer.set_task("brief_questions")
        composer.forced_model = "openai/gpt-4"
        composer.explore = False
        composer.set_prompt("Stream a long answer")
        lateness: list[float] = []
        tokens = [0]
        last = [time.perf_counter()]

        worst_at: list[tuple[float, int]] = []  # (lateness, chunks received by then)

        def beat() -> None:
            now = time.perf_counter()
            late = (now - last[0]) * 1000 - HEARTBEAT_MS
            lateness.append(late)
            worst_at.append((late, tokens[0]))
            last[0] = now

        heartbeat = QTimer()
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(beat)
        composer.tokenReceived.connect(lambda _t: tokens.__setitem__(0, tokens[0] + 1))

        async def go() -> float:
            await warming  # the user is still typing: the app has imported what a request needs
            await ctx.wait_idle()
            await asyncio.sleep(0.3)  # let the window settle
            last[0] = time.perf_counter()
            heartbeat.start()
            start = time.perf_counter()
            await composer.send()
            elapsed = time.perf_counter() - start
            heartbeat.stop()
            return elapsed

        with loop:
            elapsed = loop.run_until_complete(go())
            loop.run_until_complete(ctx.aclose())
    renders = window.views["thread"].stream_renders  # the answer streams into the Chat page's thread
    worst = max(lateness)
    print(f"streamed {tokens[0]} chunks in {elapsed:.2f} s ({tokens[0] / elapsed:.0f}/s), {renders} Markdown renders")
    print(
        "worst ticks (lateness ms, chunks so far): "
        + ", ".join(f"{late:.0f}@{n}" for late, n in sorted(worst_at, reverse=True)[:5])
    )
    print(
        f"heartbeat every {HEARTBEAT_MS} ms: {len(lateness)} ticks, lateness median "
        f"{statistics.median(lateness):.2f} ms, p99 {sorted(lateness)[int(len(lateness) * 0.99)]:.2f} ms, "
        f"worst {worst:.2f} ms   target <= {TARGET_MS:g} ms"
    )
    home_dir.cleanup()


if __name__ == "__main__":
    main()
