"""The spend panel for a month of 1,000,000 ledger rows: load and render <= 300 ms.

A plain script: ``python benchmarks/bench_gui_spend.py``. The month is loaded with the
ledger benchmark's bulk insert (one ``executemany`` through the real schema, so the
rollup trigger runs for every row). Each sample times the whole refresh a user sees:
the view-model's query in its executor, the figures, the widgets and the pyqtgraph
chart updated and painted (``repaint``) once. The chart is built on first show, so
the first sample also pays building it (pyqtgraph itself is imported by the app's
warm-up after the window shows, as here); it is reported separately.
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
TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    home_dir = tempfile.TemporaryDirectory(prefix="sparklio-bench-")  # removed when the run ends
    home = home_dir.name
    os.environ.update(SPARKLIO_HOME=home, OLLAMA_HOST="http://127.0.0.1:9")

    import qasync
    from PySide6.QtWidgets import QApplication

    from benchmarks.bench_ledger import MONTH, load_month
    from sparklio_desktop.app import build_context, start_loads
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.ui.views.spend_view import SpendView

    ledger_path = Path(home) / "ledger.sqlite3"
    LedgerStore.open(ledger_path).close()  # create the schema, then bulk-load
    start = time.perf_counter()
    load_month(ledger_path, args.rows)
    print(f"loaded {args.rows:,} attempts of {MONTH} in {time.perf_counter() - start:.1f} s")

    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    ctx = build_context(ledger_path=ledger_path)
    view = SpendView(ctx.spend)
    view.resize(1200, 800)

    async def refresh() -> float:
        begin = time.perf_counter()
        await ctx.spend.load(MONTH)
        if view.isHidden():
            view.show()  # the first time: builds the chart (imports pyqtgraph)
        view.repaint()
        return (time.perf_counter() - begin) * 1000

    with loop:
        loop.run_until_complete(start_loads(ctx))  # as run_app does after showing the window
        loop.run_until_complete(ctx.wait_idle())
        first = loop.run_until_complete(refresh())
        samples = [loop.run_until_complete(refresh()) for _ in range(args.repeat)]
        figures = ctx.spend.figures
        loop.run_until_complete(ctx.aclose())
    print(f"first show (builds the chart; pyqtgraph imported by the start-up warm-up): {first:.1f} ms")
    print(
        f"spend panel refresh over {args.rows:,} rows: median {statistics.median(samples):.1f} ms, "
        f"worst {max(samples):.1f} ms, n={len(samples)}   target <= {TARGET_MS:g} ms"
    )
    print(f"  {figures.requests:,} requests, spent ${figures.spent_usd}, cache hit rate {figures.cache_hit_rate:.1%}")
    home_dir.cleanup()


if __name__ == "__main__":
    main()
