"""The context economy (issue 17): per-task history limits in the policy, the running summary
of older turns (created, reused, refreshed at most once per 8 questions), the opt-out, and the
accounting (RunResult, the ledger's m007 columns, the month's saving).

Runs go through the real dispatcher to loopback Anthropic and OpenAI servers, with a real
conversation store and ledger (SQLite files under the test's folder)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core import ledger
from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.conversations import schema as conversation_schema
from sparklio_desktop.core.dispatch import RunRequest
from sparklio_desktop.core.errors import ConfigError, ConfigErrors
from sparklio_desktop.core.history import SUMMARY_REFRESH_TURNS, HistorySummary, fit_context, history_tokens
from sparklio_desktop.core.history_summary import SUMMARY_SYSTEM_PROMPT, refresh_summary
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.migrations import LEDGER_MIGRATIONS, MigrationSet
from sparklio_desktop.core.ledger.months import current_month
from sparklio_desktop.core.ledger.plain_migrations import PlainMigrations, open_migrated
from sparklio_desktop.core.ledger.reader import LedgerReader
from sparklio_desktop.core.ledger.sqlite_file import DatabaseFileError, file_error
from sparklio_desktop.core.policy.catalog import load_catalog
from sparklio_desktop.core.policy.routing_policy import load_policy
from sparklio_desktop.core.providers.base import Message
from sparklio_desktop.core.routing.router import RouteRequest
from sparklio_desktop.core.settings.paths import shipped_catalog_path, shipped_policy_path
from tests.conversation_targets import conversations_target  # noqa: F401 - a fixture: both backends
from tests.core.test_dispatch import SONNET, Harness, fast_policy, harness, servers  # noqa: F401 - fixtures

FIXTURE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "creator_conversation_40.json"


def _fixture() -> tuple[list[Message], list[tuple[str, ...]]]:
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return [Message(t["role"], t["content"]) for t in doc["turns"]], [
        tuple(t.get("attachments", ())) for t in doc["turns"]
    ]


# -- the policy ---------------------------------------------------------------------------------


def test_the_shipped_policy_sets_a_history_limit_per_text_task():
    policy = load_policy(shipped_policy_path(), load_catalog(shipped_catalog_path()))
    limits = {name: task.context.max_history_tokens for name, task in policy.tasks.items()}
    assert limits["chat"] == 1500 and limits["translation"] == 1000
    assert limits["copywriting_standard"] == 2500 and limits["strategy_planning"] == 8000
    assert limits["image_generation_bulk"] == 6000  # no key: the first wave's limit
    assert len({limits[t] for t, spec in policy.tasks.items() if spec.system_prompt}) >= 4


def _policy_with(tmp_path: Path, old: str, new: str) -> Path:
    text = shipped_policy_path().read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "policy.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("new", "field", "says"),
    [
        ("context: {max_history_tokens: -5}", "tasks.chat.context.max_history_tokens", "greater than or equal"),
        ("context: {max_history_tokens: lots}", "tasks.chat.context.max_history_tokens", "integer"),
        ("context: {max_tokens: 500}", "tasks.chat.context.max_tokens", "unknown key"),
    ],
)
def test_a_bad_history_limit_is_a_located_error(tmp_path, new, field, says):
    path = _policy_with(tmp_path, "context: {max_history_tokens: 1500}", new)
    text = path.read_text(encoding="utf-8")
    line = text[: text.index(new)].count("\n") + 1
    with pytest.raises((ConfigError, ConfigErrors)) as caught:
        load_policy(path, load_catalog(shipped_catalog_path()))
    message = str(caught.value)
    assert f"{path}:{line}" in message and field in message and says in message


def test_a_history_limit_on_an_image_task_is_a_located_error(tmp_path):
    path = _policy_with(
        tmp_path, "    primary: family/dall-e\n    fallbacks: []\n", "    primary: family/dall-e\n    fallbacks: []\n"
        "    context: {max_history_tokens: 100}\n"
    )  # fmt: skip
    with pytest.raises((ConfigError, ConfigErrors)) as caught:
        load_policy(path, load_catalog(shipped_catalog_path()))
    message = str(caught.value)
    assert "tasks.image_generation_quality.context" in message and "only text and vision tasks" in message
    assert f"{path}:" in message


# -- the window ---------------------------------------------------------------------------------


def test_each_task_trims_to_its_own_limit():
    turns, _ = _fixture()
    for limit in (1000, 2500, 8000):
        window = fit_context(turns, limit)  # no summary yet, many questions pushed out: the fitted window
        assert window.refresh_due and window.turns[0].role == "user"
        assert window.sent_tokens <= limit + 400  # the newest exchange goes whole
        assert window.full_tokens == history_tokens(turns) and window.saved_tokens == window.full_tokens - (
            window.sent_tokens
        )
    assert len(fit_context(turns, 1000).turns) < len(fit_context(turns, 8000).turns)


def test_pushed_out_turns_are_sent_whole_until_eight_questions_wait_then_summarised():
    turns, attachments = _fixture()
    summary: HistorySummary | None = None
    calls = 0
    for q in range(len(turns) // 2):
        history = turns[: 2 * q]
        window = fit_context(history, 2500, summary, attachments=attachments[: 2 * q])
        covered = summary.turns if summary else 0
        if window.refresh_due:
            calls += 1
            summary = HistorySummary(f"summary of {window.start} turns", window.start)
            window = fit_context(history, 2500, summary, attachments=attachments[: 2 * q])
        assert not window.refresh_due
        # Nothing is lost: every turn is either sent or in the summary.
        assert window.start <= (summary.turns if summary else 0) or window.start == 0
        if window.context_message:
            assert window.context_message.startswith("Summary of the earlier conversation:")
        assert window.start <= max(covered, window.start)
    assert 1 <= calls <= len(turns) // 2 // SUMMARY_REFRESH_TURNS


def test_older_images_are_named_not_resent():
    turns, attachments = _fixture()
    summary = HistorySummary("The creator launches candles.", 40)
    window = fit_context(turns, 2500, summary, attachments=attachments)
    assert window.context_message is not None
    assert "Images shared earlier (not resent): amber_jar_windowsill.jpg, moodboard_linen.png" in (
        window.context_message
    )
    assert all(not m.images for m in window.turns)


def test_opting_out_sends_everything_and_saves_nothing():
    turns, _ = _fixture()
    window = fit_context(turns, 1000, HistorySummary("x", 20), send_everything=True)
    assert list(window.turns) == turns and window.context_message is None and window.saved_tokens == 0
    run = RunRequest(route=RouteRequest(task="chat", prompt="Go on."), history=tuple(turns), send_everything=True)
    assert run.history_sent == tuple(turns) and run.history_tokens_saved == 0
    assert run.route.history_tokens == history_tokens(turns)


# -- the summary, the run and the ledger --------------------------------------------------------


def _seed(store: ConversationStore, turns: list[Message], attachments: list[tuple[str, ...]]) -> str:
    conversation = store.create("copywriting_standard")
    for turn, names in zip(turns, attachments, strict=True):
        store.add_turn(conversation.id, turn.role, turn.content, attachments=names)
    return conversation.id


def _run(h: Harness, request: RunRequest):
    async def go():
        try:
            return await h.dispatcher.run(request)
        finally:
            await h.dispatcher.aclose()

    return asyncio.run(go())


def _refresh(h: Harness, context, limit: int):
    async def go():
        try:
            return await refresh_summary(h.dispatcher, context, limit)
        finally:
            await h.dispatcher.aclose()

    return asyncio.run(go())


# fmt: off
def test_summary_is_created_stored_reused_and_refreshed_after_eight_questions(
    harness, servers, tmp_path, conversations_target  # noqa: F811 - fixtures
):
    # fmt: on
    anthropic, openai = servers
    turns, attachments = _fixture()
    limit = harness.workspace.policy.task("copywriting_standard").context.max_history_tokens
    with ConversationStore.open(conversations_target) as store:
        cid = _seed(store, turns[:48], attachments[:48])  # 24 questions
        context = store.context(cid)
        assert context.summary is None and len(context.history) == 48
        before = len(anthropic.requests) + len(openai.requests)
        anthropic.reply_text = openai.reply_text = "The creator launches Lumen and Wick candles this autumn."
        refresh = _refresh(harness, context, limit)
        assert refresh is not None and refresh.summary.text.startswith("The creator launches")
        assert len(anthropic.requests) + len(openai.requests) == before + 1  # one summarising call
        summarising = [r.body for r in [*anthropic.requests, *openai.requests] if r.method == "POST"][-1]
        assert SUMMARY_SYSTEM_PROMPT in json.dumps(summarising)
        assert "amber_jar_windowsill.jpg" in json.dumps(summarising)  # pushed-out images by name
        store.save_summary(cid, refresh.summary, refresh.through_turn, model=refresh.model)

        reused = store.context(cid)
        assert reused.summary == refresh.summary
        assert _refresh(harness, reused, limit) is None  # not due: reused as it is
        calls = len(anthropic.requests) + len(openai.requests)

        # The follow-up: the summary goes before the kept turns, with the system prompt.
        anthropic.reply_text = "Here are three captions."
        request = RunRequest(
            route=RouteRequest(task="copywriting_standard", prompt="Three captions, please.", explore=False),
            history=reused.history,
            history_summary=reused.summary,
            history_attachments=reused.attachments,
        )
        result = _run(harness, request)
        assert result.ok and result.model == SONNET
        sent = anthropic.requests[-1].body
        system = json.dumps(sent["system"])
        assert "Summary of the earlier conversation:\\nThe creator launches" in system
        assert "Images shared earlier (not resent): amber_jar_windowsill.jpg" in system
        assert len(sent["messages"]) < 49
        assert result.history_tokens_sent > 0 and result.history_tokens_saved > 0
        assert result.history_tokens_sent + result.history_tokens_saved == history_tokens(reused.history)
        assert result.to_dict()["history_tokens_saved"] == result.history_tokens_saved
        decision = harness.ledger.decision(result.request_id)
        assert decision is not None
        assert (decision.history_tokens_sent, decision.history_tokens_saved) == (
            result.history_tokens_sent,
            result.history_tokens_saved,
        )

        # Seven more questions: still not due; the eighth makes it due again.
        for index, (turn, names) in enumerate(zip(turns[48:78], attachments[48:78], strict=True)):
            store.add_turn(cid, turn.role, turn.content, attachments=names)
            if index % 2 == 1:
                again = _refresh(harness, store.context(cid), limit)
                if again is not None:
                    break
        assert again is not None and again.summary.turns > refresh.summary.turns
        pushed = sum(1 for m in turns[refresh.summary.turns : again.summary.turns] if m.role == "user")
        assert pushed >= SUMMARY_REFRESH_TURNS
        assert len(anthropic.requests) + len(openai.requests) == calls + 2  # the follow-up and one summary

    # The month's numbers: the saving at the answering model's input rate, the summaries' cost.
    history = harness.ledger.spend_summary(current_month()).history
    sonnet_rate = harness.workspace.catalog[SONNET].price.input_per_mtok
    assert history.tokens_saved == result.history_tokens_saved
    assert history.saved_usd == sonnet_rate * result.history_tokens_saved / Decimal(1_000_000) > 0
    assert history.summary_calls == 2 and history.summary_cost_usd > 0
    assert history.net_saved_usd == history.saved_usd - history.summary_cost_usd
    summary_rows = [
        a for request_id in (refresh.request_id, again.request_id) for a in harness.ledger.attempts(request_id)
    ]
    assert {a.run_id for a in summary_rows} == {f"summary-{cid}"}
    assert sum(a.cost_usd for a in summary_rows) == history.summary_cost_usd
    reader = LedgerReader.open(tmp_path / "ledger.sqlite3")
    assert reader is not None
    with reader:
        assert reader.spend_summary(current_month(), local_providers=()).history == history


def test_an_opted_out_conversation_is_never_summarised(harness, servers, conversations_target):  # noqa: F811
    turns, attachments = _fixture()
    with ConversationStore.open(conversations_target) as store:
        cid = _seed(store, turns[:48], attachments[:48])
        store.set_send_everything(cid, True)
        context = store.context(cid)
        assert context.send_everything
        assert _refresh(harness, context, 2500) is None
        store.set_send_everything(cid, False)
        assert not store.context(cid).send_everything


def test_an_edit_above_the_summary_makes_it_stale(conversations_target):  # noqa: F811
    turns, attachments = _fixture()
    with ConversationStore.open(conversations_target) as store:
        cid = _seed(store, turns[:20], attachments[:20])
        context = store.context(cid)
        store.save_summary(cid, HistorySummary("so far", 10), context.turn_ids[9])
        assert store.context(cid).summary == HistorySummary("so far", 10)
        store.add_turn(cid, "user", "An edited third question", parent_id=context.turn_ids[3])
        assert store.context(cid).summary is None


# -- migrations ---------------------------------------------------------------------------------


def test_m007_upgrades_an_m006_ledger_keeping_its_decisions(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    path = tmp_path / "ledger.sqlite3"
    old = MigrationSet("ledger")
    for name in LEDGER_MIGRATIONS.names[: LEDGER_MIGRATIONS.names.index("m007_history_tokens")]:
        old.register(getattr(ledger.migrations, name))
    engine = create_engine(f"sqlite:///{path}")
    old.apply(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO decisions (request_id, ts_utc, user, task_type, prompt_preview, prompt_sha256, trace_json,"
            " exploration) VALUES ('r0', '2026-01-02T00:00:00.000000Z', 'ada', 'chat', 'hi', 'x', '{}', 0)"
        )
    engine.dispose()
    with LedgerStore.open(path) as store:
        kept = store.decision("r0")
        assert kept is not None and (kept.history_tokens_sent, kept.history_tokens_saved) == (0, 0)
        store.record_decision(
            "r1", prompt="p", task_type="chat", trace={}, history_tokens_sent=7, history_tokens_saved=9
        )
        got = store.decision("r1")
        assert got is not None and (got.history_tokens_sent, got.history_tokens_saved) == (7, 9)
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE decisions SET history_tokens_saved = -1 WHERE request_id = 'r1'")


def test_the_conversations_file_gains_the_summary_columns_keeping_its_turns(tmp_path: Path) -> None:
    path = tmp_path / "conversations.sqlite"
    old = PlainMigrations()
    old.register(conversation_schema.m001_conversations)
    conn = open_migrated(
        path,
        "conversations file",
        old,
        "2026-01-01T00:00:00Z",
        classify=lambda exc: file_error(path, "conversations file", exc),
        make=lambda problem, detail: DatabaseFileError(path, "conversations file", problem, detail),
    )
    conn.execute(
        "INSERT INTO conversations (id, task, created_at, updated_at) VALUES"
        " ('abcdef123456', 'chat', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z')"
    )
    conn.commit()
    conn.close()
    with ConversationStore(path) as store:
        store.add_turn("abcdef123456", "user", "Hello")
        context = store.context("abcdef")
        assert context.summary is None and not context.send_everything and len(context.history) == 1
        store.set_send_everything("abcdef", True)
        assert store.context("abcdef").send_everything
