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
