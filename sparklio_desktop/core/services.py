"""Builds the dispatcher and what it stands on, for the CLI and the GUI alike.

One composition, so that ``sparklio run`` and the desktop app record, price and budget
exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sparklio_desktop.core.workspace import Workspace


@dataclass
class Services:
    workspace: Workspace
    ledger: Any
    cache: Any
    budget: Any
    keys: Any
    dispatcher: Any

    local_images: Any = None
    votes: Any = None  # VoteStore: comparisons and votes
    ratings: Any = None  # RatingQualities: call ratings.invalidate() after a vote

    def close(self) -> None:
        if self.local_images is not None:
            self.local_images.close()
        if self.votes is not None:
            self.votes.close()
        self.cache.close()
        self.ledger.close()


def budget_guard(workspace: Workspace, ledger):
    from sparklio_desktop.core.budget import BudgetGuard

    settings = workspace.settings
    threshold = settings.budget.alert_threshold or workspace.policy.budget.alert_threshold
    return BudgetGuard(ledger, Decimal(str(settings.budget.monthly_usd)), settings.budget.at_cap,
                       Decimal(str(threshold)))


def open_services(
    workspace: Workspace | None = None,
    *,
    http_client: Any = None,
    local_images: Any = None,
    keys: Any = None,
    ledger_path: Any = None,
    live: Any = None,
    settings: Any = None,
) -> Services:
    """Open the ledger, cache, budget, key store, ratings and the dispatcher over them.

    ``live`` (a callable returning the router's ``LiveState``) defaults to probing this
    machine on every request; the GUI passes a cached probe. ``settings`` defaults to the
    workspace's; the GUI passes a view that follows edits.
    """
    from sparklio_desktop.core.cache import ResponseCache
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.live import probe_live_state
    from sparklio_desktop.core.local.sd_service import LazyStableDiffusion
    from sparklio_desktop.core.rating_state import RatingQualities
    from sparklio_desktop.core.secrets import KeyStore
    from sparklio_desktop.core.votes_store import VoteStore

    workspace = workspace or Workspace()
    # A ledger that cannot be opened (damaged, a read-only folder) raises a one-line
    # DatabaseFileError here, before any paid request; the cache opens on first use and
    # heals itself, so it can never stop a run.
    ledger = LedgerStore.open(ledger_path)
    try:
        votes = VoteStore.open(ledger.path)
    except BaseException:
        ledger.close()
        raise
    cache = ResponseCache()
    budget = budget_guard(workspace, ledger)
    keys = keys or KeyStore()
    local_images = local_images or LazyStableDiffusion(workspace.settings)  # torch loads on the first image
    ratings = RatingQualities(workspace.catalog, lambda: workspace.policy, lambda task: votes.votes(task))
    # The dispatcher adds what failed this session and the task's ratings to this live state.
    live = live or (lambda: probe_live_state(workspace))
    dispatcher = Dispatcher(workspace, ledger=ledger, keys=keys, cache=cache, budget=budget, http_client=http_client,
                            live=live, local_images=local_images, settings=settings or workspace.settings,
                            ratings=ratings)
    return Services(workspace, ledger, cache, budget, keys, dispatcher, local_images, votes, ratings)
