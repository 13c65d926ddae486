"""``sparklio conversations`` and ``sparklio run --conversation`` through the real entry
point, on the data folder's file and on a team database (``conversations_home``): stored
turns listed, shown, searched, exported and deleted; a continued conversation sends its
earlier turns to a loopback Anthropic server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal

import pytest

from sparklio_desktop.core.conversations import ConversationStore
from tests.conversation_targets import conversations_home  # noqa: F401
from tests.fakes.anthropic_server import AnthropicServer
from tests.fakes.loopback import Fault
from tests.test_cli_bad_input import ESC, no_terminal_controls, one_line_error

KEY = "sk-ant-conv-test-0123456789abcdef"


def sparklio(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def seeded(conversations_home):  # noqa: F811
    with ConversationStore.open(conversations_home) as store:
        older = store.create("chat", title="Postgres replication notes")
        store.add_turn(older.id, "user", "How does WAL shipping work?")
        store.add_turn(
            older.id,
            "assistant",
            "It streams the log.\n\n```sql\nSELECT 1;\n```",
            model="anthropic/claude-3-5-sonnet",
            request_id="req-old",
            cost_usd=Decimal("0.0042"),
        )
        newer = store.create("code")
        store.add_turn(newer.id, "user", f"Fix this {ESC} please")
        return older.id, newer.id


def test_list_show_search_as_text_and_json(seeded):
    older, newer = seeded
    listed = sparklio("conversations", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["id"] for r in rows] == [newer, older]
    assert rows[1] == {**rows[1], "title": "Postgres replication notes", "task": "chat", "turns": 2, "pinned": False}
    text = sparklio("conversations")  # the bare command lists
    assert text.returncode == 0 and older in text.stdout and "Postgres replication notes" in text.stdout
    no_terminal_controls(text.stdout)

    shown = json.loads(sparklio("conversations", "show", older[:6], "--json").stdout)
    assert shown["id"] == older and [t["role"] for t in shown["turns"]] == ["user", "assistant"]
    answer = shown["turns"][1]
    assert (answer["cost_usd"], answer["request_id"], answer["model"]) == (
        "0.0042",
        "req-old",
        "anthropic/claude-3-5-sonnet",
    )
    shown_text = sparklio("conversations", "show", newer)
    assert shown_text.returncode == 0 and "Fix this" in shown_text.stdout
    no_terminal_controls(shown_text.stdout)

    hits = json.loads(sparklio("conversations", "search", "shipp", "--json").stdout)
    assert [h["conversation"]["id"] for h in hits] == [older] and "[shipping]" in hits[0]["snippet"]
    for hostile in ('"', "AND (", "*", "NEAR("):
        result = sparklio("conversations", "search", hostile)
        assert result.returncode == 0, result.stderr


def test_export_to_stdout_and_to_a_file_that_is_never_overwritten_silently(seeded, tmp_path):
    older, _ = seeded
    md = sparklio("conversations", "export", older, "--format", "md")
    assert md.returncode == 0, md.stderr
    assert "**You**" in md.stdout and "```sql\nSELECT 1;\n```" in md.stdout and "$0.0042" in md.stdout
    target = tmp_path / "out.html"
    first = sparklio("conversations", "export", older, "--format", "html", "--out", str(target))
    assert first.returncode == 0, first.stderr
    assert target.read_text().startswith("<!DOCTYPE html>")
    target.write_text("keep me")
    again = sparklio("conversations", "export", older, "--format", "json", "--out", str(target))
    assert "add --force to replace it" in one_line_error(again, 2)
    assert target.read_text() == "keep me"
    forced = sparklio("conversations", "export", older, "--format", "json", "--out", str(target), "--force")
    assert forced.returncode == 0 and json.loads(target.read_text())["id"] == older
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.html")]  # no temporary left


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("conversations", "show", "nope"), "no conversation nope (sparklio conversations list shows them)"),
        (("conversations", "export", "0000ffff", "--format", "md"), "no conversation 0000ffff"),
        (("conversations", "export", "x", "--format", "pdf"), "invalid choice: 'pdf'"),
        (("conversations", "export", "x"), "--format"),
        (("conversations", "rm", "deadbeef"), "no conversation deadbeef"),
        (("conversations", "list", "--limit", "0"), "--limit"),
        (("conversations", "search"), "QUERY"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(seeded, args, expected):
    line = one_line_error(sparklio(*args), 2)
    assert line.startswith("sparklio") and "error:" in line and expected in line


def test_export_out_in_a_missing_folder_is_refused(seeded, tmp_path):
    older, _ = seeded
    result = sparklio("conversations", "export", older, "--format", "md", "--out", str(tmp_path / "no" / "x.md"))
    assert "does not exist" in one_line_error(result, 2)


def test_rm_restore_and_purge(seeded):
    older, newer = seeded
    removed = sparklio("conversations", "rm", older)
    assert removed.returncode == 0 and f"sparklio conversations restore {older}" in removed.stdout
    assert [r["id"] for r in json.loads(sparklio("conversations", "--json").stdout)] == [newer]
    assert "is deleted" in one_line_error(sparklio("conversations", "show", older), 2)
    restored = json.loads(sparklio("conversations", "restore", older, "--json").stdout)
    assert restored == {"id": older, "deleted": False}
    purged = json.loads(sparklio("conversations", "rm", older, "--purge", "--json").stdout)
    assert purged == {"id": older, "deleted": True, "purged": True}
    assert "no conversation" in one_line_error(sparklio("conversations", "restore", older), 2)


def test_a_damaged_file_is_one_located_line(sparklio_home):  # about the file: SQLite only
    (sparklio_home / "conversations.sqlite").write_bytes(b"not sqlite" * 500)
    line = one_line_error(sparklio("conversations", "list"), 1)
    assert "conversations file" in line and "damaged" in line and str(sparklio_home) in line


# -- sparklio run --conversation -------------------------------------------------------------


@pytest.fixture
def anthropic():
    with AnthropicServer() as server:
        server.usage = (100, 50)
        yield server


def _run(server, prompt: str, *extra: str) -> subprocess.CompletedProcess:
    return sparklio(
        "run", "--task", "copywriting_standard", "--prompt", prompt, "--no-explore", "--no-cache", *extra,
        env_extra={"ANTHROPIC_API_KEY": KEY, "ANTHROPIC_BASE_URL": server.base_url},
    )  # fmt: skip


def _sent_messages(server) -> list[dict]:
    bodies = [r.body for r in server.requests if r.method == "POST" and "messages" in r.path]
    return bodies[-1]["messages"]


def test_run_new_then_continue_sends_the_earlier_turns(anthropic, conversations_home):  # noqa: F811
    anthropic.reply_text = "Cinnamon is the answer."
    first = _run(anthropic, "Name one autumn spice.", "--conversation", "new", "--json")
    assert first.returncode == 0, first.stderr
    conversation_id = json.loads(first.stdout)["conversation_id"]
    assert conversation_id and len(conversation_id) == 12

    anthropic.reply_text = "Nutmeg."
    second = _run(anthropic, "And another?", "--conversation", conversation_id[:6])
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "Nutmeg." and f"[conversation {conversation_id}]" in second.stderr
    sent = [(m["role"], m["content"] if isinstance(m["content"], str) else m["content"][0]["text"])
            for m in _sent_messages(anthropic)]  # fmt: skip
    assert sent == [
        ("user", "Name one autumn spice."),
        ("assistant", "Cinnamon is the answer."),
        ("user", "And another?"),
    ]

    shown = json.loads(sparklio("conversations", "show", conversation_id, "--json").stdout)
    assert shown["task"] == "copywriting_standard"
    turns = shown["turns"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user", "assistant"]
    assert turns[1]["request_id"] and turns[1]["model"] == "anthropic/claude-3-5-sonnet"
    assert Decimal(turns[1]["cost_usd"]) > 0
    assert turns[1]["meta"] == {"fallback": False, "retries": 0, "cached": False, "explored": False, "error": None}
    history = json.loads(sparklio("history", "--json").stdout)
    assert {h["request_id"] for h in history} >= {turns[1]["request_id"], turns[3]["request_id"]}


def test_run_json_without_a_conversation_says_null(anthropic, sparklio_home, conversations_home):  # noqa: F811
    done = _run(anthropic, "One line.", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["conversation_id"] is None
    assert not (sparklio_home / "conversations.sqlite").exists()
    with ConversationStore.open(conversations_home) as store:
        assert store.count() == 0


def test_a_bad_conversation_id_stops_before_any_call(anthropic, conversations_home):  # noqa: F811
    result = _run(anthropic, "x", "--conversation", "abcdef123456")
    assert "no conversation abcdef123456" in one_line_error(result, 2)
    assert not anthropic.requests


def test_a_failed_run_keeps_the_question_with_its_error(anthropic, conversations_home):  # noqa: F811
    anthropic.script(
        Fault(status=400, message="Request blocked by content policy.", error_type="invalid_request_error")
    )
    failed = _run(anthropic, "Blocked question", "--conversation", "new", "--json")
    assert failed.returncode == 1
    payload = json.loads(failed.stdout)
    conversation_id = payload["conversation_id"]
    turns = json.loads(sparklio("conversations", "show", conversation_id, "--json").stdout)["turns"]
    assert [t["role"] for t in turns] == ["user"]
    assert "content policy" in turns[0]["meta"]["error"] and turns[0]["meta"]["request_id"] == payload["request_id"]


def test_a_conversation_removed_during_the_run_still_prints_the_paid_answer(anthropic, conversations_home):  # noqa: F811
    with ConversationStore.open(conversations_home) as store:
        conversation_id = store.create("copywriting_standard").id
    anthropic.reply_text = "one two three four five six"
    anthropic.chunk_interval_s = 0.2  # the answer streams for about a second
    env = dict(os.environ, ANTHROPIC_API_KEY=KEY, ANTHROPIC_BASE_URL=anthropic.base_url)
    args = ["run", "--task", "copywriting_standard", "--prompt", "p", "--no-explore", "--no-cache"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sparklio_desktop", *args, "--conversation", conversation_id],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not anthropic.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    with ConversationStore.open(conversations_home) as store:
        store.purge(conversation_id)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert out.strip() == "one two three four five six"
    assert "warning: the run was not kept in the conversation" in err and "Traceback" not in err


def test_a_team_database_that_cannot_be_reached_is_one_line(sparklio_home):
    from tests.postgres_server import free_port

    down = f"postgresql+psycopg://ada:pw-not-shown@127.0.0.1:{free_port()}/team"
    line = one_line_error(sparklio("conversations", "list", env_extra={"SPARKLIO_DATABASE_URL": down}), 1)
    assert "the team conversations database" in line and "cannot reach the server" in line
    assert "pw-not-shown" not in line and not (sparklio_home / "conversations.sqlite").exists()
