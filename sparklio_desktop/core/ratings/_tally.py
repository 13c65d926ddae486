"""Votes compiled into arrays: distinct vote patterns, per-vote weights, win-mass cells.

Thousands of votes only come in a few hundred shapes (which models, shown in which
order, with which verdict). Everything expensive — the point fit and every bootstrap
round — works on counts of those *patterns*, so its cost does not grow with the
number of votes, and a bootstrap resample is one multinomial draw over patterns
rather than a loop over votes.

The win mass ``W[i, j]`` is the (weighted) number of times model ``i`` beat ``j``;
a tie adds ½ to both ``W[i, j]`` and ``W[j, i]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sparklio_desktop.core.ratings._records import PairOutcome, Vote, pairwise_outcomes


@dataclass(frozen=True, slots=True)
class ModelTally:
    """Unweighted per-model counts over the votes of a tally.

    ``votes`` is the number of votes the model appeared in; ``wins``/``losses``/``ties``
    count pairwise outcomes (a ranking of four gives its winner three wins), and ``ties``
    includes ``both_bad`` pairs. ``both_bad`` counts *votes* marked both bad.
    """

    votes: int = 0
    wins: int = 0
    losses: int = 0
    ties: int = 0
    both_bad: int = 0


class VoteTally:
    """Votes compiled for fitting. Build once per leaderboard, reuse for every round."""

    def __init__(self, votes: Sequence[Vote], weights: np.ndarray | None = None) -> None:
        """Compile ``votes``; ``weights`` (one per vote, default 1) scale each vote's pairs."""
        self.model_ids: tuple[str, ...] = tuple(sorted({m for v in votes for m in v.models}))
        index = {m: i for i, m in enumerate(self.model_ids)}
        m = len(self.model_ids)

        pattern_ids: dict[tuple[object, ...], int] = {}
        pattern_of_vote = np.empty(len(votes), dtype=np.intp)
        self._patterns: list[tuple[Vote, tuple[PairOutcome, ...]]] = []
        for n, vote in enumerate(votes):
            key = (vote.kind, vote.models, vote.ranking)
            pid = pattern_ids.get(key)
            if pid is None:
                pid = pattern_ids[key] = len(self._patterns)
                self._patterns.append((vote, pairwise_outcomes(vote)))
            pattern_of_vote[n] = pid
        self.pattern_of_vote = pattern_of_vote
        self.n_patterns = len(self._patterns)
        self.pattern_counts = np.bincount(pattern_of_vote, minlength=self.n_patterns)

        if weights is None:
            weights = np.ones(len(votes))
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (len(votes),) or not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("weights must be one finite, non-negative number per vote")
        self.weights = weights

        # Sparse pattern -> cell map, sorted by cell so np.add.reduceat can sum each cell.
        entry_pattern: list[int] = []
        entry_cell: list[int] = []
        entry_value: list[float] = []
        for pid, (_, outcomes) in enumerate(self._patterns):
            for o in outcomes:
                win, lose = index[o.winner], index[o.loser]
                if o.tie:
                    entry_pattern += [pid, pid]
                    entry_cell += [win * m + lose, lose * m + win]
                    entry_value += [0.5, 0.5]
                else:
                    entry_pattern.append(pid)
                    entry_cell.append(win * m + lose)
                    entry_value.append(1.0)
        cells = np.asarray(entry_cell, dtype=np.intp)
        order = np.argsort(cells, kind="stable")
        self._entry_pattern = np.asarray(entry_pattern, dtype=np.intp)[order]
        self._entry_value = np.asarray(entry_value, dtype=float)[order]
        sorted_cells = cells[order]
        starts = np.flatnonzero(np.r_[True, sorted_cells[1:] != sorted_cells[:-1]]) if cells.size else cells
        self._cell_starts = starts
        self._cells = sorted_cells[starts] if cells.size else cells
        self.n_entries = int(cells.size)

    @property
    def n_models(self) -> int:
        """How many distinct models the votes mention."""
        return len(self.model_ids)

    @property
    def n_votes(self) -> int:
        """How many votes were compiled."""
        return int(self.pattern_of_vote.size)

    def pattern_mass(self) -> np.ndarray:
        """Total weight of the votes of each pattern, shape ``(1, n_patterns)``."""
        mass = np.bincount(self.pattern_of_vote, weights=self.weights, minlength=self.n_patterns)
        return mass[None, :]

    def win_mass(self, pattern_mass: np.ndarray) -> np.ndarray:
        """Turn pattern weights ``(rounds, n_patterns)`` into win mass ``(rounds, M, M)``."""
        rounds = pattern_mass.shape[0]
        m = self.n_models
        flat = np.zeros((rounds, m * m))
        if self.n_entries:
            contributions = pattern_mass[:, self._entry_pattern] * self._entry_value
            flat[:, self._cells] = np.add.reduceat(contributions, self._cell_starts, axis=1)
        return flat.reshape(rounds, m, m)

    def model_tallies(self) -> dict[str, ModelTally]:
        """Unweighted votes, wins, losses, ties and both-bad counts per model."""
        counts = {mid: [0, 0, 0, 0, 0] for mid in self.model_ids}
        for (vote, outcomes), times in zip(self._patterns, self.pattern_counts.tolist(), strict=True):
            for mid in vote.models:
                counts[mid][0] += times
                if vote.kind == "both_bad":
                    counts[mid][4] += times
            for o in outcomes:
                if o.tie:
                    counts[o.winner][3] += times
                    counts[o.loser][3] += times
                else:
                    counts[o.winner][1] += times
                    counts[o.loser][2] += times
        return {mid: ModelTally(*c) for mid, c in counts.items()}
