"""What the ratings mean for routing: blended quality and policy suggestions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sparklio_desktop.core.ratings._leaderboard import LeaderboardRow

DEFAULT_PRIOR_VOTES = 20


def blended_quality(
    catalog_quality: float,
    rating_score: float | None,
    votes: int,
    prior_votes: float = DEFAULT_PRIOR_VOTES,
) -> float:
    """Shrink the user's own rating towards the catalog's quality score.

        blended = (k · catalog_quality + n · rating_score) / (k + n)

    with ``n = votes`` and ``k = prior_votes`` (a policy setting, default 20). The catalog
    score acts as k votes' worth of prior opinion: a handful of votes nudges routing, a
    few hundred dominate it. Returns ``catalog_quality`` unchanged when n is 0 (or there is
    no rating), and the rating itself when k is 0. Both scores are on the 0–10 scale.
    """
    if votes < 0:
        raise ValueError(f"votes must be >= 0, got {votes}")
    if prior_votes < 0:
        raise ValueError(f"prior_votes must be >= 0, got {prior_votes}")
    if votes == 0 or rating_score is None:
        return float(catalog_quality)
    return (prior_votes * catalog_quality + votes * rating_score) / (prior_votes + votes)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A proposed change of primary model for one task type, with its evidence.

    ``cost_ratio``/``latency_ratio`` are candidate ÷ primary (None when unknown).
    ``confidence`` is the evidence in words ("42 votes; intervals overlap") and
    ``sentence`` the whole suggestion as shown to the user.
    """

    task_type: str | None
    current_primary: str
    candidate: str
    significantly_better: bool
    intervals_overlap: bool
    cheaper: bool
    faster: bool
    cost_ratio: Decimal | None
    latency_ratio: float | None
    candidate_votes: int
    primary_votes: int
    confidence: str
    sentence: str


@dataclass(frozen=True, slots=True)
class _Candidate:
    row: LeaderboardRow
    better: bool
    cost: Decimal | None
    primary_cost: Decimal | None
    latency: float | None
    primary_latency: float | None

    @property
    def cheaper(self) -> bool:
        return _less(self.cost, self.primary_cost)

    @property
    def faster(self) -> bool:
        return _less(self.latency, self.primary_latency)

    @property
    def cost_ratio(self) -> Decimal | None:
        if self.cost is None or self.primary_cost is None or self.primary_cost <= 0:
            return None
        return Decimal(self.cost) / Decimal(self.primary_cost)

    @property
    def latency_ratio(self) -> float | None:
        if self.latency is None or self.primary_latency is None or self.primary_latency <= 0:
            return None
        return self.latency / self.primary_latency


def suggest(
    task_type: str | None,
    current_primary: str,
    rows: Sequence[LeaderboardRow],
    costs: Mapping[str, Decimal],
    latencies: Mapping[str, float],
    display_names: Mapping[str, str] | None = None,
) -> Suggestion | None:
    """Propose a better primary for ``task_type`` from its leaderboard ``rows``, or None.

    A candidate qualifies when it is significantly better (its interval lies wholly above
    the primary's: ``low > primary.high``), or when it is not significantly worse
    (``high >= primary.low``) and is cheaper or faster. Provisional candidates never
    qualify: with few votes the intervals are so wide that "not significantly worse"
    means nothing. Among qualifying candidates the significantly better ones win,
    strongest first; otherwise the cheapest, then the fastest, then the strongest —
    when intervals overlap the rating difference is noise and must not decide.
    Returns None when the primary has no rated row or nothing qualifies.
    ``display_names`` maps model ids to the names used in the sentence. The vote count
    in the sentence is the candidate's: it is the estimate being trusted.
    """
    by_id = {r.model_id: r for r in rows}
    primary = by_id.get(current_primary)
    if primary is None or primary.low is None or primary.high is None:
        return None
    candidates: list[_Candidate] = []
    for row in rows:
        if row.model_id == current_primary or row.provisional or row.low is None or row.high is None:
            continue
        c = _Candidate(
            row=row,
            better=row.low > primary.high,
            cost=costs.get(row.model_id),
            primary_cost=costs.get(current_primary),
            latency=latencies.get(row.model_id),
            primary_latency=latencies.get(current_primary),
        )
        if c.better or (row.high >= primary.low and (c.cheaper or c.faster)):
            candidates.append(c)
    if not candidates:
        return None
    best = min(candidates, key=_preference)
    return _describe(task_type, primary, best, display_names or {})


def _preference(c: _Candidate) -> tuple[object, ...]:
    strength = c.row.strength if c.row.strength is not None else 0.0
    cost = c.cost_ratio if c.cost_ratio is not None else Decimal("Infinity")
    if c.cost is not None and c.cost == 0:
        cost = Decimal(0)  # free beats everything, even against a free primary
    latency = c.latency_ratio if c.latency_ratio is not None else float("inf")
    if c.better:
        return (0, -strength, cost, latency, c.row.model_id)
    return (1, cost, latency, -strength, c.row.model_id)


def _less(candidate: Decimal | float | None, primary: Decimal | float | None) -> bool:
    return candidate is not None and primary is not None and candidate < primary


def _percent(ratio: Decimal | float) -> str:
    percent = (Decimal(str(ratio)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return "under 1%" if percent == 0 and ratio > 0 else f"{percent}%"


def _cost_phrase(c: _Candidate) -> str | None:
    if c.cost is None or c.primary_cost is None:
        return None
    if c.cost == c.primary_cost:
        return "the same cost"
    if c.cost == 0:
        return "no cost"
    if c.cost_ratio is None:  # a free primary
        return "a higher cost"
    return f"{_percent(c.cost_ratio)} of the cost"


def _latency_phrase(c: _Candidate) -> str | None:
    if c.latency_ratio is None or c.latency == c.primary_latency:
        return None
    return f"{_percent(c.latency_ratio)} of the latency"


def _describe(
    task_type: str | None, primary: LeaderboardRow, c: _Candidate, display_names: Mapping[str, str]
) -> Suggestion:
    row = c.row
    assert row.low is not None and row.high is not None and primary.low is not None and primary.high is not None
    overlap = row.low <= primary.high and primary.low <= row.high
    votes = f"{row.votes} vote" + ("" if row.votes == 1 else "s")
    confidence = f"{votes}; intervals {'overlap' if overlap else 'do not overlap'}"
    trade = " and ".join(p for p in (_cost_phrase(c), _latency_phrase(c)) if p)
    sentence = (
        f"{display_names.get(row.model_id, row.model_id)} "
        f"{'beats' if c.better else 'matches'} "
        f"{display_names.get(primary.model_id, primary.model_id)}"
        f"{f' on {task_type}' if task_type else ' overall'}"
        f"{f' at {trade}' if trade else ''}; {confidence}"
    )
    return Suggestion(
        task_type=task_type,
        current_primary=primary.model_id,
        candidate=row.model_id,
        significantly_better=c.better,
        intervals_overlap=overlap,
        cheaper=c.cheaper,
        faster=c.faster,
        cost_ratio=c.cost_ratio,
        latency_ratio=c.latency_ratio,
        candidate_votes=row.votes,
        primary_votes=primary.votes,
        confidence=confidence,
        sentence=sentence,
    )
