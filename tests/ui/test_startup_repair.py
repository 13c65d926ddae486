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
    from sparklio_desktop.app import _offer_repair

    exc = _damaged_ledger()
    seen = _answer_dialogs(
        lambda box: (
            next(b for b in box.buttons() if b.text() == "Set aside and repair")
            if len(box.buttons()) > 1
            else box.buttons()[0]
        )
    )
    assert _offer_repair(exc) is True
    assert "cannot read its ledger" in seen[0] and str(exc.path) in seen[0]
    assert seen[1].startswith("Recovered 40 usage records") and ".damaged-" in seen[1]
    assert len(list(sparklio_home.glob("ledger.sqlite3.damaged-*"))) == 1
    with LedgerStore.open(paths.ledger_path()) as store:
        assert len(store.history(limit=100)) == 40


def test_quit_leaves_the_damaged_ledger_untouched(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_repair

    exc = _damaged_ledger()
    before = paths.ledger_path().read_bytes()
    _answer_dialogs(lambda box: next(b for b in box.buttons() if b.text() == "Quit"))
    assert _offer_repair(exc) is False
    assert paths.ledger_path().read_bytes() == before
    assert not list(sparklio_home.glob("ledger.sqlite3.damaged-*"))


def test_other_start_up_errors_are_not_offered_a_repair(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_repair

    readonly = DatabaseFileError(paths.ledger_path(), "ledger", "readonly", "attempt to write a readonly database")
    assert _offer_repair(readonly) is False


def test_a_damaged_conversations_file_is_offered_the_same_repair(qapp, sparklio_home):
    from sparklio_desktop.app import _offer_repair
    from sparklio_desktop.core.conversations import ConversationsFileError, ConversationStore
    from tests.core.test_conversations_doctor import damage, write_conversations

    path = paths.data_dir() / "conversations.sqlite"
    write_conversations(path, 12)
    damage("garbage_header", path)
    with pytest.raises(ConversationsFileError) as info:
        ConversationStore(path).close()
    seen = _answer_dialogs(
        lambda box: (
            next(b for b in box.buttons() if b.text() == "Set aside and repair")
            if len(box.buttons()) > 1
            else box.buttons()[0]
        )
    )
    assert _offer_repair(info.value) is True
    assert "cannot read its conversations file" in seen[0]
    assert seen[1].startswith("Recovered 12 conversations") and ".damaged-" in seen[1]
    with ConversationStore(path) as store:
        assert store.count() == 12


def test_the_window_purges_conversations_deleted_a_month_ago(qloop, make_ctx):
    from datetime import UTC, datetime, timedelta

    from tests.ui.conftest import run

    ctx = make_ctx()
    store = ctx.conversation_store
    old, recent, kept = (store.create("chat", title=t).id for t in ("old", "recent", "kept"))
    store.delete(old)
    store.delete(recent)
    month_ago = (datetime.now(UTC) - timedelta(days=31)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    store._conn.execute("UPDATE conversations SET deleted_at = ? WHERE id = ?", (month_ago, old))
    run(qloop, ctx.warm_up())
    store.restore(recent)  # still there to bring back
    assert {c.id for c in store.list()} == {recent, kept}
    with pytest.raises(Exception, match="no conversation"):
        store.restore(old)
