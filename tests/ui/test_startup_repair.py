"""A damaged ledger at start-up: the window offers the doctor's repair instead of only an error.

Driven as a person drives it: the dialog is shown for real and its buttons are clicked.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.ledger.engine import DatabaseFileError
from sparklio_desktop.core.settings import paths
from tests.core.ledger_damage import damage, write_ledger


def _answer_dialogs(choose: Callable[[QMessageBox], object]) -> list[str]:
    """Click through every modal message box as it appears; returns their texts in order."""
    seen: list[str] = []

    def tick() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox) and box.isVisible() and (not seen or seen[-1] != box.text()):
            seen.append(box.text())
            choose(box).click()

    timer = QTimer()
    timer.setInterval(20)
    timer.timeout.connect(tick)
    timer.start()
    _answer_dialogs.timer = timer  # kept alive for the test
    return seen


def _damaged_ledger() -> DatabaseFileError:
    path = paths.ledger_path()
    write_ledger(path, 40)
    damage("garbage_header", path)
    with pytest.raises(DatabaseFileError) as info:
        LedgerStore.open(path)
    return info.value


def test_repair_sets_the_ledger_aside_and_salvages_it(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_ledger_repair

    exc = _damaged_ledger()
    seen = _answer_dialogs(
        lambda box: (
            next(b for b in box.buttons() if b.text() == "Set aside and repair")
            if len(box.buttons()) > 1
            else box.buttons()[0]
        )
    )
    assert _offer_ledger_repair(exc) is True
    assert "cannot read its ledger" in seen[0] and str(exc.path) in seen[0]
    assert seen[1].startswith("Recovered 40 usage records") and ".damaged-" in seen[1]
    assert len(list(sparklio_home.glob("ledger.sqlite3.damaged-*"))) == 1
    with LedgerStore.open(paths.ledger_path()) as store:
        assert len(store.history(limit=100)) == 40


def test_quit_leaves_the_damaged_ledger_untouched(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_ledger_repair

    exc = _damaged_ledger()
    before = paths.ledger_path().read_bytes()
    _answer_dialogs(lambda box: next(b for b in box.buttons() if b.text() == "Quit"))
    assert _offer_ledger_repair(exc) is False
    assert paths.ledger_path().read_bytes() == before
    assert not list(sparklio_home.glob("ledger.sqlite3.damaged-*"))


def test_other_start_up_errors_are_not_offered_a_repair(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_ledger_repair

    readonly = DatabaseFileError(paths.ledger_path(), "ledger", "readonly", "attempt to write a readonly database")
    assert _offer_ledger_repair(readonly) is False
