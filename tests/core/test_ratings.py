"""Tests for the compare-and-rate statistics (sparklio_desktop.core.ratings).

Simulated votes come from known Bradley–Terry strengths with seeded generators, so
every statistical claim (order recovered, interval coverage, decay) is checked
against a truth the test knows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from sparklio_desktop.core import ratings
from sparklio_desktop.core.ratings import (
    LeaderboardRow,
    StarRating,
    Vote,
    VoteKind,
    blended_quality,
    decay_weights,
    fit_bradley_terry,
    fit_log_strengths,
    leaderboard,
    pairwise_outcomes,
    score_from_log_strength,
    star_interval,
    suggest,
    summarize_stars,
)
from sparklio_desktop.core.ratings._stars import t_quantile_975

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def simulate_votes(
    strengths: Sequence[float],
    n_votes: int,
    rng: np.random.Generator,
    *,
    task_type: str = "translation",
    start: datetime = T0,
    spacing: timedelta = timedelta(minutes=1),
    tie_rate: float = 0.0,
    both_bad_rate: float = 0.0,
) -> list[Vote]:
    """Two-column votes between random pairs, A winning with probability σ(θ_A − θ_B).

    A share ``tie_rate``/``both_bad_rate`` of votes is replaced by ties/both-bad
    regardless of strength, which leaves the order of strengths identifiable.
    """
    theta = np.asarray(strengths, dtype=float)
    m = theta.size
    first = rng.integers(0, m, n_votes)
    second = (first + rng.integers(1, m, n_votes)) % m
    p_first = 1.0 / (1.0 + np.exp(-(theta[first] - theta[second])))
    outcome = rng.random(n_votes)
    special = rng.random(n_votes)
    votes = []
    for n in range(n_votes):
        kind: VoteKind
        if special[n] < tie_rate:
            kind = "tie"
        elif special[n] < tie_rate + both_bad_rate:
            kind = "both_bad"
        else:
            kind = "a" if outcome[n] < p_first[n] else "b"
        models = (f"m{first[n]}", f"m{second[n]}")
        votes.append(Vote(task_type, models, kind, None, start + n * spacing))
    return votes


def vote(kind: str, a: str = "x", b: str = "y", *, ts: datetime = T0, task_type: str = "translation") -> Vote:
    return Vote(task_type, (a, b), kind, None, ts)  # type: ignore[arg-type]


def true_scores(strengths: Sequence[float]) -> np.ndarray:
    theta = np.asarray(strengths, dtype=float)
    return np.asarray(score_from_log_strength(theta - theta.mean()))


def row(model_id: str, strength: float, low: float, high: float, votes: int = 100, **kw: object) -> LeaderboardRow:
    fields: dict[str, object] = {
        "model_id": model_id,
        "strength": strength,
        "low": low,
        "high": high,
        "votes": votes,
        "wins": 0,
        "losses": 0,
        "ties": 0,
        "rank": 1,
        "provisional": votes < 20,
        "stars_mean": None,
        "stars_low": None,
        "stars_high": None,
        "stars_n": 0,
    }
    fields.update(kw)
    return LeaderboardRow(**fields)  # type: ignore[arg-type]


# --- the public API -----------------------------------------------------------------


def test_public_api_is_sorted_and_importable() -> None:
    assert ratings.__all__ == sorted(ratings.__all__)
    namespace: dict[str, object] = {}
    exec("from sparklio_desktop.core.ratings import *", namespace)  # fails on a name __all__ lists but lacks
    assert set(ratings.__all__) <= namespace.keys()


# --- votes and their expansion ------------------------------------------------------


@pytest.mark.parametrize(
    ("models", "kind", "ranking", "message"),
    [
        (("x",), "a", None, "2-4 models"),
        (("x", "y", "z", "w", "v"), "ranking", ("x", "y", "z", "w", "v"), "2-4 models"),
        (("x", "x"), "a", None, "distinct"),
        (("x", "y"), "win", None, "unknown vote kind"),
        (("x", "y", "z"), "a", None, "exactly 2"),
        (("x", "y", "z"), "ranking", ("x", "y"), "every shown model"),
        (("x", "y", "z"), "ranking", None, "every shown model"),
        (("x", "y"), "tie", ("x", "y"), "takes no ranking"),
    ],
)
def test_invalid_votes_are_rejected(
    models: tuple[str, ...], kind: str, ranking: tuple[str, ...] | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Vote("translation", models, kind, ranking, T0)  # type: ignore[arg-type]


def test_lists_from_json_are_stored_as_tuples() -> None:
    v = Vote("translation", ["x", "y", "z"], "ranking", ["z", "x", "y"], T0)  # type: ignore[arg-type]
    assert v.models == ("x", "y", "z") and v.ranking == ("z", "x", "y")
    assert hash(v) == hash(Vote("translation", ("x", "y", "z"), "ranking", ("z", "x", "y"), T0))


def test_a_and_b_follow_the_shown_order() -> None:
    (a,) = pairwise_outcomes(vote("a", "x", "y"))
    (b,) = pairwise_outcomes(vote("b", "x", "y"))
    assert (a.winner, a.loser, a.tie) == ("x", "y", False)
    assert (b.winner, b.loser, b.tie) == ("y", "x", False)


def test_tie_and_both_bad_are_ties_and_both_bad_is_flagged() -> None:
    (tie,) = pairwise_outcomes(vote("tie"))
    (bad,) = pairwise_outcomes(vote("both_bad"))
    assert tie.tie and not tie.both_bad
    assert bad.tie and bad.both_bad
    three = pairwise_outcomes(Vote("t", ("x", "y", "z"), "both_bad", None, T0))
    assert len(three) == 3 and all(o.tie and o.both_bad for o in three)


def test_a_ranking_of_four_expands_to_six_pairs_earlier_beating_later() -> None:
    v = Vote("translation", ("w", "x", "y", "z"), "ranking", ("y", "w", "z", "x"), T0)
    outcomes = pairwise_outcomes(v)
    assert len(outcomes) == 6
    assert {(o.winner, o.loser) for o in outcomes} == {
        ("y", "w"), ("y", "z"), ("y", "x"), ("w", "z"), ("w", "x"), ("z", "x"),
    }  # fmt: skip
    assert not any(o.tie for o in outcomes)
    rows = {r.model_id: r for r in leaderboard([v], rounds=0)}
    assert [(rows[m].wins, rows[m].losses) for m in "ywzx"] == [(3, 0), (2, 1), (1, 2), (0, 3)]
    assert all(rows[m].votes == 1 for m in "wxyz")
    assert [r.model_id for r in leaderboard([v], rounds=0)] == ["y", "w", "z", "x"]


# --- the Bradley–Terry fit ----------------------------------------------------------


def test_fit_matches_the_closed_form_for_two_models() -> None:
    # 30 wins to 10: the unpenalised MLE of θ_A − θ_B is log 3.
    wins = np.array([[[0.0, 30.0], [10.0, 0.0]]])
    theta = fit_log_strengths(wins, prior_games=1e-9)[0]
    assert theta[0] - theta[1] == pytest.approx(math.log(3.0), abs=1e-6)
    assert theta.sum() == pytest.approx(0.0, abs=1e-12)  # geometric mean of strengths is 1
    # The default prior (one virtual tie each) shrinks the gap, but only a little.
    shrunk = fit_log_strengths(wins)[0]
    assert 0.95 * math.log(3.0) < shrunk[0] - shrunk[1] < math.log(3.0)


def _mm_reference(wins: np.ndarray, prior_games: float, iterations: int = 20_000) -> np.ndarray:
    """Hunter's MM algorithm with the same virtual reference opponent, as an independent check."""
    half = prior_games / 2
    games = wins + wins.T
    won = wins.sum(axis=1) + half
    p = np.ones(wins.shape[0])
    for _ in range(iterations):
        p = won / ((games / (p[:, None] + p[None, :])).sum(axis=1) + 2 * half / (p + 1))
    theta = np.log(p)
    centred: np.ndarray = theta - theta.mean()
    return centred


def test_newton_fit_agrees_with_the_mm_algorithm() -> None:
    rng = np.random.default_rng(7)
    wins = rng.poisson(3.0, size=(2, 6, 6)).astype(float)
    wins[:, np.arange(6), np.arange(6)] = 0.0
    wins[1, 0, :] = 0.0  # model 0 never wins in the second batch
    fitted = fit_log_strengths(wins)
    for r in range(2):
        np.testing.assert_allclose(fitted[r], _mm_reference(wins[r], 1.0), atol=1e-7)


def test_fit_recovers_the_order_of_known_strengths() -> None:
    strengths = [-1.5, -0.8, -0.2, 0.3, 0.9, 1.6]
    votes = simulate_votes(strengths, 3000, np.random.default_rng(11))
    fit = fit_bradley_terry(votes)
    order = sorted(fit.model_ids, key=fit.score_of)
    assert order == [f"m{i}" for i in range(6)]
    np.testing.assert_allclose([fit.score_of(f"m{i}") for i in range(6)], true_scores(strengths), atol=0.35)


def test_bootstrap_intervals_cover_the_true_scores_in_most_runs() -> None:
    strengths = [-1.0, -0.4, 0.0, 0.5, 0.9]
    truth = true_scores(strengths)
    covered, widths = [], []
    for run in range(30):
        rng = np.random.default_rng(1000 + run)
        votes = simulate_votes(strengths, 600, rng)
        fit = fit_bradley_terry(votes, rounds=200, seed=run)
        for i in range(len(strengths)):
            k = fit.model_ids.index(f"m{i}")
            covered.append(fit.low[k] <= truth[i] <= fit.high[k])
            widths.append(fit.high[k] - fit.low[k])
    assert np.mean(covered) >= 0.80
    # Coverage must come from honest intervals, not absurdly wide ones.
    assert np.mean(widths) < 1.5


def test_bootstrap_is_reproducible_for_a_seed_and_varies_between_seeds() -> None:
    votes = simulate_votes([0.0, 0.5, 1.0], 300, np.random.default_rng(3))
    first = leaderboard(votes, rounds=50, seed=5)
    assert first == leaderboard(votes, rounds=50, seed=5)
    assert [r.low for r in first] != [r.low for r in leaderboard(votes, rounds=50, seed=6)]
    assert leaderboard(votes, rounds=50, seed=np.random.default_rng(5)) == first


def test_a_tie_counts_as_half_a_win_each_way() -> None:
    with_ties = [vote("a")] * 10 + [vote("tie")] * 10
    as_wins = [vote("a")] * 15 + [vote("b")] * 5
    assert fit_bradley_terry(with_ties).scores == pytest.approx(fit_bradley_terry(as_wins).scores, abs=1e-9)
    only_ties = fit_bradley_terry([vote("tie")] * 8)
    assert only_ties.scores == pytest.approx((5.0, 5.0))


def test_both_bad_is_a_tie_for_strength_but_is_counted_apart() -> None:
    base = [vote("a")] * 12 + [vote("b")] * 6
    tie_rows = leaderboard([*base, *[vote("tie")] * 6], rounds=0)
    bad_rows = leaderboard([*base, *[vote("both_bad")] * 6], rounds=0)
    assert [r.strength for r in tie_rows] == pytest.approx([r.strength for r in bad_rows], abs=1e-12)
    x = next(r for r in bad_rows if r.model_id == "x")
    assert (x.votes, x.wins, x.losses, x.ties, x.both_bad) == (24, 12, 6, 6, 6)
    assert x.both_bad_rate == pytest.approx(0.25)
    assert next(r for r in tie_rows if r.model_id == "x").both_bad_rate == 0.0


def test_ties_and_both_bad_in_the_mix_keep_the_order() -> None:
    strengths = [-1.0, 0.0, 1.0, 2.0]
    votes = simulate_votes(strengths, 2000, np.random.default_rng(5), tie_rate=0.2, both_bad_rate=0.1)
    rows = leaderboard(votes, rounds=20)
    assert [r.model_id for r in rows] == ["m3", "m2", "m1", "m0"]
    assert sum(r.both_bad for r in rows) == 2 * sum(v.kind == "both_bad" for v in votes)


def test_a_model_that_never_lost_stays_finite() -> None:
    votes = [vote("a", "champ", "y")] * 30 + [vote("a", "champ", "z")] * 30 + [vote("tie", "y", "z")] * 5
    rows = {r.model_id: r for r in leaderboard(votes, rounds=50)}
    champ = rows["champ"]
    assert champ.strength is not None and champ.low is not None and champ.high is not None
    assert all(math.isfinite(x) for x in (champ.strength, champ.low, champ.high))
    assert 9.0 < champ.strength < 10.0
    assert champ.losses == 0 and champ.rank == 1


def test_disconnected_groups_still_get_finite_scores() -> None:
    votes = [vote("a", "x", "y")] * 5 + [vote("a", "p", "q")] * 5
    fit = fit_bradley_terry(votes)
    assert all(math.isfinite(s) for s in fit.scores)
    assert fit.score_of("x") == pytest.approx(fit.score_of("p"))  # nothing relates the groups


def test_fit_converges_on_a_perfect_total_order_even_with_a_weak_prior() -> None:
    # Every pair decided 5000:0 — the unpenalised MLE is infinite; near-certain outcomes
    # make the Hessian nearly singular, which is where naive stopping rules loop forever.
    wins = np.triu(np.full((2, 15, 15), 5000.0), 1)
    for prior in (1.0, 1e-6):
        theta = fit_log_strengths(wins, prior_games=prior)
        assert np.all(np.isfinite(theta))
        assert np.all(np.diff(theta, axis=1) < 0)
        np.testing.assert_allclose(theta[0], theta[1])


def test_the_prior_must_be_positive() -> None:
    with pytest.raises(ValueError, match="prior_games"):
        fit_log_strengths(np.zeros((1, 2, 2)), prior_games=0.0)


# --- time decay ---------------------------------------------------------------------


def test_decay_weights_halve_every_half_life() -> None:
    now = T0 + timedelta(days=100)
    stamps = [now, now - timedelta(days=10), now - timedelta(days=30), now + timedelta(days=5)]
    np.testing.assert_allclose(decay_weights(stamps, 10.0, now), [1.0, 0.5, 0.125, 1.0])
    with pytest.raises(ValueError, match="half_life_days"):
        decay_weights(stamps, 0.0, now)


def test_decay_ranks_a_model_that_was_strong_long_ago_below_one_strong_now() -> None:
    rng = np.random.default_rng(21)
    # A year ago m0 was clearly best; in the last month m1 clearly beats it.
    old = simulate_votes([2.0, 0.0, -0.5], 900, rng, start=T0, spacing=timedelta(minutes=10))
    recent_start = T0 + timedelta(days=365)
    recent = simulate_votes([0.0, 1.5, -0.5], 300, rng, start=recent_start, spacing=timedelta(minutes=10))
    votes = old + recent
    plain = leaderboard(votes, rounds=20)
    decayed = leaderboard(votes, rounds=20, half_life_days=30)
    assert plain[0].model_id == "m0"
    assert [r.model_id for r in decayed][:2] == ["m1", "m0"]
    # Counts are evidence, not weights: decay leaves them alone.
    assert sorted(r.votes for r in plain) == sorted(r.votes for r in decayed)


def test_decay_with_the_bootstrap_is_reproducible_and_wider_than_without() -> None:
    votes = simulate_votes([0.0, 1.0], 400, np.random.default_rng(8), spacing=timedelta(hours=6))
    plain = leaderboard(votes, rounds=100, seed=1)
    decayed = leaderboard(votes, rounds=100, seed=1, half_life_days=10)
    assert decayed == leaderboard(votes, rounds=100, seed=1, half_life_days=10)

    def width(rows: list[LeaderboardRow]) -> float:
        return sum((r.high or 0.0) - (r.low or 0.0) for r in rows)

    assert width(decayed) > width(plain)  # fewer effective votes, less certainty


# --- leaderboard rows ---------------------------------------------------------------


def test_rank_is_one_plus_models_whose_interval_is_wholly_above() -> None:
    strengths = [2.0, 1.9, 0.0, -2.0]
    votes = simulate_votes(strengths, 2000, np.random.default_rng(4))
    rows = leaderboard(votes, rounds=100)
    for r in rows:
        assert r.low is not None and r.high is not None
        expected = 1 + sum(1 for o in rows if o.low is not None and r.high is not None and o.low > r.high)
        assert r.rank == expected
    ranks = {r.model_id: r.rank for r in rows}
    assert ranks["m0"] == ranks["m1"] == 1  # indistinguishable at the top share rank 1
    assert ranks["m2"] == 3 and ranks["m3"] == 4
    strengths_shown = [r.strength or 0.0 for r in rows]
    assert strengths_shown == sorted(strengths_shown, reverse=True)


def test_provisional_below_min_votes() -> None:
    votes = [vote("a", "x", "y")] * 12 + [vote("b", "x", "y")] * 7 + [vote("a", "x", "z")]
    rows = {r.model_id: r for r in leaderboard(votes, rounds=0, min_votes=20)}
    assert (rows["x"].votes, rows["x"].provisional) == (20, False)
    assert (rows["y"].votes, rows["y"].provisional) == (19, True)
    assert rows["z"].provisional
    assert not any(r.provisional for r in leaderboard(votes, rounds=0, min_votes=1))


def test_leaderboard_filters_by_task_and_half_open_window() -> None:
    votes = [
        vote("a", "x", "y", ts=T0),
        vote("a", "x", "y", ts=T0 + timedelta(days=1)),
        vote("b", "x", "y", ts=T0 + timedelta(days=2)),
        vote("a", "x", "z", ts=T0 + timedelta(days=1), task_type="summarize"),
    ]
    window = leaderboard(votes, task_type="translation", since=T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert [(r.model_id, r.votes, r.wins) for r in window] == [("x", 1, 1), ("y", 1, 0)]
    overall = leaderboard(votes, rounds=0)
    assert {r.model_id: r.votes for r in overall} == {"x": 4, "y": 3, "z": 1}
    assert leaderboard(votes, task_type="code") == []


def test_star_ratings_join_the_rows_and_star_only_models_come_last() -> None:
    votes = [vote("a", "x", "y")] * 3
    stars = [
        StarRating("translation", "x", 5, T0),
        StarRating("translation", "x", 4, T0),
        StarRating("translation", "solo", 3, T0),
        StarRating("summarize", "x", 1, T0),
    ]
    rows = leaderboard(votes, stars, task_type="translation", rounds=0)
    assert [r.model_id for r in rows] == ["x", "y", "solo"]
    x, y, solo = rows
    assert (x.stars_mean, x.stars_n) == (4.5, 2)
    assert (y.stars_mean, y.stars_low, y.stars_n) == (None, None, 0)
    assert (solo.strength, solo.rank, solo.votes, solo.provisional, solo.stars_n) == (None, None, 0, True, 1)


# --- stars ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062047), (2, 4.3026527), (4, 2.7764451), (10, 2.2281389), (30, 2.0422725), (60, 2.0002978),
     (61, 1.9996236), (120, 1.9799304), (1000, 1.9623391)],
)  # fmt: skip
def test_t_quantiles_match_the_tables(df: int, expected: float) -> None:
    assert t_quantile_975(df) == pytest.approx(expected, abs=2e-7)


def test_star_interval_is_the_t_interval() -> None:
    mean, low, high, n = star_interval([4, 5, 3, 4, 4])
    half = 2.7764451 * math.sqrt(0.5) / math.sqrt(5)
    assert (mean, n) == (4.0, 5)
    assert low == pytest.approx(4.0 - half, abs=1e-6) and high == pytest.approx(4.0 + half, abs=1e-6)


def test_star_interval_edge_cases() -> None:
    assert star_interval([]) == (None, None, None, 0)
    assert star_interval([3]) == (3.0, 1.0, 5.0, 1)
    # Unanimous ratings still get a width: sd is floored at 1/sqrt(n).
    mean, low, high, _ = star_interval([5, 5, 5])
    assert (mean, high) == (5.0, 5.0)
    assert low == pytest.approx(5.0 - 4.3026527 / 3.0, abs=1e-6)
    # Clipped to the scale.
    _, low, high, _ = star_interval([1, 5])
    assert (low, high) == (1.0, 5.0)


def test_star_intervals_cover_the_true_mean_in_most_samples() -> None:
    rng = np.random.default_rng(2)
    probabilities = [0.05, 0.1, 0.2, 0.35, 0.3]
    true_mean = float(np.dot(probabilities, [1, 2, 3, 4, 5]))
    hits = []
    for _ in range(300):
        sample = rng.choice([1, 2, 3, 4, 5], size=25, p=probabilities).tolist()
        _, low, high, _ = star_interval(sample)
        assert low is not None and high is not None
        hits.append(low <= true_mean <= high)
    assert 0.90 <= np.mean(hits) <= 0.99


def test_summarize_stars_per_model_and_task() -> None:
    stars = [
        StarRating("translation", "x", 5, T0),
        StarRating("translation", "x", 3, T0 + timedelta(days=1)),
        StarRating("code", "x", 1, T0),
        StarRating("translation", "y", 2, T0),
    ]
    per_task = summarize_stars(stars, task_type="translation")
    assert {k: (s.mean, s.n) for k, s in per_task.items()} == {"x": (4.0, 2), "y": (2.0, 1)}
    overall = summarize_stars(stars)
    assert overall["x"].mean == pytest.approx(3.0) and overall["x"].n == 3
    assert summarize_stars(stars, until=T0 + timedelta(days=1))["x"].n == 2
    with pytest.raises(ValueError, match="1 to 5"):
        StarRating("translation", "x", 6, T0)
    with pytest.raises(ValueError, match="1 to 5"):
        StarRating("translation", "x", True, T0)


# --- routing ------------------------------------------------------------------------


def test_blended_quality_is_the_vote_weighted_average() -> None:
    assert blended_quality(8.0, 6.0, votes=20, prior_votes=20) == pytest.approx(7.0)
    assert blended_quality(8.0, 6.0, votes=60) == pytest.approx((20 * 8 + 60 * 6) / 80)
    assert blended_quality(8.0, 2.0, votes=0) == 8.0
    assert blended_quality(8.0, None, votes=5) == 8.0
    assert blended_quality(8.0, 6.0, votes=3, prior_votes=0) == 6.0
    with pytest.raises(ValueError, match="votes"):
        blended_quality(8.0, 6.0, votes=-1)


NAMES = {"gemini": "Gemini 2.0 Pro", "claude": "Claude 3.5 Sonnet", "mini": "GPT-4o mini"}


def test_suggests_a_cheaper_model_that_matches_the_primary() -> None:
    rows = [row("claude", 6.0, 5.5, 6.5, votes=130), row("gemini", 5.8, 5.2, 6.3, votes=42)]
    s = suggest("translation", "claude", rows, {"claude": Decimal("0.010"), "gemini": Decimal("0.004")}, {}, NAMES)
    assert s is not None
    assert (
        s.sentence
        == "Gemini 2.0 Pro matches Claude 3.5 Sonnet on translation at 40% of the cost; 42 votes; intervals overlap"
    )
    assert (s.candidate, s.significantly_better, s.intervals_overlap, s.cheaper, s.faster) == (
        "gemini", False, True, True, False,
    )  # fmt: skip
    assert s.cost_ratio == Decimal("0.4") and s.confidence == "42 votes; intervals overlap"
    assert (s.candidate_votes, s.primary_votes) == (42, 130)


def test_suggests_a_significantly_better_model_even_if_dearer() -> None:
    rows = [row("claude", 5.0, 4.6, 5.4), row("gemini", 7.0, 6.5, 7.5, votes=80)]
    s = suggest(
        "code", "claude", rows, {"claude": Decimal(1), "gemini": Decimal("1.5")}, {"claude": 2.0, "gemini": 1.0}, NAMES
    )
    assert s is not None and s.significantly_better and not s.intervals_overlap
    assert s.sentence == (
        "Gemini 2.0 Pro beats Claude 3.5 Sonnet on code at 150% of the cost and 50% of the latency; "
        "80 votes; intervals do not overlap"
    )


def test_no_suggestion_for_a_significantly_worse_provisional_or_no_gain_candidate() -> None:
    costs = {"claude": Decimal(1), "gemini": Decimal("0.5")}
    worse = [row("claude", 6.0, 5.6, 6.4), row("gemini", 4.0, 3.5, 4.5)]
    assert suggest("translation", "claude", worse, costs, {}) is None
    provisional = [row("claude", 6.0, 5.6, 6.4), row("gemini", 6.0, 4.0, 8.0, votes=5)]
    assert suggest("translation", "claude", provisional, costs, {}) is None
    no_gain = [row("claude", 6.0, 5.6, 6.4), row("gemini", 6.1, 5.5, 6.6)]
    assert suggest("translation", "claude", no_gain, {"claude": Decimal(1), "gemini": Decimal(1)}, {}) is None
    assert suggest("translation", "unrated", no_gain, costs, {}) is None


def test_among_matching_candidates_the_cheapest_wins_then_a_faster_one_is_named() -> None:
    rows = [
        row("claude", 6.0, 5.6, 6.4),
        row("gemini", 6.2, 5.8, 6.6, votes=50),
        row("mini", 5.7, 5.3, 6.1, votes=60),
    ]
    costs = {"claude": Decimal(1), "gemini": Decimal("0.8"), "mini": Decimal("0.1")}
    s = suggest("translation", "claude", rows, costs, {}, NAMES)
    assert s is not None and s.candidate == "mini"
    assert s.sentence.startswith("GPT-4o mini matches Claude 3.5 Sonnet on translation at 10% of the cost;")
    fast = suggest(None, "claude", rows[:2], {}, {"claude": 4.0, "gemini": 1.0})
    assert fast is not None and fast.faster and not fast.cheaper
    assert fast.sentence == "gemini matches claude overall at 25% of the latency; 50 votes; intervals overlap"


def test_a_free_local_candidate_is_described_as_no_cost() -> None:
    rows = [row("claude", 6.0, 5.6, 6.4), row("llama", 5.9, 5.4, 6.3, votes=1, provisional=False)]
    s = suggest("summarize", "claude", rows, {"claude": Decimal("0.02"), "llama": Decimal(0)}, {})
    assert s is not None
    assert s.sentence == "llama matches claude on summarize at no cost; 1 vote; intervals overlap"
