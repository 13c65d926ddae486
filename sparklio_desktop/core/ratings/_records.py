"""Vote and star records, how a vote expands into pairwise outcomes, and time windows.

A vote compares the 2–4 answers the user saw side by side. Everything the statistics
need from it is its list of pairwise outcomes; :func:`pairwise_outcomes` is the one
place that decides what a vote means, so the fit and the win/loss tallies never
disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import combinations
from typing import TYPE_CHECKING, Literal, Protocol, TypeVar, get_args

if TYPE_CHECKING:  # numpy loads with the first fit: the records alone are read at the app's start-up
    import numpy as np

VoteKind = Literal["a", "b", "tie", "both_bad", "ranking"]
"""``a``/``b``: the left/right answer of two is better; ``tie``: equally good;
``both_bad``: none is acceptable; ``ranking``: 2–4 answers ordered best first."""

_VOTE_KINDS: frozenset[str] = frozenset(get_args(VoteKind))
MIN_COLUMNS = 2
MAX_COLUMNS = 4
_SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class Vote:
    """One compare-and-rate verdict, as the ledger stores it.

    ``models`` keeps the order the answers were shown in, because ``a`` and ``b`` mean
    "the left one" and "the right one". ``ranking`` is required exactly when ``kind`` is
    ``"ranking"`` and must list every shown model once, best first. Lists are accepted
    (records read back from JSON) and stored as tuples so votes stay hashable.
    Invalid records raise ``ValueError`` (``TypeError`` for a ``ts`` that is not a
    datetime) here, at the edge, rather than skewing a fit later.
    """

    task_type: str
    models: tuple[str, ...]
    kind: VoteKind
    ranking: tuple[str, ...] | None
    ts: datetime

    def __post_init__(self) -> None:
        models = tuple(self.models)
        object.__setattr__(self, "models", models)
        if self.ranking is not None:
            object.__setattr__(self, "ranking", tuple(self.ranking))
        if not MIN_COLUMNS <= len(models) <= MAX_COLUMNS:
            raise ValueError(f"a vote shows {MIN_COLUMNS}-{MAX_COLUMNS} models, got {len(models)}")
        if len(set(models)) != len(models) or not all(isinstance(m, str) and m for m in models):
            raise ValueError(f"a vote's models must be distinct non-empty ids, got {models!r}")
        if self.kind not in _VOTE_KINDS:
            raise ValueError(f"unknown vote kind {self.kind!r}; valid: {', '.join(sorted(_VOTE_KINDS))}")
        if self.kind in ("a", "b") and len(models) != 2:
            raise ValueError(f"vote kind {self.kind!r} needs exactly 2 models; use a ranking for more")
        if self.kind == "ranking":
            if self.ranking is None or sorted(self.ranking) != sorted(models):
                raise ValueError(f"a ranking must order every shown model once, got {self.ranking!r}")
        elif self.ranking is not None:
            raise ValueError(f"vote kind {self.kind!r} takes no ranking")
        if not isinstance(self.ts, datetime):
            raise TypeError(f"a vote's ts must be a datetime, got {type(self.ts).__name__}")


@dataclass(frozen=True, slots=True)
class StarRating:
    """A 1–5 star rating of one answer, given in the composer."""

    task_type: str
    model_id: str
    stars: int
    ts: datetime

    def __post_init__(self) -> None:
        # bool is an int subclass; True stars is a bug upstream, not one star.
        if isinstance(self.stars, bool) or not isinstance(self.stars, int) or not 1 <= self.stars <= 5:
            raise ValueError(f"stars must be an integer from 1 to 5, got {self.stars!r}")
        if not isinstance(self.ts, datetime):
            raise TypeError(f"a rating's ts must be a datetime, got {type(self.ts).__name__}")


@dataclass(frozen=True, slots=True)
class PairOutcome:
    """One pairwise result inside a vote.

    For a tie (``tie`` or ``both_bad``), ``winner``/``loser`` are just the shown order
    and carry no meaning; the fit credits each side with half a win.
    """

    winner: str
    loser: str
    tie: bool
    both_bad: bool


def pairwise_outcomes(vote: Vote) -> tuple[PairOutcome, ...]:
    """Expand a vote into the pairwise outcomes the Bradley–Terry fit consumes.

    A ranking of k models yields every one of its k·(k−1)/2 pairs, the earlier model
    winning ("full breaking"; it keeps the Bradley–Terry/Plackett–Luce estimate
    consistent). The pairs of one ranking are not independent, which is why the
    bootstrap resamples whole votes, never single pairs. ``tie`` and ``both_bad``
    with more than two columns tie every pair.
    """
    if vote.kind == "a":
        return (PairOutcome(vote.models[0], vote.models[1], tie=False, both_bad=False),)
    if vote.kind == "b":
        return (PairOutcome(vote.models[1], vote.models[0], tie=False, both_bad=False),)
    if vote.kind == "ranking":
        assert vote.ranking is not None  # guaranteed by Vote.__post_init__
        return tuple(
            PairOutcome(winner, loser, tie=False, both_bad=False) for winner, loser in combinations(vote.ranking, 2)
        )
    both_bad = vote.kind == "both_bad"
    return tuple(PairOutcome(x, y, tie=True, both_bad=both_bad) for x, y in combinations(vote.models, 2))


class _Timestamped(Protocol):
    @property
    def task_type(self) -> str: ...

    @property
    def ts(self) -> datetime: ...


_RecordT = TypeVar("_RecordT", bound=_Timestamped)


def select_records(
    records: Iterable[_RecordT],
    task_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[_RecordT]:
    """Keep records of ``task_type`` (all when None) with ``since <= ts < until``.

    The window is half-open so consecutive windows (this month, last month) never
    count a record twice.
    """
    return [
        r
        for r in records
        if (task_type is None or r.task_type == task_type)
        and (since is None or r.ts >= since)
        and (until is None or r.ts < until)
    ]


def decay_weights(timestamps: Iterable[datetime], half_life_days: float, reference: datetime) -> np.ndarray:
    """Weight each record by ``0.5 ** (age_days / half_life_days)``, age measured from ``reference``.

    Records newer than ``reference`` count as age 0 (weight 1): a clock skew must not
    make one vote outweigh a fresh one.
    """
    if not half_life_days > 0:
        raise ValueError(f"half_life_days must be positive, got {half_life_days!r}")
    import numpy as np

    ages = np.fromiter(((reference - ts).total_seconds() / _SECONDS_PER_DAY for ts in timestamps), dtype=float)
    weights: np.ndarray = np.power(0.5, np.maximum(ages, 0.0) / half_life_days)
    return weights
