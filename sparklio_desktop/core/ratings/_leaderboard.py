"""The leaderboard: Bradley–Terry scores, intervals, tallies and stars, one row per model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sparklio_desktop.core.ratings._bradley_terry import Seed, fit_tally, vote_weights
from sparklio_desktop.core.ratings._records import StarRating, Vote, select_records
from sparklio_desktop.core.ratings._stars import StarSummary, summarize_stars
from sparklio_desktop.core.ratings._tally import ModelTally, VoteTally

DEFAULT_MIN_VOTES = 20
DEFAULT_ROUNDS = 100


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    """One model's standing on a task type (or overall).

    ``strength`` is the 0–10 score (ten times the chance of beating an average model),
    ``low``/``high`` its 95% bootstrap interval; all three are None for a model that has
    star ratings but no votes. ``rank`` is 1 + the number of models whose ``low`` is
    above this model's ``high`` — models whose intervals overlap share a rank, so a rank
    only moves when the data can tell the models apart. ``provisional`` flags fewer than
    ``min_votes`` votes. ``wins``/``losses``/``ties`` count pairwise outcomes, ties
    including both-bad pairs; ``both_bad`` counts both-bad votes and ``both_bad_rate``
    is their share of the model's votes (None without votes).
    """

    model_id: str
    strength: float | None
    low: float | None
    high: float | None
    votes: int
    wins: int
    losses: int
    ties: int
    rank: int | None
    provisional: bool
    stars_mean: float | None
    stars_low: float | None
    stars_high: float | None
    stars_n: int
    both_bad: int = 0
    both_bad_rate: float | None = None


def leaderboard(
    votes: Iterable[Vote],
    stars: Iterable[StarRating] = (),
    task_type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    half_life_days: float | None = None,
    rounds: int = DEFAULT_ROUNDS,
    min_votes: int = DEFAULT_MIN_VOTES,
    seed: Seed = 0,
) -> list[LeaderboardRow]:
    """Rank the models of ``task_type`` (every task pooled when None) in ``[since, until)``.

    ``half_life_days`` down-weights old votes in the fit; ages run from ``until`` when it
    is given, otherwise from the newest vote in the window, so the board is a pure
    function of its arguments. Counts (votes, wins, ...) stay unweighted: they say how
    much evidence there is, not how much it counts. Stars are never decayed.
    ``rounds`` bootstrap rounds give the intervals (0: intervals collapse to the point
    score); ``seed`` makes them reproducible. Rows are sorted by strength, best first;
    models with stars but no votes follow, by mean stars.
    """
    if min_votes < 0:
        raise ValueError(f"min_votes must be >= 0, got {min_votes}")
    selected = select_records(votes, task_type, since, until)
    tally = VoteTally(selected, vote_weights(selected, half_life_days, until))
    fit = fit_tally(tally, rounds=rounds, seed=seed)
    tallies = tally.model_tallies()
    star_summaries = summarize_stars(stars, task_type, since, until)

    rows: list[LeaderboardRow] = []
    for i, model_id in enumerate(fit.model_ids):
        t = tallies[model_id]
        rank = 1 + sum(1 for j in range(len(fit.model_ids)) if fit.low[j] > fit.high[i])
        rows.append(_row(model_id, t, fit.scores[i], fit.low[i], fit.high[i], rank, min_votes, star_summaries))
    for model_id in sorted(star_summaries.keys() - set(fit.model_ids)):
        rows.append(_row(model_id, ModelTally(), None, None, None, None, min_votes, star_summaries))
    rows.sort(
        key=lambda r: (
            r.strength is None,
            -(r.strength if r.strength is not None else 0.0),
            -(r.stars_mean if r.stars_mean is not None else 0.0),
            r.model_id,
        )
    )
    return rows


def _row(
    model_id: str,
    tally: ModelTally,
    strength: float | None,
    low: float | None,
    high: float | None,
    rank: int | None,
    min_votes: int,
    star_summaries: dict[str, StarSummary],
) -> LeaderboardRow:
    summary = star_summaries.get(model_id, StarSummary(model_id, None, None, None, 0))
    return LeaderboardRow(
        model_id=model_id,
        strength=strength,
        low=low,
        high=high,
        votes=tally.votes,
        wins=tally.wins,
        losses=tally.losses,
        ties=tally.ties,
        rank=rank,
        provisional=tally.votes < min_votes,
        stars_mean=summary.mean,
        stars_low=summary.low,
        stars_high=summary.high,
        stars_n=summary.n,
        both_bad=tally.both_bad,
        both_bad_rate=tally.both_bad / tally.votes if tally.votes else None,
    )
