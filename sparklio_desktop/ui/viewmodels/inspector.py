"""The routing inspector's view-model: the history list and one request's full story.

Why dicts: the ledger keeps each decision as the router's own ``to_dict`` trace, so a
past decision and the one just made look the same to the view; the view never needs
the core's classes, only plain values.

Plain words first: each request's detail leads with the sentence that says why its model
was chosen (rebuilt from the stored trace by the same function the router's explanation
leads with) and, once it ran, what actually happened (core/naming.py); models and tasks
are named, never shown by id (the ids stay in the values, for tooltips and filters).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.ledger import AttemptRecord, Decision, LedgerStore
from sparklio_desktop.core.naming import (
    Try,
    fallback_words,
    model_name,
    outcome_sentence,
    outcome_words,
    task_description,
    task_words,
)
from sparklio_desktop.core.routing.decision import Rule
from sparklio_desktop.core.routing.explain import lead_from_trace, table_of_trace
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel

_RULE_TEXT = {rule.value: rule.text for rule in Rule}
PERIODS = {"any": "Any time", "today": "Today (UTC)", "7d": "Last 7 days", "month": "This month (UTC)"}


def period_start(period: str, now: datetime | None = None) -> datetime | None:
    """The earliest time a history filter period includes (UTC), or None for any time."""
    now = now or datetime.now(UTC)
    if period == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "7d":
        return now - timedelta(days=7)
    if period == "month":
        return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def rule_text(rule_id: str | None) -> str:
    """The plain words for a rule id stored in a trace ("no_api_key" -> "no API key")."""
    if not rule_id:
        return ""
    return _RULE_TEXT.get(rule_id, rule_id.replace("_", " "))


def _money(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class InspectorViewModel(ViewModel):
    """Loads history rows and the decision trace plus attempts of one request."""

    historyChanged = Signal(object)  # list of dicts, newest first
    detailChanged = Signal(object)  # dict: request_id, decision, attempts, weights, actual

    def __init__(
        self, workspace: Workspace, ledger: LedgerStore, executor: SerialExecutor, parent: QObject | None = None
    ) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._ledger = ledger
        self.search = ""
        self.task_filter: str | None = None
        self.model_filter: str | None = None
        self.since: datetime | None = None
        self.until: datetime | None = None
        self.current_request_id: str | None = None

    def set_period(self, period: str) -> None:
        """Filter the history by date: one of :data:`PERIODS`."""
        self.since = period_start(period)
        self.until = None

    def task_names(self) -> list[str]:
        return list(self._workspace.policy.tasks)

    def model_ids(self) -> list[str]:
        return sorted(m.id for m in self._workspace.catalog.values())

    def task_choices(self) -> list[tuple[str, str, str]]:
        """``(words, task, description)`` per task, in the policy's order, for the task filter."""
        policy = self._workspace.policy
        return [(task_words(policy, t), t, task_description(policy, t)) for t in policy.tasks]

    def model_choices(self) -> list[tuple[str, str]]:
        """``(name, id)`` per catalog model, by name, for the model filter."""
        return sorted(((m.name, m.id) for m in self._workspace.catalog.values()), key=lambda p: (p[0].lower(), p[1]))

    def model_name(self, model_id: str, known: dict[str, str] | None = None) -> str:
        """A model's name: from a trace's candidates when given, else the catalog, else the id in words."""
        if known and model_id in known:
            return known[model_id]
        return model_name(self._workspace.catalog, model_id)

    def task_words(self, task: str) -> str:
        return task_words(self._workspace.policy, task)

    def weights(self) -> dict[str, float]:
        w = self._workspace.policy.weights
        return {"complexity": w.complexity, "cost": w.cost, "speed": w.speed, "quality": w.quality}

    @asyncSlot()
    async def refresh_history(self) -> None:
        """Re-read the history with the current search and filters (newest first)."""
        self._track()
        rows = await self._executor.call(
            self._ledger.history,
            limit=200,
            search=self.search or None,
            task=self.task_filter,
            model=self.model_filter,
            since=self.since,
            until=self.until,
        )
        self.historyChanged.emit(
            [
                {
                    "request_id": r.request_id,
                    "ts_utc": r.ts_utc,
                    "task": r.task_type,
                    "task_words": self.task_words(r.task_type),
                    "model": r.model_id,
                    "model_name": self.model_name(r.model_id),
                    "outcome": r.outcome,
                    "outcome_words": outcome_words(r.outcome),
                    "cost_usd": r.cost_usd,
                    "attempts": r.attempts,
                    "rating": r.rating,
                    "prompt": r.prompt_preview or "",
                }
                for r in rows
            ]
        )

    @asyncSlot(str)
    async def open_request(self, request_id: str) -> None:
        """Load one request's decision trace and attempts from the ledger."""
        self._track()
        decision, attempts = await self._executor.call(self._load, request_id)
        if decision is None and not attempts:
            self.errorRaised.emit(f"No request {request_id} in the ledger.")
            return
        self.current_request_id = request_id
        trace = decision.trace if decision is not None else {}
        self.detailChanged.emit(self.describe(request_id, trace, attempts, decision.prompt_preview if decision else ""))

    def _load(self, request_id: str) -> tuple[Decision | None, list[AttemptRecord]]:
        return self._ledger.decision(request_id), self._ledger.attempts(request_id)

    def describe(
        self, request_id: str, trace: dict[str, Any], attempts: list[AttemptRecord], prompt: str
    ) -> dict[str, Any]:
        """Everything the inspector shows, as plain values (also used for tests)."""
        candidates = []
        for c in trace.get("candidates", []):
            candidates.append(
                {**c, "excluded_text": rule_text(c.get("excluded_by")), "cost_usd": _money(c.get("cost_usd"))}
            )
        known = {str(c["id"]): str(c["name"]) for c in candidates if c.get("id") and c.get("name")}

        def name(model_id: str) -> str:
            return self.model_name(model_id, known)

        timeline = []
        for index, a in enumerate(attempts):
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            if a.outcome in ("ok", "cache_hit") or following is None:
                then = ""
            elif following.model_id == a.model_id:
                then = f"retry after {following.waited_s:g} s"
            else:
                then = f"fell back to {name(following.model_id)}"
            timeline.append(
                {
                    "attempt": a.attempt,
                    "model": a.model_id,
                    "model_name": name(a.model_id),
                    "outcome": a.outcome,
                    "outcome_words": outcome_words(a.outcome),
                    "error_class": a.error_class,
                    "error": a.error_message,
                    "waited_s": a.waited_s,
                    "cost_usd": a.cost_usd,
                    "latency_s": a.latency_s,
                    "then": then,
                    "input_tokens": a.input_tokens,
                    "output_tokens": a.output_tokens,
                }
            )
        estimate = trace.get("estimate", {})
        latencies = [a.latency_s for a in attempts if a.latency_s is not None]
        options = trace.get("options", {})
        task = str(options.get("task") or (attempts[0].task_type if attempts else ""))
        chain = list(trace.get("chain", []))
        exploration = bool(trace.get("exploration"))
        counts = trace.get("excluded_counts") or {}
        return {
            "request_id": request_id,
            "prompt": prompt,
            "options": options,
            "task_words": self.task_words(task) if task else "",
            "task_description": task_description(self._workspace.policy, task),
            "summary": self._summary(trace, task),
            "outcome": self._outcome(attempts, name, chain, exploration) if attempts else "",
            "chain": chain,
            "chain_names": [name(m) for m in chain],
            "fallbacks": fallback_words([name(m) for m in chain]),
            "excluded_count": sum(int(n) for n in counts.values()),
            "excluded_counts": {rule_text(rule): int(n) for rule, n in counts.items()},
            "candidate_count": trace.get("candidate_count", len(candidates)),
            "candidates": candidates,
            "weights": self.weights(),
            "attempts": timeline,
            "explanation": trace.get("explanation", ""),
            "exploration": exploration,
            "estimated_cost_usd": _money(estimate.get("cost_usd")),
            "estimated_latency_s": estimate.get("latency_s"),
            "actual_cost_usd": sum((a.cost_usd for a in attempts), Decimal(0)),
            "actual_latency_s": sum(latencies) + sum(a.waited_s for a in attempts) if latencies else None,
            "notes": trace.get("notes", []),
        }

    def _summary(self, trace: dict[str, Any], task: str) -> str:
        """The lead sentence of a stored decision; its task table read from today's policy,
        family references resolved as the trace resolved them."""
        if not trace:
            return ""
        spec = self._workspace.policy.tasks.get(task)
        return lead_from_trace(trace, table_of_trace(trace, spec.chain) if spec is not None else ())

    def _outcome(
        self, attempts: list[AttemptRecord], name: Callable[[str], str], chain: list[str], exploration: bool
    ) -> str:
        tries = [Try(a.model_id, a.outcome, a.error_class, a.error_message) for a in attempts]
        return outcome_sentence(
            tries,
            name,
            exploration=exploration,
            usual=chain[1] if exploration and len(chain) > 1 else None,
            exploration_rate=self._workspace.policy.exploration.rate,
        )

    def show_decision(self, trace: dict[str, Any]) -> None:
        """Show a decision that has no ledger rows yet (the composer's live preview)."""
        self.current_request_id = None
        self.detailChanged.emit(self.describe("", trace, [], ""))
