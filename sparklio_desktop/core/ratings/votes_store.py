"""Comparisons and votes in the ledger database, read back as ratings records.

The ``comparisons`` and ``votes`` tables were created by the ledger's first migration;
this module is their only reader and writer. It opens its own engine on the ledger
(WAL lets it sit beside a :class:`~sparklio_desktop.core.ledger.LedgerStore` on the
same file) and runs the ledger's migrations first, so it works on a fresh file too.
``VoteStore.open`` takes what ``LedgerStore.open`` takes: a file, a team database's URL
(core/ledger/location.py), or None (the team database when set, else the file).

What is stored, and why:

* ``models_json``: the models in the order they were asked for (column setup);
  ``order_shown_json``: the order the user saw them in, after a blind shuffle. A vote's
  ``a``/``b`` mean "the left/right one as shown", so votes are read back with
  ``Vote.models`` in the shown order — the order the verdict was given in.
* ``vote``: ``a``, ``b``, ``tie``, ``both_bad`` or ``rank`` (the column's CHECK spelling
  of :data:`ratings.VoteKind`'s ``ranking``); ``ranking_json`` the model ids best first;
  ``stars_json`` ``{model_id: 1..5}`` for the answers the user starred.
* Only the prompt's SHA-256 is kept: enough to group repeated prompts, nothing to leak.

Star summaries include the composer's ratings (``llm_usage.rating`` on the attempt that
gave a request's answer) so the leaderboard shows every star the user gave.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sparklio_desktop.core.ledger import LedgerError, utcnow
from sparklio_desktop.core.ledger.file_store import LedgerFileStore
from sparklio_desktop.core.ledger.members import current_user
from sparklio_desktop.core.ledger.records import ANSWER_OUTCOMES
from sparklio_desktop.core.ledger.schema import comparisons, llm_usage, votes
from sparklio_desktop.core.ratings import StarRating, Vote, VoteKind, select_records

_DB_KIND = {"a": "a", "b": "b", "tie": "tie", "both_bad": "both_bad", "ranking": "rank"}
_VOTE_KIND: dict[str, VoteKind] = {"a": "a", "b": "b", "tie": "tie", "both_bad": "both_bad", "rank": "ranking"}


def prompt_sha256(prompt: str) -> str:
    """The hash the ledger keeps instead of a compared prompt."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredComparison:
    """One comparisons row, with its vote when one was cast."""

    id: int
    ts: datetime
    user: str
    task_type: str
    prompt_sha256: str
    models: tuple[str, ...]
    order_shown: tuple[str, ...]
    blind: bool
    vote: Vote | None
    stars: Mapping[str, int]


class VoteStore(LedgerFileStore):
    """Reads and writes comparisons and votes in the ledger file. Calls are short and synchronous."""

    # -- writing ---------------------------------------------------------------------

    def record_comparison(
        self,
        *,
        task_type: str,
        prompt: str,
        models: Sequence[str],
        order_shown: Sequence[str],
        blind: bool,
        ts: datetime | None = None,
        user: str | None = None,
    ) -> int:
        """Store a comparison as it is shown; returns its id for the vote."""
        if sorted(models) != sorted(order_shown) or len(set(models)) != len(models):
            raise ValueError(f"order_shown {list(order_shown)} must reorder the distinct models {list(models)}")
        values = {
            "ts_utc": ts or utcnow(),
            "user": user or current_user(),
            "task_type": task_type,
            "prompt_sha256": prompt_sha256(prompt),
            "models_json": json.dumps(list(models)),
            "order_shown_json": json.dumps(list(order_shown)),
            "blind": blind,
        }
        with self._write() as conn:
            key = conn.execute(comparisons.insert(), values).inserted_primary_key  # RETURNING on PostgreSQL
            assert key is not None
            return int(key[0])

    def record_vote(
        self,
        comparison_id: int,
        kind: VoteKind,
        ranking: Sequence[str] | None = None,
        stars: Mapping[str, int] | None = None,
        ts: datetime | None = None,
    ) -> Vote:
        """Store the verdict on a comparison; a comparison takes one vote.

        The vote is validated as a :class:`ratings.Vote` over the shown order before it
        is written, so a bad verdict never reaches the file; stars must name shown models.
        """
        when = ts or utcnow()
        with self._write() as conn:
            row = conn.execute(
                select(comparisons.c.task_type, comparisons.c.order_shown_json).where(comparisons.c.id == comparison_id)
            ).one_or_none()
            if row is None:
                raise LedgerError(f"comparison {comparison_id} does not exist")
            shown = tuple(json.loads(row.order_shown_json))
            vote = Vote(row.task_type, shown, kind, tuple(ranking) if ranking is not None else None, when)
            star_map = dict(stars or {})
            for model_id, value in star_map.items():
                if model_id not in shown:
                    raise ValueError(f"stars for {model_id!r}, which this comparison did not show")
                StarRating(row.task_type, model_id, value, when)  # validates 1..5
            taken = conn.execute(select(votes.c.id).where(votes.c.comparison_id == comparison_id)).first()
            if taken is not None:
                raise LedgerError(f"comparison {comparison_id} already has a vote")
            conn.execute(
                votes.insert(),
                {
                    "comparison_id": comparison_id,
                    "ts_utc": when,
                    "vote": _DB_KIND[kind],
                    "ranking_json": json.dumps(list(vote.ranking)) if vote.ranking is not None else None,
                    "stars_json": json.dumps(star_map) if star_map else None,
                },
            )
        return vote

    # -- reading ---------------------------------------------------------------------

    def comparison(self, comparison_id: int) -> StoredComparison | None:
        found = self._comparisons(comparisons.c.id == comparison_id)
        return found[0] if found else None

    def comparisons(self, task_type: str | None = None) -> list[StoredComparison]:
        """Every comparison (of one task type), oldest first."""
        where = comparisons.c.task_type == task_type if task_type is not None else None
        return self._comparisons(where)

    def _comparisons(self, where: object | None) -> list[StoredComparison]:
        query = (
            select(comparisons, votes.c.ts_utc.label("vote_ts"), votes.c.vote, votes.c.ranking_json, votes.c.stars_json)
            .select_from(comparisons.outerjoin(votes, votes.c.comparison_id == comparisons.c.id))
            .order_by(comparisons.c.ts_utc, comparisons.c.id)
        )
        if where is not None:
            query = query.where(where)  # type: ignore[arg-type]
        with self._read() as conn:
            rows = conn.execute(query).all()
        out: list[StoredComparison] = []
        for r in rows:
            shown = tuple(json.loads(r.order_shown_json))
            vote = None
            if r.vote is not None:
                ranking = tuple(json.loads(r.ranking_json)) if r.ranking_json else None
                vote = Vote(r.task_type, shown, _VOTE_KIND[r.vote], ranking, r.vote_ts)
            out.append(
                StoredComparison(
                    id=r.id,
                    ts=r.ts_utc,
                    user=r.user,
                    task_type=r.task_type,
                    prompt_sha256=r.prompt_sha256,
                    models=tuple(json.loads(r.models_json)),
                    order_shown=shown,
                    blind=bool(r.blind),
                    vote=vote,
                    stars=json.loads(r.stars_json) if r.stars_json else {},
                )
            )
        return out

    def votes(
        self, task_type: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[Vote]:
        """Every vote (of ``task_type``, in ``[since, until)``) as ratings records, oldest first."""
        found = [c.vote for c in self.comparisons(task_type) if c.vote is not None]
        return select_records(found, task_type, since, until)

    def star_ratings(
        self, task_type: str | None = None, since: datetime | None = None, until: datetime | None = None
    ) -> list[StarRating]:
        """Stars from comparisons and from the composer (``llm_usage.rating``), oldest first."""
        found: list[StarRating] = []
        for c in self.comparisons(task_type):
            if c.vote is None:
                continue
            found.extend(StarRating(c.task_type, m, int(s), c.vote.ts) for m, s in c.stars.items())
        u = llm_usage.c
        query = select(u.task_type, u.model_id, u.rating, u.ts_utc).where(
            u.rating.is_not(None), u.outcome.in_(ANSWER_OUTCOMES)
        )
        if task_type is not None:
            query = query.where(u.task_type == task_type)
        with self._read() as conn:
            found.extend(StarRating(r.task_type, r.model_id, int(r.rating), r.ts_utc) for r in conn.execute(query))
        found.sort(key=lambda s: s.ts)
        return select_records(found, task_type, since, until)
