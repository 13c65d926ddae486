"""The settings view-model: API keys in the keyring, settings.json values, the policy.

Why everything goes through the executor: keyring calls cross D-Bus (tens of ms, or
seconds when a keyring prompt appears) and settings are written with fsync. Why the
changes are pushed into the running services here: the workspace, the budget guard
and the live state are shared by the whole app, so a new budget or key must take
effect at once, not after a restart. A broken policy file never replaces the policy
in force: :meth:`PolicyStore.reload` keeps the last valid one and returns the error,
which is shown inline. The user's ``catalog.yaml`` and ``settings.json`` get the same
treatment: a broken catalog leaves the last good one in force, a broken setting its
default, and the panel says which file and line to fix (the rest of the app keeps
working, so without this the creator would not learn why an edit has no effect). A saved
setting or a reloaded policy is announced on the app's ``ledgerChanged`` hub
(ledger_events.py): the spend panel and the status bar show the new budget at once.

Keys are stored here for the settings panel and the first-run guide alike
(:meth:`SettingsViewModel.store_key`, :meth:`SettingsViewModel.hold_session_key`): where
there is no OS keyring, a key can be used for this session only (held in memory, never
written) and the plain ``keyring_help`` says how to get one. A key added, replaced or
deleted tells the route planner (``keys_changed``: the keys are probed again and a 401
with the old key no longer keeps the provider out), so the very next request can use
it; the dispatcher reads keys again by itself after any change (core/dispatch/endpoints.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from qasync import asyncSlot

from sparklio_desktop.core.budget import BudgetGuard, member_limit
from sparklio_desktop.core.errors import KeyringUnavailable, SparklioError
from sparklio_desktop.core.providers.base import Endpoint
from sparklio_desktop.core.providers.registry import create_client
from sparklio_desktop.core.routing.planner import RoutePlanner
from sparklio_desktop.core.settings.config import (
    Settings,
    effective_base_url,
    format_value,
    get_setting,
    load_settings_lenient,
    set_setting,
)
from sparklio_desktop.core.settings.secrets import KeyInfo, KeyStore, keyring_help
from sparklio_desktop.core.team_budget import (
    MEMBER_LIMITS_KEY,
    TEAM_BUDGET_KEYS,
    TEAM_SETTING_KEYS,
    set_team_setting,
    team_database_url,
)
from sparklio_desktop.core.workspace import Workspace
from sparklio_desktop.ui.viewmodels._base import SerialExecutor, ViewModel
from sparklio_desktop.ui.viewmodels.ledger_events import LedgerEvents
from sparklio_desktop.ui.viewmodels.payloads import LedgerChange

# KeyInfo (provider, source, masked: never the key) is what ``keysChanged`` carries; named
# here for the view, which does not import the core.
__all__ = [
    "CONNECTION_TIMEOUT_S",
    "EDITABLE_SETTINGS",
    "NOT_SAVED_NO_KEYRING",
    "SETTING_CHOICES",
    "KeyInfo",
    "KeyOutcome",
    "SettingsViewModel",
    "key_source_words",
]

# The settings the panel edits, in the order shown, with their labels.
EDITABLE_SETTINGS: dict[str, str] = {
    "providers.openai.base_url": "OpenAI base URL",
    "providers.anthropic.base_url": "Anthropic base URL",
    "providers.google.base_url": "Google base URL",
    "providers.ollama.host": "Ollama host",
    "providers.ollama.hosts": "LAN Ollama hosts",
    "budget.monthly_usd": "Monthly budget (USD)",
    "budget.at_cap": "At the cap",
    "defaults.budget": "Default budget tier",
    "defaults.speed": "Default speed",
    "defaults.quality": "Default quality",
    "cache.enabled": "Response cache",
    "cache.ttl_static_s": "Cache TTL, lasting answers (s)",
    "cache.ttl_dynamic_s": "Cache TTL, answers that go stale (s)",
    # Team settings: read when the services start (core/services.py), so they apply on the next start.
    "cache.url": "Shared cache, Redis URL (next start)",
    "team.member": "Team member (next start)",
    "team.member_limits": "Members' monthly limits (USD)",
    "storage.database_url": "Team database, PostgreSQL URL (next start)",
    "ui.theme": "Theme",
    "policy.path": "Policy file",
}
SETTING_CHOICES: dict[str, tuple[str, ...]] = {
    "budget.at_cap": ("local_only", "stop"),
    "defaults.budget": ("", "low", "standard", "premium"),
    "defaults.speed": ("", "realtime", "standard", "batch"),
    "defaults.quality": ("", "draft", "standard", "production"),
    "cache.enabled": ("true", "false"),
    "ui.theme": ("system", "light", "dark"),
}
CONNECTION_TIMEOUT_S = 15.0

SAVED_IN_KEYRING = "Saved in the OS keyring."
USED_FOR_SESSION = "Used for this session only: not saved, asked again next time."
NOT_SAVED_NO_KEYRING = "Not saved: there is no keyring. Use it for this session only, or enable one."


def key_source_words(source: str | None) -> str:
    """Where a key comes from, in the words the settings panel and the guide both show
    (``KeyInfo.source``: never the key itself)."""
    if source is None:
        return "no key"
    if source == "keyring":
        return "keyring"
    if source == "session":
        return "session only — forgotten when Sparklio closes"
    if source.startswith("env:"):
        return f"environment: {source[4:]}"
    return source


@dataclass(frozen=True)
class KeyOutcome:
    """What became of a pasted key: ``outcome`` is ``"keyring"``, ``"session"``,
    ``"unavailable"`` (no keyring: ``help`` says how to get one, and the key may be used
    for this session only) or ``"error"`` (an empty key, spaces inside: never quoted)."""

    provider: str
    outcome: str
    message: str
    help: str = ""

    @property
    def taken(self) -> bool:
        """The key is in use now: the field that held it can be cleared."""
        return self.outcome in ("keyring", "session")


class SettingsViewModel(ViewModel):
    """Reads and writes keys and settings; reloads the policy with inline errors."""

    keysChanged = Signal(object)  # list[KeyInfo]
    valuesChanged = Signal(object)  # dict: setting key -> text
    fieldError = Signal(str, str)  # setting key (or "key:<provider>"), message ("" = fine)
    policyStatusChanged = Signal(str, str)  # policy path, error ("" = valid)
    policyReloaded = Signal()
    catalogStatusChanged = Signal(str, str)  # the user's catalog.yaml ("" = none), error ("" = in force)
    settingsStatusChanged = Signal(str)  # why settings.json is not wholly in force ("" = it is)
    connectionTested = Signal(str, bool, str)  # provider, ok, message (the provider's own words)
    notice = Signal(str)
    keyResult = Signal(str, str, str)  # provider, "keyring" | "session" | "error", message
    keyringUnavailable = Signal(str, str)  # provider, the plain explanation (keyring_help)
    keyringStatus = Signal(bool, str)  # keys can be saved here; else how to enable the keyring

    def __init__(
        self,
        workspace: Workspace,
        keys: KeyStore,
        budget: BudgetGuard,
        live: RoutePlanner,
        executor: SerialExecutor,
        *,
        events: LedgerEvents | None = None,
        parent: QObject | None = None,
    ) -> None:
        """``live``: the route planner (core/routing/planner.py), told to probe again after a
        change; ``events``: the app's ledger hub, told when a setting or the policy changes."""
        super().__init__(executor, parent)
        self._events = events or LedgerEvents(self)
        self._workspace = workspace
        self._keys = keys
        self._budget = budget
        self._live = live

    # -- reading ---------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        settings = self._workspace.settings
        found = {}
        team = self._budget.terms_last_read() if self._budget.shared else None  # the team's, as last read
        for key in EDITABLE_SETTINGS:
            value = get_setting(key, settings)
            if team is not None and key in TEAM_BUDGET_KEYS:
                value = getattr(team, key.split(".", 1)[1])
            elif key == MEMBER_LIMITS_KEY:  # the team's mapping in team mode, as last read
                value = self._budget.member_limits_last_read(settings.team.member_limits)
            if value is None:
                found[key] = ""
            elif isinstance(value, dict):  # the members' limits: "ada=10, bob=2.5", as `config set` takes them
                found[key] = ", ".join(f"{name}={format_value(usd)}" for name, usd in sorted(value.items()))
            elif isinstance(value, list):  # the LAN Ollama hosts: comma-separated, as `config set` takes them
                found[key] = ", ".join(map(str, value))
            else:
                found[key] = format_value(value)
        return found

    def policy_path(self) -> str:
        return str(self._workspace.policy_store.path)

    @asyncSlot()
    async def refresh(self) -> None:
        """Read the masked keys (keyring look-ups, off the loop) and the settings."""
        self._track()
        infos = await self._executor.call(self._keys.list)
        available = await self._executor.call(self._keys.available)
        self.keyringStatus.emit(available, "" if available else keyring_help())
        self.keysChanged.emit(infos)
        self.valuesChanged.emit(self.values())
        error = self._workspace.policy_store.error
        self.policyStatusChanged.emit(self.policy_path(), str(error) if error else "")
        self._emit_file_status()

    def catalog_path(self) -> str:
        """The user's catalog.yaml, or "" when there is none (the shipped catalog alone)."""
        store = getattr(self._workspace, "catalog_store", None)
        return "" if store is None or not store.user_path.is_file() else str(store.user_path)

    def _emit_file_status(self) -> None:
        error = getattr(self._workspace, "catalog_error", None)
        self.catalogStatusChanged.emit(self.catalog_path(), str(error) if error else "")
        self._workspace.settings  # noqa: B018 - loading the settings sets settings_error
        error = getattr(self._workspace, "settings_error", None)
        self.settingsStatusChanged.emit(str(error) if error else "")

    # -- keys --------------------------------------------------------------------------
    async def store_key(self, provider: str, key: str) -> KeyOutcome:
        """Store a key in the OS keyring (the settings panel's Set, the guide's Save).
        Without a keyring, the outcome explains how to get one and nothing is kept."""
        try:
            await self._executor.call(self._keys.set, provider, key)
        except KeyringUnavailable:
            explanation = keyring_help()
            self.keyringStatus.emit(False, explanation)  # the panel offers the session too
            return KeyOutcome(provider, "unavailable", NOT_SAVED_NO_KEYRING, explanation)
        except SparklioError as exc:  # an empty key, spaces inside: never quotes the key
            return KeyOutcome(provider, "error", str(exc))
        await self._keys_changed(provider)
        return KeyOutcome(provider, "keyring", SAVED_IN_KEYRING)

    async def hold_session_key(self, provider: str, key: str) -> KeyOutcome:
        """Use a key for this session only: held in memory, never written anywhere."""
        try:
            self._keys.set_session_key(provider, key)  # memory only: no I/O to move off the loop
        except SparklioError as exc:
            return KeyOutcome(provider, "error", str(exc))
        await self._keys_changed(provider)
        return KeyOutcome(provider, "session", USED_FOR_SESSION)

    async def _keys_changed(self, provider: str) -> None:
        self._live.keys_changed(provider)  # probe the keys again; lift a 401 made with the old key
        await self.refresh()  # keysChanged: this panel, the status bar, the composer's preview

    def _report(self, result: KeyOutcome) -> None:
        field = f"key:{result.provider}"
        self.fieldError.emit(field, result.message if result.outcome == "error" else "")
        if result.outcome == "unavailable":
            self.keyringUnavailable.emit(result.provider, result.help)
        self.keyResult.emit(result.provider, result.outcome, result.message)

    @asyncSlot(str, str)
    async def set_key(self, provider: str, key: str) -> None:
        """Store a key in the OS keyring; errors name the provider, never the key."""
        self._track()
        self._report(await self.store_key(provider, key))

    @asyncSlot(str, str)
    async def use_key_for_session(self, provider: str, key: str) -> None:
        """Use a key for this session only (no keyring here)."""
        self._track()
        self._report(await self.hold_session_key(provider, key))

    @asyncSlot(str)
    async def delete_key(self, provider: str) -> None:
        """Forget the key kept by Sparklio (keyring or session); an environment key stays."""
        self._track()
        try:
            await self._executor.call(self._keys.delete, provider)
        except SparklioError as exc:
            self.fieldError.emit(f"key:{provider}", str(exc))
            return
        self.fieldError.emit(f"key:{provider}", "")
        await self._keys_changed(provider)

    @asyncSlot(str)
    async def test_connection(self, provider: str) -> None:
        """Make the provider's cheapest authenticated call (listing models) with the stored key."""
        self._track()
        key = await self._executor.call(self._keys.get, provider)
        if key is None and provider != "ollama":
            self.connectionTested.emit(provider, False, f"No {provider} key: set one first.")
            return
        endpoint = Endpoint(provider, "", effective_base_url(provider, self._workspace.settings), key)
        loop = asyncio.get_running_loop()
        client = await loop.run_in_executor(None, create_client, provider)  # imports the SDK off the loop
        try:
            await asyncio.wait_for(client.check_auth(endpoint), CONNECTION_TIMEOUT_S)
        except TimeoutError:
            self.connectionTested.emit(provider, False, f"No answer from {provider} in {CONNECTION_TIMEOUT_S:g} s.")
        except SparklioError as exc:
            self.connectionTested.emit(provider, False, getattr(exc, "message", None) or str(exc))
        else:
            self.connectionTested.emit(provider, True, "Connected: the key works.")
        finally:
            await client.aclose()

    # -- settings.json -----------------------------------------------------------------
    @asyncSlot(str, str)
    async def set_value(self, key: str, text: str) -> None:
        """Validate and save one setting, then apply it to the running services."""
        self._track()
        value = text.strip() or None
        if (value or "") == self.values().get(key):
            return  # unchanged: editingFinished fires on every focus change
        url = team_database_url(self._workspace.settings) if key in TEAM_SETTING_KEYS else None
        if url is not None:  # team mode: the budget and the members' limits are the team's
            await self._set_for_team(url, key, value)
            return
        try:
            settings = await self._executor.call(set_setting, key, value)
        except SparklioError as exc:
            if getattr(exc, "field", key) in (key, ""):
                self.fieldError.emit(key, getattr(exc, "message", None) or str(exc))
            else:  # another setting in the file is invalid: name it, this one is not at fault,
                # and show the value in force again (a typo of the user's own stays to be fixed)
                self.fieldError.emit(key, f"Not saved: fix this first: {exc}")
                self.valuesChanged.emit(self.values())
            return
        self.fieldError.emit(key, "")
        self._apply(settings)
        # The file was validated whole when saved; what it still falls back on, if anything:
        self._workspace.settings_error = (await self._executor.call(load_settings_lenient))[1]
        self._emit_file_status()
        if key == "policy.path":
            self._workspace.policy_store.explicit_path = Path(value) if value else None
            await self.reload_policy()
        self.valuesChanged.emit(self.values())
        self._events.changed(LedgerChange("settings"))

    async def _set_for_team(self, url: str, key: str, value: str | None) -> None:
        """Store a team key (the budget's terms, the members' limits) for the whole team
        (core/team_budget.py); the guard re-reads it."""
        try:
            await self._executor.call(set_team_setting, url, key, value or "none", self._budget.member)
            await self._executor.call(self._budget.refresh_terms)
        except SparklioError as exc:
            self.fieldError.emit(key, getattr(exc, "message", None) or str(exc))
            return
        self.fieldError.emit(key, "")
        self.notice.emit(f"{EDITABLE_SETTINGS.get(key, key)}: set for the whole team.")
        self._live.invalidate()
        self.valuesChanged.emit(self.values())
        self._events.changed(LedgerChange("settings"))

    def _apply(self, settings: Settings) -> None:
        # Workspace.settings is a cached_property: assigning replaces the cached value.
        self._workspace.settings = settings
        self._budget.monthly_usd = Decimal(str(settings.budget.monthly_usd))
        self._budget.at_cap = settings.budget.at_cap
        threshold = settings.budget.alert_threshold or self._workspace.policy.budget.alert_threshold
        self._budget.alert_threshold = Decimal(str(threshold))
        self._budget.member_limit_usd = member_limit(settings.team.member_limits, self._budget.member)
        self._live.invalidate()

    # -- the policy ----------------------------------------------------------------------
    @asyncSlot()
    async def reload_policy(self) -> None:
        """Re-read the policy file; a broken one leaves the last valid policy in force."""
        self._track()
        error = await self._executor.call(self._workspace.policy_store.reload)
        self.policyStatusChanged.emit(self.policy_path(), str(error) if error else "")
        if error is None:
            self.notice.emit("Policy reloaded.")
        self._live.invalidate()
        self.policyReloaded.emit()
        self._events.changed(LedgerChange("settings"))  # the spend panel's anomaly multiple is the policy's

    # -- the user's catalog ------------------------------------------------------------------
    @asyncSlot()
    async def reload_catalog(self) -> None:
        """Re-read the user's catalog.yaml; a broken one leaves the last good catalog in force."""
        self._track()
        await self._executor.call(self._workspace.reload_catalog)
        self._emit_file_status()
        if getattr(self._workspace, "catalog_error", None) is None:
            self.notice.emit("Catalog reloaded.")
        self._live.invalidate()
        self.policyReloaded.emit()  # what routes redraws: the catalog is half of it
