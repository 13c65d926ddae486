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


def open_services(workspace: Workspace | None = None, http_client: Any = None, local_images: Any = None) -> Services:
    from sparklio_desktop.core.cache import ResponseCache
    from sparklio_desktop.core.dispatch import Dispatcher
    from sparklio_desktop.core.ledger import LedgerStore
    from sparklio_desktop.core.live import probe_live_state
    from sparklio_desktop.core.secrets import KeyStore

    workspace = workspace or Workspace()
    ledger = LedgerStore.open()
    cache = ResponseCache()
    budget = budget_guard(workspace, ledger)
    keys = KeyStore()
    if local_images is None:
        from sparklio_desktop.core.local.sd_service import StableDiffusionService

        local_images = StableDiffusionService.from_settings(workspace.settings)  # torch loads on first image
    holder: dict[str, Any] = {}
    from sparklio_desktop.core.rating_state import RatingQualities
    from sparklio_desktop.core.votes_store import VoteStore

    votes = VoteStore.open(ledger.path)
    ratings = RatingQualities(workspace.catalog, lambda: workspace.policy, lambda task: votes.votes(task))

    def live():
        return probe_live_state(workspace, holder["dispatcher"].session_unavailable)

    dispatcher = Dispatcher(workspace, ledger=ledger, keys=keys, cache=cache, budget=budget, http_client=http_client,
                            live=live, local_images=local_images, settings=workspace.settings, ratings=ratings)
    holder["dispatcher"] = dispatcher
    return Services(workspace, ledger, cache, budget, keys, dispatcher, local_images, votes, ratings)
