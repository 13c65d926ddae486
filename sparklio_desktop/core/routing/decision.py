"""What the router returns: the chain, every candidate with its scores, the estimate.

These are plain frozen values with a ``to_dict`` for JSON output and for the ledger's
decision trace, so any past decision can be shown again exactly as it was made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, NamedTuple


class Rule(str, Enum):
    """Why a candidate was left out. The value is the stable id used in JSON."""

    AVOIDED_BY_TIER = "avoided_by_budget_tier"
    OCCASIONAL_ONLY = "occasional_in_budget_tier"
    NOT_COMPLEX_CAPABLE = "not_complex_capable"
    CONTEXT_TOO_SMALL = "context_window_too_small"
    TOO_SLOW = "too_slow_for_speed_class"
    UNPRICED = "unpriced"
    BUDGET_CAP = "budget_cap"
    NO_API_KEY = "no_api_key"
    NOT_INSTALLED = "local_model_not_installed"
    UNREACHABLE = "provider_unreachable"
    UNAVAILABLE = "unavailable_this_session"

    @property
    def text(self) -> str:
        return _RULE_TEXT[self]


_RULE_TEXT = {
    Rule.AVOIDED_BY_TIER: "avoided by the budget tier",
    Rule.OCCASIONAL_ONLY: "the budget tier uses it only occasionally",
    Rule.NOT_COMPLEX_CAPABLE: "not capable of complex work",
    Rule.CONTEXT_TOO_SMALL: "context window too small",
    Rule.TOO_SLOW: "too slow for the speed class",
    Rule.UNPRICED: "no price in the catalog",
    Rule.BUDGET_CAP: "monthly budget cap reached",
    Rule.NO_API_KEY: "no API key",
    Rule.NOT_INSTALLED: "local model not installed",
    Rule.UNREACHABLE: "provider unreachable",
    Rule.UNAVAILABLE: "unavailable this session",
}


class Scores(NamedTuple):
    """The four factor scores in [0, 1] and their weighted total."""

    complexity: float
    cost: float
    speed: float
    quality: float
    total: float

    def to_dict(self) -> dict[str, float]:
        return {
            "complexity": round(self.complexity, 4),
            "cost": round(self.cost, 4),
            "speed": round(self.speed, 4),
            "quality": round(self.quality, 4),
            "total": round(self.total, 4),
        }


class Candidate(NamedTuple):
    """One model the task could use: its scores, its estimate, and why it is in or out.

    A NamedTuple rather than a dataclass: the router builds one per catalog model per
    decision, and tuples are the cheapest immutable value Python has.
    """

    id: str
    name: str
    provider: str
    local: bool
    scores: Scores
    cost_usd: Decimal | None
    latency_s: float | None
    quality: float
    catalog_quality: float
    excluded_by: Rule | None = None
    exclusion_detail: str = ""
    other_rules: tuple[Rule, ...] = ()
    chain_position: int | None = None
    role: str = ""  # "primary", "fallback", "fill-in", "last resort", "exploration"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "provider": self.provider,
            "local": self.local,
            "scores": self.scores.to_dict(),
            "cost_usd": _money(self.cost_usd),
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
            "quality": self.quality,
            "catalog_quality": self.catalog_quality,
            "excluded_by": self.excluded_by.value if self.excluded_by else None,
            "exclusion_detail": self.exclusion_detail or None,
            "other_rules": [r.value for r in self.other_rules],
            "chain_position": self.chain_position,
            "role": self.role or None,
        }


@dataclass(frozen=True, slots=True)
class Estimate:
    model_id: str | None
    input_tokens: int
    input_tokens_exact: bool
    token_method: str
    output_tokens: int
    images: int
    cost_usd: Decimal | None
    latency_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_id,
            "input_tokens": self.input_tokens,
            "input_tokens_exact": self.input_tokens_exact,
            "token_method": self.token_method,
            "output_tokens": self.output_tokens,
            "images": self.images,
            "cost_usd": _money(self.cost_usd),
            "latency_s": None if self.latency_s is None else round(self.latency_s, 3),
        }


@dataclass(frozen=True, slots=True)
class ResolvedOptions:
    task: str
    complexity: str | None
    budget: str
    speed: str
    quality: str
    capability: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "complexity": self.complexity,
            "budget": self.budget,
            "speed": self.speed,
            "quality": self.quality,
            "capability": self.capability,
        }


@dataclass(frozen=True)
class RoutingDecision:
    options: ResolvedOptions
    chain: tuple[str, ...]
    candidates: Sequence[Candidate]  # may be built lazily (router.LazyCandidates)
    estimate: Estimate
    explanation: str
    exploration: bool
    no_fit_reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    # chain's local model id -> the installed Ollama tag the request is sent with
    local_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def fits(self) -> bool:
        return bool(self.chain)

    def candidate(self, model_id: str) -> Candidate:
        for c in self.candidates:
            if c.id == model_id:
                return c
        raise KeyError(model_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "options": self.options.to_dict(),
            "chain": list(self.chain),
            "candidates": [c.to_dict() for c in self.candidates],
            "estimate": self.estimate.to_dict(),
            "explanation": self.explanation,
            "exploration": self.exploration,
            "no_fit_reasons": list(self.no_fit_reasons),
            "notes": list(self.notes),
            "local_tags": dict(self.local_tags),
        }


def _money(value: Decimal | None) -> str | None:
    """Money in JSON as an exact decimal string (never a float)."""
    if value is None:
        return None
    return format(value.normalize(), "f") if value else "0"
