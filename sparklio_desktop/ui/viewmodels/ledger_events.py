"""One ``ledgerChanged`` signal for the whole app: emitted after any request, star rating,
vote or settings change; what shows ledger or budget figures refreshes from it.

Why one hub: each panel that writes to the ledger used to be wired to each panel that
reads it, one pair at a time, in the composition root, and the pairs drifted. The
composer's runs refreshed the spend panel and the status bar; the compare panel's runs
refreshed neither, a new monthly budget left both showing the old cap, and a star given
in the composer never reached an open leaderboard. Now writers say *that* something
changed (:class:`~sparklio_desktop.ui.viewmodels.payloads.LedgerChange`), once, and the
composition root (``app.py``) connects the readers (spend panel, status bar, inspector,
leaderboard) to this one signal.

A view-model built on its own (a test, a panel used alone) gets a hub of its own that
nobody listens to, so writers never need to check for one.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from sparklio_desktop.ui.viewmodels.payloads import LedgerChange


class LedgerEvents(QObject):
    """The app's ledger-changed hub (one per app, on its context)."""

    ledgerChanged = Signal(object)  # LedgerChange

    def changed(self, change: LedgerChange) -> None:
        self.ledgerChanged.emit(change)
