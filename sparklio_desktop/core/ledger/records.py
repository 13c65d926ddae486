"""The values that go into the ledger and come back out of it.

They are frozen dataclasses so a record handed to the database executor cannot be
changed by the coroutine that made it while the write is queued. Validation happens
on construction, in the caller's frame, where a traceback is useful; the database's
CHECK constraints are the second line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger.members import HOST_LIMIT, current_user, member_name_problem
from sparklio_desktop.core.ledger.money import to_picodollars, utcnow

# ``in_flight``: written when the attempt starts, finished in place by one UPDATE.
# ``interrupted``: its process ended first (a signal, a kill); see LedgerStore.reclaim_orphans.
# ``stalled``: the stream went silent past the idle or first-token limit.
Outcome = Literal["ok", "error", "cancelled", "cache_hit", "stalled", "in_flight", "interrupted"]
UsageSource = Literal["provider", "estimate"]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
USAGE_SOURCES: frozenset[str] = frozenset(get_args(UsageSource))
ANSWER_OUTCOMES: tuple[str, ...] = ("ok", "cache_hit")
IN_FLIGHT = "in_flight"
INTERRUPTED = "interrupted"
ERROR_MESSAGE_LIMIT = 2000
RUN_ID_LIMIT = 64
_RUN_ID_RE = re.compile(rf"[\x21-\x7e]{{1,{RUN_ID_LIMIT}}}")


class LedgerError(SparklioError):
    """A ledger operation the user asked for cannot be done (e.g. rating an unanswered request)."""


def is_run_id(value: object) -> bool:
    """A run id is short printable ASCII without spaces (a recipe run's or a batch's id is hex)."""
    return isinstance(value, str) and _RUN_ID_RE.fullmatch(value) is not None


def check_rating(rating: int | None) -> None:
    if rating is None:
        return
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise ValueError(f"rating must be an int from 1 to 5, got {rating!r}")


@dataclass(frozen=True, kw_only=True)
class AttemptRecord:
    """One attempt at a request: one model called once (or a cache hit).

    A request that is retried or falls back to another model has several attempts,
    numbered from 1. ``cost_usd`` is what this attempt cost; for a cache hit it is
    0 and ``saved_usd`` is what the cached answer cost when it was made.
    ``error_message`` must already be redacted by the caller (the store redacts it
    once more, defensively, and keeps the first 2,000 characters).
    """

    request_id: str
    attempt: int
    task_type: str
    model_id: str
    provider: str
    outcome: Outcome
    ts_utc: datetime = field(default_factory=utcnow)
    user: str = field(default_factory=current_user)
    complexity: str | None = None
    budget_tier: str | None = None
    speed: str | None = None
    quality_target: str | None = None
    error_class: str | None = None
    error_message: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    usage_source: UsageSource = "provider"
    price_input_per_mtok: Decimal | None = None
    price_output_per_mtok: Decimal | None = None
    price_per_image: Decimal | None = None
    cost_usd: Decimal = Decimal(0)
    saved_usd: Decimal = Decimal(0)
    latency_s: float | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    waited_s: float = 0.0
    exploration: bool = False
    gpu_seconds: float | None = None
    rating: int | None = None
    # Set when the attempt starts (``in_flight``) and kept once it is finished: the
    # process that made it (core.ledger.owners), its input estimate priced (what it is
    # billed if that process ends before it finishes) and the worst case reserved.
    owner_pid: int | None = None
    owner_start: str | None = None
    start_cost_usd: Decimal | None = None
    worst_case_usd: Decimal | None = None
    # The billing parts (core/pricing.py): cache reads and writes are part of
    # input_tokens, reasoning part of output_tokens; the rates applied to them, and the
    # prompt-length tier applied to all rates (None: the base rates).
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    image_quality: str | None = None
    batch: bool = False
    price_cache_read_per_mtok: Decimal | None = None
    price_cache_write_per_mtok: Decimal | None = None
    price_reasoning_per_mtok: Decimal | None = None
    price_tier_above_tokens: int | None = None
    # The recipe run or batch this attempt belongs to (None: a request on its own).
    run_id: str | None = None
    # Who sent it and from which machine (core/ledger/members.py). None: the store that
    # writes the row fills in its own member and host; read back, a row from before
    # m008 has its user as member and no host.
    member: str | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        if not self.request_id:
            raise ValueError("request_id is required")
        if self.member is not None and (problem := member_name_problem(self.member)) is not None:
            raise ValueError(f"member {self.member!r}: {problem}")
        if self.host is not None and not 0 < len(self.host) <= HOST_LIMIT:
            raise ValueError(f"host is 1 to {HOST_LIMIT} characters, got {self.host!r}")
        if self.run_id is not None and not is_run_id(self.run_id):
            raise ValueError(f"run_id is 1 to {RUN_ID_LIMIT} printable ASCII characters, got {self.run_id!r}")
        if isinstance(self.attempt, bool) or not isinstance(self.attempt, int) or self.attempt < 1:
            raise ValueError(f"attempt is 1-based, got {self.attempt!r}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {sorted(OUTCOMES)}, got {self.outcome!r}")
        if self.usage_source not in USAGE_SOURCES:
            raise ValueError(f"usage_source must be one of {sorted(USAGE_SOURCES)}")
        if self.ts_utc.tzinfo is None or self.ts_utc.utcoffset() is None:
            raise ValueError("ts_utc must be timezone-aware")
        for name in (
            "input_tokens",
            "output_tokens",
            "images",
            "cache_read_tokens",
            "cache_write_tokens",
            "reasoning_tokens",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in (
            "cost_usd",
            "saved_usd",
            "price_input_per_mtok",
            "price_output_per_mtok",
            "price_per_image",
            "price_cache_read_per_mtok",
            "price_cache_write_per_mtok",
            "price_reasoning_per_mtok",
            "start_cost_usd",
            "worst_case_usd",
        ):
            value = getattr(self, name)
            if value is not None and to_picodollars(value) < 0:
                raise ValueError(f"{name} must not be negative")
        check_rating(self.rating)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_row(cls, row: Any) -> AttemptRecord:
        mapping = row._mapping
        return cls(**{name: mapping[name] for name in cls.field_names()})


@dataclass(frozen=True)
class Decision:
    """A routing decision, kept so it can be explained again later."""

    request_id: str
    ts_utc: datetime
    user: str
    task_type: str
    prompt_preview: str
    prompt_sha256: str
    trace: Any  # the router's trace, parsed back from JSON
    final_model_id: str | None
    exploration: bool
    # A conversation's history: tokens sent (kept turns and summary), and saved by trimming.
    history_tokens_sent: int = 0
    history_tokens_saved: int = 0


@dataclass(frozen=True)
class RequestSummary:
    """One line of the history view: a request and how it ended."""

    request_id: str
    ts_utc: datetime
    task_type: str
    model_id: str  # the last attempt's model: the one that answered, if any did
    outcome: str  # the last attempt's outcome; ``in_flight`` while it runs
    cost_usd: Decimal  # all finished attempts together (an in-flight attempt's cost is not known yet)
    saved_usd: Decimal
    attempts: int
    rating: int | None
    prompt_preview: str | None  # None when no decision was recorded
    run_id: str | None = None  # the recipe run or batch it belongs to
    member: str | None = None  # who sent it (its first attempt's member)
    host: str | None = None  # the machine it ran on (None: written before m008)


@dataclass(frozen=True)
class LocalCloudSplit:
    """Answered requests (outcome ok) and spend on this machine versus in the cloud."""

    local_answers: int
    cloud_answers: int
    local_usd: Decimal
    cloud_usd: Decimal


@dataclass(frozen=True)
class MemberSpend:
    """One team member's month: what they spent, and their requests and attempts."""

    spent_usd: Decimal
    requests: int
    attempts: int


@dataclass(frozen=True)
class HistorySaving:
    """A month of conversation history trimming: tokens sent and saved, the saving at the
    answering models' input rates, and the summarising calls that made it possible (they
    are ledger rows too, counted in the spend; ``net_saved_usd`` takes them off)."""

    tokens_sent: int = 0
    tokens_saved: int = 0
    saved_usd: Decimal = Decimal(0)
    summary_calls: int = 0
    summary_cost_usd: Decimal = Decimal(0)
    error: str | None = None  # the request rows could not be read (a damaged ledger): no figures

    @property
    def net_saved_usd(self) -> Decimal:
        return self.saved_usd - self.summary_cost_usd


@dataclass(frozen=True)
class SpendSummary:
    """A month of spending, as the spend panel shows it (UTC month)."""

    month: str
    spent_usd: Decimal
    by_model: dict[str, Decimal]
    by_task: dict[str, Decimal]
    by_provider: dict[str, Decimal]
    local_vs_cloud: LocalCloudSplit
    cache_hits: int
    saved_usd: Decimal
    requests: int
    attempts: int
    fallback_rate: float  # share of requests that needed a second model
    daily: list[tuple[date, Decimal]]  # every day of the month, zero where none
    # Each team member's part of the month, biggest spender first (m008); their spent
    # sums add up to ``spent_usd``.
    by_member: dict[str, MemberSpend] = field(default_factory=dict)
    history: HistorySaving = HistorySaving()  # conversation history trimming (docs/conversations.md)
