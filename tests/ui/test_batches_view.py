"""The Batches view against the loopback OpenAI server: a 12-row batch runs to done with
its progress and queue row, pause then resume sends no row twice (counted on the wire),
cancel, a template naming a missing column starts nothing, the estimate before Start and
its confirmation above the threshold; no Alt-letter clash.

Real widgets, a real batches file and ledger in the test's data folder, real HTTP.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from PySide6.QtWidgets import QAbstractButton, QLabel

from sparklio_desktop.ui.views.batches_view import BatchesView, create
from tests.ui.conftest import run, until, wait_until


def rows_csv(path: Path, n: int) -> Path:
    path.write_text("name,topic\n" + "".join(f"n{i},topic {i}\n" for i in range(1, n + 1)), encoding="utf-8")
    return path


def chat_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


@pytest.fixture
def view(qtbot, qloop, openai_server, make_ctx):
    openai_server.usage = (20, 10)
    ctx = make_ctx()
    made = create(ctx.services, executor=ctx.executor, events=ctx.events)
    qtbot.addWidget(made)
    made.explore = False
    made.resize(1100, 760)
    made.show()
    run(qloop, made.vm.wait_idle())  # the queue's first load, inside the loop
    made.ctx = ctx  # type: ignore[attr-defined]
    yield made
    run(qloop, made.vm.aclose())


def fill(view: BatchesView, source: Path, template: str = "One caption about {topic} for {name}") -> None:
    view.choose_file(str(source))
    view.template_edit.setText(template)
    index = view.task_combo.findData("copywriting_standard")
    assert index >= 0
    view.task_combo.setCurrentIndex(index)


def test_twelve_rows_run_to_done_with_progress_and_the_queue_row(qtbot, qloop, tmp_path, view, openai_server) -> None:
    source = rows_csv(tmp_path / "rows.csv", 12)
    changes: list = []
    view.ctx.events.ledgerChanged.connect(changes.append)
    progress: list = []
    view.vm.progress.connect(progress.append)
    notified: list[str] = []
    view.notified.connect(notified.append)
    view.choose_file(str(source))
    wait_until(qloop, lambda: len(view.column_chips()) == 2)
    assert [c.column for c in view.column_chips()] == ["name", "topic"]
    view.template_edit.setText("One caption about ")
    view.column_chips()[1].click()  # a chip inserts {topic} where the cursor is
    view.template_edit.insert(" for ")
    view.column_chips()[0].click()
    assert view.template_edit.text() == "One caption about {topic} for {name}"
    view.task_combo.setCurrentIndex(view.task_combo.findData("copywriting_standard"))
    view.request_estimate()
    wait_until(qloop, lambda: view.estimate_label.text().startswith("~$"))
    assert "for 12 rows" in view.estimate_label.text()
    assert chat_requests(openai_server) == []  # the estimate sends nothing
    assert view.model.rowCount() == 0 and view.empty.isVisible()

    shown: list[int] = []  # the queue row's Done column as the rows finish, read from the model
    view.model.dataChanged.connect(lambda top, _bottom: shown.append(int(view.model.index(top.row(), 4).data())))

    async def scenario() -> None:
        view.start_button.click()
        await until(lambda: view.model.rowCount() == 1 and view.model.item(0).status == "done" and bool(notified), 60)
        await view.vm.wait_idle()

    run(qloop, scenario(), 90)
    item = view.model.item(0)
    assert (item.done, item.failed, item.total) == (12, 0, 12)
    assert item.source == "rows.csv" and item.task == "Copywriting"
    assert item.cost.startswith("$") and item.cost != "$0.00"
    assert len(chat_requests(openai_server)) == 12
    finished = [p.finished for p in progress]
    assert finished == sorted(finished) and finished[-1] == 12 and len(set(finished)) >= 6
    assert shown and shown == sorted(shown) and shown[-1] == 12 and len(set(shown)) >= 6  # updated in place
    assert view.progress_bar.value() == 12 and view.progress_bar.maximum() == 12
    assert "12 done, 0 failed" in view.progress_label.text()
    assert "rows.csv" not in view.results_link.text() and ".jsonl" in view.results_link.text()
    records = [json.loads(line) for line in Path(item.out_path).read_text(encoding="utf-8").splitlines()]
    assert sorted(r["row"] for r in records) == list(range(1, 13))
    assert 1 <= len(changes) < 12  # throttled, and the end is always told
    assert not view.pause_button.isEnabled() and not view.resume_button.isEnabled()
    assert "finished" in notified[0]
    view.grab().save(str(Path("/tmp/batches.png")))


def test_pause_then_resume_sends_no_row_twice(qtbot, qloop, tmp_path, view, openai_server) -> None:
    openai_server.chunk_interval_s = 0.05  # slow enough to pause mid-way
    source = rows_csv(tmp_path / "rows.csv", 12)
    fill(view, source)
    view.concurrency.setValue(2)
    seen: dict = {}

    async def scenario() -> None:  # one run of the loop: the batch's tasks never step outside it
        view.start_button.click()
        await until(lambda: view.model.rowCount() == 1 and view.model.item(0).done >= 2, 60)
        assert view.pause_button.isEnabled()
        view.pause_button.click()
        await until(lambda: view.model.item(0).status == "paused", 60)
        seen["paused"] = view.model.item(0)
        seen["sent"] = len(chat_requests(openai_server))
        seen["resumable"] = view.resume_button.isEnabled() and not view.pause_button.isEnabled()
        view.resume_button.click()
        await until(lambda: view.model.item(0).status == "done", 60)
        await view.vm.wait_idle()

    run(qloop, scenario(), 150)
    paused = seen["paused"]
    assert 2 <= paused.done < 12 and seen["sent"] == paused.done + paused.failed  # the rows in flight finished
    assert seen["resumable"]
    assert view.model.item(0).done == 12
    prompts = [(r.body if isinstance(r.body, dict) else json.loads(r.body))["messages"][-1]["content"]
               for r in chat_requests(openai_server)]  # fmt: skip
    assert len(prompts) == 12 and len(set(map(str, prompts))) == 12  # every row once, none twice


def test_cancel_stops_sending_and_cannot_resume(qtbot, qloop, tmp_path, view, openai_server) -> None:
    openai_server.chunk_interval_s = 0.05
    source = rows_csv(tmp_path / "rows.csv", 12)
    fill(view, source)
    view.concurrency.setValue(1)

    async def scenario() -> None:
        view.start_button.click()
        await until(lambda: view.model.rowCount() == 1 and view.model.item(0).done >= 1, 60)
        view.cancel_button.click()
        await until(lambda: view.model.item(0).status == "cancelled", 60)
        await view.vm.wait_idle()

    run(qloop, scenario(), 90)
    assert view.model.item(0).done < 12
    sent = len(chat_requests(openai_server))
    assert sent == view.model.item(0).done + view.model.item(0).failed < 12
    assert not view.resume_button.isEnabled() and not view.cancel_button.isEnabled()


def test_a_missing_column_is_shown_inline_and_starts_nothing(qtbot, qloop, tmp_path, view, openai_server) -> None:
    source = rows_csv(tmp_path / "rows.csv", 3)
    fill(view, source, template="About {colour}")
    view.start_button.click()
    wait_until(qloop, lambda: view.error_label.isVisible())
    assert view.error_label.text() == "Template: {colour} is not a column of rows.csv (columns: name, topic)"
    qloop.run_until_complete(view.vm.wait_idle())
    assert view.model.rowCount() == 0 and chat_requests(openai_server) == []
    view.template_edit.setText("About {topic}")
    view.request_estimate()
    wait_until(qloop, lambda: not view.error_label.isVisible())
    assert "for 3 rows" in view.estimate_label.text()


def test_above_the_threshold_start_waits_for_the_confirmation(qtbot, qloop, tmp_path, view, openai_server) -> None:
    source = rows_csv(tmp_path / "rows.csv", 50)  # ~$1.56: above $1.00
    fill(view, source)
    view.request_estimate()
    wait_until(qloop, lambda: view.confirm_box.isVisible())
    assert re.match(r"~\$1\.\d\d for 50 rows", view.estimate_label.text())
    assert "above $1.00" in view.confirm_box.text()
    view.start_button.click()
    wait_until(qloop, lambda: view.error_label.isVisible())
    assert "tick the box" in view.error_label.text()
    qloop.run_until_complete(view.vm.wait_idle())
    assert view.model.rowCount() == 0 and chat_requests(openai_server) == []

    view.confirm_box.setChecked(True)

    async def scenario() -> None:
        view.start_button.click()
        await until(lambda: view.model.rowCount() == 1 and view.model.item(0).status == "done", 60)
        await view.vm.wait_idle()

    run(qloop, scenario(), 90)
    assert view.model.item(0).done == 50 and len(chat_requests(openai_server)) == 50
    assert not view.error_label.isVisible()


def test_no_mnemonic_clash_with_the_menu_bar_or_within(view) -> None:
    taken = {"f", "d", "v", "l", "h"}  # File, Edit, View, Tools, Help
    seen: list[str] = []
    for widget in [*view.findChildren(QAbstractButton), *view.findChildren(QLabel)]:
        seen += [m.lower() for m in re.findall(r"(?<!&)&([^&\s])", widget.text())]
    assert seen and len(seen) == len(set(seen)), seen
    assert not taken & set(seen)


def test_closing_the_app_mid_batch_leaves_it_paused_and_resumable(qtbot, qloop, tmp_path, view, openai_server) -> None:
    openai_server.chunk_interval_s = 0.5  # each row takes 3 s: closing must not wait for them
    source = rows_csv(tmp_path / "rows.csv", 12)
    fill(view, source)
    view.concurrency.setValue(2)
    seen: dict = {}

    async def scenario() -> None:
        view.start_button.click()
        await until(lambda: view.model.rowCount() == 1 and view.model.item(0).running_here, 60)
        await until(lambda: len(chat_requests(openai_server)) >= 2, 60)
        began = time.monotonic()
        await view.vm.aclose()
        seen["closing_s"] = time.monotonic() - began

    run(qloop, scenario(), 90)
    assert seen["closing_s"] < 1.5
    from sparklio_desktop.core.batches import BatchStore

    with BatchStore.open_default() as store:
        (batch,) = store.batches()
    assert batch.status == "paused" and batch.counts.running == 0 and batch.counts.unfinished >= 10


def test_a_file_that_cannot_run_is_shown_inline(qtbot, qloop, tmp_path, view, openai_server) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,topic\nx,y,z\n", encoding="utf-8")
    view.choose_file(str(bad))
    wait_until(qloop, lambda: view.error_label.isVisible())
    assert view.error_label.text().endswith("bad.csv:2: expected 2 fields (the header's), found 3")
    assert view.column_chips() == []
    good = tmp_path / "rows.jsonl"
    good.write_text('{"name": "a", "topic": "b"}\n{"name": "c", "topic": "d"}\n', encoding="utf-8")
    view.choose_file(str(good))
    wait_until(qloop, lambda: len(view.column_chips()) == 2 and not view.error_label.isVisible())
    qloop.run_until_complete(view.vm.wait_idle())


def test_a_double_click_on_start_makes_one_batch(qtbot, qloop, tmp_path, view, openai_server) -> None:
    source = rows_csv(tmp_path / "rows.csv", 3)
    fill(view, source)
    wait_until(qloop, lambda: len(view.column_chips()) == 2)

    async def scenario() -> None:
        view.start_button.click()
        view.start_button.click()  # the second click lands while the first is being priced
        await until(lambda: view.model.rowCount() >= 1 and view.model.item(0).status == "done", 60)
        await view.vm.wait_idle()

    run(qloop, scenario(), 90)
    assert view.model.rowCount() == 1
    assert len(chat_requests(openai_server)) == 3


def test_a_batch_another_process_runs_moves_in_the_queue(qtbot, qloop, tmp_path, view) -> None:
    """`sparklio batch run` in a terminal: the queue follows its counts without a click."""
    import sqlite3
    import subprocess
    import sys
    from decimal import Decimal

    from sparklio_desktop.core.batches import BatchStore
    from sparklio_desktop.core.ledger.owners import start_token
    from sparklio_desktop.core.settings import paths

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = paths.data_dir() / "batches.sqlite"
        with BatchStore(path) as store:
            batch_id = store.create(
                task="copywriting_standard", template="{q}", options={}, source_path=str(tmp_path / "rows.csv"),
                out_path=None, concurrency=2, prompts=["a", "b", "c"],
            )  # fmt: skip
        token = start_token(other.pid)
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE batches SET owner_pid = ?, owner_start = ? WHERE id = ?", (other.pid, token, batch_id))
        run(qloop, view.vm.refresh())
        wait_until(qloop, lambda: view.model.rowCount() == 1 and view.model.item(0).status == "running")
        assert view.model.item(0).done == 0 and not view.model.item(0).running_here
        with BatchStore(path) as store:  # the other process finishes two rows
            for index in (1, 2):
                store.finish(batch_id, index, ok=True, request_id=f"r{index}", model="m", output="x",
                             cost_usd=Decimal("0.01"), error=None)  # fmt: skip
        started = time.monotonic()
        wait_until(qloop, lambda: view.model.item(0).done == 2, timeout=8)
        assert time.monotonic() - started < 6  # re-read on its own, within a few seconds
    finally:
        other.kill()
        other.wait()


def test_the_app_collects_a_provider_job_left_waiting(qtbot, qloop, tmp_path, openai_server, make_ctx, monkeypatch):
    """A batch whose OpenAI job was submitted by `sparklio batch run --no-wait` (or before a
    restart) is polled and collected in the background once the Batches tab loads."""
    import os
    import subprocess
    import sys

    openai_server.usage = (20, 10)
    openai_server.batch_polls_to_end = 1
    monkeypatch.setenv("SPARKLIO_BATCH_POLL_S", "0.05")
    source = rows_csv(tmp_path / "rows.csv", 6)
    submitted = subprocess.run(
        [sys.executable, "-m", "sparklio_desktop", "batch", "run", str(source), "--task", "copywriting_standard",
         "--prompt-template", "One caption about {topic}", "--speed", "batch", "--no-explore", "--yes", "--no-wait"],
        capture_output=True, text=True, env=dict(os.environ), timeout=120,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    assert not chat_requests(openai_server)

    ctx = make_ctx()
    view = create(ctx.services, executor=ctx.executor, events=ctx.events)
    qtbot.addWidget(view)
    waiting: list[str] = []
    view.vm.batchesChanged.connect(lambda items: waiting.extend(i.waiting for i in items if i.waiting))
    outcomes: list = []
    view.vm.batchFinished.connect(outcomes.append)
    view.show()
    try:
        wait_until(qloop, lambda: bool(outcomes), timeout=60)
        run(qloop, view.vm.wait_idle())
        assert any("6 rows with OpenAI's batch API" in text for text in waiting)
        assert outcomes[0].status == "done" and "6 done" in outcomes[0].summary
        wait_until(qloop, lambda: view.model.rowCount() == 1 and view.model.item(0).status == "done")
        assert view.model.item(0).done == 6 and not chat_requests(openai_server)
        assert sum(1 for r in openai_server.requests if r.method == "POST" and r.path == "/v1/batches") == 1
    finally:
        run(qloop, view.vm.aclose())


def test_a_saved_template_fills_its_variables_from_the_columns(qtbot, qloop, tmp_path, view, openai_server) -> None:
    """The shipped product_caption template: product and tone from the file, audience and
    platform from their defaults; its task and system prompt go with every row."""
    source = tmp_path / "products.csv"
    source.write_text("product,tone\nlinen shirt,warm\nclay mug,playful\n", encoding="utf-8")
    view.choose_file(str(source))
    wait_until(qloop, lambda: len(view.column_chips()) == 2 and view.saved_combo.count() > 20)
    view.task_combo.setCurrentIndex(view.task_combo.findData("code_generation"))
    view.choose_saved_template("product_caption")
    assert view.saved_combo.currentText() == "product_caption (Copywriting)"
    assert view.task_combo.currentData() == "copywriting_standard" and not view.task_combo.isEnabled()
    assert not view.template_edit.isEnabled()
    hint = view.saved_hint.text()
    assert "product ← column" in hint and "tone ← column" in hint and "audience: its default" in hint
    view.request_estimate()
    wait_until(qloop, lambda: view.estimate_label.text().startswith("~$"))
    assert "for 2 rows" in view.estimate_label.text()

    run(qloop, _start_and_finish(view), 60)
    sent = [r.body if isinstance(r.body, dict) else json.loads(r.body) for r in chat_requests(openai_server)]
    prompts = sorted(m["content"] for body in sent for m in body["messages"] if m["role"] == "user")
    assert prompts[0].startswith("Product: clay mug\nTone: playful\nAudience: general\nPlatform: Instagram")
    assert prompts[1].startswith("Product: linen shirt\nTone: warm")
    systems = {m["content"] for body in sent for m in body["messages"] if m["role"] == "system"}
    assert systems == {"Write one caption. Reply with the caption only."}
    assert view.model.item(0).task == "Copywriting"

    view.choose_saved_template(None)  # back to a typed prompt: the form is the user's again
    assert view.task_combo.isEnabled() and view.template_edit.isEnabled() and view.saved_hint.isHidden()


def test_a_saved_template_needing_a_missing_column_says_which(qtbot, qloop, tmp_path, view, openai_server) -> None:
    source = tmp_path / "tones.csv"
    source.write_text("tone\nwarm\n", encoding="utf-8")
    view.choose_file(str(source))
    wait_until(qloop, lambda: view.saved_combo.count() > 20 and len(view.column_chips()) == 1)
    view.choose_saved_template("product_caption")
    assert "product: needs a column" in view.saved_hint.text()
    view.start_button.click()
    wait_until(qloop, lambda: view.error_label.isVisible())
    assert "needs 'product': it is not a column of tones.csv (columns: tone)" in view.error_label.text()
    qloop.run_until_complete(view.vm.wait_idle())
    assert view.model.rowCount() == 0 and chat_requests(openai_server) == []


async def _start_and_finish(view: BatchesView) -> None:
    view.start_button.click()
    await until(lambda: view.model.rowCount() == 1 and view.model.item(0).status == "done", 50)
    await view.vm.wait_idle()
