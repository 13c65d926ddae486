"""An answer as the thread shows it: Markdown text, and code blocks highlighted by Pygments,
each with its own Copy button.

Why blocks of labels and not one QTextBrowser per answer: a browser is a scroll area with
its own document, viewport and scroll bars, about ten times the cost of a label; a thread
shows dozens of answers at once. Text between code fences is a word-wrapped label in
Qt's Markdown format (GitHub dialect); a fenced block is a monospace label with the HTML
that Pygments' formatter writes (inline styles, no classes), beside a Copy button, so a
creator copies one snippet without selecting it by hand.

Pygments is imported on the first code block (and warmed in a worker at launch, see
app.py), never on the launch path; lexers are looked up by the fence's language name
only (guessing would read every lexer).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

_FENCE = re.compile(r"^```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:^```[ \t]*$|\Z)", re.MULTILINE | re.DOTALL)


def split_markdown(text: str) -> list[tuple[str, str, str]]:
    """``(kind, language, body)`` blocks in order: kind "text" (Markdown) or "code" (a fence's
    contents; an unclosed fence, as while an answer streams, runs to the end)."""
    blocks: list[tuple[str, str, str]] = []
    at = 0
    for match in _FENCE.finditer(text):
        before = text[at : match.start()]
        if before.strip():
            blocks.append(("text", "", before))
        blocks.append(("code", match.group(1), match.group(2).rstrip("\n")))
        at = match.end()
    rest = text[at:]
    if rest.strip():
        blocks.append(("text", "", rest))
    return blocks


@lru_cache(maxsize=512)
def highlight(code: str, language: str, dark: bool = False) -> str:
    """The code as HTML with inline colours (Pygments), or escaped plain text for an unknown language."""
    try:
        from pygments import highlight as render
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name
        from pygments.util import ClassNotFound
    except ImportError:  # pragma: no cover - pygments is a dependency; plain text is the fallback
        return html.escape(code)
    try:
        lexer = get_lexer_by_name(language or "text")
    except ClassNotFound:
        return html.escape(code)
    formatter = HtmlFormatter(nowrap=True, noclasses=True, style="monokai" if dark else "default")
    return str(render(code, lexer, formatter)).rstrip("\n")


def _is_dark() -> bool:
    app = QGuiApplication.instance()
    return bool(app) and QGuiApplication.palette().window().color().lightness() < 128


class CodeBlock(QFrame):
    """One highlighted code block and its Copy button."""

    def __init__(self, code: str, language: str, on_copy: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.code = code
        self.language = language
        self.setObjectName("codeBlock")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("#codeBlock { background: palette(alternate-base); border-radius: 4px; }")
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setText(f'<pre style="margin:0">{highlight(code, language, _is_dark())}</pre>')
        self.copy = QToolButton()
        self.copy.setText("Copy")
        self.copy.setAccessibleName(f"Copy {language or 'code'} block")
        self.copy.setToolTip("Copy this code block")
        self.copy.setAutoRaise(True)
        self._on_copy = on_copy
        self.copy.clicked.connect(self._copy)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        language_label = QLabel(language or "code")
        language_label.setStyleSheet("color: palette(mid)")
        head.addWidget(language_label)
        head.addStretch(1)
        head.addWidget(self.copy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 8)
        layout.setSpacing(2)
        layout.addLayout(head)
        layout.addWidget(self.label)

    def _copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code)
        if self._on_copy is not None:
            self._on_copy()


class RichAnswer(QWidget):
    """Markdown text and code blocks, top to bottom; ``on_copy`` hears each block's Copy."""

    def __init__(self, text: str, on_copy: Callable[[], None] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = text
        self.code_blocks: list[CodeBlock] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        for kind, language, body in split_markdown(text):
            if kind == "code":
                block = CodeBlock(body, language, on_copy)
                self.code_blocks.append(block)
                layout.addWidget(block)
            else:
                label = QLabel()
                label.setTextFormat(Qt.TextFormat.MarkdownText)
                label.setWordWrap(True)
                label.setOpenExternalLinks(True)
                label.setTextInteractionFlags(
                    Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.LinksAccessibleByMouse
                )
                label.setText(body)
                layout.addWidget(label)
