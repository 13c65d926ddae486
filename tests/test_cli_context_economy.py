"""``sparklio run --conversation`` with a long conversation, through the real entry point and a
loopback Anthropic server: the running summary is written once (its own ledger row), the
follow-up sends the summary and the kept turns, ``--json`` has ``history_tokens_sent`` and
``history_tokens_saved``, ``--send-everything on`` sends the whole thread, and ``spend
--json`` has the month's saving next to the cache's."""

from __future__ import annotations

import json
from decimal import Decimal

from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.history import history_tokens
from tests.core.test_context_economy import _fixture, _seed
from tests.test_cli_conversations import _run, anthropic, sparklio  # noqa: F401 - fixture


def _posts(server) -> list[dict]:
    return [r.body for r in server.requests if r.method == "POST" and "messages" in r.path]


def test_a_long_conversation_is_summarised_once_and_trimmed(anthropic, sparklio_home):  # noqa: F811
    turns, attachments = _fixture()
    with ConversationStore(sparklio_home / "conversations.sqlite") as store:
        cid = _seed(store, turns[:48], attachments[:48])
    anthropic.usage = None  # counts from the words sent
    anthropic.replies = ["The creator launches Lumen and Wick candles this autumn.", "Three captions."]
    done = _run(anthropic, "Three captions for the cedar candle.", "--conversation", cid, "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["output"] == "Three captions."
    full = history_tokens(turns[:48])
    assert payload["history_tokens_sent"] > 0 and payload["history_tokens_saved"] > full // 2
    assert payload["history_tokens_sent"] + payload["history_tokens_saved"] == full
    assert payload["history_summary"]["request_id"] and Decimal(payload["history_summary"]["cost_usd"]) > 0
    summarising, answering = _posts(anthropic)
    assert "Update the summary of this conversation" in json.dumps(summarising["system"])
    assert "Summary of the earlier conversation" in json.dumps(answering["system"])
    assert len(answering["messages"]) < 49

    # The next follow-up reuses the stored summary: no second summarising call.
    anthropic.replies = ["Shorter ones."]
    again = _run(anthropic, "Shorter.", "--conversation", cid, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["history_summary"] is None and len(_posts(anthropic)) == 3

    history = json.loads(sparklio("history", "--run", f"summary-{cid}", "--json").stdout)
    assert [h["request_id"] for h in history] == [payload["history_summary"]["request_id"]]
    shown = json.loads(sparklio("conversations", "show", cid, "--json").stdout)["history"]
    assert shown["send_everything"] is False
    assert shown["summary"]["text"] == "The creator launches Lumen and Wick candles this autumn."
    assert 0 < shown["summary"]["turns"] < 48
    assert (
        f"history: the first {shown['summary']['turns']} turns are sent as their summary"
        in sparklio("conversations", "show", cid).stdout
    )
    spend = json.loads(sparklio("spend", "--json").stdout)
    saved = spend["history"]
    assert saved["tokens_saved"] >= payload["history_tokens_saved"] and Decimal(saved["saved_usd"]) > 0
    assert saved["summary_calls"] == 1 and Decimal(saved["summary_cost_usd"]) > 0
    assert Decimal(saved["net_saved_usd"]) == Decimal(saved["saved_usd"]) - Decimal(saved["summary_cost_usd"])
    assert "saved_usd" in spend  # the cache's saving beside it
    text = sparklio("spend")
    assert "history trimmed:" in text.stdout


def test_send_everything_is_stored_with_the_conversation(anthropic, sparklio_home):  # noqa: F811
    turns, attachments = _fixture()
    with ConversationStore(sparklio_home / "conversations.sqlite") as store:
        cid = _seed(store, turns[:48], attachments[:48])
    anthropic.usage = None
    anthropic.replies = ["All of it."]
    done = _run(anthropic, "Use everything.", "--conversation", cid, "--send-everything", "on", "--json")
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["history_tokens_saved"] == 0 and payload["history_tokens_sent"] == history_tokens(turns[:48])
    (sent,) = _posts(anthropic)
    assert len(sent["messages"]) == 49 and "Summary of the earlier" not in json.dumps(sent.get("system", ""))
    with ConversationStore(sparklio_home / "conversations.sqlite") as store:
        assert store.context(cid).send_everything
    shown = json.loads(sparklio("conversations", "show", cid, "--json").stdout)["history"]
    assert shown == {"send_everything": True, "summary": None}
    assert "history: every turn is sent" in sparklio("conversations", "show", cid).stdout
    bad = _run(anthropic, "x", "--send-everything", "on")
    assert bad.returncode == 2 and "--send-everything needs --conversation" in bad.stderr
