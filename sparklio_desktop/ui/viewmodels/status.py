"""The status bar's view-model: this month's spend, which providers have a key, and
whether the response cache answers (a team's Redis can be down: requests then go on
without it, and the status bar says so).

Why a view-model of its own: the main window shows these figures whatever panel is
open, and must not reach into the ledger or the key store itself. The app refreshes it
on every ``ledgerChanged`` (a request, a vote, a new budget: ledger_events.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.budget import BudgetGuard, gauge_level
from sparklio_desktop.core.cache import CacheBackend, CacheHealth
from sparklio_desktop.core.ledger.location import database_place, database_url
from sparklio_desktop.core.ledger.members import resolve_member
from sparklio_desktop.core.ledger.months import month_days
from sparklio_desktop.core.money import format_usd_distinct
from sparklio_desktop.core.provider_table import ROWS
from sparklio_desktop.core.routing.live import ollama_hosts_of, ollama_tags, resolve_local_tags
from sparklio_desktop.core.routing.ollama_hosts import OllamaHost, probe_ollama_hosts
from sparklio_desktop.core.settings.key_index import has_key_fast
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.payloads import StatusFigures
from sparklio_desktop.ui.viewmodels.spend import projection


class StatusViewModel(ViewModel):
    """Month spend against the budget, and each provider's key status."""

    statusChanged = Signal(object)  # StatusFigures

    def __init__(
        self,
        workspace: Workspace,
        budget: BudgetGuard,
        executor: SerialExecutor,
        parent: QObject | None = None,
        *,
        cache: CacheBackend | None = None,
    ) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._budget = budget
        self._cache = cache

    def _providers(self) -> list[str]:
        return sorted({m.provider for m in self._workspace.catalog.values()})

    def _read(self) -> StatusFigures:
        status = self._budget.status()
        providers = {}
        for provider in self._providers():
            row = ROWS.get(provider)  # none: a user-added endpoint keyed by its own name
            if row is not None and not row.needs_key:
                continue  # local or keyless: reachability shows in the route preview
            providers[provider] = "key" if has_key_fast(provider) else "no key"
        today = datetime.now(UTC).date()
        pace = projection(status.month, status.spent_usd, len(month_days(status.month)), today)
        spent_text, budget_text = format_usd_distinct(status.spent_usd, status.budget_usd)
        return StatusFigures(
            status.month,
            status.spent_usd,
            status.budget_usd,
            float(status.percent),
            status.alert,
            providers,
            level=gauge_level(status.spent_usd, status.budget_usd, self._budget.alert_threshold, pace),
            spend_text=f"{spent_text} of {budget_text}",
            projection_usd=pace,
            team_text=self._team(),
        )

    def _team(self) -> str:
        """Team mode's words: the member and the database's host and name (never its URL)."""
        url = database_url(self._workspace.settings)
        if url is None:
            return ""
        member = resolve_member(self._workspace.settings.team.member)
        return f"team: {member} · ledger {database_place(url)}"

    def _ollama(self) -> str:
        hosts = ollama_hosts_of(self._workspace.settings)
        if len(hosts) > 1:
            return self._ollama_hosts(hosts)
        models = ollama_tags(self._workspace.settings.providers.ollama.host)
        if models is None:
            return "not running"
        # The same resolution as the route preview and the run (core.routing.live.resolve_ollama_tag).
        usable = len(set(resolve_local_tags(self._workspace.catalog, models).values()))
        return f"{len(models)} models, {usable} in the catalog"

    def _ollama_hosts(self, hosts: tuple[OllamaHost, ...]) -> str:
        """Several Ollama hosts (providers.ollama.hosts): the models of those that answer, and how many do not."""
        probes = probe_ollama_hosts(hosts, with_ps=False)
        up = [p for p in probes if p.tags is not None]
        if not up:
            return f"no host of {len(probes)} answers"
        names = {name for p in up for name in p.tags or ()}
        usable = {tag for p in up for tag in resolve_local_tags(self._workspace.catalog, p.tags or {}).values()}
        down = len(probes) - len(up)
        text = f"{len(names)} models on {len(up)} hosts, {len(usable)} in the catalog"
        return text + (f"; {down} host{'s' if down > 1 else ''} down" if down else "")

    @asyncSlot()
    async def refresh(self) -> None:
        """Read the figures; Ollama is probed in the default executor (up to 0.3 s),
        so the serial database worker is not held up by it; a Redis cache is asked on
        the loop (bounded by its own timeout, and not at all during its back-off)."""
        self._track()
        loop = asyncio.get_running_loop()
        ollama = loop.run_in_executor(None, self._ollama)
        figures = await self._executor.call(self._read)
        cache = cache_words(await self._cache.acheck()) if self._cache is not None else ""
        providers = {**figures.providers, "ollama": await ollama}
        self.statusChanged.emit(dataclasses.replace(figures, providers=providers, cache_text=cache))


def cache_words(health: CacheHealth) -> str:
    """The status bar's words for the cache: nothing for the SQLite file at work."""
    if health.backend == "redis":
        return "cache: Redis (shared)" if health.available else "cache: Redis unavailable, answering without it"
    return "" if health.available else "cache: off for this session"
