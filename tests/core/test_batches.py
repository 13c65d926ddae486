"""Batch inputs, templates, the results file and the store, on real files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.batches import BatchInputError, BatchNotFound, BatchStore, Template, read_rows
from sparklio_desktop.core.batches.estimate import sample_indexes
from sparklio_desktop.core.batches.results import ResultRecord, ResultsFile, check_out_path


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_csv_rows_keep_their_columns_and_lines(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "r.csv", 'name,topic\nAda,"tea, hot"\n\nBo,"two\nlines"\nCy,x\n'))
    assert rows.columns == ("name", "topic")
    assert [r["name"] for r in rows.rows] == ["Ada", "Bo", "Cy"]
    assert rows.lines == (2, 4, 6)
    assert rows.rows[1]["topic"] == "two\nlines"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a,b\n1,2\n3,4,5\n", "r.csv:3: expected 2 fields (the header's), found 3"),
        ("a,,b\n1,2,3\n", "r.csv:1: column 2 of the header row has no name"),
        ("a,b,a\n1,2,3\n", "r.csv:1: column 3: the header names 'a' twice"),
        ("a,b\n", "r.csv: has no rows"),
        ("", "r.csv: is empty"),
        (b"a,b\n1,\xff\n", "r.csv:2:3: not UTF-8 text"),
    ],
)
def test_csv_errors_are_located(tmp_path: Path, text: str | bytes, where: str) -> None:
    with pytest.raises(BatchInputError) as caught:
        read_rows(write(tmp_path / "r.csv", text))
    assert where in str(caught.value)
    assert "\n" not in str(caught.value)


def test_jsonl_rows_and_located_errors(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "r.jsonl", '{"q": "hi", "n": 3}\n\n{"q": "yo", "extra": [1]}\n'))
    assert rows.columns == ("q", "n", "extra")
    assert rows.rows[0] == {"q": "hi", "n": "3"} and rows.lines == (1, 3)
    with pytest.raises(BatchInputError, match=r"r\.jsonl:2:7: not JSON"):
        read_rows(write(tmp_path / "r.jsonl", '{"q": 1}\n{"q": }\n'))
    with pytest.raises(BatchInputError, match=r"r\.jsonl:1: expected a JSON object, found list"):
        read_rows(write(tmp_path / "r.jsonl", "[1, 2]\n"))
    with pytest.raises(BatchInputError, match=r"reads \.csv or \.jsonl files, not \.txt"):
        read_rows(write(tmp_path / "r.txt", "x"))
    with pytest.raises(BatchInputError, match="cannot read it"):
        read_rows(tmp_path / "missing.csv")


def test_template_is_checked_against_the_columns(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "r.csv", "name,topic\nAda,tea\n"))
    template = Template.parse("Write {{about}} {topic} for {name}")
    assert template.prompts(rows) == ["Write {about} tea for Ada"]
    with pytest.raises(BatchInputError, match=r"\{colour\} is not a column of r\.csv \(columns: name, topic\)"):
        Template.parse("A {colour} thing").prompts(rows)
    with pytest.raises(BatchInputError, match="names no {column}"):
        Template.parse("same for every row")
    with pytest.raises(BatchInputError, match="column 3: {name...} has a format"):
        Template.parse("A {name!r}")
    with pytest.raises(BatchInputError, match="literal braces"):
        Template.parse("A {name")
    with pytest.raises(BatchInputError, match="is empty"):
        Template.parse("  ")


def test_a_jsonl_object_missing_a_template_key_is_located(tmp_path: Path) -> None:
    rows = read_rows(write(tmp_path / "r.jsonl", '{"q": "a"}\n{"other": "b"}\n'))
    with pytest.raises(BatchInputError, match=r"r\.jsonl:2: the object has no 'q'"):
        Template.parse("Say {q}").prompts(rows)
    empty = read_rows(write(tmp_path / "e.jsonl", '{"q": "a"}\n{"q": "  "}\n'))
    with pytest.raises(BatchInputError, match=r"e\.jsonl:2: the prompt for this row is empty"):
        Template.parse("{q}").prompts(empty)


def test_the_sample_spreads_over_the_file() -> None:
    assert sample_indexes(5) == [0, 1, 2, 3, 4]
    picked = sample_indexes(1000)
    assert len(picked) == 20 and picked[0] == 0 and picked[-1] == 999


def test_results_file_drops_a_cut_record_and_knows_its_rows(tmp_path: Path) -> None:
    path = check_out_path(tmp_path / "out.jsonl")
    results = ResultsFile.open(path)
    results.append(ResultRecord(1, "done", "hi", "m", Decimal("0.001"), "r1", None))
    results.append(ResultRecord(1, "done", "hi", "m", Decimal("0.001"), "r1", None))  # never twice
    results.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"row": 2, "outc')  # killed mid-write
    again = ResultsFile.open(path)
    assert again.written == {1}
    again.append(ResultRecord(2, "failed", None, None, Decimal(0), None, "no"))
    again.close()
    assert [line[:9] for line in path.read_text().splitlines()] == ['{"row": 1', '{"row": 2']
    with pytest.raises(BatchInputError, match="already holds results"):
        check_out_path(path)
    with pytest.raises(BatchInputError, match=r"\.jsonl or \.csv"):
        check_out_path(tmp_path / "out.txt")


def test_csv_results_file_rebuilds_after_a_cut(tmp_path: Path) -> None:
    path = check_out_path(tmp_path / "out.csv")
    results = ResultsFile.open(path)
    results.append(ResultRecord(1, "done", "a,\nb", "m", Decimal("0.5"), "r1", None))
    results.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('2,done,"cut')
    again = ResultsFile.open(path)
    assert again.written == {1}
    again.close()
    assert path.read_text().startswith("row,outcome,output,model,cost_usd,request_id,error\n")


def test_store_counts_and_resolves(batches_target: Path | str) -> None:
    with BatchStore(batches_target) as store:
        batch_id = store.create(
            task="chat", template="{q}", options={"budget": "low"}, source_path="x.csv", out_path=None,
            concurrency=4, prompts=["a", "b", "c"],
        )  # fmt: skip
        store.mark_running(batch_id, 1)
        store.set_request(batch_id, 1, "req1")
        store.finish(batch_id, 1, ok=True, request_id="req1", model="m", output="A", cost_usd=Decimal("0.25"),
                     error=None)  # fmt: skip
        store.mark_running(batch_id, 2)
        counts = store.counts(batch_id)
        assert (counts.total, counts.done, counts.running, counts.pending) == (3, 1, 1, 1)
        assert counts.cost_usd == Decimal("0.25")
        assert store.get(batch_id[:6]).options == {"budget": "low"}
        store.back_to_pending(batch_id, [2])
        assert store.counts(batch_id).pending == 2
        with pytest.raises(BatchNotFound):
            store.get("ffff0000")
    with BatchStore(batches_target) as reopened:  # the migrations ran once
        assert [b.id for b in reopened.batches()] == [batch_id]


def test_recover_counts_a_row_the_ledger_saw_answered_and_resends_the_rest(
    tmp_path: Path, batches_target: Path | str
) -> None:
    """A process killed after the ledger recorded an answer but before the row was marked
    done: the row is done on resume (never sent again); a running row without an answer,
    or without a request id, goes back to pending; the results file gets the done row."""
    from sparklio_desktop.core.batches import BatchRunner
    from sparklio_desktop.core.batches.runner import RECOVERED_NOTE, ledger_answer
    from sparklio_desktop.core.ledger import AttemptRecord, LedgerStore

    ledger = LedgerStore.open(tmp_path / "ledger.sqlite")
    for request_id, attempt, model, outcome, cost in (
        ("answered", 1, "m1", "error", "0.01"),
        ("answered", 2, "m2", "ok", "0.02"),
        ("cut", 1, "m1", "interrupted", "0.001"),
    ):
        ledger.record_attempt(
            AttemptRecord(request_id=request_id, attempt=attempt, task_type="chat", model_id=model,
                          provider="openai", outcome=outcome, cost_usd=Decimal(cost))  # type: ignore[arg-type]
        )  # fmt: skip
    with BatchStore(batches_target) as store:
        batch_id = store.create(task="chat", template="{q}", options={}, source_path="x.csv", out_path=None,
                                concurrency=2, prompts=["a", "b", "c", "d"])  # fmt: skip
        for index, request_id in ((1, "answered"), (2, "cut"), (3, None)):
            store.mark_running(batch_id, index)
            if request_id:
                store.set_request(batch_id, index, request_id)
        results = ResultsFile.open(check_out_path(tmp_path / "out.jsonl"))
        runner = BatchRunner(store, dispatcher=None, batch=store.get(batch_id), results=results)  # type: ignore[arg-type]
        assert runner.recover(ledger_answer(ledger)) == 1
        results.close()
        rows = {row.row_index: row for row in store.rows(batch_id)}
        assert rows[1].status == "done" and rows[1].model == "m2" and rows[1].cost_usd == Decimal("0.03")
        assert rows[1].error == RECOVERED_NOTE
        assert [rows[i].status for i in (2, 3, 4)] == ["pending", "pending", "pending"]
        assert rows[2].request_id is None
    ledger.close()
    assert [
        line["row"] for line in map(__import__("json").loads, (tmp_path / "out.jsonl").read_text().splitlines())
    ] == [1]


class _CountingDispatcher:
    """Answers every row after a turn of the loop, counting the rows in flight at once.
    (The runner's seam is a Protocol; the CLI tests run the real dispatcher.)"""

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0
        self.starts: list[int] = []  # rows in flight when each row started

    async def stream(self, request):  # type: ignore[no-untyped-def]
        import asyncio

        from sparklio_desktop.core.dispatch import Finished, Routed, RunResult

        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.starts.append(self.in_flight)
        try:
            yield Routed(f"r-{request.prompt}", None)
            for _ in range(3):
                await asyncio.sleep(0)
            yield Finished(RunResult(f"r-{request.prompt}", None, "m", "ok"))  # type: ignore[arg-type]
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize(("speed", "concurrency", "window"), [(None, 3, 3), ("batch", 3, 8)])
def test_rows_in_flight_never_exceed_the_window(batches_target: Path | str, speed: str | None, concurrency: int,
                                                window: int) -> None:  # fmt: skip
    import asyncio

    from sparklio_desktop.core.batches import BatchRunner

    options = {"speed": speed} if speed else {}
    with BatchStore(batches_target) as store:
        batch_id = store.create(task="chat", template="{q}", options=options, source_path="x.csv", out_path=None,
                                concurrency=concurrency, prompts=[str(i) for i in range(20)])  # fmt: skip
        dispatcher = _CountingDispatcher()
        runner = BatchRunner(store, dispatcher, store.get(batch_id))
        counts = asyncio.run(runner.run())
        assert counts.done == 20 and store.status(batch_id) == "done"
        assert dispatcher.most == window
        if speed == "batch":  # a group starts only when the previous one has finished
            assert dispatcher.starts[8] == 1 and dispatcher.starts[16] == 1


def _own(store: BatchStore, batch_id: str, pid: int | None, start: str | None, host: str | None) -> None:
    """Write a claim as another process (or another machine) would have."""
    with store._write() as conn:
        conn.execute(
            "UPDATE batches SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE id = ?",
            (pid, start, host, batch_id),
        )


def _one_row_batch(store: BatchStore) -> str:
    return store.create(task="chat", template="{q}", options={}, source_path="x.csv", out_path=None, concurrency=1,
                        prompts=["a"])  # fmt: skip


def test_a_batch_run_by_a_live_process_cannot_be_claimed_until_that_process_is_gone(
    batches_target: Path | str,
) -> None:
    import subprocess
    import sys

    from sparklio_desktop.core.batches import BatchBusy
    from sparklio_desktop.core.ledger.owners import start_token

    with BatchStore(batches_target) as store:
        batch_id = _one_row_batch(store)
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            _own(store, batch_id, other.pid, start_token(other.pid), store.host)
            with pytest.raises(BatchBusy, match=f"being run by process {other.pid}; stop that one") as caught:
                store.claim(batch_id)
            assert "\n" not in str(caught.value)
            assert store.get(batch_id).active
        finally:
            other.kill()
            other.wait()
        assert not store.get(batch_id).active
        store.claim(batch_id)  # the owner is gone (as after kill -9): the claim lapses
        store.claim(batch_id)  # this process may claim again
        store.release(batch_id, "paused")
        assert store.status(batch_id) == "paused"
        store.set_status(batch_id, "cancelled")
        store.release(batch_id, "done")
        assert store.status(batch_id) == "cancelled"  # a cancel is never undone by the runner


def test_a_claim_made_on_another_host_is_refused_naming_it_until_that_host_releases_it(
    batches_target: Path | str,
) -> None:
    """A PID of another machine says nothing here: even a PID that no process of this host
    has (as good as gone, were it ours) keeps the batch, and the refusal names the host."""
    from sparklio_desktop.core.batches import BatchBusy

    with BatchStore(batches_target, member="ada") as store:
        batch_id = _one_row_batch(store)
        _own(store, batch_id, 2**22 + 7, "boot:1", "render-box-2")  # no such PID here
        with pytest.raises(BatchBusy) as caught:
            store.claim(batch_id)
        said = str(caught.value)
        assert "being run by process 4194311 on render-box-2" in said and "\n" not in said
        assert store.get(batch_id).active  # another host's claim counts as live
        there = BatchStore(batches_target, member="ada")  # the install on render-box-2
        try:
            there.host = "render-box-2"
            there.claim(batch_id)  # its own dead process's claim lapses there
            there.release(batch_id, "paused")
        finally:
            there.close()
        store.claim(batch_id)  # released: this host may run it now
        assert (store.get(batch_id).status, store.get(batch_id).active) == ("running", True)
        store.release(batch_id, "done")


def test_a_claim_without_a_host_is_this_machines(batches_target: Path | str) -> None:
    """A file's claims made before hosts were recorded (m003) are judged as this host's."""
    with BatchStore(batches_target) as store:
        batch_id = _one_row_batch(store)
        _own(store, batch_id, 2**22 + 7, "boot:1", None)
        store.claim(batch_id)  # that PID is gone here: the claim lapses
        store.release(batch_id, "done")


def test_a_team_member_sees_only_their_own_batches(pg_database_url: str) -> None:
    with BatchStore(pg_database_url, member="ada") as ada, BatchStore(pg_database_url, member="bo") as bo:
        mine = _one_row_batch(ada)
        theirs = _one_row_batch(bo)
        assert [b.id for b in ada.batches()] == [mine]
        assert ada.get(mine[:6]).id == mine
        for name in (theirs, theirs[:6]):
            with pytest.raises(BatchNotFound, match="no batch"):
                ada.get(name)
        with pytest.raises(BatchNotFound):
            ada.claim(theirs)
        with pytest.raises(BatchNotFound):
            ada.status(theirs)


def test_two_installs_on_one_database_see_the_members_batch_and_resume_it(
    tmp_path: Path, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two data folders (two installs) of one member, one team database: a batch made and
    half run on one is listed, claimed and finished on the other."""
    import asyncio

    from sparklio_desktop.core.batches import BatchRunner
    from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
    from sparklio_desktop.core.ledger.members import MEMBER_ENV

    monkeypatch.setenv(DATABASE_URL_ENV, pg_database_url)
    monkeypatch.setenv(MEMBER_ENV, "ada")
    monkeypatch.setenv("SPARKLIO_HOME", str(tmp_path / "install-1"))
    with BatchStore.open_default() as first:
        assert first.team and first.member == "ada"
        batch_id = first.create(task="chat", template="{q}", options={}, source_path="x.csv", out_path=None,
                                concurrency=2, prompts=["a", "b", "c"])  # fmt: skip
        first.claim(batch_id)
        first.mark_running(batch_id, 1)
        first.finish(batch_id, 1, ok=True, request_id="r1", model="m", output="A", cost_usd=Decimal("0.5"), error=None)
        first.release(batch_id, "paused")
    monkeypatch.setenv("SPARKLIO_HOME", str(tmp_path / "install-2"))
    with BatchStore.open_default() as second:
        assert [b.id for b in second.batches()] == [batch_id]
        batch = second.get(batch_id[:8])
        assert (batch.status, batch.counts.done, batch.counts.pending) == ("paused", 1, 2)
        second.claim(batch_id)
        counts = asyncio.run(BatchRunner(second, _CountingDispatcher(), second.get(batch_id)).run())
        assert (counts.done, counts.cost_usd) == (3, Decimal("0.5"))
        assert second.status(batch_id) == "done"
    assert not (tmp_path / "install-1" / "batches.sqlite").exists()
    assert not (tmp_path / "install-2" / "batches.sqlite").exists()


def test_an_unreachable_team_database_is_one_line(postgres_server: object) -> None:
    from sparklio_desktop.core.errors import SparklioError
    from tests.postgres_server import free_port

    url = f"postgresql+psycopg://sparklio:secret-pw@127.0.0.1:{free_port()}/team"
    with pytest.raises(SparklioError) as caught:
        BatchStore(url)
    said = str(caught.value)
    assert "the team database" in said and "cannot reach the server" in said
    assert "\n" not in said and "secret-pw" not in said


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql+psycopg://u@host:notaport/db", "its port is not a number"),
        ("postgresql+psycopg://u@host:5432", "names no database"),
    ],
)
def test_a_malformed_team_url_is_one_line(url: str, words: str) -> None:
    from sparklio_desktop.core.batches.team_database import TeamDatabaseUrlError

    with pytest.raises(TeamDatabaseUrlError, match=words) as caught:
        BatchStore(url)
    assert "\n" not in str(caught.value)


class _InterruptedAfterTheAnswer:
    """Answers the first row, then Ctrl+C arrives (as commands/batch.py handles it: the
    runner stops and the task running it is cancelled). ``where`` says whether the cancel
    lands in the stream's own clean-up (after ``Finished``) or in the runner's turn of the
    loop before it records the row."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.interrupt = lambda: None

    async def stream(self, request):  # type: ignore[no-untyped-def]
        import asyncio

        from sparklio_desktop.core.dispatch import Finished, Routed, RunResult

        yield Routed(f"r-{request.prompt}", None)
        yield Finished(RunResult(f"r-{request.prompt}", None, "m", f"answer {request.prompt}"))  # type: ignore[arg-type]
        self.interrupt()
        if self.where == "stream":
            await asyncio.sleep(0)  # the cancel lands here, inside the stream


@pytest.mark.parametrize("where", ["stream", "runner"])
def test_a_row_answered_before_ctrl_c_is_recorded_not_sent_again(batches_target: Path | str, where: str) -> None:
    """The answer was paid for: a cancel that lands after it neither leaves the row running
    (its output lost) nor puts it back to pending (sent and paid again on resume)."""
    import asyncio

    from sparklio_desktop.core.batches import BatchRunner

    with BatchStore(batches_target) as store:
        batch_id = store.create(task="chat", template="{q}", options={}, source_path="x.csv", out_path=None,
                                concurrency=1, prompts=["a", "b"])  # fmt: skip
        dispatcher = _InterruptedAfterTheAnswer(where)
        runner = BatchRunner(store, dispatcher, store.get(batch_id))

        async def go() -> None:
            main = asyncio.current_task()
            assert main is not None

            def ctrl_c() -> None:
                runner.stop()
                main.cancel()

            dispatcher.interrupt = ctrl_c
            await runner.run()

        with pytest.raises(asyncio.CancelledError):
            asyncio.run(go())
        rows = store.rows(batch_id)
        assert [(r.status, r.request_id, r.output) for r in rows] == [
            ("done", "r-a", "answer a"), ("pending", None, None),
        ]  # fmt: skip
        assert store.status(batch_id) == "paused"
