"""Builds the dispatcher and what it stands on, for the CLI and the GUI alike.

One composition, so that ``sparklio run`` and the desktop app record, price and budget
exactly the same way, and one route planner (core/routing/planner.py) over the same ledger,
votes and settings, so that every preview and every run route on the same live state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from sparklio_desktop.core.ledger.location import database_url
from sparklio_desktop.core.routing.live_state import EVERYTHING_AVAILABLE
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.settings import paths
from sparklio_desktop.core.speed import measure, measured_speeds_at
from sparklio_desktop.core.spend import month_spend_usd
from sparklio_desktop.core.workspace import Workspace

if TYPE_CHECKING:  # imported where they are built: `sparklio route` opens no services
    import httpx

    from sparklio_desktop.core.budget import AtCapPolicy, BudgetGuard
    from sparklio_desktop.core.cache import CacheBackend
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.gallery.recorder import GalleryRecorder
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.local.sd.service import LazyStableDiffusion
    from sparklio_desktop.core.ratings import Vote
    from sparklio_desktop.core.ratings.state import RatingQualities
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.routing.live_state import LiveState
    from sparklio_desktop.core.settings.config import Settings
    from sparklio_desktop.core.settings.secrets import KeyStore


@dataclass
class Services:
    """What :func:`open_services` opened; :meth:`close` closes it in reverse."""

    workspace: Workspace
    ledger: LedgerStore
    cache: CacheBackend  # the SQLite file, or a team's Redis (core/redis_cache.py)
    budget: BudgetGuard
    keys: KeyStore
    dispatcher: Dispatcher
    local_images: LazyStableDiffusion  # torch loads on the first image
    votes: VoteStore  # comparisons and votes
    ratings: RatingQualities  # call planner.ratings_changed() after a vote
    planner: RoutePlanner  # the live state and every routing decision
    gallery: GalleryRecorder  # every answered image, written and recorded (opens gallery.sqlite on the first)

    def close(self) -> None:
        self.gallery.close()
        self.local_images.close()
        self.votes.close()
        self.cache.close()
        self.ledger.close()


def budget_terms(workspace: Workspace) -> tuple[Decimal, AtCapPolicy, Decimal]:
    """(monthly budget, what happens at the cap, alert threshold) from the settings; the
    threshold falls back to the policy's."""
    settings = workspace.settings
    threshold = settings.budget.alert_threshold or workspace.policy.budget.alert_threshold
    return Decimal(str(settings.budget.monthly_usd)), settings.budget.at_cap, Decimal(str(threshold))


def team_member(workspace: Workspace) -> str:
    """Who this install's requests belong to: $SPARKLIO_MEMBER, ``team.member``, the OS user."""
    from sparklio_desktop.core.ledger.members import resolve_member

    return resolve_member(workspace.settings.team.member)


def budget_guard(workspace: Workspace, ledger: LedgerStore) -> BudgetGuard:
    """The budget over ``ledger``, with the limit ``team.member_limits`` gives its member; in
    team mode its terms are the team's (core/team_budget.py)."""
    from sparklio_desktop.core.budget import BudgetGuard, member_limit
    from sparklio_desktop.core.team_budget import shared_terms_for

    limit = member_limit(workspace.settings.team.member_limits, ledger.member)
    shared = shared_terms_for(workspace.settings, ledger)  # team mode: the shared database's terms
    return BudgetGuard(ledger, *budget_terms(workspace), member_limit_usd=limit, shared_terms=shared)


def open_services(
    workspace: Workspace | None = None,
    *,
    http_client: httpx.AsyncClient | None = None,
    local_images: LazyStableDiffusion | None = None,
    keys: KeyStore | None = None,
    ledger_path: Path | str | None = None,
    probe: Callable[[], LiveState] | None = None,
    settings: Settings | None = None,
) -> Services:
    """Open the ledger, cache (SQLite, or Redis when a cache URL is set), budget, key
    store, ratings, the route planner and the dispatcher over them.

    ``probe`` (a callable returning the machine's facts as a ``LiveState``) defaults to
    probing this machine (core.routing.live.probe_machine); the planner keeps each probe for a few
    seconds. ``settings`` defaults to the workspace's; the GUI passes a view that follows
    edits.
    """
    from sparklio_desktop.core.cache_backend import open_response_cache
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.gallery.recorder import GalleryRecorder
    from sparklio_desktop.core.ledger import LedgerStore, current_month
    from sparklio_desktop.core.local.sd.service import LazyStableDiffusion  # the local package: not on `route`
    from sparklio_desktop.core.ratings.state import RatingQualities
    from sparklio_desktop.core.ratings.votes_store import VoteStore
    from sparklio_desktop.core.settings.secrets import KeyStore

    workspace = workspace or Workspace()
    # A ledger that cannot be opened (damaged, a read-only folder) raises a one-line
    # DatabaseFileError here, before any paid request; the cache opens on first use and
    # heals itself, so it can never stop a run.
    settings = settings or workspace.settings
    # $SPARKLIO_DATABASE_URL or storage.database_url: the team's PostgreSQL; else the file.
    target = ledger_path if ledger_path is not None else database_url(settings)
    ledger = LedgerStore.open(target, member=team_member(workspace))
    try:
        votes = VoteStore.open(ledger.target)
    except BaseException:
        ledger.close()
        raise
    # $SPARKLIO_CACHE_URL or cache.url: a team's Redis; else the SQLite file. Neither
    # connects or opens here, and neither can stop a run.
    cache = open_response_cache(settings.cache.url)
    budget = budget_guard(workspace, ledger)
    keys = keys or KeyStore()
    local_images = local_images or LazyStableDiffusion(workspace.settings)  # torch loads on the first image
    ratings = RatingQualities(workspace.catalog, lambda: workspace.policy, lambda task: votes.votes(task))
    # The month's spend comes from this ledger, the one the budget guard reserves in.
    planner = RoutePlanner(
        workspace,
        settings=settings,
        probe=probe,
        spend=lambda: ledger.month_spend(current_month()),
        ratings=ratings,
        speeds=lambda: measure(ledger.speed_rows()),
        budget_terms=(lambda: budget.terms) if budget.shared else None,  # team mode: route on the team's budget
    )
    gallery = GalleryRecorder()  # opens gallery.sqlite on the first image: a text run creates nothing
    dispatcher = Dispatcher(
        workspace,
        ledger=ledger,
        keys=keys,
        cache=cache,
        budget=budget,
        http_client=http_client,
        planner=planner,
        local_images=local_images,
        settings=settings,
        gallery=gallery,
    )
    return Services(workspace, ledger, cache, budget, keys, dispatcher, local_images, votes, ratings, planner, gallery)


def route_planner(workspace: Workspace, *, all_available: bool = False) -> RoutePlanner:
    """The route planner for ``sparklio route``, which sends nothing and so opens no
    services: the same planner, over the default ledger file read only when it exists
    (a fresh install creates nothing and imports no SQLAlchemy). ``all_available``: plan
    as if every key were set and every local model installed (no spend, no ratings)."""

    if all_available:
        return RoutePlanner(workspace, probe=lambda: EVERYTHING_AVAILABLE)
    url = database_url(workspace.settings)
    if url is not None:  # team mode: the month, the votes and the speeds are the team's database's
        return _team_route_planner(workspace, url)
    path = paths.ledger_path()

    def spend() -> Decimal:

        return month_spend_usd(path=path)

    ratings = None
    if workspace.policy.ratings.enabled and _may_hold_votes(path):  # else numpy and SQLAlchemy stay unloaded
        from sparklio_desktop.core.ratings.state import RatingQualities
        from sparklio_desktop.core.ratings.votes_store import VoteStore

        def votes(task: str) -> list[Vote]:
            with VoteStore.open(path) as store:
                return store.votes(task)

        ratings = RatingQualities(workspace.catalog, lambda: workspace.policy, votes)

    return RoutePlanner(workspace, spend=spend, ratings=ratings, speeds=lambda: measured_speeds_at(path))


def _team_route_planner(workspace: Workspace, url: str) -> RoutePlanner:
    """``route_planner`` over a team's database: every read goes through the store (there
    is no file to look at first)."""
    ratings = None
    if workspace.policy.ratings.enabled:
        from sparklio_desktop.core.ratings.state import RatingQualities
        from sparklio_desktop.core.ratings.votes_store import VoteStore

        def votes(task: str) -> list[Vote]:
            with VoteStore.open(url) as store:
                return store.votes(task)

        ratings = RatingQualities(workspace.catalog, lambda: workspace.policy, votes)
    from functools import cache

    from sparklio_desktop.core.budget import BudgetTerms
    from sparklio_desktop.core.team_budget import terms_in_force

    @cache  # one read of the team's terms per plan's life: `sparklio route` plans once
    def team_terms() -> BudgetTerms:
        return terms_in_force(workspace.settings, BudgetTerms(*budget_terms(workspace)))

    return RoutePlanner(
        workspace,
        spend=lambda: month_spend_usd(path=url),
        ratings=ratings,
        speeds=lambda: measured_speeds_at(url),
        budget_terms=team_terms,  # the team's budget and at-cap rule, as `run` enforces them
    )


def _may_hold_votes(path: Path) -> bool:
    """False when the ledger at ``path`` surely holds no compare vote: there is no file, or
    it reads as the store would leave it and has none. With no votes the ratings change no
    route, and reading them would import SQLAlchemy and numpy."""
    if not path.is_file():
        return False
    from sparklio_desktop.core.ledger.reader import LedgerReader

    reader = LedgerReader.open(path)
    if reader is None:
        return True  # the store must open it first (to migrate or reclaim): read the votes as ever
    with reader:
        return reader.has_votes()
