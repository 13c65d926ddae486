"""Copying a personal conversations file into another store (core/conversations/copy_in.py):
into a second file, and into a team database on a real PostgreSQL (``conversations_target``).

The copy keeps every conversation (a deleted one still deleted), the whole turn tree
(every version, the version shown), the running summary (still matching the thread),
the opt-out, feedback and request ids, under the target's member; a second copy adds
nothing; a dry run counts and writes nothing; the CLI does it in team mode as a creator
would after joining a team.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.conversations.copy_in import CopyResult, copy_conversations
from sparklio_desktop.core.history import HistorySummary
from tests.conversation_targets import conversations_target, raw_execute  # noqa: F401
from tests.postgres_server import PASSWORD

REPO = Path(__file__).resolve().parents[2]


def _personal_history(path: Path) -> dict[str, str]:
    """A creator's file: a conversation with an edited question (two versions, the first
    one shown again), a summary and feedback; a pinned one; a deleted one."""
    with ConversationStore.open(path) as store:
        latte = store.create("copywriting", title="Autumn latte captions", options={"tone": "warm"})
        first = store.add_turn(latte.id, "user", "Three captions for our autumn latte")
        answer = store.add_turn(
            latte.id, "assistant", "1. Cozy in a cup", model="gpt-4o-mini", request_id="req-latte-1",
            cost_usd=Decimal("0.000042"), meta={"route": "cheap"},
        )  # fmt: skip
        store.add_turn(latte.id, "user", "Shorter, please")
        store.add_turn(latte.id, "assistant", "Cozy. Cup.", model="gpt-4o-mini", request_id="req-latte-2")
        store.add_turn(latte.id, "user", "Three captions for our pumpkin latte", parent_id=None)  # an edit
        store.record_feedback(answer.id, "copy")
        store.save_summary(latte.id, HistorySummary("asked for captions, got three", 2), answer.id, model="m")
        store.select_version(first.id)  # back to the first version: its whole branch shows
        store.set_send_everything(latte.id, True)
        pinned = store.create("strategy", title="Q4 plan")
        store.add_turn(pinned.id, "user", "Plan our Q4 launches", attachments=["brief.pdf"])
        store.set_pinned(pinned.id, True)
        gone = store.create("chat", title="scratch")
        store.add_turn(gone.id, "user", "throwaway")
        store.delete(gone.id)
        return {"latte": latte.id, "pinned": pinned.id, "gone": gone.id}


def _view(store: ConversationStore, conversation_id: str) -> tuple[object, ...]:
    """What a person sees of a conversation, ids left out (the target's are its own)."""
    conversation = store.get(conversation_id)
    thread = store.thread(conversation_id)
    context = store.context(conversation_id)
    turns = [
        (t.role, t.content, t.model, t.request_id, t.cost_usd, t.attachments, t.version, t.versions, t.created_at)
        for t in thread
    ]
    return (
        conversation.title, conversation.task, conversation.pinned, conversation.created_at,
        conversation.updated_at, turns, context.summary, context.send_everything,
    )  # fmt: skip


def test_a_file_is_copied_whole_and_a_second_copy_adds_nothing(conversations_target, tmp_path) -> None:  # noqa: F811
    ids = _personal_history(tmp_path / "personal.sqlite")
    with (
        ConversationStore.open(tmp_path / "personal.sqlite") as source,
        ConversationStore.open(conversations_target, member="ada") as target,
    ):
        kept = target.create("chat", title="already here")
        assert copy_conversations(source, target, dry_run=True) == CopyResult(3, 0, 7, 1)
        assert [s.id for s in target.list()] == [kept.id]  # the dry run wrote nothing

        assert copy_conversations(source, target) == CopyResult(3, 0, 7, 1)
        for name in ("latte", "pinned"):
            assert _view(target, ids[name]) == _view(source, ids[name])
        assert [s.id for s in target.list()][:1] == [ids["pinned"]]  # pinned first, as before
        assert ids["gone"] not in {s.id for s in target.list()}  # still in the trash
        target.restore(ids["gone"])
        assert [t.content for t in target.thread(ids["gone"])] == ["throwaway"]
        first = target.thread(ids["latte"])[0]
        assert [t.content for t in target.siblings(first.id)] == [
            "Three captions for our autumn latte", "Three captions for our pumpkin latte",
        ]  # fmt: skip
        assert target.feedback(request_id="req-latte-1") == {"copy": 1, "regenerate": 0, "edit": 0}
        assert [h.conversation.id for h in target.search("pumpkin")] == [ids["latte"]]

        assert copy_conversations(source, target) == CopyResult(0, 3, 0, 0)  # idempotent
        assert target.count() == 4
    if not isinstance(conversations_target, Path):  # the team's rows are the member's
        with ConversationStore.open(conversations_target, member="ada") as target:
            rows = raw_execute(target, "SELECT DISTINCT member FROM conversations")
        assert rows == [("ada",)]


def test_the_cli_copies_this_folders_file_into_the_team_database(pg_database_url, tmp_path) -> None:
    """As a creator joining a team: their data folder's conversations.sqlite, then
    ``SPARKLIO_DATABASE_URL`` set; ``import`` (a dry run first) brings it into the sidebar."""
    home = tmp_path / "home"
    home.mkdir()
    ids = _personal_history(home / "conversations.sqlite")
    env = dict(
        os.environ, SPARKLIO_HOME=str(home), SPARKLIO_DATABASE_URL=pg_database_url, SPARKLIO_MEMBER="ada",
        PYTHONPATH=str(REPO),
    )  # fmt: skip

    def sparklio(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sparklio_desktop", "conversations", *args],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip

    dry = sparklio("import", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.startswith("would copy 3 conversation(s) with 7 turn(s) from ")
    assert "****" in dry.stdout and PASSWORD not in dry.stdout  # the URL is shown without its password
    assert json.loads(sparklio("list", "--json").stdout) == []
    done = sparklio("import", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "source": str(home / "conversations.sqlite"), "conversations_added": 3, "conversations_skipped": 0,
        "turns_added": 7, "feedback_added": 1, "dry_run": False,
    }  # fmt: skip
    listed = [c["id"] for c in json.loads(sparklio("list", "--json").stdout)]
    assert listed == [ids["pinned"], ids["latte"]]
    again = sparklio("import")
    assert again.returncode == 0 and "copied 0 conversation(s)" in again.stdout and "3 already there" in again.stdout


def test_the_cli_refuses_a_missing_file_and_the_store_in_use(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, SPARKLIO_HOME=str(home), PYTHONPATH=str(REPO))
    env.pop("SPARKLIO_DATABASE_URL", None)
    missing = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "conversations", "import", "--from-sqlite", str(tmp_path / "no")],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    expected = f"sparklio conversations import: error: no conversations file at {tmp_path / 'no'}\n"
    assert missing.returncode == 2 and missing.stderr == expected
    _personal_history(home / "conversations.sqlite")
    itself = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "conversations", "import"],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert itself.returncode == 2 and itself.stderr.count("\n") == 1
    assert itself.stderr.startswith("sparklio conversations import: error: ")
    assert "is the store in use" in itself.stderr
