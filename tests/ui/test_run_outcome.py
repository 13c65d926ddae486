"""After an A/B exploration pick the composer's result line says so, with the policy's
exploration rate (issue 12: "after a fallback the explanation says what actually happened")."""

from __future__ import annotations

from tests.ui.conftest import run


def test_an_explored_run_names_the_exploration_rate(qloop, openai_server, anthropic_server, make_ctx, fast_policy):
    text = fast_policy.read_text(encoding="utf-8")
    assert "exploration:\n  rate: 0.05" in text
    # Every run explores (rate 1), so the test does not depend on the draw.
    fast_policy.write_text(text.replace("exploration:\n  rate: 0.05", "exploration:\n  rate: 1"), encoding="utf-8")
    ctx = make_ctx(policy_path=fast_policy)
    assert ctx.workspace.policy.exploration.rate == 1
    summaries = []
    ctx.composer.finished.connect(summaries.append)
    ctx.composer.explore = True
    ctx.composer.set_task("brief_questions")
    ctx.composer.set_prompt("Sharpen the brief for our autumn launch")
    run(qloop, ctx.composer.send())
    [summary] = summaries
    assert summary.ok and summary.exploration
    assert "(A/B exploration, 100%)" in summary.outcome, summary.outcome
    assert summary.outcome.startswith(f"Explored: {summary.model_name} was tried instead of "), summary.outcome
