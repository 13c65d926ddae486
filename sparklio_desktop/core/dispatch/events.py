"""What a running request reports as it goes, and what it leaves behind.

The dispatcher is an async generator of these events: the CLI prints text chunks as
they arrive, the GUI's view-model turns each event into a Qt signal. The last event is
always :class:`Finished` with the :class:`RunResult`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sparklio_desktop.core.routing.decision import RoutingDecision


@dataclass(frozen=True)
class AttemptInfo:
    """One try of one model, as recorded in the ledger."""

    attempt: int
    model: str
    outcome: str  # ok, error, stalled (the provider went silent), cancelled, cache_hit
    error_class: str | None
    error: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_s: float | None
    ttft_s: float | None
    waited_s: float
    usage_source: str = "provider"
    exploration: bool = False
    status: int | None = None  # the HTTP status of a failure, for its words; not stored, not in the JSON

    def to_dict(self) -> dict[str, Any]:
        return {
            "attempt": self.attempt,
            "model": self.model,
            "outcome": self.outcome,
            "error_class": self.error_class,
            "error": self.error,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "usage_source": self.usage_source,
            "cost_usd": self.cost_usd,
            "latency_s": self.latency_s,
            "ttft_s": self.ttft_s,
            "waited_s": self.waited_s,
            "exploration": self.exploration,
        }


@dataclass(frozen=True)
class RunResult:
    request_id: str
    decision: RoutingDecision
    model: str | None  # the model that produced the final answer
    output: str
    images: tuple[bytes, ...] = field(default=(), repr=False)
    image_size: str | None = None
    vectors: tuple[tuple[float, ...], ...] = field(default=(), repr=False)
    cache_hit: bool = False
    exploration: bool = False
    attempts: tuple[AttemptInfo, ...] = ()
    error: str | None = None  # why no model answered, in the provider's words where it has them
    budget_alert: str | None = None
    saved_usd: Decimal = Decimal(0)
    # The gallery's record of the images (core/gallery): their ids, the files written under
    # <data>/images, and why they could not all be kept (a warning: the images are paid for).
    gallery_ids: tuple[str, ...] = ()
    image_files: tuple[str, ...] = ()
    gallery_warning: str | None = None
    data: Any = None  # the answer parsed, when the request asked for JSON (RunRequest.json_output)
    # A conversation's history: the tokens sent (kept turns and summary) and those trimming
    # saved (the full history minus what was sent). docs/conversations.md.
    history_tokens_sent: int = 0
    history_tokens_saved: int = 0

    @property
    def ok(self) -> bool:
        return self.model is not None and self.error is None

    @property
    def cost_usd(self) -> Decimal:
        return sum((a.cost_usd for a in self.attempts), Decimal(0))

    @property
    def retries(self) -> int:
        return sum(1 for a in self.attempts if a.waited_s > 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "model": self.model,
            "output": self.output,
            "cache_hit": self.cache_hit,
            "cost_usd": self.cost_usd,
            "saved_usd": self.saved_usd,
            "exploration": self.exploration,
            "attempts": [a.to_dict() for a in self.attempts],
            "error": self.error,
            "budget_alert": self.budget_alert,
            "images": len(self.images),
            "embeddings": len(self.vectors),
            "gallery_ids": list(self.gallery_ids),
            "data": self.data,
            "history_tokens_sent": self.history_tokens_sent,
            "history_tokens_saved": self.history_tokens_saved,
        }


@dataclass(frozen=True)
class Routed:
    request_id: str
    decision: RoutingDecision


@dataclass(frozen=True)
class AttemptStarted:
    attempt: int
    model: str
    model_name: str
    waited_s: float


@dataclass(frozen=True)
class TextChunk:
    text: str


@dataclass(frozen=True)
class AttemptFailed:
    info: AttemptInfo
    next_action: str  # "retry", "next model", "stop"
    wait_s: float = 0.0


@dataclass(frozen=True)
class Finished:
    result: RunResult


Event = Routed | AttemptStarted | TextChunk | AttemptFailed | Finished
