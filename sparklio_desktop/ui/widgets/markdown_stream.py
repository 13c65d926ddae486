"""A Markdown view that can take a token stream without freezing the window.

Why throttled: ``QTextBrowser.setMarkdown`` re-parses and re-lays-out the whole text,
which grows with the answer. Calling it per token (200 per second) would stall the
loop; instead tokens are appended to a list (O(1)) and the document is rendered at
most every ``interval_ms`` (100 ms), plus once at the end.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QTextBrowser, QWidget

RENDER_INTERVAL_MS = 100


class StreamingMarkdownView(QTextBrowser):
    """Read-only Markdown with :meth:`append_text` for streams and :meth:`set_text`."""

    def __init__(self, parent: QWidget | None = None, interval_ms: int = RENDER_INTERVAL_MS) -> None:
        super().__init__(parent)
        self.setOpenExternalLinks(True)
        self._parts: list[str] = []
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._render)
        self.renders = 0  # how many times the document was rebuilt (tests, benchmarks)

    def text(self) -> str:
        return "".join(self._parts)

    def clear_text(self) -> None:
        self._parts.clear()
        self._dirty = False
        self._timer.stop()
        self.clear()

    def append_text(self, chunk: str) -> None:
        """Queue a chunk; the next tick renders everything queued so far."""
        self._parts.append(chunk)
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def set_text(self, text: str) -> None:
        """Replace the whole text and render it now (the final answer)."""
        self._parts = [text]
        self._dirty = True
        self._render()

    def flush(self) -> None:
        """Render whatever is queued now (the stream ended)."""
        if self._dirty:
            self._render()

    def _render(self) -> None:
        if not self._dirty:
            self._timer.stop()
            return
        bar = self.verticalScrollBar()
        at_bottom = bar.value() >= bar.maximum() - 4
        self.setMarkdown("".join(self._parts))
        self.renders += 1
        self._dirty = False
        if at_bottom:
            bar.setValue(bar.maximum())
