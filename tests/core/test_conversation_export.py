"""Exporting a stored conversation: Markdown keeps fences, JSON keeps its schema and exact
money, HTML is a standalone page that escapes what the turns say."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

import pytest

from sparklio_desktop.core.conversations import EXPORT_FORMATS, ConversationStore, export_conversation
from sparklio_desktop.core.errors import SparklioError
from tests.conversation_targets import conversations_target  # noqa: F401 - a fixture: both backends

FENCED = "Here:\n\n```python\nprint('<b>hi</b>')\n```\n\nDone."


@pytest.fixture
def stored(conversations_target):  # noqa: F811
    with ConversationStore.open(conversations_target) as store:
        conv = store.create("code", options={"quality": "high"})
        store.add_turn(conv.id, "user", "Show me <script>alert(1)</script> code", attachments=["/tmp/x & y.png"])
        store.add_turn(
            conv.id, "assistant", FENCED, model="gpt-4o-mini", request_id="req-9", cost_usd=Decimal("0.0123")
        )
        first = store.thread(conv.id)
        store.add_turn(conv.id, "assistant", "[click](javascript:alert(1))", parent_id=first[0].id, model="other")
        newest = store.thread(conv.id)
        first = store.select_version(first[1].id)  # back to the first answer: "version 1 of 2"
        yield store.get(conv.id), newest, first


def test_markdown_has_bylines_costs_and_keeps_fences(stored):
    conv, _, first = stored
    text = export_conversation(conv, first, "md", model_names={"gpt-4o-mini": "GPT-4o mini"})
    assert text.startswith("# Show me <script>alert(1)</script> code\n")
    assert "**You**" in text
    assert "**GPT-4o mini** · $0.0123 · version 1 of 2" in text
    assert "```python\nprint('<b>hi</b>')\n```" in text
    assert "Attachments: `/tmp/x & y.png`" in text


def test_json_schema_is_stable_and_money_is_text(stored):
    conv, _, first = stored
    data = json.loads(export_conversation(conv, first, "json"))
    assert {"schema", "id", "title", "task", "created_at", "turns"} <= set(data)
    assert data["schema"] == "sparklio.conversation/1" and data["id"] == conv.id and data["task"] == "code"
    user, answer = data["turns"]
    assert {"role", "content", "model", "request_id", "cost_usd", "created_at", "attachments"} <= set(answer)
    assert answer["cost_usd"] == "0.0123" and isinstance(answer["cost_usd"], str)
    assert (answer["model"], answer["request_id"], answer["content"]) == ("gpt-4o-mini", "req-9", FENCED)
    assert user["attachments"] == ["/tmp/x & y.png"] and user["cost_usd"] is None


def test_html_is_standalone_escaped_and_rendered(stored):
    conv, thread, first = stored
    page = export_conversation(conv, first, "html", model_names={"gpt-4o-mini": "GPT-4o mini"})
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    assert '<code class="language-python">' in page  # Markdown rendered by markdown-it-py
    assert "GPT-4o mini" in page and "$0.0123" in page
    newest = export_conversation(conv, thread, "html")
    assert "[click](javascript:alert(1))" in newest and "href=" not in newest  # shown as text, never a link


def test_html_without_markdown_it_falls_back_to_escaped_pre(stored, monkeypatch):
    conv, _, first = stored
    monkeypatch.setitem(sys.modules, "markdown_it", None)  # as if it were not installed
    page = export_conversation(conv, first, "html")
    assert "<pre>Here:\n\n```python\nprint(&#x27;&lt;b&gt;hi&lt;/b&gt;&#x27;)" in page
    assert "<script>" not in page


def test_unknown_format_is_refused(stored):
    conv, thread, _ = stored
    assert EXPORT_FORMATS == ("md", "json", "html")
    with pytest.raises(SparklioError, match="unknown export format 'pdf'; valid: md, json, html"):
        export_conversation(conv, thread, "pdf")
