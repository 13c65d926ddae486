"""A conversation's current thread as Markdown, JSON or a standalone HTML page.

Why these three: Markdown pastes into notes and issues (turn text is Markdown already, so
it is written as is and its code fences survive); JSON is for programs, with a stable
schema (``schema`` names its version; money is exact decimal text, never a float); HTML
opens in any browser with no file beside it.

The HTML page renders each turn's Markdown with markdown-it-py when it is installed (it
comes with ``rich``; CommonMark with raw HTML *off*, so a turn's ``<script>`` is shown as
text, and markdown-it's own link check refuses ``javascript:`` links); without it, each
turn is escaped text in a ``<pre>`` block. Either way a Content-Security-Policy in the page
forbids scripts and remote loads, so an exported answer cannot run anything or call home.

Only the thread shown is exported (earlier versions are noted as "version i of n").
Model names come from ``model_names`` (the workspace catalog's display names, passed by
the caller so this module reads no files); an unknown id is printed as is.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sparklio_desktop.core.conversations.records import Conversation, Turn
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.money import format_usd, json_usd

__all__ = ["EXPORT_FORMATS", "JSON_SCHEMA", "export_conversation"]

EXPORT_FORMATS = ("md", "json", "html")
JSON_SCHEMA = "sparklio.conversation/1"


def _time(turn_or_conv: Turn | Conversation) -> str:
    return turn_or_conv.created_at.strftime("%Y-%m-%d %H:%M UTC")


def _speaker(turn: Turn, model_names: Mapping[str, str]) -> str:
    if turn.role == "user":
        return "You"
    if turn.model:
        return model_names.get(turn.model, turn.model)
    return "Assistant"


def _byline(turn: Turn, model_names: Mapping[str, str]) -> str:
    """``You`` or ``Model name · $cost``, with the version when there are several."""
    parts = [_speaker(turn, model_names)]
    if turn.role == "assistant" and turn.cost_usd is not None:
        parts.append(format_usd(turn.cost_usd))
    if turn.versions > 1:
        parts.append(f"version {turn.version} of {turn.versions}")
    return " · ".join(parts)


def _title(conversation: Conversation) -> str:
    return conversation.title or f"Conversation {conversation.id}"


def to_markdown(conversation: Conversation, turns: Sequence[Turn], model_names: Mapping[str, str]) -> str:
    lines = [
        f"# {_title(conversation)}",
        "",
        f"*Task {conversation.task} · started {_time(conversation)} · conversation {conversation.id}*",
    ]
    for turn in turns:
        byline = _byline(turn, model_names)
        # Bold name, then the rest outside the bold: "**GPT-4o** · $0.01".
        name, _, rest = byline.partition(" · ")
        lines += ["", "---", "", f"**{name}**" + (f" · {rest}" if rest else ""), ""]
        lines.append(turn.content.rstrip("\n"))
        if turn.attachments:
            lines += ["", "Attachments: " + ", ".join(f"`{a}`" for a in turn.attachments)]
        error = turn.meta.get("error") if isinstance(turn.meta, Mapping) else None
        if error:
            lines += ["", f"> Error: {error}"]
    return "\n".join(lines) + "\n"


def to_json_value(conversation: Conversation, turns: Sequence[Turn]) -> dict[str, Any]:
    return {
        "schema": JSON_SCHEMA,
        "id": conversation.id,
        "title": conversation.title,
        "task": conversation.task,
        "options": dict(conversation.options),
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "turns": [
            {
                "id": turn.id,
                "parent_id": turn.parent_id,
                "role": turn.role,
                "content": turn.content,
                "model": turn.model,
                "request_id": turn.request_id,
                "task": turn.task,
                "cost_usd": json_usd(turn.cost_usd),
                "created_at": turn.created_at.isoformat(),
                "attachments": list(turn.attachments),
                "meta": dict(turn.meta),
                "version": turn.version,
                "versions": turn.versions,
            }
            for turn in turns
        ],
    }


def to_json(conversation: Conversation, turns: Sequence[Turn]) -> str:
    return json.dumps(to_json_value(conversation, turns), indent=2, ensure_ascii=False, default=str) + "\n"


def _markdown_renderer() -> Callable[[str], str] | None:
    """markdown-it-py's CommonMark renderer with raw HTML off, or None when not installed."""
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    md = MarkdownIt("commonmark", {"html": False})
    return md.render


_STYLE = """
body { font: 15px/1.55 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
header p { color: #666; }
section.turn { border-top: 1px solid #ddd; padding: .6rem 0; }
section.user .who { color: #0b5cad; }
.who { font-weight: 600; } .meta { color: #666; font-weight: 400; }
pre { background: #f4f4f6; padding: .7rem; overflow-x: auto; white-space: pre-wrap; }
code { font-family: ui-monospace, monospace; font-size: 90%; }
.error { color: #a00; }
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def to_html(conversation: Conversation, turns: Sequence[Turn], model_names: Mapping[str, str]) -> str:
    render = _markdown_renderer()
    esc = html.escape
    title = esc(_title(conversation))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{title}</h1><p>Task {esc(conversation.task)} · started {esc(_time(conversation))}"
        f" · conversation {esc(conversation.id)}</p></header>",
    ]
    for turn in turns:
        name, _, rest = _byline(turn, model_names).partition(" · ")
        meta = f' <span class="meta">· {esc(rest)}</span>' if rest else ""
        body = render(turn.content) if render is not None else f"<pre>{esc(turn.content)}</pre>"
        out.append(f'<section class="turn {esc(turn.role)}">')
        out.append(f'<div class="who">{esc(name)}{meta}</div>')
        out.append(f'<div class="content">{body}</div>')
        if turn.attachments:
            items = "".join(f"<li><code>{esc(a)}</code></li>" for a in turn.attachments)
            out.append(f'<ul class="attachments">{items}</ul>')
        error = turn.meta.get("error") if isinstance(turn.meta, Mapping) else None
        if error:
            out.append(f'<p class="error">Error: {esc(str(error))}</p>')
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def export_conversation(
    conversation: Conversation,
    turns: Sequence[Turn],
    fmt: str,
    *,
    model_names: Mapping[str, str] | None = None,
) -> str:
    """``turns`` (usually ``store.thread(id)``) as ``fmt``: one of :data:`EXPORT_FORMATS`."""
    names = model_names or {}
    if fmt == "md":
        return to_markdown(conversation, turns, names)
    if fmt == "json":
        return to_json(conversation, turns)
    if fmt == "html":
        return to_html(conversation, turns, names)
    raise SparklioError(f"unknown export format '{fmt}'; valid: {', '.join(EXPORT_FORMATS)}")
