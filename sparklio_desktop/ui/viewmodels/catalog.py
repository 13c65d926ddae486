"""The Catalog tab's view-model: families and members as the catalog has them, and the refresh.

Why its own view-model, built with the app and not with the Models panel: the app
refreshes the catalog in the background once a day (when a key is present), whether or
not the Models panel was ever opened, and the panel shows what that refresh changed
when it is opened later (:attr:`CatalogViewModel.last_outcome`).

Why worker threads: the rows ask genai-prices for its list prices (importing it takes
about half a second) and read the ledger for measured speeds, so :meth:`load` builds them
with ``asyncio.to_thread``; the refresh itself is a coroutine of the core
(``core.catalog_refresh.refresh_catalog``) awaited on the qasync loop, which does its
own file work off the loop. Failures become one plain line, never a traceback.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.naming import model_name
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.payloads import CatalogListing, RefreshOutcome

if TYPE_CHECKING:
    from sparklio_desktop.core.catalog_refresh import KeyGetter, RefreshReport
    from sparklio_desktop.core.policy.catalog import Catalog, ModelSpec
    from sparklio_desktop.core.speed import MeasuredSpeed
    from sparklio_desktop.core.workspace import Workspace

__all__ = ["BACKGROUND_ENV", "CatalogViewModel"]

# "0" turns the daily background refresh off (the test suite sets it: tests never reach a network).
BACKGROUND_ENV = "SPARKLIO_BACKGROUND_REFRESH"
ASKING = "Asking OpenAI, Anthropic, Gemini, Ollama…"


def _listing(catalog: Catalog, measured: Mapping[str, str], state: Path | None = None) -> CatalogListing:
    """Rows with list prices, retired members shown, and each family's resolved member
    (blocking: genai-prices loads here)."""
    from dataclasses import replace

    from sparklio_desktop.core.catalog_refresh import last_refresh
    from sparklio_desktop.core.catalog_view import catalog_rows
    from sparklio_desktop.core.policy.families import catalog_usable, family_picks

    picks = family_picks(catalog, catalog_usable(catalog), live=False)
    rows = []
    why: dict[str, str] = {}
    for row in catalog_rows(catalog, include_retired=True, list_prices=True, measured=measured):
        found = picks.get(row.id)
        if found is not None and row.members:
            why[row.id] = found.why
            row = replace(row, resolved=found.model_id)
        rows.append(row)
    when = last_refresh(state)
    said = (
        f"Last refreshed {when.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC."
        if when is not None
        else "Never refreshed: Refresh asks each provider with a key which models it serves now."
    )
    return CatalogListing(tuple(rows), why, said)


def outcome_of(
    report: RefreshReport, background: bool, catalog: Mapping[str, ModelSpec] | None = None
) -> RefreshOutcome:
    """The report in the words the tab shows; ``catalog`` (the reloaded one) names the models."""
    changed = (*report.added, *report.retired, *report.unretired, *report.unpriced, *(r.id for r in report.repriced))
    return RefreshOutcome(
        added=report.added,
        retired=report.retired,
        repriced=tuple(f"{r.id}: {r.old} → {r.new}" for r in report.repriced),
        unpriced=report.unpriced,
        unretired=report.unretired,
        failures=tuple(f"{r.provider}: {r.error}" for r in report.providers if r.error is not None),
        skipped=tuple(f"{r.provider}: {r.skipped}" for r in report.providers if r.skipped is not None),
        notes=report.notes,
        background=background,
        asked=len(report.providers),
        names={m: model_name(catalog or {}, m) for m in changed},
    )


class CatalogViewModel(ViewModel):
    """The catalog's rows and the refresh, as async slots and signals."""

    rowsChanged = Signal(object)  # CatalogListing
    refreshingChanged = Signal(bool, str)  # running, what it is doing
    refreshed = Signal(object)  # RefreshOutcome
    catalogChanged = Signal()  # the user's catalog was rewritten and reloaded

    def __init__(
        self,
        executor: SerialExecutor,
        workspace: Workspace,
        *,
        keys: KeyGetter | None = None,
        reload: Callable[[], object] | None = None,
        speeds: Callable[[], Mapping[str, MeasuredSpeed]] | None = None,
        catalog_path: Path | None = None,
        state_path: Path | None = None,
        timeout_s: float | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(executor, parent)
        self._workspace = workspace
        self._keys = keys
        # After a refresh: read the catalog again (the app also forgets the planner's live
        # state and redraws what shows the catalog: app.catalog_changed).
        self._reload = reload or workspace.reload_catalog
        self._speeds = speeds  # the ledger's measured speeds (a database read: on the serial executor)
        self._catalog_path = catalog_path
        self._state_path = state_path
        self._timeout_s = timeout_s
        self.listing: CatalogListing | None = None
        self.last_outcome: RefreshOutcome | None = None
        self.refreshing = False

    @asyncSlot()
    async def load(self) -> None:
        """Build the rows in a worker thread (genai-prices, the ledger) and emit them."""
        from sparklio_desktop.core.speed import measured_words

        self._track()
        catalog = self._workspace.catalog
        try:
            speeds = await self._executor.call(self._speeds) if self._speeds else {}
            measured = measured_words(catalog, speeds)
            self.listing = await asyncio.to_thread(_listing, catalog, measured, self._state_path)
        except (SparklioError, OSError, ValueError) as err:
            self.errorRaised.emit(f"Could not list the catalog: {err}")
            return
        self.rowsChanged.emit(self.listing)

    @asyncSlot()
    async def refresh(self) -> None:
        """The Refresh button: ask the providers, then show the new rows and what changed."""
        self._track()
        await self._refresh(background=False)

    @asyncSlot()
    async def refresh_if_due(self) -> None:
        """The daily background refresh: only when the last one is a day old and a cloud
        key is present, and never when :data:`BACKGROUND_ENV` is ``0``."""
        self._track()
        if os.environ.get(BACKGROUND_ENV, "1") == "0" or self.refreshing:
            return
        state = self._state_path

        def due() -> bool:
            from sparklio_desktop.core.catalog_refresh import CLOUD_PROVIDERS, refresh_due
            from sparklio_desktop.core.settings.key_index import has_key_fast

            return refresh_due(path=state) and any(has_key_fast(p) for p in CLOUD_PROVIDERS)

        if await asyncio.to_thread(due):
            await self._refresh(background=True)

    async def _refresh(self, background: bool) -> None:
        if self.refreshing:
            return
        self.refreshing = True
        self.refreshingChanged.emit(True, ASKING)
        try:
            from sparklio_desktop.core.catalog_refresh import refresh_catalog

            kwargs: dict[str, Any] = {}
            if self._timeout_s is not None:
                kwargs["timeout_s"] = self._timeout_s
            report = await refresh_catalog(
                keys=self._keys,
                settings=self._workspace.settings,
                path=self._catalog_path,
                state=self._state_path,
                **kwargs,
            )
        except (SparklioError, OSError) as err:
            self.refreshing = False
            self.refreshingChanged.emit(False, "")
            self.errorRaised.emit(f"Catalog refresh failed: {err}")
            return
        self.refreshing = False
        self.refreshingChanged.emit(False, "")
        changed = bool(report.added or report.retired or report.unretired or report.repriced)
        if changed:
            self._reload()  # first: the new models' names are in the reloaded catalog
        self.last_outcome = outcome_of(report, background, self._workspace.catalog)
        if changed:
            self.catalogChanged.emit()
        self.refreshed.emit(self.last_outcome)
        await self.load()
