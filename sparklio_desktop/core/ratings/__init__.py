"""Ratings math for compare-and-rate: pure functions over votes and star ratings, no Qt.

Inputs are plain records (:class:`Vote`, :class:`StarRating`) read from the ledger;
outputs are plain rows (:class:`LeaderboardRow`, :class:`Suggestion`) a view-model can
show as they are. Nothing here reads the clock, the disk or global random state, so
every result is a function of its arguments (bootstraps take a ``seed``).

Statistical choices, in brief (details in the private modules' docstrings):

* Votes expand into pairwise outcomes; a ranking of k models gives k·(k−1)/2 pairs.
* Bradley–Terry strengths by maximum likelihood; a tie is half a win each way and a
  both-bad vote is a tie (and also feeds a per-model "both bad" rate). A prior of one
  virtual tie per model against a reference keeps every fit finite.
* Score = 10 · P(beat an average model) = 10 · σ(θ_i − mean θ), on 0–10; 95% interval
  by percentile bootstrap over votes (``rounds``, ``seed``).
* Rank = 1 + number of models whose interval lies wholly above this one's.
* Optional decay: a vote weighs ``0.5 ** (age_days / half_life_days)``.
* Stars: mean with a Student-t 95% interval, clipped to [1, 5].
* Routing: ``blended = (k · catalog + n · rating) / (k + n)``.

The names below load on first use (PEP 562): the records (:class:`Vote`,
:class:`StarRating`) that the vote store and the app's start-up need come without
numpy, which only the fits (``_bradley_terry``, ``_tally``) import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparklio_desktop.core.ratings._bradley_terry import (
        DEFAULT_PRIOR_GAMES,
        BradleyTerryFit,
        fit_bradley_terry,
        fit_log_strengths,
        score_from_log_strength,
    )
    from sparklio_desktop.core.ratings._leaderboard import (
        DEFAULT_MIN_VOTES,
        DEFAULT_ROUNDS,
        LeaderboardRow,
        leaderboard,
    )
    from sparklio_desktop.core.ratings._records import (
        PairOutcome,
        StarRating,
        Vote,
        VoteKind,
        decay_weights,
        pairwise_outcomes,
        select_records,
    )
    from sparklio_desktop.core.ratings._routing import (
        DEFAULT_PRIOR_VOTES,
        Suggestion,
        blended_quality,
        suggest,
    )
    from sparklio_desktop.core.ratings._stars import StarSummary, star_interval, summarize_stars

# name -> the private module that defines it
_WHERE = {
    "DEFAULT_PRIOR_GAMES": "_bradley_terry", "BradleyTerryFit": "_bradley_terry",
    "fit_bradley_terry": "_bradley_terry", "fit_log_strengths": "_bradley_terry",
    "score_from_log_strength": "_bradley_terry",
    "DEFAULT_MIN_VOTES": "_leaderboard", "DEFAULT_ROUNDS": "_leaderboard", "LeaderboardRow": "_leaderboard",
    "leaderboard": "_leaderboard",
    "PairOutcome": "_records", "StarRating": "_records", "Vote": "_records", "VoteKind": "_records",
    "decay_weights": "_records", "pairwise_outcomes": "_records", "select_records": "_records",
    "DEFAULT_PRIOR_VOTES": "_routing", "Suggestion": "_routing", "blended_quality": "_routing", "suggest": "_routing",
    "StarSummary": "_stars", "star_interval": "_stars", "summarize_stars": "_stars",
}  # fmt: skip

__all__ = [
    "BradleyTerryFit",
    "DEFAULT_MIN_VOTES",
    "DEFAULT_PRIOR_GAMES",
    "DEFAULT_PRIOR_VOTES",
    "DEFAULT_ROUNDS",
    "LeaderboardRow",
    "PairOutcome",
    "StarRating",
    "StarSummary",
    "Suggestion",
    "Vote",
    "VoteKind",
    "blended_quality",
    "decay_weights",
    "fit_bradley_terry",
    "fit_log_strengths",
    "leaderboard",
    "pairwise_outcomes",
    "score_from_log_strength",
    "select_records",
    "star_interval",
    "suggest",
    "summarize_stars",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # found once; later look-ups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
