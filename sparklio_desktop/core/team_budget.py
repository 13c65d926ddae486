"""The team budget: in team mode the budget's terms live in the shared database (issue 16).

A studio's installs share one ledger database (``$SPARKLIO_DATABASE_URL`` or the setting
``storage.database_url``). The monthly budget, the alert threshold and the at-cap rule
must then be one for all of them, or each install would enforce its own cap on the same
spend. So in team mode ``sparklio config set budget.monthly_usd|budget.alert_threshold|
budget.at_cap VALUE`` validates the value as the settings file would and writes it to the
``shared_settings`` table (core/ledger/shared_settings.py) instead of settings.json, and
``config get`` reads it from there; ``none`` removes the team's value, so each install's
own setting applies again. Every install's budget guard (core/budget.py) takes its terms
from :class:`SharedBudgetTerms`, which re-reads the table at most every
:data:`REFRESH_S` seconds (a reservation must not pay a query for terms that change a few
times a year; a change reaches every install within seconds). A key the team has not set
falls back to the install's own setting. Outside team mode nothing here is used.

The members' own monthly limits (``team.member_limits``) are the team's too: a limit a
member could raise in their own settings.json would be no limit. ``config set
team.member_limits "ada=10, bob=2.5"`` in team mode stores the whole mapping (as a JSON
object of exact amounts) in ``shared_settings``; once the team has set it, each install's
own ``team.member_limits`` is ignored, and ``none`` hands the limits back to each install.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sparklio_desktop.core.budget import BudgetTerms
from sparklio_desktop.core.errors import ConfigError, UnknownNameError

if TYPE_CHECKING:
    from sparklio_desktop.core.ledger.file_store import LedgerFileStore
    from sparklio_desktop.core.settings.config import Settings

__all__ = [
    "MEMBER_LIMITS_KEY", "REFRESH_S", "TEAM_BUDGET_KEYS", "TEAM_SETTING_KEYS", "TEAM_WHERE", "SharedBudgetTerms",
    "get_team_setting", "merged_terms", "set_team_setting", "shared_member_limits", "shared_terms_for",
    "team_database_url", "terms_in_force",
]  # fmt: skip

TEAM_BUDGET_KEYS = ("budget.alert_threshold", "budget.at_cap", "budget.monthly_usd")
MEMBER_LIMITS_KEY = "team.member_limits"
# Every key ``config set`` writes to the team database in team mode.
TEAM_SETTING_KEYS = (*TEAM_BUDGET_KEYS, MEMBER_LIMITS_KEY)
REFRESH_S = 5.0
TEAM_WHERE = "the team database"  # how errors about a shared value name where it lives
_CLEAR = ("none", "null")


def team_database_url(settings: Settings | None = None) -> str | None:
    """The team database in force, or None (not in team mode): core/ledger/location.py's one answer."""
    from sparklio_desktop.core.ledger.location import database_url

    return database_url(settings)


def _validated(key: str, text: str, where: str = TEAM_WHERE) -> Any:
    """``text`` as the settings file's own model reads ``key`` (one-line ConfigError if not)."""
    from pydantic import ValidationError

    from sparklio_desktop.core.settings.config import BudgetSettings, TeamSettings, parse_setting_text

    section, leaf = key.split(".", 1)
    model = TeamSettings if section == "team" else BudgetSettings
    value: Any = text.strip()
    if key == MEMBER_LIMITS_KEY:  # "ada=10, bob=2.5" or a JSON object, as settings.json's field takes
        value = parse_setting_text(key, text, where)
    try:
        return getattr(model.model_validate({leaf: value}), leaf)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(where, None, key, str(first.get("msg", "invalid value"))) from None


def shared_member_limits(values: Mapping[str, str]) -> Mapping[str, Decimal] | None:
    """The team's ``team.member_limits`` among the shared ``values`` (None: the team has not
    set them, so each install's own setting applies)."""
    if MEMBER_LIMITS_KEY not in values:
        return None
    limits: Mapping[str, Decimal] = _validated(MEMBER_LIMITS_KEY, values[MEMBER_LIMITS_KEY])
    return limits


def merged_terms(own: BudgetTerms, values: Mapping[str, str]) -> BudgetTerms:
    """``own`` (this install's settings) with the team's shared values in their place."""
    monthly, at_cap, threshold = own.monthly_usd, own.at_cap, own.alert_threshold
    if "budget.monthly_usd" in values:
        monthly = Decimal(_validated("budget.monthly_usd", values["budget.monthly_usd"]))
    if "budget.at_cap" in values:
        at_cap = _validated("budget.at_cap", values["budget.at_cap"])
    if "budget.alert_threshold" in values:
        shared = _validated("budget.alert_threshold", values["budget.alert_threshold"])
        if shared is not None:
            threshold = Decimal(str(shared))
    return BudgetTerms(monthly, at_cap, threshold)


class SharedBudgetTerms:
    """The budget's terms in team mode: called with this install's own terms, it returns
    them with the team's shared values (read by ``read``) in their place. The values are
    re-read at most every ``refresh_s`` seconds. Safe across threads."""

    def __init__(
        self,
        read: Callable[[], Mapping[str, str]],
        *,
        refresh_s: float = REFRESH_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._read = read
        self._refresh_s = refresh_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._values: Mapping[str, str] = {}
        self._read_at: float | None = None
        self._merged: tuple[BudgetTerms, Mapping[str, str], BudgetTerms] | None = None
        self._limits: Mapping[str, Decimal] | None = None

    def last_read(self, own: BudgetTerms) -> BudgetTerms:
        """The terms as last read, without reading (for a view on the UI thread); ``own``
        before the first read."""
        with self._lock:
            return merged_terms(own, self._values)

    def refresh(self) -> None:
        """Read the team's values at the next call, whatever the interval (after a change here)."""
        with self._lock:
            self._read_at = None

    def _values_now(self) -> Mapping[str, str]:
        """The team's values, read again when the interval has passed; under ``_lock``."""
        now = self._monotonic()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            self._values = dict(self._read())
            self._read_at = now
            self._limits = None
        return self._values

    def limits_last_read(self) -> Mapping[str, Decimal] | None:
        """The team's ``team.member_limits`` as last read, without reading (None: not set)."""
        with self._lock:
            return self._team_limits()

    def member_limit(self, own: Decimal | None, member: str) -> Decimal | None:
        """``member``'s monthly limit in force: the team's ``team.member_limits`` once the team
        has set them (a member it does not list has none), else ``own`` (this install's)."""
        from sparklio_desktop.core.budget import member_limit

        with self._lock:
            self._values_now()
            limits = self._team_limits()
        return own if limits is None else member_limit(limits, member)

    def _team_limits(self) -> Mapping[str, Decimal] | None:
        """The team's limits among the values last read, validated once per read (None: the
        team has not set them); under ``_lock``."""
        if MEMBER_LIMITS_KEY not in self._values:
            return None
        if self._limits is None:
            self._limits = shared_member_limits(self._values) or {}
        return self._limits

    def __call__(self, own: BudgetTerms) -> BudgetTerms:
        with self._lock:
            self._values_now()
            if self._merged is None or self._merged[0] != own or self._merged[1] != self._values:
                self._merged = (own, self._values, merged_terms(own, self._values))
            return self._merged[2]


def shared_terms_for(settings: Settings, store: LedgerFileStore) -> SharedBudgetTerms | None:
    """The budget guard's terms source over ``store`` in team mode; None outside it."""
    if team_database_url(settings) is None:
        return None
    from sparklio_desktop.core.ledger.shared_settings import read_from

    return SharedBudgetTerms(lambda: read_from(store, TEAM_SETTING_KEYS))


def terms_in_force(settings: Settings, own: BudgetTerms) -> BudgetTerms:
    """The budget's terms as every install enforces them: in team mode ``own`` with the
    team's values (one read of the team database), else ``own``. For reports such as
    ``sparklio spend``; the budget guard keeps its own :class:`SharedBudgetTerms`."""
    url = team_database_url(settings)
    if url is None:
        return own
    from sparklio_desktop.core.ledger.shared_settings import SharedSettingsStore

    with SharedSettingsStore.open(url) as store:
        return merged_terms(own, store.values(TEAM_BUDGET_KEYS))


def set_team_setting(url: str, key: str, text: str, member: str | None) -> str | None:
    """Validate ``text`` for ``key`` and store it for the whole team in the database at
    ``url``; ``none`` removes the team's value. Returns the stored text (None: removed)."""
    from sparklio_desktop.core.ledger.shared_settings import SharedSettingsStore
    from sparklio_desktop.core.settings.config import format_value

    if key not in TEAM_SETTING_KEYS:
        raise UnknownNameError("team setting", key, TEAM_SETTING_KEYS)
    with SharedSettingsStore.open(url) as store:
        if text.strip().lower() in _CLEAR:
            store.remove(key)
            return None
        value = _validated(key, text, "the command line")
        stored = format_value(value)
        store.set(key, stored, member)
        return stored


def get_team_setting(url: str, key: str) -> str | None:
    """The team's value of ``key`` in the database at ``url`` (None: the team has not set it)."""
    from sparklio_desktop.core.ledger.shared_settings import SharedSettingsStore

    with SharedSettingsStore.open(url) as store:
        return store.values([key]).get(key)
