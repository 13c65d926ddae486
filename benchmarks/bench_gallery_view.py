"""The Gallery tab over 10,000 images: open it, scroll to the end, search.

A plain script: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_gallery_view.py``.
A temporary gallery.sqlite gets ``--rows`` rows (default 10,000) over 50 shared 512 px
PNG files (the decoder still decodes each row's thumbnail: the cache is keyed by image).
Measured: the event loop's longest stall while the tab opens and the grid scrolls from
top to bottom a screen at a time (a heartbeat sleeps 5 ms and records its lateness, as
benchmarks/bench_batch.py does; target <= 50 ms), and search latency: from the debounced
query's start to the grid holding its results (target <= 100 ms; median of 5 words).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK_S = 0.005
TARGET_STALL_S = 0.050
TARGET_SEARCH_S = 0.100
WORDS = ("castle", "cat", "dragon", "forest", "ship")


async def heartbeat(lateness: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(TICK_S)
        lateness.append(loop.time() - start - TICK_S)


def seed(folder: Path, rows: int) -> Path:
    from PySide6.QtGui import QColor, QImage

    from sparklio_desktop.core.gallery import GalleryImage, GalleryStore

    files = []
    for i in range(50):
        image = QImage(512, 512, QImage.Format.Format_RGB32)
        image.fill(QColor.fromHsv(i * 7 % 360, 180, 200))
        path = folder / f"img{i}.png"
        image.save(str(path), "PNG")
        files.append(path)
    store = GalleryStore(folder / "gallery.sqlite")
    now = datetime.now(UTC)
    for i in range(rows):
        word = WORDS[i % len(WORDS)]
        store.add(
            GalleryImage(
                path=files[i % 50], prompt=f"a {word} at dusk, detailed, number {i}", seed=i, steps=25,
                guidance=7.0, width=512, height=512, checkpoint=("sd15", "sdxl-base")[i % 2],
            ),
            created_at=now - timedelta(seconds=i),
        )  # fmt: skip
    store.close()
    return folder / "gallery.sqlite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication
    from qasync import QEventLoop

    from sparklio_desktop.core.gallery import GalleryStore
    from sparklio_desktop.ui.viewmodels._base import SerialExecutor
    from sparklio_desktop.ui.viewmodels.gallery import GalleryViewModel
    from sparklio_desktop.ui.views.gallery_view import GalleryView

    app = QApplication.instance() or QApplication(sys.argv)
    loop = QEventLoop(app)
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        db = seed(Path(tmp), args.rows)
        print(f"seeded {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        store = GalleryStore(db)

        async def go() -> None:
            lateness: list[float] = []
            stop = asyncio.Event()
            beat = asyncio.create_task(heartbeat(lateness, stop))
            await asyncio.sleep(0.05)
            t0 = time.perf_counter()
            vm = GalleryViewModel(SerialExecutor("bench-gallery"), store)
            view = GalleryView(vm)
            view.resize(1200, 800)
            view.show()
            while vm.model.total != args.rows:
                await asyncio.sleep(0.001)
            opened = time.perf_counter() - t0
            bar = view.grid.verticalScrollBar()
            while bar.maximum() == 0:
                await asyncio.sleep(0.005)
            t1 = time.perf_counter()
            while bar.value() < bar.maximum():
                bar.setValue(bar.value() + bar.pageStep())
                await asyncio.sleep(0.016)  # a frame: the grid paints, pages and thumbnails arrive
            last = args.rows - 1
            while vm.model.item(last) is None or not vm.model.cached(vm.model.item(last).id):
                await asyncio.sleep(0.005)
            scrolled = time.perf_counter() - t1
            stop.set()
            await beat
            worst, p99 = max(lateness), statistics.quantiles(lateness, n=100)[98]
            verdict = "ok" if worst <= TARGET_STALL_S else "OVER TARGET"
            print(f"open: first page shown in {opened * 1e3:.0f} ms; scrolled to the end in {scrolled:.1f} s")
            print(f"event loop: longest stall {worst * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms over {len(lateness)} beats "
                  f"(target <= {TARGET_STALL_S * 1e3:.0f} ms: {verdict})")  # fmt: skip
            times = []
            for word in WORDS:
                expected = store.count(query=word)
                t2 = time.perf_counter()
                vm.set_filters(query=word)  # what the debounce timer calls 200 ms after the last key
                while vm.model.total != expected or vm.query != word:
                    await asyncio.sleep(0.0005)
                times.append(time.perf_counter() - t2)
                vm.set_filters(query="")
                while vm.model.total != args.rows:
                    await asyncio.sleep(0.001)
            median = statistics.median(times)
            verdict = "ok" if median <= TARGET_SEARCH_S else "OVER TARGET"
            print(f"search: median {median * 1e3:.1f} ms, worst {max(times) * 1e3:.1f} ms over {len(times)} words "
                  f"(target <= {TARGET_SEARCH_S * 1e3:.0f} ms: {verdict})")  # fmt: skip
            await vm.wait_idle()
            view.close()

        loop.run_until_complete(go())
        store.close()


if __name__ == "__main__":
    main()
