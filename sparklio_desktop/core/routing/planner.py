"""The route planner: the one component that builds the router's live state and turns a
request into a decision.

Why one: the live state (keys, installed local models, Stable Diffusion weights, what
failed this session, the month's spend, the creators' ratings) used to be assembled in
four places, each with a different subset, so the composer's preview could show a chain
the run would not take (after a 401 this session, or once ratings promoted a model) and
the budget's spend was read from the default ledger file while the budget guard used
the injected one. The services factory (core/services.py) builds one planner over the
injected ledger, votes and settings; the composer's preview, ``sparklio route``, compare
and the dispatcher all ask it (docs/routing.md, "Live state").

What it keeps:

* the machine's facts (keys, Ollama's tags, SD checkpoints; core/routing/live.py), probed off
  the event loop by :meth:`RoutePlanner.refresh` and reused for ``max_age_s``; the month's
  spend is read with them, from the injected ledger;
* :class:`SessionFailures`: models found unusable this session (a 401 takes the whole
  provider out until its key changes, "model not found" the model), applied to every plan
  at once;
* ratings per task (core.ratings.state.RatingQualities), recomputed after a vote.

:meth:`RoutePlanner.plan` is the fast path (the last probe, no I/O once probed);
:meth:`RoutePlanner.aplan` refreshes a stale probe in a worker thread first.
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.policy.catalog import Capability
from sparklio_desktop.core.policy.families import (
    Resolution,
    ResolvedPolicy,
    catalog_usable,
    resolve_policy,
    successor,
)
from sparklio_desktop.core.routing.decision import RoutingDecision, Rule
from sparklio_desktop.core.routing.live import probe_machine
from sparklio_desktop.core.routing.live_state import LiveState
from sparklio_desktop.core.routing.router import RouteRequest, route
from sparklio_desktop.core.settings import key_index
from sparklio_desktop.core.settings.key_index import ENTRY_KEY_PREFIX
from sparklio_desktop.core.speed import measured_catalog

if TYPE_CHECKING:  # asyncio is imported where a coroutine runs: `sparklio route` has none
    import asyncio

    from sparklio_desktop.core.budget import BudgetTerms
    from sparklio_desktop.core.policy.catalog import Catalog, ModelSpec
    from sparklio_desktop.core.policy.routing_policy import Policy
    from sparklio_desktop.core.ratings.state import RatingQualities
    from sparklio_desktop.core.settings.config import Settings
    from sparklio_desktop.core.speed import MeasuredSpeed
    from sparklio_desktop.core.workspace import Workspace


class SessionFailures:
    """Models found unusable this session: model id -> (rule, why). A new session
    (process) starts clean.

    A model "not found" stays out for the session. A provider that refused its key
    (401/403) stays out only until that key changes: the refusal was about the key, so
    a key pasted in Settings brings the provider back (:meth:`key_changed`)."""

    def __init__(self) -> None:
        self._missing: dict[str, tuple[Rule, str]] = {}
        self._refused: dict[str, tuple[Rule, str, str]] = {}  # model id -> (rule, why, provider)
        self.version = 0  # bumped on every change: the planner re-resolves families

    def provider_refused(self, catalog: Mapping[str, ModelSpec], provider: str, why: str) -> None:
        """A 401/403: every model of ``provider`` is out until its key changes."""
        for model in catalog.values():
            if model.provider == provider:
                self._refused[model.id] = (Rule.UNAVAILABLE, why, provider)
        self.version += 1

    def model_missing(self, model_id: str, why: str) -> None:
        """ "Model not found": this model is out for the session."""
        self._missing[model_id] = (Rule.UNAVAILABLE, why)
        self.version += 1

    def key_changed(self, provider: str | None = None) -> bool:
        """A key was set, replaced or deleted: lift the refusals made with the old one
        (``provider``'s, or every provider's when ``None`` or a catalog entry's own key,
        whose refusal was recorded under its provider). True when something was lifted."""
        if provider is None or provider.startswith(ENTRY_KEY_PREFIX):
            lifted = list(self._refused)
        else:
            lifted = [model_id for model_id, (_, _, refused_by) in self._refused.items() if refused_by == provider]
        for model_id in lifted:
            del self._refused[model_id]
        if lifted:
            self.version += 1
        return bool(lifted)

    def as_map(self) -> dict[str, tuple[Rule, str]]:
        return {**{m: (rule, why) for m, (rule, why, _) in self._refused.items()}, **self._missing}

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._missing or model_id in self._refused

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_map())

    def __len__(self) -> int:
        return len(self._missing.keys() | self._refused.keys())


class RoutePlanner:
    """Builds the live state and routes requests for one app or CLI session.

    ``probe`` returns the machine's facts as a ``LiveState`` (default:
    :func:`core.routing.live.probe_machine`); a probe that sets ``spent_usd`` itself (tests) keeps
    it, otherwise ``spend`` (the injected ledger's month spend) and the settings' budget
    are added. ``ratings`` gives each task's blended quality (``ratings_for(task)``).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        settings: Settings | None = None,
        probe: Callable[[], LiveState] | None = None,
        spend: Callable[[], Decimal] | None = None,
        ratings: RatingQualities | None = None,
        speeds: Callable[[], Mapping[str, MeasuredSpeed]] | None = None,
        max_age_s: float = 5.0,
        budget_terms: Callable[[], BudgetTerms] | None = None,
    ) -> None:
        self._workspace = workspace
        # The budget's terms in force (the budget guard's: the team's in team mode,
        # core/team_budget.py); None: the settings' own.
        self._budget_terms = budget_terms
        self._settings_view = settings
        self._probe_fn = probe
        self._spend = spend
        self._speeds_fn = speeds
        self._speeds: Mapping[str, MeasuredSpeed] = {}
        self._view: tuple[Catalog, Mapping[str, MeasuredSpeed], Catalog] | None = None
        self.ratings = ratings
        self._max_age_s = max_age_s
        self.session = SessionFailures()
        self._facts: LiveState | None = None
        self._spent: Decimal | None = None
        self._at = 0.0
        self._generation = 0  # bumped by invalidate(): a probe started before it is stale
        self._keys_at = key_index.generation()  # the key changes the facts have seen
        self._resolved: tuple[tuple[int, int, int, int], Catalog, Policy, ResolvedPolicy] | None = None
        # One lock per event loop (the CLI runs a loop per command, tests one per run), so
        # concurrent requests probe once.
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

    # -- the facts ----------------------------------------------------------------------
    def _settings(self) -> Settings:
        return self._settings_view if self._settings_view is not None else self._workspace.settings

    def _probe(self) -> tuple[LiveState, Decimal | None, Mapping[str, MeasuredSpeed]]:
        """Probe the machine, read the month's spend and the measured speeds (blocking: a
        worker thread's job)."""
        if self._probe_fn is not None:
            facts = self._probe_fn()
        else:
            facts = probe_machine(self._workspace, self._settings())
        spent = self._spend() if self._spend is not None and facts.spent_usd is None else None
        speeds = self._speeds_fn() if self._speeds_fn is not None else {}
        return facts, spent, speeds

    def _store(
        self, probed: tuple[LiveState, Decimal | None, Mapping[str, MeasuredSpeed]], generation: int | None = None
    ) -> None:
        """Keep a probe's result; one that started before the last :meth:`invalidate` is
        kept as stale, so the next refresh probes again."""
        self._facts, self._spent, speeds = probed
        if speeds != self._speeds:  # the same figures keep the same catalog view (and router)
            self._speeds = speeds
        fresh = generation is None or generation == self._generation
        self._at = time.monotonic() if fresh else float("-inf")

    def _stale(self) -> bool:
        return self._facts is None or time.monotonic() - self._at > self._max_age_s

    def invalidate(self) -> None:
        """Forget the facts (a key was set, the budget or the catalog changed): the next
        refresh probes again."""
        self._generation += 1
        self._at = float("-inf")

    def _follow_keys(self) -> None:
        """A key set or deleted in this process since the last probe (by whatever path)
        makes the facts stale: the next request sees it."""
        changed_at = key_index.generation()
        if changed_at != self._keys_at:
            self._keys_at = changed_at
            self.invalidate()

    def keys_changed(self, provider: str | None = None) -> None:
        """A key was set, replaced or deleted (``provider``; ``None``: any): the next plan
        probes the keys again and no longer holds the old key's refusal (a 401) against
        the provider. The dispatcher re-reads keys by itself (core/dispatch/endpoints.py)."""
        self.session.key_changed(provider)
        self.invalidate()

    async def refresh(self, force: bool = False) -> LiveState:
        """Probe in a worker thread unless the facts are fresh; returns the live state."""
        import asyncio

        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            # A change during the probe (a catalog entry added, a key set) makes it stale at
            # once: probe again, a bounded number of times.
            for _ in range(3):
                self._follow_keys()
                if not (force or self._stale()):
                    break
                force = False
                generation = self._generation
                self._store(await asyncio.to_thread(self._probe), generation)
        return self.live_state()

    # -- the live state ------------------------------------------------------------------
    def live_state(self, task: str | None = None) -> LiveState:
        """The live state to route ``task`` with: the last probe (probed now, blocking, if
        there was none), this session's failures, the month's spend against the budget
        and, for ``task``, the ratings."""
        if self._facts is None:
            self._store(self._probe())
        facts = self._facts
        assert facts is not None
        changes: dict[str, Any] = {}
        if len(self.session):
            changes["unavailable"] = {**facts.unavailable, **self.session.as_map()}
        if self._spent is not None and self._budget_terms is not None:
            terms = self._budget_terms()
            changes.update(
                spent_usd=self._spent,
                budget_usd=terms.monthly_usd,
                at_cap=terms.at_cap,
                alert_threshold=float(terms.alert_threshold),
            )
        elif self._spent is not None:
            budget = self._settings().budget
            changes.update(
                spent_usd=self._spent,
                budget_usd=Decimal(str(budget.monthly_usd)),
                at_cap=budget.at_cap,
                alert_threshold=budget.alert_threshold or self._workspace.policy.budget.alert_threshold,
            )
        if task is not None and self.ratings is not None:
            rated = self.ratings.ratings_for(task)
            if rated.quality or rated.votes:
                changes.update(
                    quality={**facts.quality, **rated.quality}, rating_votes={**facts.rating_votes, **rated.votes}
                )
        return dataclasses.replace(facts, **changes) if changes else facts

    # -- decisions ---------------------------------------------------------------------
    def plan(self, request: RouteRequest) -> RoutingDecision:
        """Route ``request`` on the last probe (the preview's fast path)."""
        live = self.live_state(request.task)
        resolved = self.resolved_policy(live)
        return route(request, self.catalog_view(), resolved.policy, live, resolved.resolutions)

    def catalog_view(self) -> Catalog:
        """The catalog the router scores: measured speeds where a model has enough calls
        (core/speed.py), kept until the catalog or the measurements change."""
        catalog, speeds = self._workspace.catalog, self._speeds
        held = self._view
        if held is not None and held[0] is catalog and held[1] is speeds:
            return held[2]
        view = measured_catalog(catalog, speeds) if speeds else catalog
        self._view = (catalog, speeds, view)
        return view

    def resolved_policy(self, live: LiveState | None = None) -> ResolvedPolicy:
        """The policy with its families resolved against this machine (keys, installed
        models, this session's failures, retired models): worked out again only when one
        of those, the catalog or the policy changes, so routing costs what it did."""
        workspace = self._workspace
        catalog, policy = workspace.catalog, workspace.policy
        key = (id(catalog), id(policy), id(self._facts), self.session.version)
        held = self._resolved
        if held is not None and held[0] == key and held[1] is catalog and held[2] is policy:
            return held[3]
        if live is None:
            live = self.live_state()
        resolved = resolve_policy(policy, catalog, catalog_usable(catalog, live.unavailable))
        self._resolved = (key, catalog, policy, resolved)
        return resolved

    def family_successor(self, model_id: str, capability: str, tried: Iterable[str]) -> Resolution | None:
        """The member of ``model_id``'s family to try next in the same request, after it
        answered "model not found" (``None``: no other member can be used)."""
        catalog = self._workspace.catalog
        usable = catalog_usable(catalog, self.live_state().unavailable)
        return successor(catalog, model_id, Capability(capability), usable, frozenset(tried))

    async def aplan(self, request: RouteRequest) -> RoutingDecision:
        """Route ``request`` after refreshing a stale probe, and reading the task's votes
        when they are not cached, off the event loop."""
        import asyncio

        await self.refresh()
        ratings = self.ratings
        if ratings is not None and not ratings.is_cached(request.task):
            await asyncio.to_thread(ratings.ratings_for, request.task)
        return self.plan(request)

    def ratings_changed(self) -> None:
        """A vote was cast: the next plan recomputes the task's ratings."""
        if self.ratings is not None:
            self.ratings.invalidate()
