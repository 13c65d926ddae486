"""Longest event-loop stall while four compare columns stream at 200 tokens/s each.

A plain script: ``python benchmarks/bench_gui_compare.py``. The loopback Anthropic and
OpenAI servers (tests/fakes) send one word every 5 ms per stream; the real compare view
renders four columns as Markdown. A QTimer heartbeat every 5 ms records how late each
tick arrives: the worst lateness is the longest the window could not react. Target
(issue 6): <= 50 ms.

The SDK imports are timed and done first, then a short two-column comparison runs,
unmeasured: a provider's first request imports its SDK and builds its client on the
loop thread (about a second here), a once-per-process cost the app pays in
``GuiContext.warm_up`` off the loop, not a streaming cost.
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
MODELS = ["anthropic/claude-3-5-sonnet", "openai/gpt-4", "openai/gpt-3.5-turbo", "anthropic/claude-3-opus"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=400, help="words per answer")
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second per column")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home_dir = tempfile.TemporaryDirectory(prefix="sparklio-bench-")
    home = Path(home_dir.name)
    os.environ.update(
        SPARKLIO_HOME=str(home),
        OLLAMA_HOST="http://127.0.0.1:9",
        OPENAI_API_KEY="sk-bench-0123456789abcdef",
        ANTHROPIC_API_KEY="sk-ant-bench-0123456789abcdef",
    )

    import qasync
    from keyring.backends import null
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.routing.live_state import LiveState
    from sparklio_desktop.core.settings.paths import shipped_policy_path
    from sparklio_desktop.core.settings.secrets import KeyStore
    from sparklio_desktop.core.workspace import Workspace
    from sparklio_desktop.ui.viewmodels._base import SerialExecutor
    from sparklio_desktop.ui.viewmodels.compare import CompareViewModel
    from sparklio_desktop.ui.views.compare_view import CompareView
    from tests.fakes.anthropic_server import AnthropicServer
    from tests.fakes.openai_server import OpenAIServer

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    text = " ".join(
        ("**bold**" if i % 17 == 0 else f"word{i}") + ("\n\n" if i % 60 == 59 else "") for i in range(args.tokens)
    )
    lateness: list[float] = []
    chunks = [0]
    with AnthropicServer() as anthropic_server, OpenAIServer() as openai_server:
        os.environ.update(ANTHROPIC_BASE_URL=anthropic_server.base_url, OPENAI_BASE_URL=openai_server.api_url)
        for server in (anthropic_server, openai_server):
            server.reply_text = text
            server.chunk_interval_s = 1.0 / args.rate
        workspace = Workspace(policy_path=shipped_policy_path())
        ledger = LedgerStore.open(home / "ledger.sqlite3")
        votes = VoteStore.open(home / "ledger.sqlite3")
        dispatcher = Dispatcher(
            workspace, ledger=ledger, keys=KeyStore(backend=null.Keyring()), live=lambda: LiveState()
        )
        executor = SerialExecutor()
        vm = CompareViewModel(workspace, dispatcher, votes, executor)
        view = CompareView(vm)
        view.resize(1400, 900)
        view.show()
        vm.chunk.connect(lambda _c, _t: chunks.__setitem__(0, chunks[0] + 1))
        last = [time.perf_counter()]

        def beat() -> None:
            now = time.perf_counter()
            lateness.append((now - last[0]) * 1000 - HEARTBEAT_MS)
            last[0] = now

        heartbeat = QTimer()
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(beat)

        async def go() -> tuple[float, float]:
            started = time.perf_counter()
            import anthropic  # noqa: F401 - the first SDK import, timed: it would block the loop once
            import openai  # noqa: F401

            warm_s = time.perf_counter() - started
            for server in (anthropic_server, openai_server):
                server.reply_text = "warm up"
            await vm.start(MODELS[:2], "Warm up", "copywriting_standard", False)  # clients, lazy SDK parts
            for server in (anthropic_server, openai_server):
                server.reply_text = text
            await asyncio.sleep(0.3)
            chunks[0] = 0
            last[0] = time.perf_counter()
            heartbeat.start()
            started = time.perf_counter()
            await vm.start(MODELS, "Four answers at once", "copywriting_standard", False)
            elapsed = time.perf_counter() - started
            heartbeat.stop()
            await dispatcher.aclose()
            return warm_s, elapsed

        with loop:
            warm_s, elapsed = loop.run_until_complete(go())
        renders = [c.answer.renders for c in view.columns]
        outputs = [len(c.answer.text().split()) for c in view.columns]
        executor.shutdown()
        votes.close()
        ledger.close()
    worst = max(lateness)
    print(
        f"first import of the anthropic and openai SDKs (blocks the loop once; the app does it in "
        f"GuiContext.warm_up, off the loop): {warm_s:.2f} s; then a short warm-up comparison, unmeasured"
    )
    print(
        f"4 columns: {chunks[0]} chunks in {elapsed:.2f} s ({chunks[0] / elapsed / 4:.0f}/s per column), "
        f"words per column {outputs}, Markdown renders per column {renders}"
    )
    print(
        f"heartbeat every {HEARTBEAT_MS} ms: {len(lateness)} ticks, lateness median "
        f"{statistics.median(lateness):.2f} ms, p99 {sorted(lateness)[int(len(lateness) * 0.99)]:.2f} ms, "
        f"worst {worst:.2f} ms   target <= {TARGET_MS:g} ms"
    )
    home_dir.cleanup()


if __name__ == "__main__":
    main()
