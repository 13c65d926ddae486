"""What the view-models' signals carry: frozen, Qt-free values that views read by attribute.

Why not dicts: a signal declared ``Signal(object)`` that carries a dict hides its
contract. A misspelt key in a view failed only when that branch ran, mypy could not see
it, and the composer's preview serialised the whole routing decision (``to_dict()``, every
candidate of the catalog) on the event loop only to read a few fields back. Each value
here is built in one place (its ``of`` constructor or its view-model) from the core's own
objects; a view imports these names, never the core (the import-linter contract "Views
talk to the core only through their view-models").

Why frozen and Qt-free: a payload is a fact about something that happened, shared by
every slot connected to the signal; none may change it under the others. Being plain
dataclasses, they are built and checked in tests without a QApplication.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from sparklio_desktop.core.catalog_view import FamilyRow, MemberRow
from sparklio_desktop.core.compare import ColumnResult
from sparklio_desktop.core.dispatch import AttemptFailed, AttemptStarted, RunResult
from sparklio_desktop.core.naming import Try, fallback_words, outcome_sentence, readable_id
from sparklio_desktop.core.ratings import Vote
from sparklio_desktop.core.routing.decision import RoutingDecision

# Two payloads are already frozen, Qt-free values of the core, carried as they are and
# named here so that the compare view can type its slots without importing the core: the
# per-column result (core/compare.py, ``columnFinished``) and the stored vote
# (core/ratings, ``voted``).
__all__ = [
    "AttemptUpdate",
    "CatalogListing",
    "ColumnResult",
    "ExcludedModel",
    "FailedAttempt",
    "FamilyRow",
    "LedgerChange",
    "MemberRow",
    "RefreshOutcome",
    "RoutePreview",
    "RunSummary",
    "StartedAttempt",
    "StatusFigures",
    "TaskOptions",
    "Vote",
]

PREVIEW_EXCLUSIONS = 5  # the best-scoring left-out models the preview names


@dataclass(frozen=True)
class TaskOptions:
    """The composer's options after a task was chosen (``optionsChanged``); the option
    values are None where the task has none (no complexity for image tasks)."""

    task: str
    complexity: str | None
    budget: str | None
    speed: str | None
    quality: str | None
    system_prompt: str
    description: str
    capability: str

    def option(self, name: str) -> str | None:
        """One of the four option values by name ("complexity", "budget", "speed", "quality")."""
        value: str | None = getattr(self, name)
        return value


@dataclass(frozen=True)
class ExcludedModel:
    """A model the route left out, and why, in words."""

    name: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class RoutePreview:
    """What the composer's route preview shows (``previewChanged``): the chain the run will
    take, its estimate, and the best-scoring models that were left out."""

    task: str
    complexity: str | None
    budget: str
    speed: str
    quality: str
    chain: tuple[str, ...]  # model ids, in the order they are tried
    chain_names: tuple[str, ...]  # the same models' display names
    cost_usd: Decimal | None
    latency_s: float | None
    input_tokens: int
    output_tokens: int
    no_fit_reasons: tuple[str, ...]
    excluded: tuple[ExcludedModel, ...]  # best score first, at most PREVIEW_EXCLUSIONS
    excluded_count: int  # all the models left out
    candidates: int  # all the models considered
    summary: str = ""  # one sentence: why the first model ("Claude 3.5 Sonnet: the task table's first choice …")
    fallbacks: str = ""  # the rest of the chain in words ("If it fails: GPT-4 → Qwen 2.5"); "" when none
    # A conversation's history: "history trimmed: 3,200 tokens, saved ~$0.009", or what sending
    # everything costs (the opt-out); "" when nothing is trimmed (the composer fills it).
    history_note: str = ""

    @classmethod
    def of(cls, decision: RoutingDecision, limit: int = PREVIEW_EXCLUSIONS) -> RoutePreview:
        """The preview of a decision, from its top candidates and counts: cheap at any catalog size."""
        top = decision.top_candidates(limit)  # the chain, then the best others, excluded ones by score
        names = {c.id: c.name for c in top}
        left_out = [c for c in top if c.excluded_by is not None]
        best = heapq.nlargest(limit, left_out, key=lambda c: c.scores.total)  # ties keep the router's order
        o, e = decision.options, decision.estimate
        return cls(
            task=o.task,
            complexity=o.complexity,
            budget=o.budget,
            speed=o.speed,
            quality=o.quality,
            chain=tuple(decision.chain),
            chain_names=tuple(names.get(m, m) for m in decision.chain),
            cost_usd=e.cost_usd,
            latency_s=e.latency_s,
            input_tokens=e.input_tokens,
            output_tokens=e.output_tokens,
            no_fit_reasons=tuple(decision.no_fit_reasons),
            excluded=tuple(
                ExcludedModel(c.name, c.excluded_by.text if c.excluded_by else "", c.exclusion_detail) for c in best
            ),
            excluded_count=sum(decision.excluded_counts.values()),
            candidates=decision.candidate_count,
            summary=decision.summary,
            fallbacks=fallback_words([names.get(m, readable_id(m)) for m in decision.chain]),
        )


@dataclass(frozen=True)
class StartedAttempt:
    """An attempt began (``attemptChanged``); ``waited_s`` is the back-off waited before it."""

    attempt: int
    model: str
    model_name: str
    waited_s: float

    @classmethod
    def of(cls, event: AttemptStarted) -> StartedAttempt:
        return cls(event.attempt, event.model, event.model_name, event.waited_s)


@dataclass(frozen=True)
class FailedAttempt:
    """An attempt failed (``attemptChanged``) and what the dispatcher does next."""

    attempt: int
    model: str
    outcome: str  # error, stalled, ...
    error: str | None
    next_action: str  # "retry", "next model", "stop"
    wait_s: float

    @classmethod
    def of(cls, event: AttemptFailed) -> FailedAttempt:
        info = event.info
        return cls(info.attempt, info.model, info.outcome, info.error, event.next_action, event.wait_s)


AttemptUpdate = StartedAttempt | FailedAttempt


@dataclass(frozen=True)
class RunSummary:
    """The composer's result line (``finished``): the answer and its figures."""

    request_id: str
    ok: bool
    model: str | None
    output: str
    input_tokens: int  # of the final attempt
    output_tokens: int
    cost_usd: Decimal  # every attempt together
    saved_usd: Decimal
    latency_s: float | None
    retries: int
    fallbacks: int  # models tried after the first
    cache_hit: bool
    exploration: bool
    error: str | None
    budget_alert: str | None
    images: tuple[bytes, ...] = ()
    model_name: str = ""  # the answering model's name ("" when none answered)
    outcome: str = ""  # what actually happened, in words ("GPT-4 answered after Claude 3.5 Sonnet failed …")
    history_note: str = ""  # "history trimmed: 3,200 tokens, saved ~$0.009" (the composer fills it)
    history_tokens_sent: int = 0
    history_tokens_saved: int = 0

    @classmethod
    def of(cls, result: RunResult, exploration_rate: float | None = None) -> RunSummary:
        """``exploration_rate``: the policy's, named in the outcome of an A/B exploration."""
        final = result.attempts[-1] if result.attempts else None
        name = _names(result)
        return cls(
            request_id=result.request_id,
            ok=result.ok,
            model=result.model,
            output=result.output,
            input_tokens=final.input_tokens if final else 0,
            output_tokens=final.output_tokens if final else 0,
            cost_usd=result.cost_usd,
            saved_usd=result.saved_usd,
            latency_s=final.latency_s if final else None,
            retries=result.retries,
            fallbacks=max(0, len({a.model for a in result.attempts}) - 1),
            cache_hit=result.cache_hit,
            exploration=result.exploration,
            error=result.error,
            budget_alert=result.budget_alert,
            images=tuple(result.images),
            model_name=name(result.model) if result.model else "",
            outcome=run_outcome(result, exploration_rate),
            history_tokens_sent=result.history_tokens_sent,
            history_tokens_saved=result.history_tokens_saved,
        )


def _names(result: RunResult) -> Callable[[str], str]:
    """Model id -> name, from the run's decision (its candidates are the catalog's models)."""
    decision = result.decision

    def name(model_id: str) -> str:
        try:
            return decision.candidate(model_id).name
        except KeyError:
            return readable_id(model_id)

    return name


def run_outcome(result: RunResult, exploration_rate: float | None = None) -> str:
    """What a finished run actually did, in words (core/naming.py's :func:`outcome_sentence`)."""
    tries = [Try(a.model, a.outcome, a.error_class, a.error, a.status) for a in result.attempts]
    chain = result.decision.chain
    usual = chain[1] if result.exploration and len(chain) > 1 else None
    return outcome_sentence(
        tries,
        _names(result),
        exploration=result.exploration,
        usual=usual,
        exploration_rate=exploration_rate,
        error=result.error,
    )


@dataclass(frozen=True)
class StatusFigures:
    """The status bar (``statusChanged``): the month's spend against the budget, and each
    provider's state ("key", "no key"; Ollama: what is installed, or "not running").

    ``level`` is the gauge's colour by the one rule (core.budget.gauge_level): "red" at the
    cap, "amber" from the alert threshold or when the month-end projection passes the
    budget, "ok" otherwise. ``spend_text`` is "$12.40 of $50.00" with the two figures never
    equal by rounding (core.money.format_usd_distinct): the status bar shows it as is.
    ``cache_text`` is shown beside the providers when not empty (core.cache.CacheHealth)."""

    month: str
    spent_usd: Decimal
    budget_usd: Decimal
    percent: float
    alert: bool
    providers: Mapping[str, str]
    level: Literal["ok", "amber", "red"] = "ok"
    spend_text: str = ""
    projection_usd: Decimal | None = None  # month-end spend at this month's pace so far
    # The response cache when it needs saying: "" for the SQLite cache at work; "Redis" for a
    # team's shared cache that answers; why not when it does not (requests go on without it).
    cache_text: str = ""
    # Team mode (docs/team.md): who this install's requests belong to and where the team's
    # ledger is ("team: ada · ledger db.lan/sparklio"); "" for a ledger of one's own.
    team_text: str = ""


@dataclass(frozen=True)
class LedgerChange:
    """What changed the numbers that read the ledger or the budget (``ledgerChanged``).

    ``kind``: "request" (a run of any panel ended: its attempts are recorded), "rating"
    (stars given in the composer), "vote" (a comparison's vote), "settings" (the budget
    or another setting the figures depend on) or "import" (a history copied in: Settings →
    Team). ``request_id`` names the request where there is one.
    """

    kind: Literal["request", "rating", "vote", "settings", "import"]
    request_id: str | None = None


@dataclass(frozen=True)
class CatalogListing:
    """The Catalog tab (``rowsChanged``): families with their members newest first (retired
    ones included, flagged), each family's resolved member in ``FamilyRow.resolved`` and
    the sentence saying why in ``resolved_why`` (family id -> text)."""

    families: tuple[FamilyRow, ...]
    resolved_why: Mapping[str, str]
    last_refresh: str = ""  # "Last refreshed 2026-12-02 13:40 UTC", or that it never was


@dataclass(frozen=True)
class RefreshOutcome:
    """What a catalog refresh changed (``refreshed``), in the words the Catalog tab shows.

    ``failures``: one plain line per provider that could not be asked ("anthropic: the key
    was refused (HTTP 401)"), already redacted by the core; ``skipped``: providers not
    asked and why (no key, Ollama not running); ``background``: the daily refresh."""

    added: tuple[str, ...]
    retired: tuple[str, ...]
    repriced: tuple[str, ...]  # "id: old → new"
    unpriced: tuple[str, ...]
    unretired: tuple[str, ...]
    failures: tuple[str, ...]
    skipped: tuple[str, ...]
    notes: tuple[str, ...]
    background: bool = False
    asked: int = 0  # how many providers the refresh tried (asked or skipped)
    names: Mapping[str, str] = field(default_factory=dict)  # model id -> catalog name, for the lines

    @property
    def counts(self) -> str:
        return (
            f"Added {len(self.added)}, retired {len(self.retired)}, "
            f"repriced {len(self.repriced)}, unpriced {len(self.unpriced)}"
        )

    def lines(self, ids: bool = False) -> list[str]:
        """The change line, then the models by list (by name; by id with ``ids``, for the
        tooltip), then what went wrong: plain words only."""

        def shown(entry: str) -> str:  # a model id, or "id: old → new" for a repriced one
            model_id, sep, rest = entry.partition(": ")
            return entry if ids else self.names.get(model_id, model_id) + sep + rest

        head = ("Daily refresh: " if self.background else "") + self.counts
        lines = [head]
        for label, listed in (
            ("Added", self.added),
            ("Retired", self.retired),
            ("Back in the list", self.unretired),
            ("Repriced", self.repriced),
            ("Unpriced", self.unpriced),
        ):
            if listed:
                lines.append(f"{label}: {', '.join(shown(m) for m in listed)}")
        lines += [f"Could not ask {f}" for f in self.failures]
        if self.skipped and not self.failures and len(self.skipped) == self.asked:
            lines.append("No provider was asked: add a key in Settings, or start Ollama.")
        lines += list(self.notes)
        return lines
