"""Bradley–Terry strengths by penalised maximum likelihood, with a vote bootstrap.

Model: model ``i`` beats ``j`` with probability ``p_i / (p_i + p_j)``; we fit the
log-strengths ``θ_i = log p_i``.

Choices, and why:

* **Ties count as half a win each way**, and ``both_bad`` counts as a tie. A both-bad
  vote says neither answer was preferred, which is exactly what a tie says about their
  *relative* strength; dropping it would throw away the evidence that neither dominated.
  (Its "both bad" meaning is reported separately as a per-model rate.)
* **Regularisation prior**: every model is credited with ``prior_games`` virtual games
  (default 1: half a win and half a loss) against a fixed reference model of strength 1.
  In θ this is a logistic(0, 1) prior raised to the power ``prior_games / 2``. Without
  it a model that never lost has θ = +∞ and disconnected groups of models have no
  common scale; with it every fit is finite and unique (the penalised log-likelihood is
  strictly concave) while one virtual game is negligible beside a few dozen real ones.
  A model that won all of 20 real games against average opponents scores about 9.8/10.
* **Identifiability**: after fitting, θ is centred to mean 0 over the models in the fit,
  i.e. the geometric mean of the strengths is 1.
* **Score**: ``score_i = 10 · σ(θ_i − mean θ) = 10 · p_i / (p_i + p̄)`` with ``p̄`` the
  geometric-mean strength: ten times the expected probability of beating an average
  model. 5 is average; the scale is bounded, monotone in strength, and comparable with
  catalog quality scores.
* **Fit**: Newton's method on θ with a batched Hessian solve and step halving (the
  objective is strictly concave, so this converges in a handful of steps even for
  lopsided data, where the MM algorithm crawls). All bootstrap rounds fit at once.
* **Intervals**: percentile bootstrap over *votes* (a ranking's pairs travel together),
  drawn as a multinomial over distinct vote patterns with a seeded
  ``numpy.random.Generator``. With time decay each resampled vote keeps its weight.
  Each round is re-centred, so the interval describes the same "vs average" quantity as
  the point score. The interval is widened, if needed, to contain the point score — a
  score outside its own interval only happens in degenerate resamples and only confuses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from sparklio_desktop.core.ratings._records import Vote, decay_weights
from sparklio_desktop.core.ratings._tally import VoteTally

DEFAULT_PRIOR_GAMES = 1.0
CONFIDENCE_LEVEL = 0.95
_MAX_NEWTON_STEPS = 500
_MAX_HALVINGS = 60
# Bootstrap rounds are processed in chunks so memory stays near this many floats.
_CHUNK_FLOATS = 4_000_000

Seed = int | np.random.Generator


def score_from_log_strength(centred_log_strength: float | np.ndarray) -> float | np.ndarray:
    """``10 · σ(θ)``: ten times the chance of beating a model of average (geometric-mean) strength."""
    return 5.0 * (1.0 + np.tanh(np.asarray(centred_log_strength, dtype=float) / 2.0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # tanh form: no overflow for large |x|, unlike 1 / (1 + exp(-x)).
    return 0.5 * (1.0 + np.tanh(x / 2.0))


def _sigmoid_slope(x: np.ndarray) -> np.ndarray:
    # σ(x)(1 − σ(x)) without cancellation: for lopsided pairs 1 − σ(x) rounds to 0 and
    # the Hessian would go singular long before the slope is really negligible.
    e = np.exp(-np.abs(x))
    slope: np.ndarray = e / (1.0 + e) ** 2
    return slope


def _penalised_log_likelihood(theta: np.ndarray, wins: np.ndarray, half_prior: float) -> np.ndarray:
    diff = theta[:, :, None] - theta[:, None, :]
    data = -(wins * np.logaddexp(0.0, -diff)).sum(axis=(1, 2))
    prior = half_prior * (theta - 2.0 * np.logaddexp(0.0, theta)).sum(axis=1)
    total: np.ndarray = data + prior
    return total


def fit_log_strengths(wins: np.ndarray, prior_games: float = DEFAULT_PRIOR_GAMES, *, tol: float = 1e-14) -> np.ndarray:
    """Penalised ML log-strengths for a batch of win-mass matrices.

    ``wins[r, i, j]`` is the (weighted) number of times ``i`` beat ``j`` in round ``r``;
    returns ``θ`` of shape ``(rounds, M)``, centred to mean 0 in each round. Iteration
    stops when no round can gain more than ``tol`` in penalised log-likelihood.
    Raises ``RuntimeError`` if Newton's method fails to converge, which strict
    concavity rules out short of non-finite input.
    """
    if not prior_games > 0:
        raise ValueError(f"prior_games must be positive so every fit is finite, got {prior_games!r}")
    wins = np.asarray(wins, dtype=float)
    if wins.ndim != 3 or wins.shape[1] != wins.shape[2]:
        raise ValueError(f"wins must have shape (rounds, M, M), got {wins.shape}")
    if not np.all(np.isfinite(wins)) or np.any(wins < 0):
        raise ValueError("wins must be finite and non-negative")
    rounds, m, _ = wins.shape
    if m == 0:
        return np.zeros((rounds, 0))
    half_prior = prior_games / 2.0
    games = wins + wins.transpose(0, 2, 1)
    won = wins.sum(axis=2)
    theta = np.zeros((rounds, m))
    loglik = _penalised_log_likelihood(theta, wins, half_prior)
    for _ in range(_MAX_NEWTON_STEPS):
        diff = theta[:, :, None] - theta[:, None, :]
        own = _sigmoid(theta)
        grad = won - (games * _sigmoid(diff)).sum(axis=2) + half_prior * (1.0 - 2.0 * own)
        curvature = games * _sigmoid_slope(diff)
        # Negative Hessian: positive definite thanks to the prior term on the diagonal.
        neg_hessian = -curvature
        diag = curvature.sum(axis=2) + 2.0 * half_prior * _sigmoid_slope(theta)
        neg_hessian[:, np.arange(m), np.arange(m)] = diag
        step = np.linalg.solve(neg_hessian, grad[:, :, None])[:, :, 0]
        # Half the squared Newton decrement is the log-likelihood still to gain. Unlike
        # the step length it is not fooled by directions the data barely pin down (a
        # weak prior leaves some nearly flat), where rounding makes the step wobble.
        to_gain = (grad * step).sum(axis=1) / 2.0
        if np.max(to_gain) < tol:
            break
        scale = np.ones(rounds)
        for _ in range(_MAX_HALVINGS):
            candidate = theta + scale[:, None] * step
            candidate_loglik = _penalised_log_likelihood(candidate, wins, half_prior)
            worse = candidate_loglik < loglik - 1e-12 * (1.0 + np.abs(loglik))
            if not worse.any():
                break
            scale = np.where(worse, scale / 2.0, scale)
        else:
            # No step of any length improves: we sit at the optimum to rounding error.
            break
        rounding = 1e-12 * (1.0 + np.abs(loglik))
        stalled = (scale == 1.0) & (candidate_loglik - loglik <= rounding)
        theta, loglik = candidate, candidate_loglik
        # A full Newton step that gains nothing measurable: rounding noise in extreme
        # data (near-certain outcomes, a tiny prior) keeps the decrement above tol.
        if np.all((to_gain < tol) | stalled):
            break
    else:
        raise RuntimeError("Bradley–Terry fit did not converge")
    centred: np.ndarray = theta - theta.mean(axis=1, keepdims=True)
    return centred


@dataclass(frozen=True, slots=True)
class BradleyTerryFit:
    """Per-model strengths from one fit, in ``model_ids`` order (sorted ids).

    ``log_strengths`` are centred (geometric-mean strength 1); ``scores`` are on the
    0–10 "chance of beating an average model" scale; ``low``/``high`` bound the
    95% percentile-bootstrap interval of the score (equal to the score when
    ``rounds`` is 0).
    """

    model_ids: tuple[str, ...]
    log_strengths: tuple[float, ...]
    scores: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    rounds: int

    def score_of(self, model_id: str) -> float:
        """The 0–10 score of one model (KeyError if it was not in the fit)."""
        return self.scores[self.model_ids.index(model_id)]


def vote_weights(votes: Sequence[Vote], half_life_days: float | None, now: datetime | None) -> np.ndarray | None:
    """Decay weights for ``votes``, or None when there is no decay.

    Ages run from ``now``, or from the newest vote when ``now`` is None, so the result
    never depends on the wall clock and the freshest vote weighs 1. (Only relative
    weights matter to the data term; the reference sets how much the prior counts.)
    """
    if half_life_days is None or not votes:
        return None
    reference = now if now is not None else max(v.ts for v in votes)
    return decay_weights((v.ts for v in votes), half_life_days, reference)


def _bootstrap_pattern_mass(tally: VoteTally, rounds: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield chunks of resampled pattern weights, shape ``(chunk_rounds, n_patterns)``.

    Resampling N votes with replacement is a multinomial draw over groups of
    interchangeable votes — same pattern and same weight — so one draw per round
    replaces N index look-ups. Without decay the groups are just the patterns.
    """
    n = tally.n_votes
    weights = tally.weights
    if np.all(weights == weights[0]):
        group_counts = tally.pattern_counts
        group_weight = np.full(tally.n_patterns, weights[0])
        group_starts = None
    else:
        keys = np.column_stack([tally.pattern_of_vote.astype(float), weights])
        groups, group_counts = np.unique(keys, axis=0, return_counts=True)
        group_pattern = groups[:, 0].astype(np.intp)  # sorted: groups of a pattern are adjacent
        group_weight = groups[:, 1]
        group_starts = np.flatnonzero(np.r_[True, group_pattern[1:] != group_pattern[:-1]])
    probabilities = group_counts / n
    chunk = max(1, _CHUNK_FLOATS // max(group_counts.size, tally.n_entries, tally.n_models**2, 1))
    for start in range(0, rounds, chunk):
        draws = rng.multinomial(n, probabilities, size=min(chunk, rounds - start)) * group_weight
        yield draws if group_starts is None else np.add.reduceat(draws, group_starts, axis=1)


def fit_tally(
    tally: VoteTally,
    *,
    rounds: int = 0,
    seed: Seed = 0,
    prior_games: float = DEFAULT_PRIOR_GAMES,
) -> BradleyTerryFit:
    """Fit a compiled tally and, with ``rounds`` > 0, bootstrap its 95% intervals."""
    if rounds < 0:
        raise ValueError(f"rounds must be >= 0, got {rounds}")
    m = tally.n_models
    if m == 0:
        return BradleyTerryFit((), (), (), (), (), rounds)
    theta = fit_log_strengths(tally.win_mass(tally.pattern_mass()), prior_games)[0]
    scores = np.asarray(score_from_log_strength(theta))
    low, high = scores.copy(), scores.copy()
    if rounds > 0:
        rng = np.random.default_rng(seed)
        boot = np.concatenate(
            [
                np.asarray(score_from_log_strength(fit_log_strengths(tally.win_mass(mass), prior_games)))
                for mass in _bootstrap_pattern_mass(tally, rounds, rng)
            ]
        )
        tail = (1.0 - CONFIDENCE_LEVEL) / 2.0 * 100.0
        low, high = np.percentile(boot, [tail, 100.0 - tail], axis=0)
        low, high = np.minimum(low, scores), np.maximum(high, scores)
    return BradleyTerryFit(
        model_ids=tally.model_ids,
        log_strengths=tuple(theta.tolist()),
        scores=tuple(scores.tolist()),
        low=tuple(low.tolist()),
        high=tuple(high.tolist()),
        rounds=rounds,
    )


def fit_bradley_terry(
    votes: Sequence[Vote],
    *,
    half_life_days: float | None = None,
    now: datetime | None = None,
    rounds: int = 0,
    seed: Seed = 0,
    prior_games: float = DEFAULT_PRIOR_GAMES,
) -> BradleyTerryFit:
    """Fit Bradley–Terry strengths to ``votes`` (already filtered by task and window).

    ``half_life_days`` weights each vote by ``0.5 ** (age_days / half_life_days)`` in the
    likelihood (see :func:`vote_weights` for what "age" is measured from).
    """
    votes = list(votes)
    tally = VoteTally(votes, vote_weights(votes, half_life_days, now))
    return fit_tally(tally, rounds=rounds, seed=seed, prior_games=prior_games)
