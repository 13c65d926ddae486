"""What the router returns: the chain, every candidate with its scores, the estimate.

These are plain frozen values with a ``to_dict`` for JSON output and for the ledger's
decision trace, so any past decision can be shown again exactly as it was made. What is
costly and rarely read (each candidate with its exact ``Decimal`` cost, the explanation)
is built when first read: most decisions are read for their chain and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from sparklio_desktop.core.money import json_usd

if TYPE_CHECKING:
    from sparklio_desktop.core.policy.families import Resolution
    from sparklio_desktop.core.routing.ollama_hosts import OllamaHost


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
    RETIRED = "retired_by_provider"

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
    Rule.RETIRED: "retired by its provider",
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


class Estimate:
    """The work, cost and time expected from the chain's first model.

    A frozen value. The exact cost (``Decimal``) is worked out by the pricing core when
    ``cost_usd`` is first read: routing itself compares float scores and never needs it.
    """

    __slots__ = (
        "model_id",
        "input_tokens",
        "input_tokens_exact",
        "token_method",
        "output_tokens",
        "images",
        "latency_s",
        "_cost",
        "_price",
    )

    model_id: str | None
    input_tokens: int
    input_tokens_exact: bool
    token_method: str
    output_tokens: int
    images: int
    latency_s: float | None
    _cost: Decimal | None
    _price: Callable[[], Decimal | None] | None

    def __init__(
        self,
        model_id: str | None,
        input_tokens: int,
        input_tokens_exact: bool,
        token_method: str,
        output_tokens: int,
        images: int,
        cost_usd: Decimal | None | Callable[[], Decimal | None],
        latency_s: float | None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "model_id", model_id)
        set_(self, "input_tokens", input_tokens)
        set_(self, "input_tokens_exact", input_tokens_exact)
        set_(self, "token_method", token_method)
        set_(self, "output_tokens", output_tokens)
        set_(self, "images", images)
        set_(self, "latency_s", latency_s)
        lazy = callable(cost_usd)
        set_(self, "_price", cost_usd if lazy else None)
        set_(self, "_cost", None if lazy else cost_usd)

    @property
    def cost_usd(self) -> Decimal | None:
        price = self._price
        if price is not None:
            object.__setattr__(self, "_cost", price())
            object.__setattr__(self, "_price", None)
        return self._cost

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Estimate is frozen; cannot set {name}")

    def _key(self) -> tuple[object, ...]:
        return (
            self.model_id,
            self.input_tokens,
            self.input_tokens_exact,
            self.token_method,
            self.output_tokens,
            self.images,
            self.cost_usd,
            self.latency_s,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Estimate) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        names = (
            "model_id",
            "input_tokens",
            "input_tokens_exact",
            "token_method",
            "output_tokens",
            "images",
            "cost_usd",
            "latency_s",
        )
        return "Estimate(" + ", ".join(f"{n}={v!r}" for n, v in zip(names, self._key(), strict=True)) + ")"

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


class CandidateSource(Protocol):
    """What a decision reads its candidates and its explanation from, on demand.

    The router scores every catalog model; a :class:`Candidate` (with its exact cost, a
    ``Decimal``) is built only for the models someone reads.
    """

    def all(self) -> Sequence[Candidate]:
        """Every candidate in display order: the chain, then eligible, then excluded (by score)."""
        ...

    def get(self, model_id: str) -> Candidate | None: ...

    def top(self, limit: int) -> list[Candidate]:
        """The stored trace's candidates, in display order: the chain, up to ``limit`` other
        eligible ones and up to ``limit`` excluded ones (by score), and every model the task
        table names."""
        ...

    def count(self) -> int: ...

    def excluded_counts(self) -> Mapping[Rule, int]:
        """How many candidates each rule excluded (each counted once, under its first rule)."""
        ...

    def explanation(self) -> str: ...

    def summary(self) -> str:
        """The explanation's first sentence: why the chain's first model."""
        ...


TRACE_CANDIDATES = 10  # eligible and excluded candidates each that a stored trace keeps beside the chain


class RoutingDecision:
    """What the router decided: the chain, the estimate and, read on demand, the candidates.

    A frozen value. ``to_dict()`` is the stored trace (the ledger's ``decisions`` row, the
    composer's preview): the chain's and the top candidates, the task table's models and
    the count of exclusions per rule, so its size does not grow with the catalog;
    ``to_dict(all_candidates=True)`` lists every candidate (``sparklio route --json``).
    """

    __slots__ = (
        "options",
        "chain",
        "estimate",
        "exploration",
        "notes",
        "local_tags",
        "families",
        "ollama_hosts",
        "_source",
        "_explanation",
    )

    options: ResolvedOptions
    chain: tuple[str, ...]
    estimate: Estimate
    exploration: bool
    notes: tuple[str, ...]
    local_tags: Mapping[str, str]  # chain's local model id -> the installed Ollama tag the request is sent with
    families: tuple[Resolution, ...]  # how the task table's family references resolved (core/policy/families.py)
    # chain's local model id -> the Ollama host the request is sent to (several hosts configured)
    ollama_hosts: Mapping[str, OllamaHost]
    _source: CandidateSource
    _explanation: str | None

    def __init__(
        self,
        options: ResolvedOptions,
        chain: tuple[str, ...],
        estimate: Estimate,
        exploration: bool,
        source: CandidateSource,
        notes: tuple[str, ...] = (),
        local_tags: Mapping[str, str] | None = None,
        families: tuple[Resolution, ...] = (),
        ollama_hosts: Mapping[str, OllamaHost] | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "families", families)
        set_(self, "ollama_hosts", ollama_hosts if ollama_hosts is not None else {})
        set_(self, "options", options)
        set_(self, "chain", chain)
        set_(self, "estimate", estimate)
        set_(self, "exploration", exploration)
        set_(self, "notes", notes)
        set_(self, "local_tags", local_tags if local_tags is not None else {})
        set_(self, "_source", source)
        set_(self, "_explanation", None)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RoutingDecision is frozen; cannot set {name}")

    def __repr__(self) -> str:
        return f"RoutingDecision(task={self.options.task!r}, chain={self.chain!r}, exploration={self.exploration})"

    @property
    def fits(self) -> bool:
        return bool(self.chain)

    @property
    def candidates(self) -> Sequence[Candidate]:
        """Every candidate, in display order (built on first read: a large catalog's are many)."""
        return self._source.all()

    @property
    def explanation(self) -> str:
        text: str | None = self._explanation
        if text is None:
            text = self._source.explanation()
            object.__setattr__(self, "_explanation", text)
        return text

    @property
    def summary(self) -> str:
        """One sentence: why the chain's first model answers (the explanation's lead), saying
        so when the best total score did not win because the task table chose another."""
        return self._source.summary()

    @property
    def no_fit_reasons(self) -> tuple[str, ...]:
        """Why nothing fits (empty when the chain is not): the rule of each excluded candidate
        among :meth:`top_candidates`; :attr:`excluded_counts` counts them all."""
        if self.chain:
            return ()
        return _no_fit(self.top_candidates(), self.options.capability)

    @property
    def excluded_counts(self) -> dict[str, int]:
        """Rule id -> how many candidates it excluded (each under its first rule)."""
        return {rule.value: n for rule, n in self._source.excluded_counts().items()}

    @property
    def candidate_count(self) -> int:
        """How many models were candidates (without building them)."""
        return self._source.count()

    def top_candidates(self, limit: int = TRACE_CANDIDATES) -> list[Candidate]:
        """The stored trace's candidates, in display order: the chain, then up to ``limit``
        other eligible and ``limit`` excluded ones by score, and the task table's models.
        Cheap at any catalog size, unlike :attr:`candidates`."""
        return self._source.top(limit)

    def candidate(self, model_id: str) -> Candidate:
        found = self._source.get(model_id)
        if found is None:
            raise KeyError(model_id)
        return found

    def to_dict(self, *, all_candidates: bool = False) -> dict[str, Any]:
        """The trace as JSON values; see the class docstring for what it keeps."""
        candidates = self.candidates if all_candidates else self.top_candidates()
        trace: dict[str, Any] = {
            "options": self.options.to_dict(),
            "chain": list(self.chain),
            "candidates": [c.to_dict() for c in candidates],
            "candidate_count": self.candidate_count,
            "excluded_counts": self.excluded_counts,
            "estimate": self.estimate.to_dict(),
            "explanation": self.explanation,
            "exploration": self.exploration,
            "no_fit_reasons": [] if self.chain else list(_no_fit(candidates, self.options.capability)),
            "notes": list(self.notes),
            "local_tags": dict(self.local_tags),
            "families": [r.to_dict() for r in self.families],
        }
        if self.ollama_hosts:  # several Ollama hosts: where each local model of the chain runs
            trace["ollama_hosts"] = {model_id: host.to_dict() for model_id, host in self.ollama_hosts.items()}
        return trace


def _no_fit(candidates: Iterable[Candidate], capability: str) -> tuple[str, ...]:
    reasons = tuple(f"{c.name}: {c.excluded_by.text} ({c.exclusion_detail})" for c in candidates if c.excluded_by)
    return reasons or (f"the catalog has no model that can do {capability}",)


def _money(value: Decimal | None) -> str | None:
    """Money in JSON as an exact decimal string (never a float)."""
    return json_usd(value)
