"""Ratings as the router sees them: blended quality per model, and whether it mattered.

The router takes per-model quality through ``LiveState.quality``; this module computes
that map for one task type from the stored votes, following docs/routing.md:

    blended = (k · catalog_quality + n · rating) / (k + n)

with ``k = policy.ratings.prior_votes`` and ``n`` the model's votes on that task type,
``rating`` its Bradley–Terry score (0–10). Only votes feed the blend: stars are shown
beside the leaderboard but are not on the 0–10 pairwise scale. When
``policy.ratings.enabled`` is false the map is empty and routing uses the catalog alone.

Each candidate of a decision carries both its catalog and its blended quality, which is
how the inspector shows what the ratings did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparklio_desktop.core.policy.catalog import Catalog
from sparklio_desktop.core.policy.routing_policy import Policy
from sparklio_desktop.core.routing.router import Router, RouteRequest

if TYPE_CHECKING:  # the fits import numpy: they load with the first votes blended, not at start-up
    from sparklio_desktop.core.ratings import StarRating, Suggestion, Vote


@dataclass(frozen=True)
class TaskRatings:
    """For one task type: each rated model's blended quality and its number of votes."""

    quality: dict[str, float]
    votes: dict[str, int]


def ratings_for_task(catalog: Catalog, policy: Policy, votes: Iterable[Vote], task_type: str) -> TaskRatings:
    """Blended 0–10 quality and vote counts of every rated catalog model; empty when ratings are off.

    The fit runs without bootstrap rounds: routing needs the point score, not its interval,
    and this runs on every route preview.
    """
    if not policy.ratings.enabled:
        return TaskRatings({}, {})
    from sparklio_desktop.core.ratings import blended_quality, leaderboard

    rows = leaderboard(votes, task_type=task_type, rounds=0, min_votes=policy.ratings.min_votes)
    quality: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        model = catalog.get(row.model_id)
        if model is None or row.strength is None or row.votes == 0:
            continue  # a model since removed from the catalog, or stars only
        quality[row.model_id] = blended_quality(model.quality, row.strength, row.votes, policy.ratings.prior_votes)
        counts[row.model_id] = row.votes
    return TaskRatings(quality, counts)


class RatingQualities:
    """Blended quality per task type, computed once per task until the votes change.

    ``LiveState.quality`` is a flat map but blends are per task, so whoever builds the
    live state for a request asks ``ratings_for(task)``. ``load_votes(task)`` reads the
    task's votes (``VoteStore.votes``); call :meth:`invalidate` after a vote is cast.
    """

    def __init__(
        self, catalog: Catalog, policy: Callable[[], Policy], load_votes: Callable[[str], Iterable[Vote]]
    ) -> None:
        self._catalog = catalog
        self._policy = policy
        self._load_votes = load_votes
        self._cache: dict[tuple[str, int], TaskRatings] = {}

    def ratings_for(self, task_type: str) -> TaskRatings:
        policy = self._policy()
        key = (task_type, id(policy))  # a reloaded policy (ratings switched off) recomputes
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = ratings_for_task(self._catalog, policy, self._load_votes(task_type), task_type)
        return found

    def is_cached(self, task_type: str) -> bool:
        """Whether ``ratings_for(task_type)`` answers without reading the votes."""
        return (task_type, id(self._policy())) in self._cache

    def invalidate(self) -> None:
        self._cache.clear()


def task_suggestion(
    router: Router, votes: Iterable[Vote], stars: Iterable[StarRating], task_type: str, seed: int = 0
) -> Suggestion | None:
    """The policy suggestion for ``task_type``: its leaderboard against the current primary.

    Costs and latencies are the router's estimates for a typical request of the task
    (every model assumed available), so "at 40% of the cost" means the same thing the
    route preview shows.
    """
    from sparklio_desktop.core.ratings import leaderboard, suggest

    policy = router.resolved  # the task table's primary as a model id, not its family
    rows = leaderboard(votes, stars, task_type=task_type, min_votes=policy.ratings.min_votes, seed=seed)
    decision = router.route(RouteRequest(task=task_type, explore=False))
    costs = {c.id: c.cost_usd for c in decision.candidates if c.cost_usd is not None}
    latencies = {c.id: c.latency_s for c in decision.candidates if c.latency_s is not None}
    names = {model_id: model.name for model_id, model in router.catalog.items()}
    return suggest(task_type, policy.task(task_type).primary, rows, costs, latencies, names)
