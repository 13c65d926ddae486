"""Render the README's screenshots from a demo data folder (no network, no real keys).

The demo has placeholder provider keys in its environment (so routes show cloud models),
a month of ledger rows (so the spend panel has something to draw) and one request with a
retry and a fallback (so the inspector has a trace). Run: python scripts/make_screenshots.py
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def populate(home: Path) -> None:
    os.environ["SPARKLIO_HOME"] = str(home)
    from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore

    rng = random.Random(7)
    models = [
        ("anthropic/claude-3-5-sonnet", "anthropic", "copywriting_standard", "3", "15"),
        ("google/gemini-2.0-flash", "google", "chat", "0.075", "0.30"),
        ("openai/gpt-4", "openai", "brief_questions", "30", "60"),
        ("google/gemini-2.0-pro", "google", "trend_analysis", "1.25", "5"),
        ("ollama/qwen2.5", "ollama", "template_generation", "0", "0"),
    ]
    now = datetime.now(UTC)
    start = now.replace(day=1, hour=9, minute=0, second=0, microsecond=0)
    with LedgerStore.open(home / "ledger.sqlite3") as ledger:
        for day in range(max(1, now.day)):
            for n in range(rng.randrange(3, 12)):
                model, provider, task, pin, pout = rng.choice(models)
                tin, tout = rng.randrange(200, 2000), rng.randrange(100, 900)
                cost = Decimal(pin) * tin / 1_000_000 + Decimal(pout) * tout / 1_000_000
                ledger.record_attempt(
                    AttemptRecord(
                        request_id=f"demo-{day}-{n}",
                        attempt=1,
                        task_type=task,
                        model_id=model,
                        provider=provider,
                        outcome="ok",
                        ts_utc=start + timedelta(days=day, minutes=n * 7),
                        input_tokens=tin,
                        output_tokens=tout,
                        price_input_per_mtok=Decimal(pin),
                        price_output_per_mtok=Decimal(pout),
                        cost_usd=cost,
                        latency_s=rng.uniform(0.8, 7),
                        ttft_s=0.4,
                    )
                )


def populate_conversations(home: Path) -> None:
    """A sidebar a creator would have after a few weeks: a pinned brand kit, older chats,
    and the demo conversation (Markdown and code) newest, which the workspace picture opens."""
    from sparklio_desktop.app import seed_demo_conversation
    from sparklio_desktop.core.conversations import ConversationStore

    older = [
        ("Brand kit — Bean & Bloom", "template_generation", True),
        ("Blog: the case for slow coffee", "copywriting_premium", False),
        ("Menu translation (ES)", "translation", False),
        ("Q4 content calendar", "strategy_planning", False),
        ("Rename product photos script", "code_generation", False),
    ]
    with ConversationStore(home / "conversations.sqlite") as store:
        for title, task, pinned in older:
            conversation = store.create(task, title=title)
            store.add_turn(conversation.id, "user", f"{title}: a first draft, please.", task=task)
            store.add_turn(conversation.id, "assistant", "Here is a first draft.", model="openai/gpt-4o", task=task)
            if pinned:
                store.set_pinned(conversation.id, True)
        seed_demo_conversation(store)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screenshots"
    home = Path(tempfile.mkdtemp(prefix="sparklio-demo-"))
    populate(home)
    populate_conversations(home)
    env = dict(
        os.environ,
        SPARKLIO_HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        OLLAMA_HOST="http://127.0.0.1:9",
        OPENAI_API_KEY="demo-placeholder",
        ANTHROPIC_API_KEY="demo-placeholder",
        GEMINI_API_KEY="demo-placeholder",
    )
    subprocess.run([sys.executable, "-m", "sparklio_desktop", "--screenshot", str(out)], env=env, check=True)


if __name__ == "__main__":
    main()
