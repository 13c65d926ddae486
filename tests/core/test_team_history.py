"""This machine's history from before team mode, surveyed and copied into a real PostgreSQL
team database (core/team_history.py): what the Settings panel's Team box shows and does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sparklio_desktop.core.conversations import ConversationStore
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.ledger import LedgerStore
from sparklio_desktop.core.team_history import copy_local_history, survey_local_history
from tests.core.test_conversations_copy import _personal_history
from tests.core.test_ledger import attempt

SEPTEMBER = datetime(2026, 9, 3, 10, tzinfo=UTC)
OCTOBER = datetime(2026, 10, 5, 16, tzinfo=UTC)


def personal_folder(folder: Path) -> None:
    """A creator's data folder from before team mode: three attempts over two months (one
    request fell back once) and the conversations of ``_personal_history``."""
    with LedgerStore.open(folder / "ledger.sqlite3", member="ada") as ledger:
        ledger.record_attempt(attempt("req-sep", ts_utc=SEPTEMBER, cost_usd=Decimal("0.25")))
        ledger.record_attempt(attempt("req-oct", 1, ts_utc=OCTOBER, outcome="error", cost_usd=Decimal("0.000042")))
        ledger.record_attempt(attempt("req-oct", 2, ts_utc=OCTOBER, cost_usd=Decimal("0.125")))
    _personal_history(folder / "conversations.sqlite")


def team_spend(url: str, month: str) -> Decimal:
    with LedgerStore.open(url, member="ada") as team:
        return team.spend_summary(month).spent_usd


def test_the_survey_counts_what_a_copy_then_adds_and_a_second_copy_adds_nothing(pg_database_url, tmp_path) -> None:
    personal_folder(tmp_path)
    found = survey_local_history(pg_database_url, "ada", tmp_path)
    assert (found.requests, found.spend_usd, found.months) == (3, Decimal("0.375042"), ("2026-09", "2026-10"))
    assert (found.conversations, found.turns, found.already_there) == (3, 7, 0) and found.anything
    assert team_spend(pg_database_url, "2026-09") == 0  # a survey writes nothing

    done = copy_local_history(pg_database_url, "ada", tmp_path)
    assert done == found  # the survey said exactly what the copy did
    assert team_spend(pg_database_url, "2026-09") == Decimal("0.25")
    assert team_spend(pg_database_url, "2026-10") == Decimal("0.125042")
    with ConversationStore.open(pg_database_url, member="ada") as team:
        assert sorted(c.title for c in team.list()) == ["Autumn latte captions", "Q4 plan"]  # the deleted one: trash
    with ConversationStore.open(pg_database_url, member="bob") as someone_else:
        assert someone_else.list() == []  # copied as this install's member, nobody else's

    again = survey_local_history(pg_database_url, "ada", tmp_path)
    assert not again.anything and again.already_there == 6  # 3 attempts, 3 conversations
    assert not copy_local_history(pg_database_url, "ada", tmp_path).anything
    assert team_spend(pg_database_url, "2026-10") == Decimal("0.125042")  # not counted twice
    assert (tmp_path / "ledger.sqlite3").is_file() and (tmp_path / "conversations.sqlite").is_file()  # kept


def test_a_folder_with_nothing_of_its_own_has_nothing_to_copy(pg_database_url, tmp_path) -> None:
    found = survey_local_history(pg_database_url, "ada", tmp_path)
    assert not found.anything and found.already_there == 0 and found.months == ()


def test_a_damaged_ledger_file_is_named_and_nothing_is_copied(pg_database_url, tmp_path) -> None:
    personal_folder(tmp_path)
    (tmp_path / "ledger.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(SparklioError) as refused:
        copy_local_history(pg_database_url, "ada", tmp_path)
    assert str(tmp_path / "ledger.sqlite3") in str(refused.value) and "Traceback" not in str(refused.value)
    with ConversationStore.open(pg_database_url, member="ada") as team:
        assert team.list() == []  # the ledger goes first: its refusal stops the conversations too
