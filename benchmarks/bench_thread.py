"""The thread's two numbers (issue 12): opening a 1,000-turn conversation, and the longest
event-loop stall while an answer streams at 200 tokens/s into it.

A plain script: ``python benchmarks/bench_thread.py``. A temporary data folder gets two
conversations of 1,000 turns each (Markdown answers, every fifth with a code block) in
the real conversation store; the real window opens them in turn.

- open: from ``ThreadViewModel.open`` to the thread painted (the store read on the serial
  executor, the cards built, the thread view grabbed, which lays out and paints it).
  Alternating between the two conversations, so each open builds its cards. Target <= 200 ms.
- stream: the loopback OpenAI server streams one word per chunk every 5 ms (Markdown with
  bold words and paragraphs) into the open 1,000-turn thread; a QTimer heartbeat every
  5 ms records how late each tick arrives (bench_gui_stream.py's measure). Target <= 30 ms.
  The request carries what core/history.py sends of the conversation (the recent turns
  within 6,000 tokens); ``--history N`` first cuts the composer's history to its last N
  messages. Before that rule, all 1,000 were sent and the provider SDK built the request
  body on the loop thread (~0.2 s stall).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OPEN_TARGET_MS = 200.0
STALL_TARGET_MS = 30.0
HEARTBEAT_MS = 5

ANSWER = (
    "Here is a **draft** for turn {n}, with a list:\n\n"
    "1. *Pumpkin season* just got colder.\n2. Sip the season, slowly.\n3. Autumn in a glass.\n\n"
    "A closing line with `inline code` and a [link](https://example.com)."
)
CODE = "\n\n```python\ndef caption(n):\n    return f'autumn {n}'\n```\n"


def seed(store, turns: int, title: str) -> str:
    conversation = store.create("chat", title=title)
    for n in range(turns // 2):
        store.add_turn(conversation.id, "user", f"Question {n}: three captions for the autumn launch?")
        store.add_turn(
            conversation.id,
            "assistant",
            ANSWER.format(n=n) + (CODE if n % 5 == 0 else ""),
            model="openai/gpt-4",
            request_id=f"bench-{title}-{n}",
            cost_usd=Decimal("0.0042"),
            meta={"fallback": False, "retries": 0, "explored": False, "cached": False},
        )
    return conversation.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--opens", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=200.0, help="tokens per second")
    parser.add_argument(
        "--history",
        type=int,
        default=-1,
        help="messages of the opened conversation handed to the composer (-1: all; core/history.py still trims)",
    )
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home_dir = tempfile.TemporaryDirectory(prefix="sparklio-bench-")
    os.environ.update(
        SPARKLIO_HOME=home_dir.name,
        OLLAMA_HOST="http://127.0.0.1:9",
        OPENAI_API_KEY="sk-bench-0123456789abcdef",
        SPARKLIO_BACKGROUND_REFRESH="0",
    )

    import qasync
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from sparklio_desktop.app import build_context, build_window, start_loads
    from sparklio_desktop.core.conversations import ConversationStore
    from tests.fakes.openai_server import OpenAIServer

    store = ConversationStore.open_default()
    ids = [seed(store, args.turns, title) for title in ("long-a", "long-b")]
    store.close()

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with OpenAIServer() as server:
        os.environ["OPENAI_BASE_URL"] = server.api_url
        server.reply_text = " ".join(
            ("**bold**" if i % 17 == 0 else f"word{i}") + ("\n\n" if i % 60 == 59 else "") for i in range(args.tokens)
        )
        server.chunk_interval_s = 1.0 / args.rate
        ctx = build_context()
        window = build_window(ctx)
        window.resize(1200, 800)
        window.show()
        warming = start_loads(ctx)
        thread_view = window.views["thread"]
        opens: list[float] = []
        lateness: list[float] = []
        worst_at: list[tuple[float, int]] = []
        tokens = [0]
        sent = [0]
        last = [time.perf_counter()]

        def beat() -> None:
            now = time.perf_counter()
            late = (now - last[0]) * 1000 - HEARTBEAT_MS
            lateness.append(late)
            worst_at.append((late, tokens[0]))
            last[0] = now

        heartbeat = QTimer()
        heartbeat.setInterval(HEARTBEAT_MS)
        heartbeat.timeout.connect(beat)
        ctx.composer.tokenReceived.connect(lambda _t: tokens.__setitem__(0, tokens[0] + 1))

        async def go() -> float:
            await warming
            await ctx.wait_idle()
            await asyncio.sleep(0.3)
            for n in range(args.opens):
                start = time.perf_counter()
                await ctx.thread.open(ids[n % 2])
                thread_view.grab()  # lays out and paints the thread now
                opens.append((time.perf_counter() - start) * 1000)
                await ctx.wait_idle()
                await asyncio.sleep(0.1)
            composer = ctx.composer
            composer.forced_model = "openai/gpt-4"
            composer.explore = False
            composer.set_prompt("Stream a long answer")
            if args.history >= 0:  # what a context-window trim would send
                composer.load_conversation(composer._history[len(composer._history) - args.history :], None, None, {})
            await ctx.wait_idle()
            await asyncio.sleep(0.3)
            last[0] = time.perf_counter()
            heartbeat.start()
            start = time.perf_counter()
            sent[0] = len(composer._run_request().history)
            await composer.send()
            elapsed = time.perf_counter() - start
            heartbeat.stop()
            await ctx.wait_idle()
            return elapsed

        with loop:
            elapsed = loop.run_until_complete(go())
            written = len(ctx.conversation_store.thread(ctx.thread.conversation_id or ids[0]))
            loop.run_until_complete(ctx.aclose())
    print(
        f"open a {args.turns}-turn conversation to painted ({args.opens} opens): median "
        f"{statistics.median(opens):.1f} ms, worst {max(opens):.1f} ms   target <= {OPEN_TARGET_MS:g} ms"
        f"   [{', '.join(f'{ms:.0f}' for ms in opens)}]"
    )
    worst = max(lateness)
    handed = "all" if args.history < 0 else f"the last {args.history}"
    print(
        f"streamed {tokens[0]} chunks in {elapsed:.2f} s ({tokens[0] / elapsed:.0f}/s) into the open thread, "
        f"the composer handed {handed} of its messages, the request carrying {sent[0]} (core/history.py)"
    )
    print("worst ticks (ms, chunks so far): " + ", ".join(f"{late:.0f}@{n}" for late, n in sorted(worst_at)[-5:][::-1]))
    print(
        f"heartbeat every {HEARTBEAT_MS} ms: {len(lateness)} ticks, lateness median "
        f"{statistics.median(lateness):.2f} ms, p99 {sorted(lateness)[int(len(lateness) * 0.99)]:.2f} ms, "
        f"worst {worst:.2f} ms   target <= {STALL_TARGET_MS:g} ms"
    )
    print(f"the thread holds {written} turns after the run (the answer was written)")
    home_dir.cleanup()


if __name__ == "__main__":
    main()
