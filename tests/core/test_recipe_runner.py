"""Recipe steps that read none of each other's outputs run together; a step waits for the
steps it reads. Driven through the real dispatcher against slow loopback servers: the
servers' arrival times of the requests say what overlapped."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from sparklio_desktop.core.recipes import execute, new_run
from sparklio_desktop.core.recipes.inputs import read_value
from sparklio_desktop.core.recipes.plan import RouteOverrides
from sparklio_desktop.core.recipes.run_state import RunState
from sparklio_desktop.core.recipes.runner import MAX_PARALLEL_STEPS
from sparklio_desktop.core.recipes.schema import Recipe
from tests.core.test_dispatch import Harness, fast_policy, servers  # noqa: F401 - fixtures
from tests.fakes.loopback import Fault

STREAM_S = 0.05  # per event: a 9-word answer streams for about 0.75 s


def recipe(*steps: dict[str, Any]) -> Recipe:
    return Recipe.model_validate(
        {"name": "parallel", "title": "Parallel", "inputs": [{"name": "topic"}], "steps": list(steps)}
    )


def text_step(step_id: str, prompt: str) -> dict[str, Any]:
    return {"id": step_id, "task": "copywriting_standard", "prompt": prompt}


class Runner:
    """Runs a recipe through a real dispatcher and ledger, recording the progress events."""

    def __init__(self, tmp_path: Path, policy_path: Path) -> None:
        self.harness = Harness(tmp_path, policy_path)
        self.events: list[tuple[str, str, str]] = []

    def start(self, spec: Recipe) -> RunState:
        inputs = {"topic": read_value(spec, "topic", "an autumn menu")}
        return new_run(spec, inputs, RouteOverrides(), None, None)

    def execute(self, state: RunState) -> RunState:
        spec = Recipe.model_validate(state.recipe)
        inputs = {"topic": read_value(spec, "topic", "an autumn menu")}
        dispatcher = self.harness.dispatcher

        async def go() -> RunState:
            try:
                return await execute(
                    state,
                    dispatcher,
                    self.harness.workspace.policy,
                    inputs,
                    on_start=lambda r: self.events.append(("start", r.id, r.status)),
                    on_step=lambda r: self.events.append(("end", r.id, r.status)),
                )
            finally:
                await dispatcher.aclose()

        return asyncio.run(go())

    def close(self) -> None:
        self.harness.close()


def messages(server: Any) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/messages")]


def test_independent_steps_overlap_and_a_dependent_step_waits(tmp_path, fast_policy, servers, sparklio_home):  # noqa: F811
    anthropic, _ = servers
    anthropic.chunk_interval_s = STREAM_S
    runner = Runner(tmp_path, fast_policy)
    try:
        spec = recipe(
            text_step("a", "Write A about {topic}"),
            text_step("b", "Write B about {topic}"),
            text_step("c", "Join these: {steps.a.output} / {steps.b.output}"),
        )
        done = runner.execute(runner.start(spec))
    finally:
        runner.close()
    assert done.status == "done" and [s.status for s in done.steps] == ["done"] * 3
    sent = messages(anthropic)
    assert len(sent) == 3
    by_step = {_prompt_of(r).split(" ", 2)[1]: r for r in sent}  # "Write A …", "Write B …", "Join these: …"
    a, b, c = by_step["A"], by_step["B"], by_step["these:"]
    assert abs(a.time - b.time) < 0.4  # a and b went out together, well within one answer's 0.75 s
    assert c.time - max(a.time, b.time) >= 0.5  # c waited for both answers
    assert _prompt_of(c).count(anthropic.reply_text) == 2  # and read both
    # Each step is reported once when it starts and once when it ends, the start first.
    for step_id in "abc":
        mine = [kind for kind, sid, _ in runner.events if sid == step_id]
        assert mine == ["start", "end"]
    assert runner.events.index(("start", "c", "running")) > max(
        runner.events.index(("end", "a", "done")), runner.events.index(("end", "b", "done"))
    )
    rows = runner.harness.ledger.history(run_id=done.run_id)
    assert len(rows) == 3 and {r.run_id for r in rows} == {done.run_id}


def _prompt_of(request: Any) -> str:
    """The user's text of an Anthropic Messages request."""
    content = request.body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def test_no_more_than_the_bound_run_at_once(tmp_path, fast_policy, servers, sparklio_home):  # noqa: F811
    anthropic, _ = servers
    anthropic.chunk_interval_s = STREAM_S
    runner = Runner(tmp_path, fast_policy)
    try:
        count = MAX_PARALLEL_STEPS + 2
        done = runner.execute(
            runner.start(recipe(*(text_step(f"s{i}", f"Step {i} on {{topic}}") for i in range(count))))
        )
    finally:
        runner.close()
    assert done.status == "done"
    times = sorted(r.time for r in messages(anthropic))
    assert len(times) == count
    assert times[MAX_PARALLEL_STEPS - 1] - times[0] < 0.4  # the first four together
    assert times[MAX_PARALLEL_STEPS] - times[0] >= 0.5  # the fifth once one of them ended


def test_a_failure_starts_no_new_step_and_resume_sends_only_the_unfinished(
    tmp_path,
    fast_policy,  # noqa: F811
    servers,  # noqa: F811
    sparklio_home,
    team_mode,
):
    anthropic, openai = servers
    anthropic.chunk_interval_s = STREAM_S
    openai.script(Fault(status=400, error_type="content_policy_violation", path_contains="/images"))
    spec = recipe(
        {"id": "picture", "task": "image_generation_bulk", "images": 1, "prompt": "A photo of {topic}"},
        text_step("b", "Write B about {topic}"),
        text_step("c", "Shorten: {steps.b.output}"),
    )
    runner = Runner(tmp_path, fast_policy)
    try:
        stopped = runner.execute(runner.start(spec))
        assert stopped.status == "stopped"
        # The picture failed at once; b was already on the wire, finished and was kept; c never started.
        assert [s.status for s in stopped.steps] == ["failed", "done", "pending"]
        assert stopped.steps[1].output == anthropic.reply_text and Decimal(stopped.steps[1].cost_usd) > 0
        assert len(messages(anthropic)) == 1
        assert ("start", "c", "running") not in runner.events
        saved = RunState.load(stopped.run_id)
        assert [s.status for s in saved.steps] == ["failed", "done", "pending"] and saved.status == "stopped"

        anthropic.chunk_interval_s = 0.0
        resumed = runner.execute(saved)
    finally:
        runner.close()
    assert resumed.status == "done" and [s.status for s in resumed.steps] == ["done"] * 3
    assert resumed.steps[1].request_ids == stopped.steps[1].request_ids  # b: not sent again
    assert len(messages(anthropic)) == 2  # only c
    assert len([r for r in openai.requests if r.path.endswith("/images/generations")]) == 2  # refused, then made
    assert len(resumed.steps[0].request_ids) == 2


# -- the run's record, on a file and on the team database ---------------------------------


def _record(run_id: str = "0123456789ab", status: str = "stopped") -> RunState:
    from sparklio_desktop.core.recipes.run_state import StepState

    return RunState(
        run_id=run_id, recipe_name="parallel", recipe={"name": "parallel"}, inputs={"topic": "tea"},
        options={"budget": None}, voice=None, out_dir="/tmp/out", status=status,
        steps=[StepState("a", "chat", status="done", request_ids=[run_id + "0" * 20], cost_usd="0.25"),
               StepState("b", "chat")],
    )  # fmt: skip


def _claim(run_id: str, pid: int | None, start: str | None, host: str | None) -> None:
    """Write a run's claim as another process (or another machine) would have."""
    from sparklio_desktop.core.ledger.location import database_url
    from sparklio_desktop.core.ledger.pg_direct import PgDirectConnection

    conn = PgDirectConnection(database_url() or "", "database")
    try:
        with conn.transaction() as session:
            session.execute(
                "UPDATE recipe_runs SET owner_pid = ?, owner_start = ?, owner_host = ? WHERE run_id = ?",
                (pid, start, host, run_id),
            )
    finally:
        conn.close()


def test_a_record_saves_and_loads_whole_on_either_backend(team_mode: str | None, sparklio_home: Path) -> None:
    import pytest

    from sparklio_desktop.core.recipes.run_state import UnknownRunError, unfinished_records

    state = _record()
    state.save()
    loaded = RunState.load(state.run_id)
    assert loaded == state and loaded.updated_utc
    assert (sparklio_home / "recipe-runs" / state.run_id / "state.json").exists() == (team_mode is None)
    loaded.steps[1].status, loaded.status = "done", "done"
    loaded.save()
    assert RunState.load(state.run_id).status == "done"
    _record("ba9876543210").save()
    assert [r["run_id"] for r in unfinished_records()] == ["ba9876543210"]
    with pytest.raises(UnknownRunError, match="no recipe run 'feedfeedfeed'"):
        RunState.load("feedfeedfeed")
    with pytest.raises(UnknownRunError, match="12 hex digits"):
        RunState.load("nope")


def test_a_held_run_is_refused_and_a_released_one_goes_on(team_mode: str | None, sparklio_home: Path) -> None:
    import subprocess
    import sys

    import pytest

    from sparklio_desktop.core.recipes.run_state import RunBusyError, run_lock

    state = _record()
    state.save()
    code = (
        "import sys, time; from sparklio_desktop.core.recipes.run_state import run_lock\n"
        f"with run_lock({state.run_id!r}):\n    print('held', flush=True); time.sleep(60)"
    )
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "held"
        with pytest.raises(RunBusyError, match=f"recipe run {state.run_id} is being run by") as caught:
            with run_lock(state.run_id):
                pass
        assert "\n" not in str(caught.value)
    finally:
        other.kill()  # as kill -9: its claim lapses (a file's flock, the row's owner on this host)
        other.wait()
        other.stdout.close()
    with run_lock(state.run_id):  # the killed process's hold is gone
        assert RunState.load(state.run_id) == state


def test_a_run_claimed_on_another_host_is_refused_naming_it(team_mode: str | None, sparklio_home: Path) -> None:
    import pytest

    from sparklio_desktop.core.recipes.run_state import RunBusyError, run_lock

    if team_mode is None:
        pytest.skip("a file's runs are one machine's (flock)")
    state = _record()
    state.save()
    _claim(state.run_id, 2**22 + 7, "boot:1", "render-box-2")  # no such PID here: were it ours, gone
    with pytest.raises(RunBusyError) as caught:
        with run_lock(state.run_id):
            pass
    said = str(caught.value)
    assert "being run by process 4194311 on render-box-2" in said and "\n" not in said
    _claim(state.run_id, 2**22 + 7, "boot:1", None)  # a claim of this host by a process that is gone
    with run_lock(state.run_id):
        pass


def test_two_installs_of_a_member_resume_one_run_and_another_member_cannot_see_it(
    tmp_path: Path, pg_database_url: str, monkeypatch
) -> None:
    import pytest

    from sparklio_desktop.core.ledger.location import DATABASE_URL_ENV
    from sparklio_desktop.core.ledger.members import MEMBER_ENV
    from sparklio_desktop.core.recipes.run_state import UnknownRunError, run_lock, unfinished_records

    monkeypatch.setenv(DATABASE_URL_ENV, pg_database_url)
    monkeypatch.setenv(MEMBER_ENV, "ada")
    monkeypatch.setenv("SPARKLIO_HOME", str(tmp_path / "install-1"))
    state = _record()
    state.save()
    monkeypatch.setenv("SPARKLIO_HOME", str(tmp_path / "install-2"))
    assert [r["run_id"] for r in unfinished_records()] == [state.run_id]
    with run_lock(state.run_id):
        resumed = RunState.load(state.run_id)
        assert resumed == state
        resumed.steps[1].status, resumed.status = "done", "done"
        resumed.save()
    assert unfinished_records() == []
    monkeypatch.setenv(MEMBER_ENV, "bo")
    with pytest.raises(UnknownRunError, match="no recipe run '0123456789ab' of bo"):
        RunState.load(state.run_id)
    assert not (tmp_path / "install-1" / "recipe-runs").exists()
