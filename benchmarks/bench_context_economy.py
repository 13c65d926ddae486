"""Context economy on a reference conversation (issue 17, "Numbers").

Replays the 40-question creator conversation of ``benchmarks/data/creator_conversation_40.json``
(answers of about 300 tokens) two ways, each question sent with the history before it:

- **everything**: the whole history with every question (the conversation's opt-out);
- **trimmed + summary**: what ``RunRequest`` sends (core/history.py ``fit_context``) under
  the shipped policy's ``context.max_history_tokens`` for the conversation's task, with the
  running summary rewritten when it is due (core/history_summary.py: the same prompt, the
  same cadence); the summarising call's input is counted, and its answer is a stand-in of
  150 words (no model runs here).

Tokens are core/tokens.py's counts (cl100k with chat framing) of the messages the dispatcher
builds (system prompt, summary, kept turns, question); costs are the pricing core's for the
named answering model, and for the summarising calls at the named summariser's prices
(Gemini 2.0 Flash, the cheapest cloud model; a local Ollama model would make them $0).
Output tokens are the same both ways and are left out of the comparison.

Targets: input tokens summed over the conversation at least 40% lower; at most one
summarising call per 8 questions; trimming adds at most 1 ms to a request (median and p95
of building the request of the 40th question, counts warm as in a session, and the first
build of a conversation, cold, reported apart).

Run: python benchmarks/bench_context_economy.py [MODEL] [SUMMARISER]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SPARKLIO_HOME"] = tempfile.mkdtemp(prefix="sparklio-bench-context-")

from sparklio_desktop.core import tokens  # noqa: E402
from sparklio_desktop.core.dispatch import RunRequest  # noqa: E402
from sparklio_desktop.core.dispatch.runner import _messages  # noqa: E402
from sparklio_desktop.core.history import HistorySummary, _text_cost, fit_context  # noqa: E402
from sparklio_desktop.core.history_summary import SUMMARY_SYSTEM_PROMPT, summary_prompt  # noqa: E402
from sparklio_desktop.core.money import format_usd  # noqa: E402
from sparklio_desktop.core.pricing import price_call  # noqa: E402
from sparklio_desktop.core.providers.base import Message  # noqa: E402
from sparklio_desktop.core.routing.router import RouteRequest  # noqa: E402
from sparklio_desktop.core.workspace import Workspace  # noqa: E402

FIXTURE = ROOT / "benchmarks" / "data" / "creator_conversation_40.json"
SUMMARY_WORDS = 150


def load_fixture() -> tuple[str, list[Message], list[tuple[str, ...]]]:
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    turns = [Message(t["role"], t["content"]) for t in doc["turns"]]
    attachments = [tuple(t.get("attachments", ())) for t in doc["turns"]]
    return doc["task"], turns, attachments


def stand_in_summary(turns: list[Message]) -> str:
    """A 150-word stand-in for the summariser's answer: the questions it covers, cut."""
    words = " ".join(t.content for t in turns if t.role == "user").split()
    return " ".join(words[:SUMMARY_WORDS])


def replay(task: str, turns: list[Message], attachments: list[tuple[str, ...]], limit: int, system: str) -> dict:
    everything = trimmed = summary_in = summary_out = calls = 0
    summary: HistorySummary | None = None
    questions = len(turns) // 2
    for q in range(questions):
        history, prompt = tuple(turns[: 2 * q]), turns[2 * q].content
        route = RouteRequest(task=task, prompt=prompt)
        full = RunRequest(route=route, history=history, send_everything=True)
        everything += tokens.count_chat(_messages(system, full))[0]
        window = fit_context(history, limit, summary, attachments=attachments[: 2 * q])
        if window.refresh_due:
            covered = summary.turns if summary is not None else 0
            text = summary_prompt(
                summary.text if summary else None, history[covered : window.start], attachments[covered : window.start]
            )
            summary_in += tokens.count_chat([Message("system", SUMMARY_SYSTEM_PROMPT), Message("user", text)])[0]
            new = stand_in_summary(list(history[: window.start]))
            summary_out += tokens.count_text(new)[0]
            summary = HistorySummary(new, window.start)
            calls += 1
        run = RunRequest(
            route=route,
            history=history,
            history_limit=limit,
            history_summary=summary,
            history_attachments=tuple(attachments[: 2 * q]),
        )
        assert not run.window.refresh_due
        trimmed += tokens.count_chat(_messages(system, run))[0]
    return {
        "questions": questions,
        "everything": everything,
        "trimmed": trimmed,
        "summary_in": summary_in,
        "summary_out": summary_out,
        "calls": calls,
    }


def overhead(task: str, turns: list[Message], attachments: list[tuple[str, ...]], limit: int, runs: int) -> None:
    history, prompt = tuple(turns[:78]), turns[78].content
    summary = HistorySummary(stand_in_summary(turns[:60]), 60)

    def build(with_history: bool) -> None:
        route = RouteRequest(task=task, prompt=prompt)
        if with_history:
            RunRequest(
                route=route,
                history=history,
                history_limit=limit,
                history_summary=summary,
                history_attachments=tuple(attachments[:78]),
            )
        else:
            RunRequest(route=route)

    _text_cost.cache_clear()
    tokens._count_cached.cache_clear()  # a cold start: nothing counted yet
    start = time.perf_counter_ns()
    build(True)
    cold = (time.perf_counter_ns() - start) / 1000
    for label, with_history in (("request without history", False), ("request with 39 questions of history", True)):
        samples = []
        for _ in range(runs):
            start = time.perf_counter_ns()
            build(with_history)
            samples.append((time.perf_counter_ns() - start) / 1000)
        samples.sort()
        median, p95 = statistics.median(samples), samples[int(len(samples) * 0.95) - 1]
        print(f"{label:<40} median {median:8.1f} µs   p95 {p95:8.1f} µs")
    print(f"{'first build of the conversation (cold)':<40} {cold:8.1f} µs (every turn counted once)")


def main() -> None:
    model_id = sys.argv[1] if len(sys.argv) > 1 else "anthropic/claude-3-5-sonnet"
    summariser_id = sys.argv[2] if len(sys.argv) > 2 else "google/gemini-2.0-flash"
    workspace = Workspace()
    task, turns, attachments = load_fixture()
    spec = workspace.policy.task(task)
    limit = spec.context.max_history_tokens
    model = workspace.catalog.get_model(model_id)
    summariser = workspace.catalog.get_model(summariser_id)
    r = replay(task, turns, attachments, limit, spec.system_prompt)
    cost_all = price_call(model, input_tokens=r["everything"]).cost_usd
    cost_trim = price_call(model, input_tokens=r["trimmed"]).cost_usd
    cost_summary = price_call(summariser, input_tokens=r["summary_in"], output_tokens=r["summary_out"]).cost_usd
    trimmed_total = r["trimmed"] + r["summary_in"]
    saving = 1 - trimmed_total / r["everything"]
    print(f"conversation: {r['questions']} questions, task {task}, max_history_tokens {limit}, model {model.name}")
    print(f"input tokens, send everything:        {r['everything']:>9,}   {format_usd(cost_all)}")
    print(f"input tokens, trimmed + summary:      {r['trimmed']:>9,}   {format_usd(cost_trim)}")
    print(
        f"summarising calls: {r['calls']} ({summariser.name}): {r['summary_in']:,} in, {r['summary_out']:,} out,"
        f" {format_usd(cost_summary)}"
    )
    print(
        f"trimmed + summary, calls included:    {trimmed_total:>9,}   {format_usd(cost_trim + cost_summary)}"
        f"   ({saving:.1%} fewer input tokens; {1 - (cost_trim + cost_summary) / cost_all:.1%} less money)"
    )
    print(f"summarising calls per 8 questions: {r['calls'] * 8 / r['questions']:.2f}")
    assert saving >= 0.40, f"target: at least 40% fewer input tokens, got {saving:.1%}"
    assert r["calls"] * 8 <= r["questions"], "target: at most one summarising call per 8 questions"
    assert cost_trim + cost_summary < cost_all
    assert _text_cost(SUMMARY_SYSTEM_PROMPT) > 0 and isinstance(cost_all, Decimal)
    overhead(task, turns, attachments, limit, int(os.environ.get("BENCH_RUNS", "2000")))


if __name__ == "__main__":
    main()
