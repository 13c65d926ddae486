"""The spend panel's view-model: one month's SQL aggregates turned into figures.

Why the numbers come straight from ``LedgerStore.spend_summary``: the issue demands
that what the panel shows equals the ledger's SQL sums, so nothing here re-adds
attempts; it only derives shares, the projection and the anomaly days from the
aggregates. The query and the derivation run in the serial executor, off the loop.

In a team (issue 16) the panel shows the team or "me" (:attr:`SpendViewModel.scope`):
"me" is the member this install writes as (``$SPARKLIO_MEMBER``, ``team.member``, the
OS user), and its gauge measures that member's own monthly limit when they have one.
Both figures, and each member's spend, are on every :class:`SpendFigures`.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.budget import BudgetGuard, GaugeLevel, gauge_level
from sparklio_desktop.core.ledger import LedgerStore, SpendSummary
from sparklio_desktop.core.money import format_usd, format_usd_distinct
from sparklio_desktop.core.naming import model_name, task_words
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel

_ZERO = Decimal(0)
TRAILING_DAYS = 7
Scope = Literal["team", "me"]
SCOPES: tuple[Scope, ...] = ("team", "me")


@dataclass(frozen=True)
class SpendFigures:
    """Everything the spend panel draws for one month; money is exact ``Decimal``."""

    month: str
    spent_usd: Decimal
    budget_usd: Decimal
    percent: float  # spent as a share of the budget, in percent
    alert_threshold: float  # 0.8 = the 80% mark
    alert_mark_usd: Decimal
    projection_usd: Decimal  # month-end spend at the current pace
    alert: bool
    capped: bool
    at_cap_text: str
    daily: list[tuple[date, Decimal]]
    cumulative: list[Decimal]
    by_model: list[tuple[str, Decimal]]
    by_task: list[tuple[str, Decimal]]
    by_provider: list[tuple[str, Decimal]]
    local_usd: Decimal
    cloud_usd: Decimal
    local_answers: int
    cloud_answers: int
    requests: int
    attempts: int
    cache_hits: int
    saved_usd: Decimal
    fallback_rate: float
    # Conversation history trimming: tokens saved, their worth at the answering models' input
    # rates, and what the summarising calls cost (docs/conversations.md).
    history_tokens_saved: int = 0
    history_saved_usd: Decimal = Decimal(0)
    history_summary_cost_usd: Decimal = Decimal(0)
    anomalies: list[tuple[date, Decimal, Decimal]] = field(default_factory=list)  # day, spent, median
    level: GaugeLevel = "ok"  # the gauge's colour: amber at the alert mark or a projection past the budget
    today: date | None = None  # the last day with spend so far (None: a past or future month, all of it)
    # What the tables show next to the ids in by_model / by_task (ids stay the data: CSV, tooltips).
    model_names: Mapping[str, str] = field(default_factory=dict)
    task_names: Mapping[str, str] = field(default_factory=dict)
    # The team and "me": whose figures the rest are ("team": everyone's), the member this
    # install writes as, both totals, that member's own limit (None: none), every member's
    # spend (biggest first; it adds up to team_spent_usd).
    scope: Scope = "team"
    member: str = ""
    team_spent_usd: Decimal = _ZERO
    member_spent_usd: Decimal = _ZERO
    member_limit_usd: Decimal | None = None
    by_member: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def against_member_limit(self) -> bool:
        """The gauge and banner measure the member's own limit, not the team budget."""
        return self.scope == "me" and self.member_limit_usd is not None

    @property
    def team_and_me_text(self) -> str:
        """ "Team $12.40 · Me (ada) $3.10 of a $5.00 limit": both figures, whichever is shown."""
        mine = format_usd(self.member_spent_usd)
        if self.member_limit_usd is not None:
            mine, limit = format_usd_distinct(self.member_spent_usd, self.member_limit_usd)
            mine = f"{mine} of a {limit} monthly limit"
        return f"Team {format_usd(self.team_spent_usd)} · Me ({self.member}) {mine}"

    def model_label(self, model_id: str) -> str:
        """A by-model row's model by its catalog name (a model no longer listed: its id's tail)."""
        return self.model_names.get(model_id) or model_name({}, model_id)

    def task_label(self, task: str) -> str:
        """A by-task row's task in words ("copywriting_standard" -> "Copywriting")."""
        return self.task_names.get(task) or task_words(None, task)

    @property
    def history_text(self) -> str:
        """ "history trimmed: 3,200 tokens, saved ~$0.009 (summaries $0.001)", or "" when none."""
        if not self.history_tokens_saved and not self.history_summary_cost_usd:
            return ""
        text = f"history trimmed: {self.history_tokens_saved:,} tokens, saved ~{format_usd(self.history_saved_usd)}"
        if self.history_summary_cost_usd:
            text += f" (summaries {format_usd(self.history_summary_cost_usd)})"
        return text

    @property
    def spent_of_budget(self) -> str:
        """ "$12.40 of $50.00", the two figures never equal by rounding."""
        spent, budget = format_usd_distinct(self.spent_usd, self.budget_usd)
        return f"{spent} of {budget}"

    @property
    def banner_text(self) -> str:
        """The panel's budget banner ("" when all is well): "Monthly budget reached" only at
        the cap; near it, what is left, with figures that never read the same."""
        left, budget, projected = format_usd_distinct(
            max(self.budget_usd - self.spent_usd, _ZERO), self.budget_usd, self.projection_usd
        )
        if self.against_member_limit:
            if self.capped:
                return (
                    f"Your monthly limit is reached for {self.month} ({self.spent_of_budget}). "
                    "Raise it in team.member_limits."
                )
            if self.alert:
                return f"{left} of your {budget} monthly limit for {self.month} is left."
            return ""
        if self.capped:
            return f"Monthly budget reached for {self.month} ({self.spent_of_budget}). {self.at_cap_text}"
        if self.alert:
            return (
                f"{left} of the {budget} budget for {self.month} is left — past the "
                f"{self.alert_threshold:.0%} mark. {self.at_cap_text}"
            )
        if self.level == "amber":
            return f"At this pace the month ends at {projected}, over the {budget} budget; {left} is left."
        return ""

    @property
    def elapsed_cumulative(self) -> list[Decimal]:
        """The cumulative line up to today: the days ahead have no spend yet, so the line
        stops rather than running flat to the month's end."""
        if self.today is None:
            return self.cumulative
        return self.cumulative[: self.today.day]

    @property
    def cache_hit_rate(self) -> float:
        return self.cache_hits / self.requests if self.requests else 0.0

    @property
    def local_share(self) -> float:
        answers = self.local_answers + self.cloud_answers
        return self.local_answers / answers if answers else 0.0


def month_choices(today: date | None = None, count: int = 12) -> list[str]:
    """This month and the ``count - 1`` before it, newest first ('YYYY-MM', UTC)."""
    today = today or datetime.now(UTC).date()
    year, month = today.year, today.month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return found


def projection(month: str, spent: Decimal, days: int, today: date) -> Decimal:
    """Month-end spend if the pace so far goes on; a past month is simply what it spent."""
    current = f"{today.year:04d}-{today.month:02d}"
    if month != current:
        return spent if month < current else _ZERO
    return (spent * days / today.day).quantize(Decimal("0.000001"))


def anomalies(daily: list[tuple[date, Decimal]], multiple: float) -> list[tuple[date, Decimal, Decimal]]:
    """Days whose spend exceeds ``multiple`` x the median of the seven days before."""
    found = []
    amounts = [amount for _, amount in daily]
    for index, (day, amount) in enumerate(daily):
        window = amounts[max(0, index - TRAILING_DAYS) : index]
        if len(window) < 3 or amount <= 0:
            continue
        median = Decimal(statistics.median(window))
        if median > 0 and amount > median * Decimal(str(multiple)):
            found.append((day, amount, median))
    return found


def compute_figures(
    summary: SpendSummary, budget_usd: Decimal, threshold: Decimal, at_cap: str, multiple: float, today: date
) -> SpendFigures:
    """Derive the panel's figures from a ``SpendSummary``; pure, so it is tested directly."""
    spent = summary.spent_usd
    running = _ZERO
    cumulative = []
    for _, amount in summary.daily:
        running += amount
        cumulative.append(running)
    percent = float(spent * 100 / budget_usd) if budget_usd > 0 else 100.0
    at_cap_text = (
        "At the cap Sparklio routes to local models only."
        if at_cap == "local_only"
        else "At the cap paid requests stop; local models still run."
    )
    split = summary.local_vs_cloud
    projection_usd = projection(summary.month, spent, len(summary.daily), today)
    return SpendFigures(
        month=summary.month,
        spent_usd=spent,
        budget_usd=budget_usd,
        percent=percent,
        alert_threshold=float(threshold),
        alert_mark_usd=budget_usd * threshold,
        projection_usd=projection_usd,
        alert=budget_usd > 0 and spent >= budget_usd * threshold,
        capped=spent >= budget_usd,
        at_cap_text=at_cap_text,
        daily=list(summary.daily),
        cumulative=cumulative,
        by_model=list(summary.by_model.items()),
        by_task=list(summary.by_task.items()),
        by_provider=list(summary.by_provider.items()),
        local_usd=split.local_usd,
        cloud_usd=split.cloud_usd,
        local_answers=split.local_answers,
        cloud_answers=split.cloud_answers,
        requests=summary.requests,
        attempts=summary.attempts,
        cache_hits=summary.cache_hits,
        saved_usd=summary.saved_usd,
        fallback_rate=summary.fallback_rate,
        history_tokens_saved=summary.history.tokens_saved,
        history_saved_usd=summary.history.saved_usd,
        history_summary_cost_usd=summary.history.summary_cost_usd,
        anomalies=anomalies(summary.daily, multiple),
        level=gauge_level(spent, budget_usd, threshold, projection_usd),
        today=today if summary.month == f"{today.year:04d}-{today.month:02d}" else None,
    )


class SpendViewModel(ViewModel):
    """Loads a month's spend and exports its rows as CSV."""

    figuresChanged = Signal(object)  # SpendFigures
    alertRaised = Signal(str)  # once per month shown, when spend passes the alert mark
    exported = Signal(str, int)  # path, rows

    def __init__(
        self,
        workspace: Workspace,
        ledger: LedgerStore,
        budget: BudgetGuard,
        executor: SerialExecutor,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._ledger = ledger
        self._budget = budget
        self.month = month_choices()[0]
        self.scope: Scope = "team"
        self.figures: SpendFigures | None = None
        self._alerted: set[str] = set()

    def months(self) -> list[str]:
        return month_choices()

    @property
    def member(self) -> str:
        """The member this install writes as ("me")."""
        return self._budget.member

    def set_scope(self, scope: str) -> Any:
        """Show the team's figures or "me" (this install's member); returns the reload's task."""
        if scope not in SCOPES:
            raise ValueError(f"scope is one of {SCOPES}, not {scope!r}")
        self.scope = "me" if scope == "me" else "team"
        return self.load(self.month)

    @asyncSlot(str)
    async def load(self, month: str | None = None) -> None:
        """Read the month's aggregates (a few ms even for a million rows: a rollup table)."""
        self._track()
        self.month = month or self.month
        figures = await self._executor.call(self._compute, self.month, self.scope)
        self.figures = figures
        self.figuresChanged.emit(figures)
        if figures.scope == "team" and figures.alert and figures.month not in self._alerted:
            self._alerted.add(figures.month)
            self.alertRaised.emit(
                f"{figures.percent:.0f}% of the {figures.month} budget spent "
                f"({figures.spent_of_budget}). {figures.at_cap_text}"
            )

    def _compute(self, month: str, scope: Scope = "team") -> SpendFigures:
        member = self._budget.member
        limit = self._budget.member_limit_usd
        team = self._ledger.spend_summary(month)
        summary = team if scope == "team" else self._ledger.spend_summary(month, member=member)
        policy = self._workspace.policy
        catalog = self._workspace.catalog
        mine = team.by_member.get(member)
        figures = compute_figures(
            summary,
            limit if scope == "me" and limit is not None else self._budget.monthly_usd,
            self._budget.alert_threshold,
            self._budget.at_cap,
            policy.budget.anomaly_multiple,
            datetime.now(UTC).date(),
        )
        return replace(
            figures,
            model_names={m: model_name(catalog, m) for m, _ in figures.by_model},
            task_names={t: task_words(policy, t) for t, _ in figures.by_task},
            scope=scope,
            member=member,
            team_spent_usd=team.spent_usd,
            member_spent_usd=mine.spent_usd if mine else _ZERO,
            member_limit_usd=limit,
            by_member=[(name, part.spent_usd) for name, part in team.by_member.items()],
        )

    @asyncSlot(str)
    async def export_csv(self, path: str) -> None:
        """Write every attempt of the month shown to ``path``."""
        self._track()
        try:
            rows = await self._executor.call(self._ledger.export_month_csv, self.month, path)
        except OSError as exc:
            self.errorRaised.emit(f"Could not export to {path}: {exc.strerror or exc}")
            return
        self.exported.emit(path, rows)
