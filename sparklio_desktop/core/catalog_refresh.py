"""``sparklio catalog refresh``: make the catalog follow what the providers serve.

Why: the shipped catalog is a snapshot. Providers retire models (a creator's key then
answers "model not found") and release new members of the families the policy names.
Each provider that has a key is asked for its model list with its official SDK
(``models.list`` for OpenAI, Anthropic and Gemini; ``/api/tags`` for Ollama), all at
once, each within a short timeout; one provider's failure is reported (redacted: never
the key) and spoils nothing for the others. Then, in one validated, atomic write of the
user's catalog (core/policy/user_catalog.py):

- a listed model that matches a catalog family and is not in the catalog yet is added
  as a member of that family (capabilities from the family; context window from the
  list, else genai-prices, else the family; ``price: genai-prices``; no quality or speed:
  the family's are inherited). A model that matches no family is not added: only a known
  family's models are routable without a quality figure of their own.
- a catalog model of a cloud provider whose (non-empty) list no longer has it is marked
  retired; a retired model that is listed again is un-retired. Local providers never
  retire anything: a model not installed is not retired.

The report is ``{"added", "retired", "repriced", "unpriced"}``
(:meth:`RefreshReport.as_json`); provider failures and notes travel beside it. A state
file in the data directory remembers when each provider was refreshed and what it
listed, so the app refreshes at most once a day (:func:`refresh_due`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sparklio_desktop.core.catalog_view import price_summary
from sparklio_desktop.core.errors import SparklioError
from sparklio_desktop.core.policy.catalog import Catalog, FamilySpec, ModelSpec, RetiredModel, load_catalog
from sparklio_desktop.core.provider_table import LOCAL_PROVIDERS, secret_env_values
from sparklio_desktop.core.redact import redact
from sparklio_desktop.core.settings import paths

if TYPE_CHECKING:
    from sparklio_desktop.core.settings.config import Settings

__all__ = [
    "CLOUD_PROVIDERS",
    "DEFAULT_TIMEOUT_S",
    "REFRESH_INTERVAL",
    "KeyGetter",
    "ListedModel",
    "ProviderResult",
    "RefreshReport",
    "Repriced",
    "last_refresh",
    "refresh_catalog",
    "refresh_due",
    "state_path",
]

# The providers whose model list is asked with a key, and Ollama (no key needed).
CLOUD_PROVIDERS: tuple[str, ...] = ("openai", "anthropic", "google")
OLLAMA = "ollama"
DEFAULT_TIMEOUT_S = 10.0
# The update of genai-prices' data may take longer than a model list; it never blocks the rest.
PRICE_UPDATE_TIMEOUT_S = 15.0
REFRESH_INTERVAL = dt.timedelta(days=1)
_MAX_MESSAGE = 300
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._:\-]")


class KeyGetter(Protocol):
    """API keys by provider (core.settings.secrets.KeyStore); ``None`` when there is none."""

    def get(self, provider: str) -> str | None: ...


@dataclass(frozen=True)
class ListedModel:
    """One model as a provider's list gives it (only what the list says; ``None``: not said)."""

    api_name: str
    display_name: str | None = None
    released: dt.date | None = None
    context_tokens: int | None = None
    actions: tuple[str, ...] | None = None
    """Gemini's ``supportedGenerationMethods``."""
    digest: str = ""
    """Ollama's digest of the installed model."""


@dataclass(frozen=True)
class ProviderResult:
    """What asking one provider gave: its list, or why there is none."""

    provider: str
    listed: tuple[ListedModel, ...] | None
    error: str | None = None
    """A failure, redacted (never the key)."""
    skipped: str | None = None
    """Not asked or not reachable, and that is no failure (no key; Ollama not running)."""
    seconds: float = 0.0


@dataclass(frozen=True)
class Repriced:
    id: str
    old: str
    new: str


@dataclass(frozen=True)
class RefreshReport:
    """What a refresh changed, and what each provider answered."""

    added: tuple[str, ...] = ()
    retired: tuple[str, ...] = ()
    repriced: tuple[Repriced, ...] = ()
    unpriced: tuple[str, ...] = ()
    unretired: tuple[str, ...] = ()
    providers: tuple[ProviderResult, ...] = ()
    notes: tuple[str, ...] = ()
    """Lines for the user beyond the four lists (the price update's outcome)."""

    @property
    def errors(self) -> dict[str, str]:
        return {r.provider: r.error for r in self.providers if r.error is not None}

    def as_json(self) -> dict[str, Any]:
        """Exactly ``{"added", "retired", "repriced", "unpriced"}`` (the issue's report)."""
        return {
            "added": list(self.added),
            "retired": list(self.retired),
            "repriced": [{"id": r.id, "old": r.old, "new": r.new} for r in self.repriced],
            "unpriced": list(self.unpriced),
        }


# ----------------------------------------------------------------- the state file


def state_path() -> Path:
    return paths.data_dir() / "catalog-refresh.json"


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def last_refresh(path: Path | None = None) -> dt.datetime | None:
    """When the last refresh finished (whatever each provider answered), or ``None``."""
    return _parse_time(_read_state(path or state_path()).get("last_refresh"))


def refresh_due(now: dt.datetime | None = None, path: Path | None = None) -> bool:
    """Whether the app should refresh now: never refreshed, or the last refresh is a day
    old (or in the future: the clock moved). A failed provider does not make it due
    sooner: an offline machine asks once a day, not at every start."""
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    last = last_refresh(path)
    return last is None or last > now or now - last >= REFRESH_INTERVAL


def _write_state(path: Path, results: Sequence[ProviderResult], now: dt.datetime) -> None:
    """Atomically: the last refresh time, and per provider when it was asked, when it last
    answered, what it listed (kept from before when it failed) and its error."""
    state = _read_state(path)
    providers = state.get("providers") if isinstance(state.get("providers"), dict) else {}
    assert isinstance(providers, dict)
    for result in results:
        before = providers.get(result.provider) if isinstance(providers.get(result.provider), dict) else {}
        assert isinstance(before, dict)
        entry: dict[str, Any] = {
            "asked_at": now.isoformat(),
            "refreshed_at": now.isoformat() if result.listed is not None else before.get("refreshed_at"),
            "listed": [m.api_name for m in result.listed] if result.listed is not None else before.get("listed", []),
            "error": result.error,
            "skipped": result.skipped,
        }
        providers[result.provider] = entry
    state = {"version": 1, "last_refresh": now.isoformat(), "providers": providers}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ------------------------------------------------------------------ listing models


def _date_of(value: object) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int) and value > 0:  # OpenAI's ``created``: Unix seconds (0: not said)
        return dt.datetime.fromtimestamp(value, dt.UTC).date()
    return None


def _positive(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


async def _list_openai(key: str, base_url: str | None, timeout_s: float) -> list[ListedModel]:
    import openai

    async with openai.AsyncOpenAI(api_key=key, base_url=base_url, max_retries=0, timeout=timeout_s) as client:
        return [ListedModel(m.id, released=_date_of(m.created)) async for m in client.models.list()]


async def _list_anthropic(key: str, base_url: str | None, timeout_s: float) -> list[ListedModel]:
    import anthropic

    async with anthropic.AsyncAnthropic(api_key=key, base_url=base_url, max_retries=0, timeout=timeout_s) as client:
        return [
            ListedModel(
                m.id,
                display_name=m.display_name or None,
                released=_date_of(m.created_at),
                context_tokens=_positive(getattr(m, "max_input_tokens", None)),
            )
            async for m in client.models.list(limit=1000)  # the SDK pages on through has_more
        ]


async def _list_google(key: str, base_url: str | None, timeout_s: float) -> list[ListedModel]:
    from google import genai
    from google.genai import types

    http = types.HttpOptions(
        base_url=base_url, timeout=int(timeout_s * 1000), retry_options=types.HttpRetryOptions(attempts=1)
    )
    client = genai.Client(api_key=key, vertexai=False, http_options=http)
    try:
        pager = await client.aio.models.list(config=types.ListModelsConfig(page_size=1000, http_options=http))
        listed = []
        async for m in pager:  # the pager follows nextPageToken
            name = (m.name or "").removeprefix("models/")
            if name:
                actions = tuple(m.supported_actions) if m.supported_actions is not None else None
                listed.append(
                    ListedModel(
                        name,
                        display_name=m.display_name or None,
                        context_tokens=_positive(m.input_token_limit),
                        actions=actions,
                    )
                )
        return listed
    finally:
        await client.aio.aclose()
        client.close()


async def _list_ollama(host: str | None, timeout_s: float) -> list[ListedModel] | None:
    """The installed models (``None``: Ollama is not reachable), through the live probe's helper."""
    from sparklio_desktop.core.routing.live import ollama_tags

    tags = await asyncio.to_thread(ollama_tags, host, timeout_s)
    return None if tags is None else [ListedModel(name, digest=digest) for name, digest in tags.items()]


async def _list_ollama_hosts(settings: Settings, timeout_s: float) -> list[ListedModel] | None:
    """The models installed on any Ollama host (the local one, then ``providers.ollama.hosts``),
    each once; ``None`` when no host answers. One host: :func:`_list_ollama`."""
    from sparklio_desktop.core.routing.live import ollama_hosts_of
    from sparklio_desktop.core.routing.ollama_hosts import probe_ollama_hosts

    hosts = ollama_hosts_of(settings)
    if len(hosts) == 1:
        return await _list_ollama(hosts[0].url, timeout_s)
    probes = await asyncio.to_thread(probe_ollama_hosts, hosts, timeout_s, with_ps=False)
    answered = [p.tags for p in probes if p.tags is not None]
    if not answered:
        return None
    union: dict[str, str] = {}
    for tags in answered:
        for name, digest in tags.items():
            union.setdefault(name, digest)
    return [ListedModel(name, digest=digest) for name, digest in union.items()]


# What each lister imports: imported before any clock starts (a cold SDK import takes
# seconds on a busy machine and would eat the provider's timeout).
_SDK_MODULES = {"openai": ("openai",), "anthropic": ("anthropic",), "google": ("google.genai", "google.genai.types")}


def _import_sdks(providers: Iterable[str]) -> None:
    """Import the SDKs of ``providers`` one after another (off the event loop; never two
    imports at once, which could meet on shared dependencies' import locks)."""
    import importlib

    for provider in providers:
        for name in _SDK_MODULES.get(provider, ()):
            try:
                importlib.import_module(name)
            except ImportError:
                continue  # reported by the lister, as that provider's failure


_LISTERS: dict[str, Callable[[str, str | None, float], Awaitable[list[ListedModel]]]] = {
    "openai": _list_openai,
    "anthropic": _list_anthropic,
    "google": _list_google,
}


def _has_key(keys: KeyGetter, provider: str) -> bool:
    try:
        return bool(keys.get(provider))
    except SparklioError:
        return False


def _failure(provider: str, exc: BaseException, timeout_s: float, secrets: Sequence[str | None]) -> str:
    """One clear line for a provider's failure, with every key it could echo removed."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(exc, "code", None) if isinstance(getattr(exc, "code", None), int) else None
    detail = str(getattr(exc, "message", None) or exc or name)
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) or "Timeout" in name:
        text = f"no answer within {timeout_s:g} s"
    elif status in (401, 403):
        text = f"the key was refused (HTTP {status}): {detail}"
    elif status is not None:
        text = f"HTTP {status}: {detail}"
    elif "Connect" in name or "Connection" in name or isinstance(exc, OSError):
        cause = exc.__cause__ or exc.__context__
        text = f"could not connect: {cause or detail}"
    else:
        text = f"{name}: {detail}"
    text = redact(" ".join(text.split()), [*secrets, *secret_env_values(provider)])
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


async def _ask(
    provider: str, keys: KeyGetter, settings: Settings, timeout_s: float, loop_time: Callable[[], float]
) -> ProviderResult:
    from sparklio_desktop.core.settings.config import effective_base_url

    started = loop_time()
    base_url = effective_base_url(provider, settings)
    if provider == OLLAMA:
        listed_local = await _list_ollama_hosts(settings, timeout_s)
        if listed_local is None:
            from sparklio_desktop.core.routing.live import ollama_base_url

            return ProviderResult(provider, None, skipped=f"not reachable at {ollama_base_url(base_url)}")
        return ProviderResult(provider, tuple(listed_local), seconds=loop_time() - started)
    key = keys.get(provider) if _has_key(keys, provider) else None
    if not key:
        return ProviderResult(provider, None, skipped=f"no key (`sparklio keys set {provider}`)")
    failure: str
    try:
        listed = await asyncio.wait_for(_LISTERS[provider](key, base_url, timeout_s), timeout_s)
        return ProviderResult(provider, tuple(listed), seconds=loop_time() - started)
    except Exception as exc:  # noqa: BLE001 - one provider's failure never spoils the others
        failure = _failure(provider, exc, timeout_s, [key])
    # Raised nowhere: reported outside the except block, so the SDK exception (whose text may
    # hold the key) is not kept alive as context.
    return ProviderResult(provider, None, error=failure, seconds=loop_time() - started)


# ------------------------------------------------------------ what changes where


def _listed_names(listed: Iterable[ListedModel]) -> set[str]:
    return {m.api_name.casefold() for m in listed}


def _still_listed(api_name: str, names: set[str]) -> bool:
    """Whether a catalog ``api_name`` is in the list. An alias the list never shows
    (Anthropic lists only dated ids: ``claude-3-5-sonnet-latest`` is there while some
    ``claude-3-5-sonnet-YYYYMMDD`` is) counts as listed while a dated model of its line is."""
    from sparklio_desktop.core.providers.gemini_client import IMAGE_MODEL_ALIASES

    name = IMAGE_MODEL_ALIASES.get(api_name, api_name).casefold()
    if name in names:
        return True
    if name.endswith("-latest"):
        base = name.removesuffix("-latest")
        dated = re.compile(re.escape(base) + r"(-\d{8}|-\d{4}-\d{2}-\d{2}|-\d{3})?")
        return any(dated.fullmatch(n) for n in names)
    return False


def _family_for(families: Iterable[FamilySpec], provider: str, listed: ListedModel) -> FamilySpec | None:
    for family in families:
        if family.matches(provider, listed.api_name):
            if listed.actions is not None and not _actions_fit(family, listed.actions):
                continue
            return family
    return None


def _actions_fit(family: FamilySpec, actions: Sequence[str]) -> bool:
    """A Gemini model joins a family only if it serves what the family does (a TTS model
    named like Flash does not embed; an embedding model does not chat)."""
    wanted = {"embedContent"} if any(c.value == "embedding" for c in family.capabilities) else {"generateContent"}
    return bool(wanted & set(actions))


def _new_entry(
    provider: str, listed: ListedModel, family: FamilySpec, today: dt.date, context: int | None
) -> dict[str, Any]:
    """The user-catalog entry for a new member of ``family`` (see the module docstring)."""
    api_name = listed.api_name
    entry: dict[str, Any] = {
        "id": f"{provider}/{_ID_UNSAFE.sub('-', api_name)}",
        "name": listed.display_name or api_name,
        "provider": provider,
        "api_name": api_name,
        "family": family.id,
        "capabilities": [c.value for c in family.capabilities],
        "complex_capable": family.complex_capable,
    }
    if listed.released is not None:
        entry["released"] = listed.released.isoformat()
    context = context or family.context_tokens
    if context is not None:
        entry["context_tokens"] = context
    entry["tokenizer"] = family.tokenizer.model_dump(mode="json")
    if family.image_input_tokens is not None:
        entry["image_input_tokens"] = family.image_input_tokens
    if family.embedding_dimensions is not None:
        entry["embedding_dimensions"] = family.embedding_dimensions
    if provider in LOCAL_PROVIDERS:
        entry["local"] = True
        entry["vram_gb"] = family.vram_gb or 1.0
        entry["price"] = {
            "input_per_mtok": "0",
            "output_per_mtok": "0",
            "as_of": today.isoformat(),
            "source": "local model: compute only",
        }
    else:
        entry["price"] = "genai-prices"
    entry["notes"] = f"added by `sparklio catalog refresh` on {today.isoformat()}; quality and speed are the family's"
    return entry


def _context_from_prices(provider: str, api_name: str) -> int | None:
    from sparklio_desktop.core.policy import price_source

    info = price_source.find_model(provider, api_name)
    window = getattr(info, "context_window", None) if info is not None else None
    return _positive(window)


@dataclass
class _Plan:
    added: list[dict[str, Any]] = field(default_factory=list)
    retired: list[RetiredModel] = field(default_factory=list)
    unretired: list[str] = field(default_factory=list)


def _plan(catalog: Catalog, results: Sequence[ProviderResult], today: dt.date) -> _Plan:
    from sparklio_desktop.core.policy.bounds import MAX_CONTEXT_TOKENS
    from sparklio_desktop.core.routing.live import resolve_local_tags

    plan = _Plan()
    families = list(catalog.families.values())
    taken = set(catalog)
    for result in results:
        if not result.listed:  # failed, skipped, or an empty list (never a reason to retire everything)
            continue
        provider = result.provider
        names = _listed_names(result.listed)
        ours = [m for m in catalog.values() if m.provider == provider and m.base_url is None]
        if provider in LOCAL_PROVIDERS:
            installed = {m.api_name: m.digest for m in result.listed}
            served = {tag.casefold() for tag in resolve_local_tags(catalog, installed).values()}
            known = served
        else:
            known = {n for n in names if any(_still_listed(m.api_name, {n}) for m in ours)}
        for listed in result.listed:
            if listed.api_name.casefold() in known:
                continue
            family = _family_for(families, provider, listed)
            if family is None:
                continue
            context = listed.context_tokens
            if context is None and provider not in LOCAL_PROVIDERS:
                context = _context_from_prices(provider, listed.api_name)
            if context is not None and context > MAX_CONTEXT_TOKENS:
                context = None
            entry = _new_entry(provider, listed, family, today, context)
            if entry["id"] in taken:
                continue
            taken.add(entry["id"])
            plan.added.append(entry)
        for model in ours:
            present = _present(model, provider, names, result.listed, catalog)
            if present and model.id in catalog.retired:
                plan.unretired.append(model.id)
            elif not present and provider not in LOCAL_PROVIDERS and model.id not in catalog.retired:
                reason = f"not in {provider}'s model list on {today.isoformat()}"
                plan.retired.append(RetiredModel(id=model.id, since=today, reason=reason))
    return plan


def _present(model: ModelSpec, provider: str, names: set[str], listed: Sequence[ListedModel], catalog: Catalog) -> bool:
    if provider in LOCAL_PROVIDERS:
        from sparklio_desktop.core.routing.live import resolve_ollama_tag

        return resolve_ollama_tag(model.api_name, {m.api_name: m.digest for m in listed}) is not None
    return _still_listed(model.api_name, names)


def _repriced(before: Catalog, after: Catalog) -> list[Repriced]:
    changes = []
    for model_id, old in before.items():
        new = after.get(model_id)
        if new is None:
            continue
        old_text, new_text = price_summary(old.price), price_summary(new.price)
        if old_text != new_text:
            changes.append(Repriced(model_id, old_text, new_text))
    return changes


async def _update_prices(timeout_s: float) -> str:
    """genai-prices' newer data (core/policy/price_source.py); a line saying what happened.
    No network never stops the refresh: the data installed stays in use."""
    from sparklio_desktop.core.policy import price_source

    try:
        outcome = await asyncio.wait_for(asyncio.to_thread(price_source.update_prices, timeout_s), timeout_s + 1)
    except TimeoutError:
        return f"prices: genai-prices' data could not be fetched in {timeout_s:g} s; using the data installed"
    if outcome.ok:
        return f"prices: {outcome.message}"
    return f"prices: {outcome.message}; using the data installed"


async def refresh_catalog(
    *,
    keys: KeyGetter | None = None,
    settings: Settings | None = None,
    path: Path | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    update_prices: bool = False,
    providers: Iterable[str] | None = None,
    now: dt.datetime | None = None,
    state: Path | None = None,
) -> RefreshReport:
    """Ask the providers for their model lists and bring the user's catalog up to date.

    ``keys``: where keys come from (default: the keyring, then the environment);
    ``settings``: base URLs and the Ollama host (default: the settings file); ``path``:
    the user's catalog (default: the data directory's); ``providers``: which to ask
    (default: OpenAI, Anthropic, Google and Ollama; a cloud provider without a key is
    skipped); ``update_prices``: fetch genai-prices' newer data first, never failing
    the refresh. Raises ``ConfigError`` when the user's catalog is broken (before any
    network call: nothing could be written).
    """
    now = now or dt.datetime.now(dt.UTC)
    path = path or paths.user_catalog_path()
    if keys is None:
        from sparklio_desktop.core.settings.secrets import KeyStore

        keys = KeyStore()
    if settings is None:
        from sparklio_desktop.core.settings.config import load_settings_lenient

        settings = load_settings_lenient()[0]
    before = await asyncio.to_thread(load_catalog, None, path)
    loop = asyncio.get_running_loop()
    asked = list(providers) if providers is not None else [*CLOUD_PROVIDERS, OLLAMA]
    await asyncio.to_thread(_import_sdks, [p for p in asked if _has_key(keys, p)])
    jobs: list[Awaitable[Any]] = [_ask(p, keys, settings, timeout_s, loop.time) for p in asked]
    if update_prices:
        jobs.append(_update_prices(PRICE_UPDATE_TIMEOUT_S))
    answers = await asyncio.gather(*jobs)
    results: list[ProviderResult] = list(answers[: len(asked)])
    notes = [answers[-1]] if update_prices else []
    plan = _plan(before, results, now.date())

    def apply() -> Catalog:
        from sparklio_desktop.core.policy import user_catalog

        user_catalog.apply_refresh(plan.added, plan.retired, plan.unretired, path=path)
        return load_catalog(user=path)

    after = await asyncio.to_thread(apply)
    await asyncio.to_thread(_write_state, state or state_path(), results, now)
    added = tuple(e["id"] for e in plan.added)
    return RefreshReport(
        added=added,
        retired=tuple(r.id for r in plan.retired),
        repriced=tuple(_repriced(before, after)),
        unpriced=tuple(i for i in added if i in after and after[i].unpriced),
        unretired=tuple(plan.unretired),
        providers=tuple(results),
        notes=tuple(notes),
    )
