"""Open the real window under X (Xvfb in CI), send one request as a person would, screenshot it.

What the unit tests cannot show: the app starting as ``python -m sparklio_desktop`` on a
real X server, keyboard focus landing in the composer, a typed prompt sent with Ctrl+Enter
to a provider (the loopback OpenAI server of ``tests/fakes``), the answer drawn, the
ledger written, the Recipes page reached with Ctrl+4 and its budget changed with Alt+B
and an arrow key (the plan priced again), and the app quitting cleanly on Ctrl+Q. It
drives the window with xdotool (keystrokes, as a person types) and grabs the screen with
ImageMagick's ``import``.

Run under a display: ``xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python
scripts/check_real_window.py --out DIR``; ``.ci/run`` does. Exit status 0 when the answer
arrived, the ledger has its row and the app exited by itself with status 0; the screenshot
is ``DIR/real-window.png`` either way (what the window showed when it failed), and the
Recipes page's are ``DIR/real-window-recipes.png`` (each step's own options) and
``DIR/real-window-recipes-budget.png`` (after Alt+B, Down: the low tier); the Images
page's Gallery tab over ten seeded images is ``DIR/real-window-gallery.png``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ANSWER = "Pumpkin spice, **slow** mornings and a `cosy` corner: three captions ready."
PROMPT = "Write three captions for our autumn pumpkin latte"


def _xdotool(*args: str, check: bool = True) -> str:
    done = subprocess.run(["xdotool", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"xdotool {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout.strip()


def _ledger_rows(home: Path) -> int:
    path = home / "ledger.sqlite3"
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM llm_usage WHERE outcome = 'ok'").fetchone()[0])
    except sqlite3.Error:
        return 0


def _grab(path: Path) -> None:
    subprocess.run(["import", "-window", "root", str(path)], check=False, timeout=30)


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _seed_gallery(home: Path) -> None:
    """A few images in the gallery (gallery.sqlite and small PNGs) for the Gallery tab."""
    from datetime import UTC, datetime, timedelta

    from PySide6.QtGui import QColor, QImage

    from sparklio_desktop.core.gallery import GalleryImage, GalleryStore, LoraUse

    folder = home / "images"
    folder.mkdir(parents=True, exist_ok=True)
    prompts = (
        "a pumpkin latte on an oak table, morning light",
        "a cosy reading corner, autumn leaves outside",
        "a castle on a hill at dusk, oil painting",
        "a cat in the snow, watercolour",
        "a red fox in a forest",
    )
    with GalleryStore(home / "gallery.sqlite") as store:
        for i, prompt in enumerate(prompts * 2):
            image = QImage(256, 256, QImage.Format.Format_RGB32)
            image.fill(QColor.fromHsv(i * 36 % 360, 150, 220))
            path = folder / f"image-{i}.png"
            image.save(str(path), "PNG")
            store.add(
                GalleryImage(path=path, prompt=prompt, negative_prompt="blurry", width=512, height=512, seed=1000 + i,
                             steps=25, guidance=7.0, scheduler="euler_a", checkpoint=("sd15", "sdxl-base")[i % 2],
                             checkpoint_hash="abcdef0123", loras=(LoraUse("ink", 0.7),), request_id=f"req-{i}"),
                created_at=datetime.now(UTC) - timedelta(hours=i),
            )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for real-window.png")
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("check_real_window: no DISPLAY (run it under xvfb-run)", file=sys.stderr)
        return 2
    from tests.fakes.openai_server import OpenAIServer

    args.out.mkdir(parents=True, exist_ok=True)
    shot = args.out / "real-window.png"
    server = OpenAIServer()
    with tempfile.TemporaryDirectory() as tmp, server:
        server.reply_text = ANSWER
        home = Path(tmp)
        _seed_gallery(home)
        env = {
            **os.environ,
            "SPARKLIO_HOME": str(home),
            "OPENAI_API_KEY": "sk-test-real-window",
            "OPENAI_BASE_URL": server.api_url,
            "OLLAMA_HOST": "http://127.0.0.1:9",
            "SPARKLIO_BACKGROUND_REFRESH": "0",
            "QT_QPA_PLATFORM": "xcb",
        }
        for name in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
            env.pop(name, None)
        app = subprocess.Popen(
            [sys.executable, "-m", "sparklio_desktop"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        failure = None
        try:
            window = _xdotool("search", "--sync", "--onlyvisible", "--name", "^Sparklio$").splitlines()[0]
            _xdotool("windowactivate", "--sync", window, check=False)  # no window manager: may not apply
            _xdotool("windowfocus", "--sync", window, check=False)
            time.sleep(1.5)  # the first paint and the first loads
            _xdotool("type", "--delay", "20", PROMPT)
            _xdotool("key", "ctrl+Return")
            _wait(lambda: any(r.path.endswith("/chat/completions") for r in server.requests), 20, "the request")
            _wait(lambda: _ledger_rows(home) >= 1, 20, "the ledger row")
            time.sleep(1.0)  # the answer drawn
            _grab(shot)
            _xdotool("key", "ctrl+4")  # the Recipes page: its recipes load and the first is planned
            time.sleep(3.0)
            _grab(args.out / "real-window-recipes.png")
            _xdotool("key", "alt+b")  # the Budget picker, by its mnemonic
            _xdotool("key", "Down")  # "recipe's own" -> "low": planned again at once
            time.sleep(2.0)
            _grab(args.out / "real-window-recipes-budget.png")
            _xdotool("key", "ctrl+2")  # the Images page, then its Gallery tab
            time.sleep(1.5)
            _xdotool("key", "ctrl+Tab")
            time.sleep(2.0)  # the first page read and the thumbnails decoded
            _xdotool("key", "Tab", "Tab", "Tab", "Tab", "Right")  # into the grid: an image chosen
            time.sleep(1.5)
            _grab(args.out / "real-window-gallery.png")
        except (RuntimeError, TimeoutError, IndexError) as exc:
            failure = str(exc) or type(exc).__name__
        finally:
            if failure is not None:
                _grab(shot)  # what the window showed when it failed
            if app.poll() is None:
                _xdotool("key", "ctrl+q", check=False)
            try:
                code = app.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.kill()
                code = app.wait()
                failure = failure or "the app did not quit on Ctrl+Q"
            _out, err = app.communicate()
        if "Traceback" in err:
            failure = failure or "a traceback on standard error"
        if code != 0:
            failure = failure or f"the app exited with status {code}"
        if failure:
            print(f"check_real_window: FAILED: {failure}\n--- app stderr ---\n{err}", file=sys.stderr)
            return 1
        print(f"check_real_window: ok: one request answered and recorded; screenshot {shot}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
